"""Ingest on the real sample: counts reconcile, rerun resumes, outputs are byte-stable, options checked."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tamiz.pipeline.ingest import IngestConfig, ingest_file
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def first_warc(sample_dir) -> Path:
    return sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[0]


def test_counts_reconcile_and_outputs_have_checksums(tmp_path, first_warc):
    rec = ingest_file(first_warc, tmp_path, "common_crawl", IngestConfig())
    c = rec["counts"]
    assert c["records"] == c["kept"] + sum(c["dropped"].values()) + sum(c["skipped"].values()) + c["quarantined"]
    assert c["kept"] > 0 and c["dropped"].get("language:not_es", 0) > 0
    for out in rec["outputs"]:
        assert (tmp_path / out["path"]).stat().st_size == out["bytes"]
    kept = list(read_parquet_documents(tmp_path / rec["outputs"][0]["path"]))
    assert len(kept) == c["kept"]
    assert all(d.metadata["language"] == "es" and d.metadata["language_score"] >= 0.5 for d in kept)
    assert all("<html" not in d.text.lower() and d.text.strip() for d in kept)
    rejects = list(read_parquet_documents(tmp_path / rec["outputs"][1]["path"]))
    assert len(rejects) == sum(c["dropped"].values())
    assert all(d.metadata["drop_reason"].startswith("language:") for d in rejects)


def test_rerun_is_skipped_and_bytes_are_stable(tmp_path, first_warc):
    a = ingest_file(first_warc, tmp_path / "a", "common_crawl", IngestConfig())
    again = ingest_file(first_warc, tmp_path / "a", "common_crawl", IngestConfig())
    assert again["resumed"] and again["outputs"] == a["outputs"]
    b = ingest_file(first_warc, tmp_path / "b", "common_crawl", IngestConfig())
    assert not b["resumed"] and b["outputs"] == a["outputs"]  # same sha256 in another folder
    # a damaged output is detected and the shard redone
    kept = tmp_path / "a" / a["outputs"][0]["path"]
    kept.write_bytes(kept.read_bytes()[:-10])
    redo = ingest_file(first_warc, tmp_path / "a", "common_crawl", IngestConfig())
    assert not redo["resumed"] and redo["outputs"] == a["outputs"]
    # another config is another shard key: not skipped
    other = ingest_file(first_warc, tmp_path / "a", "common_crawl", IngestConfig(language_threshold=0.9))
    assert not other["resumed"] and other["counts"]["kept"] < a["counts"]["kept"]


def test_latin1_pages_are_decoded(tmp_path, sample_dir):
    injected = json.loads((sample_dir / "common_crawl" / "INJECTED.json").read_text())
    latin = [r for r in injected["records"] if "latin" in r.get("kind", "")]
    assert latin, "the sample should hold latin-1 pages"
    warc = sample_dir / "common_crawl" / latin[0]["file"]
    rec = ingest_file(warc, tmp_path, "common_crawl", IngestConfig())
    docs = {d.url: d for d in read_parquet_documents(tmp_path / rec["outputs"][0]["path"])}
    for r in latin:
        if r["file"] != latin[0]["file"]:
            continue
        d = docs[r["url"]]
        assert d.metadata["charset"] == "cp1252"
        assert "Ã" not in d.text and any(ch in d.text for ch in "áéíóúñ")


def test_mixed_bad_file_is_survived(tmp_path, fixtures_dir):
    rec = ingest_file(fixtures_dir / "bad_http_header.warc.gz", tmp_path, "cc", IngestConfig())
    assert rec["counts"]["quarantined"] == 1 and rec["counts"]["kept"] == 2
    lines = (tmp_path / rec["outputs"][2]["path"]).read_text().splitlines()
    assert json.loads(lines[0])["reason"].startswith("broken HTTP header")


@pytest.mark.parametrize("kwargs, field", [
    ({"extractor": "lynx"}, "extractor"),
    ({"language_threshold": 1.5}, "language_threshold"),
    ({"language": "español"}, "language"),
    ({"min_chars": -1}, "min_chars"),
])
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        IngestConfig(**kwargs)


def test_parquet_output_is_zstd(tmp_path, first_warc):
    rec = ingest_file(first_warc, tmp_path, "common_crawl", IngestConfig())
    md = pq.ParquetFile(tmp_path / rec["outputs"][0]["path"]).metadata
    assert md.row_group(0).column(1).compression == "ZSTD"
