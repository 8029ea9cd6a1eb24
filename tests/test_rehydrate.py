"""Rehydration (pipeline/rehydrate.py, shards/rehydrate.py): real Spanish documents (the sample's fortunes)
with known duplicate-cluster sizes are tokenized and packed, and every training document must be in the
training stream exactly as many times as its bucket says, no validation document ever, no two copies of
one document in one row; the counts of the manifest, the tokenize records and `tamiz mix`'s table must
reconcile; a bad `rehydrate:` block fails when the table is read, naming the file and the field."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.mix import mix_table
from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.rehydrate import PRESETS, RehydrateConfig, draw
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.table import ShardConfig, load_table
from tamiz.pipeline.writers import write_parquet
from tamiz.shards.tokenize import count_tokens_file, is_validation, load_encoder, tokenize_file
from tamiz.shards.write import build_shards

# the cluster size each document gets, by its position (cycled); None: no dup_cluster_size (not deduplicated)
SIZES = [1, 1, 1, 2, 3, 4, 5, 7, 99, 100, 250, 999, 1000, 4000, None]
BUCKETS = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}  # FineWeb-2's weights, written out


def _fortunes(sample_dir: Path, n: int) -> list[Document]:
    """The first n fortunes with distinct texts (so each document's tokens identify it in the rows)."""
    seen, out = set(), []
    for d in read_documents(sample_dir / "reference" / "fortunes_es.jsonl", ReadReport("fortunes"), "reference"):
        if d.text.strip() and d.text not in seen:
            seen.add(d.text)
            out.append(d)
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def corpus(sample_dir: Path, tmp_path_factory) -> tuple[Path, list[Document]]:
    """Two Parquet shards of 'reference' documents as dedup writes them: metadata.dup_cluster_size set."""
    docs = _fortunes(sample_dir, 600)
    for i, d in enumerate(docs):
        size = SIZES[i % len(SIZES)]
        if size is not None:
            d.metadata["dup_cluster_size"] = size
    folder = tmp_path_factory.mktemp("dedup_docs")
    write_parquet(folder / "a.parquet", docs[:350])
    write_parquet(folder / "b.parquet", docs[350:])
    return folder, docs


@pytest.fixture(scope="module")
def tok(corpus, tmp_path_factory) -> Path:
    from test_pack import tiny_tokenizer

    return tiny_tokenizer([d.text for d in corpus[1]], tmp_path_factory.mktemp("tok") / "tokenizer.json")


def _table(folder: Path, rehydrate: dict | None, weights: dict[str, float] | None = None) -> Path:
    import yaml

    weights = weights or {"reference": 1.0}
    sources = [{"name": n, "kind": "reference", "inputs": ["x.jsonl"], "weight": w} for n, w in weights.items()]
    if rehydrate is not None:
        sources[0]["rehydrate"] = rehydrate
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "sources": sources}), encoding="utf-8")
    return path


def _build(out: Path, corpus: Path, tok: Path, config: ShardConfig, table: Path, batch_docs: int = 1024):
    records = [tokenize_file(f, out, tok, config.validation_fraction, batch_docs=batch_docs)
               for f in sorted(corpus.glob("*.parquet"))]
    return records, build_shards(out, records, tok, config, load_table(table))


def _rows(folder: Path, manifest: dict, split: str) -> np.ndarray:
    out = []
    for f in manifest["splits"][split]["files"]:
        with pa.memory_map(str(folder / f["path"])) as mm:
            for b in pa.ipc.open_stream(mm):
                col = b.column("input_ids")
                out.append(col.values.to_numpy().reshape(len(col), -1))
    return np.concatenate(out) if out else np.zeros((0, manifest["row_tokens"]), dtype=np.uint16)


