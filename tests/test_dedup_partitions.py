"""Band tasks split by band-hash range (`band_partitions`): the same links, files and counts as one task
per band; each part resumes on its own; a bad value is refused before any work."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tamiz.pipeline.dedup import lsh
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.files import read_table
from tamiz.pipeline.dedup.run import dedup_local

PRIORITY = ["books", "reference", "common_crawl"]
SMALL = {"num_perm": 64, "exact_partitions": 4}  # quick; 64 permutations: 10 bands


def _digest(out: Path, folders: tuple[str, ...]) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for f in folders for p in sorted((out / f).glob("*")) if not p.name.startswith(".")}


def _links(out: Path, cfg: DedupConfig) -> set[tuple[int, int]]:
    return {(u, v) for f in sorted((out / "edges").glob("*.arrow"))
            for u, v in zip(*(read_table(f, "edges", cfg.hash(), [c]).column(c).to_pylist() for c in "uv"))}


@pytest.fixture(scope="module")
def runs(ingested_sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("partitions")
    one, three = DedupConfig(**SMALL), DedupConfig(**SMALL, band_partitions=3)
    return (root, one, dedup_local([ingested_sample], root / "p1", one, PRIORITY),
            three, dedup_local([ingested_sample], root / "p3", three, PRIORITY))


def test_partitioned_bands_give_the_same_result(runs):
    root, one, s1, three, s3 = runs
    assert one.hash() == three.hash()  # how the work is cut is not part of what the files hold
    same = ("docs", "removed", "clusters", "exact", "signatures", "bands", "keys", "shingles")
    assert _digest(root / "p3", same) == _digest(root / "p1", same)
    assert s3["counts"] == s1["counts"]
    assert s1["counts"]["removed"]["exact"] > 0 and s1["counts"]["removed"]["near"] > 0
    assert _links(root / "p3", three) == _links(root / "p1", one) and _links(root / "p1", one)
    names = sorted(p.name for p in (root / "p3" / "edges").glob("*.arrow"))
    assert names == [f"band-{b:04d}-part-{p:04d}.arrow" for b in range(one.bands) for p in range(3)]
    assert sorted(p.name for p in (root / "p1" / "edges").glob("*.arrow")) == \
        [f"band-{b:04d}.arrow" for b in range(one.bands)]
    m1, m3 = (json.loads((root / d / "manifest.json").read_text()) for d in ("p1", "p3"))
    assert m3["counts"] == m1["counts"] and m3["outputs"] == m1["outputs"]
    assert "band_partitions" not in m1["config"]["dedup"] and m3["config"]["dedup"]["band_partitions"] == 3
    l1, l3 = (json.loads((root / d / "layout.json").read_text()) for d in ("p1", "p3"))
    assert "band_parts" not in l1 and l3["band_parts"] == 3  # the split, as its edges files are named


def test_hash_ranges_cover_the_uint64_space():
    import numpy as np

    h = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    for parts in (1, 2, 3, 7):
        owners = [lsh.in_range(h, *lsh.hash_range(p, parts)) for p in range(parts)]
        assert (np.sum(owners, axis=0) == 1).all(), parts  # every hash in exactly one part
    assert lsh.hash_range(0, 1) == (0, 1 << 64)


def test_rerun_redoes_only_the_deleted_part(runs, ingested_sample):
    root, _, _, three, s3 = runs
    out = root / "p3"
    gone = out / "edges" / "band-0002-part-0001.arrow"
    before = gone.read_bytes()
    gone.unlink()
    manifest = (out / "manifest.json").read_bytes()
    ran: list[str] = []

    def record(stage, fn, calls, labels):
        got = [fn(*c) for c in calls]
        ran.extend(f"{stage}: {label}" for label, r in zip(labels, got) if not r.get("resumed"))
        return got

    from tamiz.pipeline.dedup.run import check_run, run_dedup

    summary = run_dedup(check_run([ingested_sample], three, PRIORITY, None), out, three, PRIORITY, None, record)
    assert ran == ["bands: band 2 part 1"]  # the part's bytes are the same, so the clusters stay done
    assert gone.read_bytes() == before
    assert (out / "manifest.json").read_bytes() == manifest  # the same counts, links and outputs
    assert summary["counts"]["bands"] == s3["counts"]["bands"]


def test_against_a_run_with_another_split(ingested_sample, tmp_path):
    """An incremental run reads the previous run's edges by that run's own split."""
    warc = sorted((ingested_sample / "docs").glob("tamiz-sample-*.parquet"))  # copies cross these crawl files
    first, second = warc[:2], warc[2:]
    for p in (1, 3):
        dedup_local(first, tmp_path / f"a{p}", DedupConfig(**SMALL, band_partitions=p), PRIORITY)
    results = []
    for p_first, p_second in ((1, 1), (1, 4), (3, 2)):
        b = tmp_path / f"b-{p_first}-{p_second}"
        s = dedup_local(second, b, DedupConfig(**SMALL, band_partitions=p_second), PRIORITY, against=tmp_path / f"a{p_first}")
        results.append((_digest(b, ("docs", "removed", "clusters")), s["counts"]))
    assert results[1] == results[0] and results[2] == results[0]
    assert results[0][1]["removed"]["exact"] > 0 and results[0][1]["removed"]["near"] > 0


@pytest.mark.parametrize("value", [0, -1, 4097, "4", "many", 2.0, True, None])
def test_bad_band_partitions_refused_before_any_work(ingested_sample, tmp_path, value):
    with pytest.raises(ValueError, match="band_partitions"):
        dedup_local([ingested_sample], tmp_path / "out", DedupConfig(band_partitions=value), PRIORITY)
    with pytest.raises(ValueError, match=r"^dedup\.band_partitions: "):
        DedupConfig.from_dict({"band_partitions": value})
    assert not (tmp_path / "out").exists()


def test_auto_band_partitions():
    from tamiz.pipeline.dedup.config import AUTO_BAND_TASK_DOCS

    auto = DedupConfig(band_partitions="auto")
    assert auto.hash() == DedupConfig().hash() == DedupConfig(band_partitions=8).hash()
    assert [auto.band_tasks(n) for n in (0, 1, AUTO_BAND_TASK_DOCS, AUTO_BAND_TASK_DOCS + 1, 441_000_000)] == \
        [1, 1, 1, 2, -(-441_000_000 // AUTO_BAND_TASK_DOCS)]
    assert DedupConfig(band_partitions=5).band_tasks(10**12) == 5
    assert DedupConfig.from_dict({"band_partitions": "auto"}).as_dict()["band_partitions"] == "auto"
    assert "band_partitions" not in DedupConfig().as_dict()  # records of runs made before the field stay valid
