"""scripts/make_synthetic_crawl.py: the same arguments give the same bytes (serial or parallel), and the
ground truth is what tamiz's own reader sees: records read, broken records quarantined, non-HTML records
skipped; exact copies extract to their original's text, near copies to a similar one."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from tamiz.pipeline.extract import extract_text
from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.report import ReadReport

from scripts.make_synthetic_crawl import PAGE_CATEGORIES, SynthConfig, load_material, main, make_synthetic_crawl

# high rates, so that every kind shows up in a megabyte
RATES = {"exact_copies": 0.15, "near_copies": 0.15, "junk": 0.1, "broken": 0.03}
SMALL = {"gb": 0.001, "file_mb": 0.5, "seed": 7, **RATES}  # 2 files of ~0.5 MB
TINY = {"files": 50, "records_per_file": 4, "seed": 3, **RATES, "non_html": 0.2, "broken": 0.1}  # 50 files of 4


@pytest.fixture(scope="module")
def material():
    return load_material()


@pytest.fixture(scope="module")
def crawls(tmp_path_factory, material) -> dict[str, tuple[dict, Path, Path]]:
    """Each crawl written twice: SMALL serially then by the command line, TINY serially then by 2 processes."""
    out = {}
    for name, kwargs in (("small", SMALL), ("tiny", TINY)):
        a, b = tmp_path_factory.mktemp(f"{name}_a"), tmp_path_factory.mktemp(f"{name}_b")
        truth = make_synthetic_crawl(a, SynthConfig(**kwargs), progress=None, material=material)
        if name == "small":
            argv = ["--out", str(b), "--gb", "0.001", "--file-mb", "0.5", "--seed", "7"]
            argv += [f"--{k.replace('_', '-')}={v}" for k, v in RATES.items()]
            assert main(argv) == 0
        else:
            make_synthetic_crawl(b, SynthConfig(**kwargs), jobs=2, progress=None, material=material)
        out[name] = (truth, a, b)
    return out


@pytest.fixture(scope="module")
def reads(crawls) -> dict[str, tuple[dict[str, ReadReport], dict[str, str]]]:
    return {name: _read(root, truth) for name, (truth, root, _) in crawls.items()}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _labels(root: Path, truth: dict) -> dict[str, dict]:
    out = {}
    for f in truth["files"]:
        with gzip.open(root / f["labels"], "rt", encoding="utf-8") as lines:
            out.update((d["record_id"], d) for d in map(json.loads, lines))
    return out


def _read(root: Path, truth: dict) -> tuple[dict[str, ReadReport], dict[str, str]]:
    """Every file read as tamiz's ingest reads it: reports by path, HTML by record id."""
    reports, html = {}, {}
    for f in truth["files"]:
        report = ReadReport(f["path"], quiet=True)
        for doc in read_documents(root / f["path"], report, "common_crawl"):
            html[doc.metadata["warc_record_id"]] = doc.text
        reports[f["path"]] = report
    return reports, html


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_same_arguments_same_bytes(crawls, name):
    truth, a, b = crawls[name]
    tree = _tree(a)
    assert tree == _tree(b)
    assert len([p for p in tree if p.endswith(".warc.gz")]) == len(truth["files"]) == (2 if name == "small" else 50)
    if name == "small":
        assert all(0.3e6 < f["bytes"] < 0.8e6 for f in truth["files"])


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_reader_sees_the_ground_truth(crawls, reads, name):
    truth = crawls[name][0]
    reports, _ = reads[name]
    for f in truth["files"]:
        r = reports[f["path"]]
        assert r.reconciles()
        assert {"records": r.records, "yielded": r.yielded, "skipped": dict(sorted(r.skipped.items())),
                "quarantined": len(r.quarantine)} == f["expected_read"], f["path"]
    t = truth["totals"]
    quarantined = sum(len(r.quarantine) for r in reports.values())
    assert quarantined == sum(t["broken"].values()) > 0
    assert {"bad_http_header", "binary_payload"} & set(t["broken"])  # quarantined, the file read on
    assert {"truncated_gzip", "bad_warc_header", "content_length_too_long"} & set(t["broken"])  # the file's end
    skipped = sum(sum(r.skipped.values()) for r in reports.values())
    non_html = sum(t["non_html"].values()) - t["non_html"].get("revisit", 0)  # revisits are counted as records
    assert skipped == non_html + sum(t["records"][k] for k in ("warcinfo", "request", "metadata", "revisit"))
    pages = t["original"] + t["exact_copy"] + sum(sum(t[k].values()) for k in ("near_copy", "junk", "other_language"))
    assert sum(r.yielded for r in reports.values()) == pages
    assert sum(r.records for r in reports.values()) == sum(t["records"].values())


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_labels_name_every_record(crawls, reads, name):
    truth, root, _ = crawls[name]
    labels = _labels(root, truth)
    _, html = reads[name]
    assert len(labels) == sum(truth["totals"]["records"].values())
    assert {rid for rid, d in labels.items() if d["category"] in PAGE_CATEGORIES} == set(html)
    by_category = Counter(d["category"] for d in labels.values() if d["warc_type"] in ("response", "revisit"))
    t = truth["totals"]
    assert by_category["original"] == t["original"] and by_category["exact_copy"] == t["exact_copy"]
    for category in ("near_copy", "junk", "broken", "non_html", "other_language"):
        assert by_category[category] == sum(t[category].values()), category
    for d in labels.values():
        if d["category"] in ("exact_copy", "near_copy") or d["warc_type"] == "revisit":
            assert labels[d["original"]]["category"] == "original"


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def test_copies_extract_to_their_original(crawls, reads):
    truth, root, _ = crawls["small"]
    labels = _labels(root, truth)
    _, html = reads["small"]
    text = {rid: extract_text(page) for rid, page in html.items()}
    exact = [rid for rid, d in labels.items() if d["category"] == "exact_copy"]
    near = [rid for rid, d in labels.items() if d["category"] == "near_copy"]
    assert len(exact) >= 5 and len(near) >= 5
    for rid in exact:
        assert html[rid] == html[labels[rid]["original"]]
        assert text[rid] == text[labels[rid]["original"]]
    for rid in near:
        a, b = _shingles(text[rid]), _shingles(text[labels[rid]["original"]])
        assert text[rid] != text[labels[rid]["original"]]
        assert len(a & b) / len(a | b) > 0.5, labels[rid]
    originals = [text[rid] for rid, d in labels.items() if d["category"] == "original"]
    assert len(set(originals)) == len(originals)


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_paths_list_names_every_file(crawls, name):
    truth, root, _ = crawls[name]
    listed = gzip.decompress((root / truth["warc_paths"]).read_bytes()).decode().splitlines()
    assert listed == [f["path"] for f in truth["files"]]
    assert listed == sorted(str(p.relative_to(root)) for p in root.glob("crawl-data/*/segments/*/warc/*.warc.gz"))
    assert all((root / f["labels"]).is_file() for f in truth["files"])
    assert json.loads((root / "synthetic-crawl.json").read_text(encoding="utf-8")) == truth


@pytest.mark.parametrize("argv, option", [
    (["--exact-copies", "1.5"], "--exact-copies"),
    (["--files", "3"], "--records-per-file"),
    (["--gb", "0"], "--gb"),
    (["--junk", "0.6", "--near-copies", "0.5"], "--near-copies"),
    (["--gb", "1", "--files", "2", "--records-per-file", "2"], "--files"),
    (["--files", "1", "--records-per-file", "1", "--text", "/no/such/file.jsonl"], "--text"),
])
def test_bad_arguments_name_the_option(tmp_path, capsys, argv, option):
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "out"), *argv])
    assert e.value.code == 2
    assert option in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