def _documents_in(rows: np.ndarray, eot: int, pad: int) -> list[list[tuple[int, ...]]]:
    """Per row (row_start: document), the whole documents in it: the token runs ending in <|endoftext|>."""
    out = []
    for r in rows.tolist():
        docs, cur = [], []
        for t in r:
            if t == pad:
                break
            cur.append(t)
            if t == eot:
                docs.append(tuple(cur))
                cur = []
        out.append(docs)
    return out


def _expected(doc: Document, cfg: RehydrateConfig) -> int:
    size = doc.metadata.get("dup_cluster_size", 0)
    return int(cfg.copies(np.array([size]), np.array([draw(doc.id)], dtype=np.uint64))[0])


# ------------------------------------------------------------------------------------------ the config


def test_fineweb2_preset_gives_each_bucket_its_copies():
    cfg = RehydrateConfig(preset="fineweb2")
    sizes = np.array([1, 2, 3, 4, 5, 99, 100, 999, 1000, 123456])
    got = cfg.copies(sizes, np.zeros(len(sizes), dtype=np.uint64))
    assert got.tolist() == [1, 2, 3, 3, 5, 5, 8, 8, 1, 1]
    assert [b["sizes"] for b in cfg.buckets_list()] == ["1", "2", "3-4", "5-99", "100-999", "1000+"]
    assert cfg.as_dict() == RehydrateConfig(buckets=dict(BUCKETS)).as_dict()  # the preset is FineWeb-2's table
    assert PRESETS["fineweb2"] == BUCKETS and cfg.max_copies == 8


def test_fractional_copies_are_per_document_and_independent_of_the_validation_split(sample_dir: Path):
    docs = _fortunes(sample_dir, 4000)
    cfg = RehydrateConfig(buckets={1: 1.5, 2: 0.25})
    ids = [d.id for d in docs]
    draws = np.array([draw(i) for i in ids], dtype=np.uint64)
    ones = np.ones(len(ids), dtype=np.int64)
    k = cfg.copies(ones, draws)
    assert set(k.tolist()) == {1, 2}
    # the same document gets the same count whatever the order or the batch it is computed in
    perm = np.random.default_rng(0).permutation(len(ids))
    assert (cfg.copies(ones[perm], draws[perm]) == k[perm]).all()
    # the expected count is the number written; and among training documents too (a draw that followed the
    # validation hash would give the held-out 30% all the low draws: 0.5 -> 0.29 among training documents)
    n = len(ids)
    train = np.array([not is_validation(i, 0.3) for i in ids])
    for mask in (np.ones(n, dtype=bool), train):
        share = float((k[mask] == 2).mean())
        assert abs(share - 0.5) < 4 * (0.25 / mask.sum()) ** 0.5, share
    quarter = cfg.copies(np.full(n, 2), draws)
    assert set(quarter.tolist()) == {0, 1} and abs(quarter.mean() - 0.25) < 4 * (0.1875 / n) ** 0.5


@pytest.mark.parametrize("block, message", [
    ({"preset": "fineweb"}, "sources[0].rehydrate.preset: 'fineweb' is not one of fineweb2"),
    ({"buckets": {2: 2, 5: 5}}, "sources[0].rehydrate.buckets: the first bucket starts at 2; it must start at 1"),
    ({"buckets": {1: 1, 5: -1}}, "sources[0].rehydrate.buckets.5: -1 is not a number of copies from 0 to 100"),
    ({"buckets": {1: 1, 5: 500}}, "sources[0].rehydrate.buckets.5: 500 is not a number of copies from 0 to 100"),
    ({"buckets": {1: 1, "5-99": 5}}, "sources[0].rehydrate.buckets: must be an integer, got '5-99'"),
    ({"buckets": {1: 1, 0: 1}}, "sources[0].rehydrate.buckets: 0 is not a cluster size"),
    ({"buckets": {1: "two"}}, "sources[0].rehydrate.buckets.1: must be an integer or a number, got 'two'"),
    ({"preset": "fineweb2", "buckets": {1: 1}}, "sources[0].rehydrate.preset: give a preset or buckets, not both"),
    ({"bucket": {1: 1}}, "sources[0].rehydrate.bucket: unknown field (allowed: preset, buckets)"),
    ({"buckets": {}}, "sources[0].rehydrate.buckets: no bucket given"),
    ("fineweb2", "sources[0].rehydrate: must be a mapping"),
])
def test_a_bad_rehydrate_block_fails_when_the_table_is_read(tmp_path: Path, block, message):
    path = _table(tmp_path, block)
    with pytest.raises(ValueError) as e:
        load_table(path)
    assert str(e.value).startswith(f"{path}: {message}"), str(e.value)


