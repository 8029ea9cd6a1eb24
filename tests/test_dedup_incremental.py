"""Incremental dedup: a new crawl against the stored signatures of the corpus already built
removes exactly what a full rerun over everything would."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.run import dedup_local
from tamiz.pipeline.writers import read_parquet_documents

PRIORITY = ["books", "reference", "common_crawl"]


def _status(out: Path) -> dict[str, tuple]:
    """id -> (kept?, duplicate_of, reason, cluster size) for every document of a run."""
    st = {}
    for folder, kept in (("docs", True), ("removed", False)):
        for f in sorted((out / folder).glob("*.parquet")):
            for d in read_parquet_documents(f):
                m = d.metadata
                st[d.id] = (kept, m.get("duplicate_of"), m.get("dedup_reason"), m["dup_cluster_size"])
    return st


@pytest.fixture(scope="module")
def crawls(ingested_sample) -> list[list[Path]]:
    """Three 'crawls' from the sample's shards; injected duplicates cross them (e.g. case-study.html
    in WARC files 0, 1 and 2, acknowledgments in 1, 2 and 3)."""
    shards = sorted((ingested_sample / "docs").glob("*.parquet"))
    warc = [s for s in shards if s.name.startswith("tamiz-sample")]
    books = [s for s in shards if s.name.startswith("reina")]
    ref = [s for s in shards if s.name.startswith(("debian_reference", "fortunes"))]
    return [[warc[0]] + books, [warc[1], warc[2]], [warc[3]] + ref]


def test_incremental_equals_full_rerun(crawls, tmp_path):
    cfg = DedupConfig()
    full = dedup_local([p for c in crawls for p in c], tmp_path / "full", cfg, PRIORITY)
    d1 = dedup_local(crawls[0], tmp_path / "d1", cfg, PRIORITY)
    sig1 = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "d1" / "signatures").glob("*.arrow")}
    d2 = dedup_local(crawls[1], tmp_path / "d2", cfg, PRIORITY, against=tmp_path / "d1")
    d3 = dedup_local(crawls[2], tmp_path / "d3", cfg, PRIORITY, against=tmp_path / "d2")  # a chain

    expected = _status(tmp_path / "full")
    got = {**_status(tmp_path / "d1"), **_status(tmp_path / "d2"), **_status(tmp_path / "d3")}
    assert got.keys() == expected.keys()
    diff = {k: (got[k], expected[k]) for k in got if got[k][:3] != expected[k][:3]}
    assert diff == {}
    # cluster sizes: a run sees whole clusters; a previous run's kept documents whose clusters grew
    # are listed with their new size in the later run's previous_cluster_sizes.parquet
    # (removed documents keep the size their run saw)
    sizes = {k: v[3] for k, v in got.items() if v[0]}
    for run in ("d2", "d3"):
        for row in pq.read_table(tmp_path / run / "previous_cluster_sizes.parquet").to_pylist():
            sizes[row["id"]] = row["dup_cluster_size"]
    assert sizes == {k: v[3] for k, v in expected.items() if v[0]}
    assert {k: v for k, v in _status(tmp_path / "d3").items()} == {k: expected[k] for k in _status(tmp_path / "d3")}
    removed_incremental = sum(sum(d["counts"]["removed"].values()) for d in (d1, d2, d3))
    assert removed_incremental == sum(full["counts"]["removed"].values())
    assert sum(sum(d["counts"]["removed"].values()) for d in (d2, d3)) > 0  # cross-crawl duplicates exist
    assert d3["counts"]["clusters"]["previous_kept_now_duplicate"] == 0
    # the previous corpus's signatures were read, not recomputed
    assert not list((tmp_path / "d2" / "signatures").glob(crawls[0][0].stem + "*"))
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "d1" / "signatures").glob("*.arrow")} == sig1


def test_against_refuses_other_settings_and_same_input(crawls, tmp_path):
    cfg = DedupConfig()
    dedup_local(crawls[1], tmp_path / "d1", cfg, PRIORITY)
    with pytest.raises(ValueError, match="other settings"):
        dedup_local(crawls[2], tmp_path / "x", DedupConfig(num_perm=64), PRIORITY, against=tmp_path / "d1")
    with pytest.raises(ValueError, match="priority"):
        dedup_local(crawls[2], tmp_path / "y", cfg, ["common_crawl"], against=tmp_path / "d1")
    with pytest.raises(ValueError, match="already deduplicated"):
        dedup_local(crawls[1][:1], tmp_path / "z", cfg, PRIORITY, against=tmp_path / "d1")
    with pytest.raises(ValueError, match="not a finished dedup output"):
        dedup_local(crawls[2], tmp_path / "w", cfg, PRIORITY, against=tmp_path)


def test_runs_moved_together_resume_and_still_serve_as_against(crawls, tmp_path):
    """layout.json names folders relative to its dedup folder: a chain of runs moved together (the old
    place gone) resumes without work and is still read by a later `--against` run."""
    import hashlib
    import json

    cfg = DedupConfig()
    dedup_local(crawls[0], tmp_path / "a" / "d1", cfg, PRIORITY)
    dedup_local(crawls[1], tmp_path / "a" / "d2", cfg, PRIORITY, against=tmp_path / "a" / "d1")
    (tmp_path / "a").rename(tmp_path / "b")
    moved = tmp_path / "b"

    def digest(folder: Path) -> dict[str, str]:
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    before = digest(moved / "d2")
    again = dedup_local(crawls[1], moved / "d2", cfg, PRIORITY, against=moved / "d1")
    assert again["resumed"] == again["shards"] and digest(moved / "d2") == before
    dedup_local(crawls[2], moved / "d3", cfg, PRIORITY, against=moved / "d2")
    layout = json.loads((moved / "d3" / "layout.json").read_text())
    assert layout["against"] == ["../d1", "../d2"] and {s["dir"] for s in layout["shards"]} == {"../d1", "../d2", "."}
    earlier = {**_status(moved / "d1"), **_status(moved / "d2")}
    assert any(v[1] in earlier for v in _status(moved / "d3").values())  # removed as a copy of a moved run's document
