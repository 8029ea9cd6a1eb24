"""Tokenize and pack: exact rows, the by-document validation split, the manifest, `datasets` reading the
shards as they are, `verify_shards`, and bad input (missing source, empty source, altered shards)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tamiz.pipeline.document import Document
from tamiz.core.shardformat import SPECIAL_TOKENS
from tamiz.shards.pack import Packer
from tamiz.shards.tokenize import is_validation, token_dtype, tokenize_file
from tamiz.shards.verify import ShardError, verify_shards
from tamiz.shards.write import build_shards
from tamiz.pipeline.table import ShardConfig, load_table
from tamiz.pipeline.writers import read_parquet_documents, write_parquet

EOT = 0


def tiny_tokenizer(texts: list[str], path: Path, vocab_size: int = 1000) -> Path:
    """A byte-level BPE trained in-process on real sample text (hermetic, ~0.3 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def docs_dir(ingested_sample: Path, tmp_path_factory) -> Path:
    """A small slice of the ingested sample as Parquet document shards: per source, the first documents."""
    out = tmp_path_factory.mktemp("docs")
    keep = {"common_crawl": 60, "books": 60, "reference": 400}
    by_source: dict[str, list[Document]] = {}
    for f in sorted((ingested_sample / "docs").glob("*.parquet")):
        for d in read_parquet_documents(f):
            if len(by_source.setdefault(d.source, [])) < keep[d.source]:
                by_source[d.source].append(d)
    for source, docs in by_source.items():
        write_parquet(out / f"{source}.parquet", docs)
    return out


@pytest.fixture(scope="module")
def tok(docs_dir: Path, tmp_path_factory) -> Path:
    texts = [d.text for f in sorted(docs_dir.glob("*.parquet")) for d in read_parquet_documents(f)]
    return tiny_tokenizer(texts, tmp_path_factory.mktemp("tok") / "tokenizer.json")


CONFIG = ShardConfig(seq_len=64, seed=5, validation_fraction=0.1, tokens=120_000, shard_tokens=40_000,
                     batch_tokens=5_000)


def _build(out: Path, docs_dir: Path, tok: Path, config: ShardConfig = CONFIG, table=None) -> dict:
    records = [tokenize_file(f, out, tok, config.validation_fraction) for f in sorted(docs_dir.glob("*.parquet"))]
    return build_shards(out, records, tok, config, table)


@pytest.fixture(scope="module")
def built(docs_dir: Path, tok: Path, sample_dir: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("shards")
    return out, _build(out, docs_dir, tok, table=load_table(sample_dir / "table.yaml"))


def _rows(folder: Path, manifest: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    ids, src = [], []
    for f in manifest["splits"][split]["files"]:
        with pa.memory_map(str(folder / f["path"])) as mm:
            for b in pa.ipc.open_stream(mm):
                ids.append(b.column(0).flatten().to_numpy().reshape(len(b), -1))
                src.append(b.column(1).to_numpy())
    return np.concatenate(ids), np.concatenate(src)


def _doc_streams(docs_dir: Path, tok: Path, split: str) -> dict[str, np.ndarray]:
    """Per source, the token stream (documents + EOT, input order) of one split, encoded independently."""
    from tokenizers import Tokenizer

    t = Tokenizer.from_file(str(tok))
    streams: dict[str, list[int]] = {}
    for f in sorted(docs_dir.glob("*.parquet")):
        for d in read_parquet_documents(f):
            if is_validation(d.id, CONFIG.validation_fraction) == (split == "validation"):
                streams.setdefault(d.source, []).extend(t.encode(d.text, add_special_tokens=False).ids + [EOT])
    return {s: np.array(v, dtype=np.uint16) for s, v in streams.items()}


def _windows(stream: np.ndarray, seq_len: int) -> np.ndarray:
    k = (len(stream) - 1) // seq_len
    return np.stack([stream[i * seq_len:i * seq_len + seq_len + 1] for i in range(k)])


# ---------------------------------------------------------------------------------------------


def test_packer_any_mode_overlaps_one_token_and_streams():
    got: list[np.ndarray] = []
    p = Packer(3, "any", "uint16", got.append)
    p.add(np.array([1, 2, 3, EOT], np.uint16), np.array([0, 4]))
    p.add(np.array([4, 5, EOT, 6, EOT], np.uint16), np.array([0, 3, 5]))
    p.finish()
    assert np.concatenate(got).tolist() == [[1, 2, 3, EOT], [EOT, 4, 5, EOT], [EOT, 6, EOT]][:2]
    assert (p.rows, p.dropped, p.padding) == (2, 2, 0)  # tokens 6, EOT fill no row: dropped and counted


def test_packer_document_mode_starts_rows_at_documents():
    got: list[np.ndarray] = []
    P = 1
    p = Packer(5, "document", "uint16", got.append, pad_id=P)
    docs = [[2, 3, EOT], [4, 5, 6, EOT], [7, EOT], list(range(10, 20)) + [EOT], [8, 9, EOT]]
    offsets = np.cumsum([0] + [len(d) for d in docs])
    p.add(np.array(sum(docs, []), np.uint16), offsets)
    p.finish()
    assert np.concatenate(got).tolist() == [
        [2, 3, EOT, P, P, P],  # the next document does not fit: pad, start a new row with it
        [4, 5, 6, EOT, 7, EOT],
        [10, 11, 12, 13, 14, 15],  # a long document: rows of its own with one token of overlap
        [15, 16, 17, 18, 19, EOT],
        [8, 9, EOT, P, P, P],
    ]
    assert p.padding == 6 and p.rows == 5
    with pytest.raises(ValueError, match="no <pad> token"):
        Packer(5, "document", "uint16", got.append, pad_id=None)


def test_token_dtype():
    assert token_dtype(1000) == token_dtype(65_536) == "uint16"
    assert token_dtype(65_537) == "uint32"


def test_validation_split_is_by_document_and_stable():
    ids = [f"books/{i}" for i in range(20_000)]
    held = [i for i in ids if is_validation(i, 0.1)]
    assert 0.09 < len(held) / len(ids) < 0.11
    assert held == [i for i in ids if is_validation(i, 0.1)]
    assert not any(is_validation(i, 0.0) for i in ids)


def test_manifest_describes_the_shards(built, tok: Path):
    out, m = built
    from tamiz.core.atomic import sha256_file

    assert m["format"] == "tamiz.shards/1" and m["seq_len"] == 64 and m["row_tokens"] == 65 and m["seed"] == 5
    assert m["dtype"] == "uint16" and m["vocab_size"] == 1000 and m["eot_id"] == EOT and m["pad_id"] == 1
    assert m["tokenizer"]["sha256"] == sha256_file(tok) == sha256_file(out / "tokenizer.json")
    assert [s["name"] for s in m["sources"]] == ["common_crawl", "books", "reference"]
    assert [s["weight"] for s in m["sources"]] == pytest.approx([0.6, 0.25, 0.15])
    train = m["splits"]["train"]
    assert train["rows"] == -(-120_000 // 64) == sum(s["rows"]["train"] for s in m["sources"])
    assert len(train["files"]) == -(-train["rows"] // (40_000 // 65)) > 1
    for f in train["files"] + m["splits"]["validation"]["files"]:
        assert sha256_file(out / f["path"]) == f["sha256"] and (out / f["path"]).stat().st_size == f["bytes"]
    for s in m["sources"]:  # epochs = rows in the mix / unique rows
        assert s["epochs"] == pytest.approx(s["rows"]["train"] / s["rows"]["unique"], abs=1e-6)
    assert verify_shards(out)["rows"] == train["rows"] + m["splits"]["validation"]["rows"]
    assert not (out / "_packed").exists()


def test_rows_are_exact_windows_and_no_validation_text_in_training(built, docs_dir: Path, tok: Path):
    out, m = built
    names = [s["name"] for s in m["sources"]]
    train_ids, train_src = _rows(out, m, "train")
    val_ids, val_src = _rows(out, m, "validation")
    train_streams, val_streams = _doc_streams(docs_dir, tok, "train"), _doc_streams(docs_dir, tok, "validation")
    for s, name in enumerate(names):
        expected_val = _windows(val_streams[name], 64)
        assert np.array_equal(val_ids[val_src == s], expected_val)  # the held-out documents, packed in order
        unique = _windows(train_streams[name], 64)
        assert len(unique) == m["sources"][s]["rows"]["unique"]
        mine = train_ids[train_src == s]
        assert len(mine) == m["sources"][s]["rows"]["train"]
        allowed = {r.tobytes() for r in unique}
        assert all(r.tobytes() in allowed for r in mine)  # every train row comes from training documents only
        # a repeated source uses every row (whole passes); a subsampled one distinct rows
        counts = np.unique(np.array([r.tobytes() for r in mine], dtype=object), return_counts=True)[1]
        if len(mine) >= len(unique):
            assert len(counts) == len(unique)
        assert counts.max() - counts.min() <= 1 or len(mine) < len(unique)


def test_train_order_honours_the_weights_on_every_prefix(built):
    out, m = built
    _, src = _rows(out, m, "train")
    w = np.array([s["weight"] for s in m["sources"]])
    counts = np.cumsum(np.eye(len(w))[src], axis=0)
    ideal = np.arange(1, len(src) + 1)[:, None] * w[None, :]
    assert np.abs(counts - ideal).max() < 1.0


def test_same_inputs_same_bytes_and_rerun_is_skipped(built, docs_dir: Path, tok: Path, sample_dir: Path, tmp_path):
    out, m = built
    again = _build(tmp_path, docs_dir, tok, table=load_table(sample_dir / "table.yaml"))
    assert again["resumed"] is False
    assert [f["sha256"] for f in again["splits"]["train"]["files"]] == [f["sha256"] for f in m["splits"]["train"]["files"]]
    assert _build(tmp_path, docs_dir, tok, table=load_table(sample_dir / "table.yaml"))["resumed"] is True
    assert all(tokenize_file(f, tmp_path, tok, CONFIG.validation_fraction)["resumed"]  # inputs are not re-tokenized
               for f in sorted(docs_dir.glob("*.parquet")))
    other = _build(tmp_path, docs_dir, tok, dataclasses.replace(CONFIG, seed=6), load_table(sample_dir / "table.yaml"))
    assert other["resumed"] is False and other["splits"]["train"]["files"][0]["sha256"] != m["splits"]["train"]["files"][0]["sha256"]
    assert verify_shards(tmp_path)["splits"]["train"] == m["splits"]["train"]["rows"]


def test_datasets_reads_the_shards_as_they_are(built, tmp_path):
    import datasets

    out, m = built
    train_ids, train_src = _rows(out, m, "train")
    first = out / m["splits"]["train"]["files"][0]["path"]
    ds = datasets.Dataset.from_file(str(first))  # memory-mapped, no conversion
    assert ds.features["input_ids"].length == 65 and ds[0]["input_ids"] == train_ids[0].tolist()
    loaded = datasets.load_dataset("arrow", data_files={"train": str(out / "train-*.arrow"),
                                                        "validation": str(out / "validation-*.arrow")},
                                   cache_dir=str(tmp_path / "hf"))
    assert loaded["train"].num_rows == m["splits"]["train"]["rows"]
    assert loaded["validation"].num_rows == m["splits"]["validation"]["rows"]
    assert loaded["train"][len(train_ids) - 1]["input_ids"] == train_ids[-1].tolist()
    assert loaded["train"][7]["source_id"] == int(train_src[7])
    by_folder = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf2"))  # split names from file names
    assert set(by_folder) == {"train", "validation"} and by_folder["train"].num_rows == len(train_ids)


def test_document_rows_and_uint32_vocab(docs_dir: Path, tmp_path):
    """row_start=document pads only row tails; a vocabulary over 65,536 ids is stored as uint32."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for f in docs_dir.glob("*.parquet") for d in read_parquet_documents(f) for w in d.text.split()})
    vocab = {"<|endoftext|>": 0, "<pad>": 1, "[UNK]": 2, **{f"w{i}": i + 3 for i in range(70_000)}}
    vocab.update({w: 70_003 + i for i, w in enumerate(words)})
    t = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    t.add_special_tokens(["<|endoftext|>", "<pad>"])
    t.save(str(tmp_path / "big.json"))
    cfg = dataclasses.replace(CONFIG, row_start="document", tokens=None, seq_len=32)
    m = _build(tmp_path / "out", docs_dir, tmp_path / "big.json", cfg)
    assert m["dtype"] == "uint32" and m["vocab_size"] > 65_536
    ids, _ = _rows(tmp_path / "out", m, "train")
    assert ids.dtype == np.uint32 and ids.max() >= 70_003
    pads = ids == 1
    for row, pad in zip(ids, pads):  # padding is a suffix, right after a document's end
        n = int(pad.sum())
        if n:
            assert pad[-n:].all() and not pad[:-n].any() and row[-n - 1] == 0
    assert int(pads.sum()) == sum(s["padding_tokens"]["train_unique"] for s in m["sources"])
    assert sum(s["rows"]["train"] for s in m["sources"]) == m["splits"]["train"]["rows"]  # natural mix: every row once


# ---------------------------------------------------------------------------------------------
# Bad input


def test_weight_on_a_source_with_no_documents(docs_dir: Path, tok: Path, sample_dir: Path, tmp_path):
    table = load_table(sample_dir / "table.yaml")
    only = tmp_path / "two_sources"
    only.mkdir()
    for name in ("books", "reference"):
        shutil.copy(docs_dir / f"{name}.parquet", only / f"{name}.parquet")
    with pytest.raises(ValueError, match=r"sources\[0\] \(common_crawl\): weight 0.6 but no documents of this source"):
        _build(tmp_path / "out", only, tok, table=table)


def test_documents_of_a_source_missing_from_the_table(docs_dir: Path, tok: Path, sample_dir: Path, tmp_path):
    table = load_table(sample_dir / "table.yaml")
    table = dataclasses.replace(table, sources=table.sources[:2])
    with pytest.raises(ValueError, match=r"reference\.parquet: documents of source 'reference' are not in the table"):
        _build(tmp_path / "out", docs_dir, tok, table=table)


def test_a_source_whose_documents_are_all_empty(docs_dir: Path, tok: Path, sample_dir: Path, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("common_crawl", "books"):
        shutil.copy(docs_dir / f"{name}.parquet", inputs / f"{name}.parquet")
    write_parquet(inputs / "reference.parquet", [Document(id=f"reference/{i}", text="", source="reference")
                                                 for i in range(5)])
    with pytest.raises(ValueError, match=r"sources\[2\] \(reference\): weight 0.15 but no documents"):
        _build(tmp_path / "out", inputs, tok, table=load_table(sample_dir / "table.yaml"))
    rec = tokenize_file(inputs / "reference.parquet", tmp_path / "out", tok, 0.1)
    assert rec["counts"]["empty"] == 5 and rec["counts"]["by_source"] == {}


def test_a_source_whose_only_documents_fell_into_validation_trains_on_them(docs_dir: Path, tok: Path,
                                                                          sample_dir: Path, tmp_path):
    """One .txt file is one source of few documents: if the by-document split holds all of them out, the
    source would have nothing to train on and the build would fail at the shards."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("common_crawl", "books"):
        shutil.copy(docs_dir / f"{name}.parquet", inputs / f"{name}.parquet")
    text = next(iter(read_parquet_documents(docs_dir / "reference.parquet"))).text
    ids = [f"reference/doc{i}" for i in range(200) if is_validation(f"reference/doc{i}", CONFIG.validation_fraction)][:2]
    assert len(ids) == 2
    write_parquet(inputs / "reference.parquet", [Document(id=i, text=text, source="reference") for i in ids])
    m = _build(tmp_path / "out", inputs, tok, table=load_table(sample_dir / "table.yaml"))
    ref = next(x for x in m["sources"] if x["name"] == "reference")
    assert m["validation_moved_to_train"] == ["reference"]
    assert ref["documents"] == {"train": 2, "validation": 0, "train_rehydrated": 2} and ref["rows"]["unique"] > 0
    assert ref["rows"]["validation"] == 0
    others = [x for x in m["sources"] if x["name"] != "reference"]
    assert all(x["rows"]["validation"] > 0 for x in others)  # the others keep their held-out rows


def test_tokenizer_without_end_of_text(tmp_path, docs_dir: Path):
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")).save(str(tmp_path / "t.json"))
    with pytest.raises(ValueError, match=r"t\.json: the tokenizer has no <\|endoftext\|> token"):
        tokenize_file(docs_dir / "books.parquet", tmp_path / "out", tmp_path / "t.json", 0.1)


@pytest.fixture
def copy(built, tmp_path) -> tuple[Path, dict]:
    out, m = built
    dst = tmp_path / "copy"
    shutil.copytree(out, dst, ignore=shutil.ignore_patterns("_*"))
    return dst, m


def test_verify_names_a_truncated_shard(copy):
    out, m = copy
    f = out / m["splits"]["train"]["files"][1]["path"]
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=rf"{f.name}: {len(data) // 2} bytes, the manifest says {len(data)} \(truncated"):
        verify_shards(out)


def test_verify_names_an_altered_shard_and_tokenizer(copy):
    out, m = copy
    f = out / m["splits"]["validation"]["files"][0]["path"]
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF  # same size, one token changed
    f.write_bytes(bytes(data))
    tok = out / "tokenizer.json"
    tok.write_text(tok.read_text(encoding="utf-8").replace('"<mask>"', '"<MASK>"'), encoding="utf-8")
    with pytest.raises(ShardError) as e:
        verify_shards(out)
    msg = str(e.value)
    assert f"{f}: sha256 differs from the manifest (the file was altered)" in msg
    assert f"{tok}: sha256 differs from the manifest's tokenizer" in msg


def test_verify_flags_a_stale_unlisted_shard(copy):
    out, m = copy
    shutil.copy(out / m["splits"]["train"]["files"][0]["path"], out / "train-00099-of-00100.arrow")
    with pytest.raises(ShardError, match="train-00099-of-00100.arrow: not listed in the manifest"):
        verify_shards(out)
    (out / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="no manifest"):
        verify_shards(out)


def test_manifest_is_plain_json(built):
    out, m = built
    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in m.items() if k != "resumed"}


def test_special_tokens_written_in_a_document_are_plain_text(tok: Path, tmp_path):
    docs = [Document(id="reference/a", text="fin del texto <|endoftext|> y <pad> más", source="reference"),
            Document(id="reference/b", text="otro documento", source="reference")]
    write_parquet(tmp_path / "in" / "x.parquet", docs)
    rec = tokenize_file(tmp_path / "in" / "x.parquet", tmp_path / "out", tok, 0.0)
    with pa.memory_map(str(tmp_path / "out" / rec["outputs"][0]["path"])) as mm:
        tokens = pa.ipc.open_stream(mm).read_all().column("tokens").combine_chunks()
    assert [int(t[-1]) for t in tokens.to_numpy(zero_copy_only=False)] == [EOT, EOT]
    assert int((tokens.flatten().to_numpy() == EOT).sum()) == 2  # only the separators the packer adds
    assert int((tokens.flatten().to_numpy() == 1).sum()) == 0  # "<pad>" in the text is not the pad id


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads RssFile from /proc (Linux)")
def test_mixing_reads_shuffled_rows_without_keeping_the_file_resident(tmp_path):
    """The mix reads packed rows in shuffled order; the pages it touched must not stay mapped into the
    task, or its memory grows with the corpus (it did: 775 MB at 1 GB of crawl, 1,336 MB at 4 GB)."""
    import re

    from tamiz.shards.write import _RowFile

    def rss_file_mb() -> float:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"RssFile:\s+(\d+)", status).group(1)) / 1024

    n, width = 250_000, 129  # 64 MB of uint16 rows
    path = tmp_path / "0.train.bin"
    np.arange(n * width, dtype=np.uint64).astype(np.uint16).tofile(path)
    order = np.random.default_rng(0).permutation(n)
    rows = _RowFile(path, "uint16", n, width)
    before, peak = rss_file_mb(), 0.0
    try:
        for a in range(0, n, 2048):
            got = rows.take(order[a:a + 2048])
            peak = max(peak, rss_file_mb())
            assert got[0, 0] == np.uint16((order[a] * width) % 65536)
    finally:
        rows.close()
    assert peak - before < 8, f"{peak - before:.0f} MB of the 64 MB file stayed resident"