# ------------------------------------------------------------------------------- packing and the counts


CONFIG = ShardConfig(seq_len=256, seed=3, validation_fraction=0.2, row_start="document")


@pytest.fixture(scope="module")
def rehydrated(corpus, tok, tmp_path_factory):
    folder, _ = corpus
    out = tmp_path_factory.mktemp("shards")
    table = _table(tmp_path_factory.mktemp("table"), {"buckets": BUCKETS})
    records, manifest = _build(out, folder, tok, CONFIG, table)
    return out, records, manifest


def test_each_training_document_is_in_the_stream_as_often_as_its_bucket_says(corpus, tok, rehydrated):
    _, docs = corpus
    out, _, m = rehydrated
    cfg = RehydrateConfig(buckets=BUCKETS)
    enc = load_encoder(tok)
    eot, pad = m["eot_id"], m["pad_id"]
    key = {d.id: tuple(enc.encode(d.text, add_special_tokens=False).ids) + (eot,) for d in docs}
    assert len(set(key.values())) == len(docs)  # each document's tokens name it
    (src,) = m["sources"]
    assert src["rows"]["train"] == src["rows"]["unique"]  # one source, no budget: every row once

    train = _documents_in(_rows(out, m, "train"), eot, pad)
    seen = Counter(d for row in train for d in row)
    held = Counter(d for row in _documents_in(_rows(out, m, "validation"), eot, pad) for d in row)
    n_val = n_repeated = 0
    for d in docs:
        if len(key[d.id]) > CONFIG.row_tokens:
            continue  # cut into continuation rows: not a whole run of one row
        if is_validation(d.id, CONFIG.validation_fraction):
            n_val += 1
            assert held[key[d.id]] == 1 and seen[key[d.id]] == 0, d.id  # held out once, never trained on
        else:
            want = _expected(d, cfg)
            n_repeated += want > 1
            assert seen[key[d.id]] == want, (d.id, d.metadata.get("dup_cluster_size"), want)
            assert held[key[d.id]] == 0
    assert n_val > 50 and n_repeated > 200
    # copies of one document never share a row (every pass holds many documents)
    assert all(len(set(row)) == len(row) for row in train)


def _overlap(n: int, seq_len: int = CONFIG.seq_len) -> int:
    """Tokens a document of n tokens puts in two rows (row_start: document cuts it with stride seq_len)."""
    pos = cut = 0
    while n - pos > seq_len + 1:
        cut, pos = cut + 1, pos + seq_len
    return cut - 1 if pos and n - pos == 1 else cut


