"""Inputs by URL (tamiz.core.remote) against real servers on 127.0.0.1: the same documents from local disk,
HTTPS-style range requests and S3; faults retried and resumed from the offset reached; clear errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.remote_servers import *  # noqa: F401,F403  (fixtures: crawl_tree, http_crawl, s3_crawl, s3_env)
from tests.remote_servers import BUCKET


@pytest.fixture
def fast_retries(monkeypatch):
    """Retries without long waits, a short read timeout (the stall fault) and small chunks (several
    range requests per file, so a fault lands in the middle of one)."""
    monkeypatch.setenv("TAMIZ_REMOTE_RETRIES", "3")
    monkeypatch.setenv("TAMIZ_REMOTE_BACKOFF", "0.05")
    monkeypatch.setenv("TAMIZ_REMOTE_TIMEOUT", "2")
    monkeypatch.setenv("TAMIZ_REMOTE_CHUNK_MB", "0.0625")  # 64 KiB


def _docs(record: dict, out: Path) -> list[dict]:
    rows = []
    for o in record["outputs"]:
        if o["path"].startswith("docs/"):
            rows += pq.read_table(out / o["path"]).to_pylist()
    return rows


def _ingest(path, out: Path) -> tuple[dict, list[dict]]:
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    rec = ingest_file(path, out, "common_crawl", IngestConfig())
    return rec, _docs(rec, out)


@pytest.fixture(scope="module")
def local_reference(crawl_tree, tmp_path_factory):
    """The first WARC file of the tree ingested from local disk."""
    rel = crawl_tree.warc_paths[0]
    return rel, _ingest(crawl_tree.root / rel, tmp_path_factory.mktemp("local"))


def test_http_and_s3_inputs_give_the_documents_of_the_local_file(local_reference, http_crawl, s3_env, tmp_path,
                                                                  fast_retries):
    rel, (ref_rec, ref_docs) = local_reference
    assert ref_rec["counts"]["kept"] > 10
    for url in (http_crawl.url_for(rel), f"s3://{BUCKET}/{rel}"):
        rec, docs = _ingest(url, tmp_path / url.split(":")[0])
        assert docs == ref_docs, url
        assert rec["counts"] == ref_rec["counts"], url
        assert rec["input"]["path"] == url
    # several range requests per file (64 KiB chunks), never the whole file twice
    stats = http_crawl.stats[rel]
    size = (http_crawl.root / rel).stat().st_size
    assert stats["requests"] > 3 and stats["bytes"] <= size + 4096


@pytest.mark.parametrize("kind", ["reset", "503", "stall", "truncate"])
def test_a_fault_in_the_middle_of_a_file_is_retried_from_the_offset_reached(kind, local_reference, http_crawl,
                                                                             tmp_path, fast_retries):
    rel, (ref_rec, ref_docs) = local_reference
    size = (http_crawl.root / rel).stat().st_size
    # the third range request (from byte 128 KiB) fails after 10,000 bytes of its body
    http_crawl.fail(rel, kind, times=2 if kind == "503" else 1, after_bytes=10_000, seconds=6, skip=2)
    rec, docs = _ingest(http_crawl.url_for(rel), tmp_path)
    assert docs == ref_docs and rec["counts"] == ref_rec["counts"]
    # range requests (a HEAD that met the 503 makes fsspec ask for the size with a plain GET: not a range)
    starts = [r["start"] for r in http_crawl.requests(rel) if r["end"] is not None]
    assert starts[:3] == [0, 1 << 16, 2 << 16]
    assert starts[3] >= 2 << 16, starts  # the retry asks from the offset reached, not from the start
    assert 0 not in starts[1:]
    assert starts == sorted(starts)
    if kind != "503":
        assert http_crawl.stats[rel]["bytes"] < size + (1 << 17)  # nothing read twice but the failed chunk


def test_a_missing_file_fails_its_task_and_a_rerun_completes_it(local_reference, http_crawl, tmp_path, fast_retries):
    from tamiz.core.remote import RemoteError

    rel, (ref_rec, ref_docs) = local_reference
    url = http_crawl.url_for(rel)
    http_crawl.fail(rel, "404", times=-1)
    with pytest.raises(RemoteError, match=f"{url}: not found"):
        _ingest(url, tmp_path)
    assert not list((tmp_path / "_shards").glob("*.json"))  # no completion record: the rerun redoes it
    http_crawl.clear_faults()
    rec, docs = _ingest(url, tmp_path)
    assert docs == ref_docs and not rec.get("resumed")


def test_a_file_that_keeps_failing_is_one_clear_error_after_the_retries(local_reference, http_crawl, tmp_path,
                                                                        fast_retries):
    from tamiz.core.remote import RemoteError

    rel, _ = local_reference
    http_crawl.fail(rel, "503", times=-1, skip=1)
    with pytest.raises(RemoteError, match=r"GET from byte 65536 failed 4 times, last: .*503"):
        _ingest(http_crawl.url_for(rel), tmp_path)


def test_bad_urls_are_clear_errors_before_any_work(s3_env, http_crawl, tmp_path, fast_retries):
    from tamiz.core.remote import RemoteError
    from tamiz.pipeline.readers import expand_inputs

    with pytest.raises(ValueError, match=r"ftp://x/y.warc.gz: unknown URL scheme 'ftp://'"):
        expand_inputs(["ftp://x/y.warc.gz"])
    with pytest.raises(RemoteError, match=r"s3://no-such-bucket-here/x.warc.gz: the bucket does not exist"):
        expand_inputs(["s3://no-such-bucket-here/x.warc.gz"])
    with pytest.raises(RemoteError, match=r"s3://commoncrawl/nothing.warc.gz: (no such object|not found)"):
        expand_inputs([f"s3://{BUCKET}/nothing.warc.gz"])
    with pytest.raises(FileNotFoundError, match=r"s3://commoncrawl/empty-prefix/: no WARC, JSONL or Parquet files"):
        expand_inputs([f"s3://{BUCKET}/empty-prefix/"])
    with pytest.raises(RemoteError, match=r"nothing.warc.gz: not found"):
        expand_inputs([http_crawl.url_for("nothing.warc.gz")])


def test_missing_s3_credentials_are_one_clear_error(s3_env, monkeypatch, fast_retries):
    from tamiz.core.remote import RemoteError
    from tamiz.pipeline.readers import expand_inputs

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(RemoteError, match="no credentials for S3. Set AWS_ACCESS_KEY_ID"):
        expand_inputs([f"s3://{BUCKET}/x.warc.gz"])


def test_an_s3_prefix_expands_to_its_data_files(s3_env, crawl_tree):
    from tamiz.pipeline.readers import expand_inputs

    seg = crawl_tree.warc_paths[0].rsplit("/", 1)[0]
    got = expand_inputs([f"s3://{BUCKET}/{seg}/"])
    assert got == sorted(f"s3://{BUCKET}/{p}" for p in crawl_tree.warc_paths if p.startswith(seg))
    assert expand_inputs([f"s3://{BUCKET}/{seg}/*00001.warc.gz"]) == [f"s3://{BUCKET}/{crawl_tree.warc_paths[1]}"]

