"""The dedup stages on the real sample: what is removed, what is kept, counts, resume, bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.files import DedupFileError, read_table
from tamiz.pipeline.dedup.normalize import tokens
from tamiz.pipeline.dedup.run import dedup_local
from tamiz.pipeline.document import Document
from tamiz.pipeline.writers import read_parquet_documents, write_parquet

PRIORITY = ["books", "reference", "common_crawl"]


def _docs(folder: Path) -> list[Document]:
    return [d for f in sorted(folder.glob("*.parquet")) for d in read_parquet_documents(f)]


def _jaccard(a: str, b: str, k: int = 5) -> float:
    def sh(t):
        w = tokens(t)
        return {" ".join(w[i:i + k]) for i in range(max(len(w) - k + 1, 1))}
    x, y = sh(a), sh(b)
    return len(x & y) / len(x | y)


@pytest.fixture(scope="module")
def sample_run(ingested_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("dedup") / "out"
    summary = dedup_local([ingested_sample], out, DedupConfig(), PRIORITY)
    return out, summary


def test_injected_exact_and_near_duplicates_are_removed(sample_run, ingested_sample, sample_dir):
    out, _ = sample_run
    kept, removed = _docs(out / "docs"), _docs(out / "removed")
    by_url = {d.url: d for d in kept + removed if d.url}
    kept_ids = {d.id for d in kept}
    injected = json.loads((sample_dir / "common_crawl" / "INJECTED.json").read_text(encoding="utf-8"))
    groups = [[g["original"]["url"]] + [d["url"] for d in g["duplicates"]] for g in injected["exact_duplicates"]]
    groups += [[g["original"]["url"], g["near_duplicate"]["url"]] for g in injected["near_duplicates"]]
    # near-duplicate pairs sharing an original form one group
    merged: list[set[str]] = []
    for g in groups:
        g = {u for u in g if u in by_url}  # pages the language filter kept
        hit = [m for m in merged if m & g]
        for m in hit:
            g |= m
            merged.remove(m)
        merged.append(g)
    checked = 0
    for g in merged:
        if len(g) < 2:
            continue
        docs = [by_url[u] for u in g]
        survivors = [d for d in docs if d.id in kept_ids]
        assert len(survivors) == 1, sorted(g)
        keeper = survivors[0]
        assert keeper.metadata["dup_cluster_size"] == len(g)
        for d in docs:
            if d is not keeper:
                assert d.metadata["duplicate_of"] == keeper.id
                assert d.metadata["dedup_reason"] in ("exact", "url", "near")
        checked += 1
    assert checked >= 5  # case-study (3 copies), nfs (http/https), acknowledgments (3), kernel-role, first-package


def test_distinct_documents_are_kept(sample_run):
    out, summary = sample_run
    kept, removed = _docs(out / "docs"), _docs(out / "removed")
    c = summary["counts"]["by_source"]
    assert c["books"] == {"in": 1189, "kept": 1189, "removed": 0}  # 1,189 distinct chapters
    pages = lambda docs: {d.url.rstrip("/").split("/")[-1].split("?")[0] for d in docs if d.source == "common_crawl"}
    assert pages(kept) == pages(kept + removed)  # every handbook page keeps one copy
    assert len(pages(kept)) == sum(1 for d in kept if d.source == "common_crawl")  # ... and only one
    # every near duplicate really is one: true Jaccard of 5-word shingles close to the threshold or above
    text = {d.id: d.text for d in kept}
    near = [d for d in removed if d.metadata["dedup_reason"] == "near"]
    assert near
    for d in near:
        assert _jaccard(d.text, text[d.metadata["duplicate_of"]]) >= 0.7, d.id


def test_counts_reconcile_and_metadata(sample_run, ingested_sample):
    out, summary = sample_run
    inputs = _docs(ingested_sample / "docs")
    kept, removed = _docs(out / "docs"), _docs(out / "removed")
    assert sorted(d.id for d in inputs) == sorted(d.id for d in kept + removed)
    c = summary["counts"]
    assert c["in"] == len(inputs) == c["kept"] + sum(c["removed"].values())
    assert c["kept"] == len(kept)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["in"] == c["in"] and manifest["config_hash"] == DedupConfig().hash()
    pointing: dict[str, int] = {}
    for d in removed:
        pointing[d.metadata["duplicate_of"]] = pointing.get(d.metadata["duplicate_of"], 0) + 1
    kept_by_id = {d.id: d for d in kept}
    for rep, n in pointing.items():
        assert kept_by_id[rep].metadata["dup_cluster_size"] == n + 1
    assert all(d.metadata["dup_cluster_size"] == 1 for d in kept if d.id not in pointing)
    assert sum(int(k) * v for k, v in c["clusters"]["cluster_sizes"].items()) == len(removed) + len(pointing)
    assert (out / "cluster_sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_resumes_and_is_byte_identical(sample_run, ingested_sample):
    out, _ = sample_run
    before = (out / "manifest.json").read_bytes()
    docs_before = {p.name: p.read_bytes() for p in (out / "docs").glob("*.parquet")}
    summary = dedup_local([ingested_sample], out, DedupConfig(), PRIORITY)
    assert summary["resumed"] == summary["shards"]
    assert (out / "manifest.json").read_bytes() == before
    assert {p.name: p.read_bytes() for p in (out / "docs").glob("*.parquet")} == docs_before


def test_truncated_or_foreign_signature_file(sample_run, ingested_sample, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(sample_run[0], out)
    sig = sorted((out / "signatures").glob("*.arrow"))[0]
    data = sig.read_bytes()
    sig.write_bytes(data[: len(data) // 2])
    cfg = DedupConfig()
    with pytest.raises(DedupFileError, match=f"{sig.name}.*truncated"):
        read_table(sig, "signatures", cfg.hash())
    # a rerun notices the checksum mismatch, recomputes that shard and gives the same result
    dedup_local([ingested_sample], out, cfg, PRIORITY)
    assert sig.read_bytes() == data
    other = DedupConfig(threshold=0.7)
    with pytest.raises(DedupFileError, match="refusing to mix"):
        read_table(sig, "signatures", other.hash())
    with pytest.raises(ValueError, match="other settings"):
        dedup_local([ingested_sample / "docs" / next((ingested_sample / "docs").glob("*.parquet")).name],
                    tmp_path / "x", other, PRIORITY, against=out)


def _chapters(sample_dir: Path, n: int) -> list[dict]:
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def test_priority_across_sources(sample_dir, tmp_path):
    """Books kept and their crawled copies dropped, or the other way round, as the user orders."""
    ch = _chapters(sample_dir, 6)
    books = [Document(f"books/{c['id']}", c["text"], "books") for c in ch]
    banner = "Biblia en línea. Compartir en redes sociales. Política de cookies.\n"
    crawl = [Document("cc/0", banner + ch[1]["text"] + "\nVolver arriba", "common_crawl", "https://biblia.example.org/gen/2"),
             Document("cc/1", ch[3]["text"], "common_crawl", "https://copia.example.net/gen/4"),
             Document("cc/2", "Contenido distinto: " + ch[5]["text"][: len(ch[5]["text"]) // 3], "common_crawl", None)]
    write_parquet(tmp_path / "in" / "a_crawl.parquet", crawl)
    write_parquet(tmp_path / "in" / "b_books.parquet", books)
    b2, b4 = f"books/{ch[1]['id']}", f"books/{ch[3]['id']}"
    for prio, expected in ((["books", "common_crawl"], {"cc/0": b2, "cc/1": b4}),
                           (["common_crawl", "books"], {b2: "cc/0", b4: "cc/1"})):
        out = tmp_path / f"out-{prio[0]}"
        dedup_local([tmp_path / "in"], out, DedupConfig(), prio)
        got = {d.id: d.metadata["duplicate_of"] for d in _docs(out / "removed")}
        assert got == expected, prio
        reasons = {d.id: d.metadata["dedup_reason"] for d in _docs(out / "removed")}
        assert sorted(reasons.values()) == ["exact", "near"]


def test_bad_documents_empty_short_and_huge(sample_dir, tmp_path):
    ch = _chapters(sample_dir, 1189)
    huge = "\n".join(c["text"] for c in ch)  # the whole Bible: one ~3.8 MB document
    huge += "\n" + huge[: 600_000]  # past the chunking size (4 Mi characters)
    docs = [Document("empty", "", "x"), Document("blank", " \n\t ", "x"), Document("punct", "¡¿...?!", "x"),
            Document("one", "Hola", "x"), Document("one-again", "¡HOLA!", "x"), Document("short", "Hola mundo", "x"),
            Document("huge", huge, "x"), Document("huge-copy", "Copia: " + huge, "x"),
            Document("chapter", ch[0]["text"], "x")]
    write_parquet(tmp_path / "in.parquet", docs)
    out = tmp_path / "out"
    s = dedup_local([tmp_path / "in.parquet"], out, DedupConfig(), [])
    removed = {d.id: (d.metadata["duplicate_of"], d.metadata["dedup_reason"]) for d in _docs(out / "removed")}
    assert removed == {"one-again": ("one", "exact"), "huge-copy": ("huge", "near")}
    assert s["counts"]["in"] == len(docs) == s["counts"]["kept"] + 2