def test_manifest_and_records_reconcile(corpus, tok, rehydrated):
    _, docs = corpus
    out, records, m = rehydrated
    cfg = RehydrateConfig(buckets=BUCKETS)
    (src,) = m["sources"]
    train = [d for d in docs if not is_validation(d.id, CONFIG.validation_fraction)]
    enc_len = {}
    for r in records:  # the records hold the training documents and tokens of every cluster size
        for size, (n, t) in r["counts"]["cluster_sizes"]["reference"].items():
            enc_len.setdefault(int(size), [0, 0])
            enc_len[int(size)][0] += n
            enc_len[int(size)][1] += t
    assert sum(n for n, _ in enc_len.values()) == len(train) == src["documents"]["train"]
    assert sum(t for _, t in enc_len.values()) == src["tokens"]["train"]
    assert enc_len[0][0] == sum(1 for d in train if "dup_cluster_size" not in d.metadata)

    r = src["rehydration"]
    assert r["without_cluster_size"] == enc_len[0][0] > 0
    assert [(b["sizes"], b["copies"]) for b in r["buckets"]] == [
        ("1", 1), ("2", 2), ("3-4", 3), ("5-99", 5), ("100-999", 8), ("1000+", 1)]
    lows = [1, 2, 3, 5, 100, 1000, 10 ** 9]
    for i, b in enumerate(r["buckets"]):  # the buckets' documents, from the records' histogram
        sizes = [s for s in enc_len if lows[i] <= max(s, 1) < lows[i + 1]]
        assert b["documents"] == sum(enc_len[s][0] for s in sizes)
        assert b["tokens"] == sum(enc_len[s][1] for s in sizes)
        assert b["rehydrated_documents"] == b["copies"] * b["documents"]  # whole numbers of copies
        assert b["rehydrated_tokens"] == b["copies"] * b["tokens"]
    assert src["documents"]["train_rehydrated"] == sum(_expected(d, cfg) for d in train) \
        == sum(b["rehydrated_documents"] for b in r["buckets"])
    assert src["tokens"]["train_rehydrated"] == sum(b["rehydrated_tokens"] for b in r["buckets"])
    assert src["tokens"]["train_rehydrated"] > 2 * src["tokens"]["train"]
    assert src["epochs"] == 1.0
    assert src["epochs_unique"] == pytest.approx(src["tokens"]["train_rehydrated"] / src["tokens"]["train"], rel=1e-5)
    # the training rows hold every copy's tokens, their padding, and the token a row cut from a long document
    # shares with the next one (docs/data-format.md, "Pack")
    enc = load_encoder(tok)
    shared = sum(_expected(d, cfg) * _overlap(len(enc.encode(d.text, add_special_tokens=False).ids) + 1) for d in train)
    assert src["rows"]["unique"] * CONFIG.row_tokens == \
        src["tokens"]["train_rehydrated"] + src["padding_tokens"]["train_unique"] + shared


def test_tamiz_mix_counts_match_the_shards(corpus, tok, tmp_path: Path):
    """`tamiz mix`'s counts (every document, so validation_fraction 0 here) give the manifest's tokens with
    copies, and its epochs are those of the shards."""
    folder, _ = corpus
    cfg = RehydrateConfig(buckets={1: 1, 2: 2, 3: 2.5, 5: 5, 100: 0.5, 1000: 1})  # fractions: by a hash of the id
    counted: dict[str, int] = Counter()
    for f in sorted(folder.glob("*.parquet")):
        for k, v in count_tokens_file(f, tok, rehydrate={"reference": cfg})["reference"].items():
            counted[k] += v
    config = ShardConfig(seq_len=128, seed=1, validation_fraction=0.0, tokens=200_000)
    table = _table(tmp_path, {"buckets": {1: 1, 2: 2, 3: 2.5, 5: 5, 100: 0.5, 1000: 1}},
                   {"reference": 3.0, "other": 0.0})
    _, m = _build(tmp_path / "shards", folder, tok, config, table)
    src = m["sources"][0]
    assert counted["tokens"] == src["tokens"]["train"]
    assert counted["rehydrated_documents"] == src["documents"]["train_rehydrated"]
    assert counted["rehydrated_tokens"] == src["tokens"]["train_rehydrated"]
    # row_start any: the stream with its copies is cut into rows of seq_len (+ 1 shared) tokens, the rest dropped
    assert src["rows"]["unique"] * config.seq_len + 1 + src["dropped_tokens"]["train"] == counted["rehydrated_tokens"]
    rows, _ = mix_table([("reference", "reference", counted["documents"], counted["tokens"]), ("other", "other", 0, 0)],
                        [3.0, 0.0], 200_000, [counted["rehydrated_tokens"], 0])
    # the shards count in rows (the last tokens of the stream that fill no row are dropped): within a row
    assert rows[0].rehydrated_tokens == src["tokens"]["train_rehydrated"]
    assert rows[0].epochs == pytest.approx(src["epochs"], rel=config.seq_len / src["tokens"]["train_rehydrated"] + 0.01)
    assert rows[0].unique_epochs == pytest.approx(src["epochs_unique"], rel=config.seq_len / src["tokens"]["train"] + 0.01)
    assert rows[0].unique_epochs > rows[0].epochs


def test_shards_do_not_depend_on_batching_and_remixing_does_not_retokenize(corpus, tok, rehydrated, tmp_path: Path):
    folder, _ = corpus
    out, _, m = rehydrated
    (tmp_path / "t1").mkdir()
    (tmp_path / "t2").mkdir()
    table = _table(tmp_path / "t1", {"preset": "fineweb2"})
    # batches of 7 documents: other batch boundaries, other batches skipped in the later passes
    records, m7 = _build(tmp_path / "b7", folder, tok, CONFIG, table, batch_docs=7)
    assert m7["build_key"] == m["build_key"]  # the preset is its buckets
    for split in ("train", "validation"):
        assert [f["sha256"] for f in m7["splits"][split]["files"]] == [f["sha256"] for f in m["splits"][split]["files"]]
    # other buckets in the same folder: the tokenized files are kept, the shards change
    other = _table(tmp_path / "t2", {"buckets": {1: 1, 2: 3}})
    again, m2 = _build(tmp_path / "b7", folder, tok, CONFIG, other, batch_docs=7)
    assert all(r.get("resumed") for r in again)
    assert m2["build_key"] != m7["build_key"] and not m2["resumed"]
    s2, s7 = m2["sources"][0], m7["sources"][0]
    assert s2["tokens"]["train"] == s7["tokens"]["train"]
    assert s2["tokens"]["train_rehydrated"] != s7["tokens"]["train_rehydrated"]


def test_without_a_rehydrate_block_the_stream_is_each_document_once(corpus, tok, tmp_path: Path):
    folder, _ = corpus
    _, m = _build(tmp_path / "plain", folder, tok, CONFIG, _table(tmp_path, None))
    (src,) = m["sources"]
    assert src["rehydration"] is None
    assert src["documents"]["train_rehydrated"] == src["documents"]["train"]
    assert src["tokens"]["train_rehydrated"] == src["tokens"]["train"] and src["epochs_unique"] == src["epochs"]
    assert "rehydrate" not in json.dumps(m["config"])


def test_a_dask_build_writes_the_same_bytes(prefect_server, corpus, tok, rehydrated, tmp_path: Path):
    """`tamiz shard`'s flow (one tokenize task per file on a 2-worker local Dask cluster, then the packing
    task) gives the one-process build's shards, byte for byte."""
    from tamiz.flows.mix import shard_flow

    folder, _ = corpus
    _, _, m = rehydrated
    table = _table(tmp_path, {"preset": "fineweb2"})
    flow = shard_flow([(str(f), None) for f in sorted(folder.glob("*.parquet"))], str(tmp_path / "dask"), str(tok),
                      CONFIG, str(table), workers=2)
    assert flow["build_key"] == m["build_key"]
    for split in ("train", "validation"):
        assert [f["sha256"] for f in flow["splits"][split]["files"]] == [f["sha256"] for f in m["splits"][split]["files"]]
    assert flow["sources"] == m["sources"]


def test_tamiz_fields_describes_the_rehydrate_block():
    from typer.testing import CliRunner

    from tamiz.flows import cli

    cli._register()
    r = CliRunner().invoke(cli.app, ["fields", "rehydrate"])
    assert r.exit_code == 0, r.output
    assert "rehydrate.preset (str | None, default: None): \"fineweb2\": FineWeb-2's weights" in r.output
    assert "rehydrate.buckets (dict[int, int | float] | None, default: None): smallest cluster size" in r.output
