"""Common Crawl where it lives: a crawl as a table source (path lists), WET files, Spanish-only reads through the
columnar index, and outputs on object storage, against a crawl-shaped tree served on 127.0.0.1 over HTTP and S3."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.remote_servers import *  # noqa: F401,F403  (fixtures: crawl_tree, http_crawl, s3_crawl, s3_env)
from tests.remote_servers import CRAWL

ROOT = Path(__file__).resolve().parents[1]


def _spec(**kw):
    from tamiz.pipeline.commoncrawl import CrawlSpec

    return CrawlSpec.from_dict({"id": CRAWL, **kw})


def _ingest_all(files, out: Path) -> list[dict]:
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    docs = []
    for f in files:
        rec = ingest_file(f, out, "common_crawl", IngestConfig())
        for o in rec["outputs"]:
            if o["path"].startswith("docs/"):
                docs += pq.read_table(out / o["path"]).to_pylist()
    return sorted(docs, key=lambda d: d["id"])


@pytest.fixture(scope="module")
def full_files(crawl_tree, tmp_path_factory) -> list[dict]:
    """Every WARC file of the tree ingested whole, from local disk: the reference."""
    return _ingest_all([crawl_tree.root / p for p in crawl_tree.warc_paths], tmp_path_factory.mktemp("full"))


# ------------------------------------------------------------------------------------------- path lists


def test_a_crawl_source_reads_its_path_list(crawl_tree, http_crawl):
    from tamiz.pipeline.commoncrawl import crawl_files

    base = http_crawl.url + "/"
    every = crawl_files(_spec(base=base))
    assert every == [f"{http_crawl.url}/{p}" for p in crawl_tree.warc_paths]
    assert crawl_files(_spec(base=base, select="first", count=2)) == every[:2]
    sample = crawl_files(_spec(base=base, select="sample", count=2, seed=3))
    assert sample == crawl_files(_spec(base=base, select="sample", count=2, seed=3)) and set(sample) <= set(every)
    assert len(sample) == 2
    seg = crawl_tree.summary["segment"]
    assert crawl_files(_spec(base=base, select="segments", segments=[seg])) == every
    wet = crawl_files(_spec(base=base, files="wet", select="first", count=1))
    assert wet == [f"{http_crawl.url}/{crawl_tree.wet_paths[0]}"]
    with pytest.raises(ValueError, match="segments: 999.9 not in crawl CC-MAIN-2024-26's warc.paths.gz"):
        crawl_files(_spec(base=base, select="segments", segments=["999.9"]))


def test_an_unknown_crawl_or_a_bad_crawl_block_fails_before_any_work(http_crawl, tmp_path, fast_remote):
    from tamiz.pipeline.commoncrawl import crawl_files
    from tamiz.pipeline.table import load_table

    with pytest.raises(FileNotFoundError, match=r"CC-MAIN-2019-01/warc.paths.gz.*unknown crawl id"):
        crawl_files(_spec(id="CC-MAIN-2019-01", base=http_crawl.url))
    bad = [({"id": "CC-2024"}, "crawl.id: 'CC-2024' is not a crawl id"),
           ({"id": CRAWL, "files": "wat"}, "crawl.files: 'wat' is not one of warc, wet"),
           ({"id": CRAWL, "select": "first"}, "crawl.count: None: select: first needs a positive number"),
           ({"id": CRAWL, "files": "wet", "index": {}}, "use it with files: warc"),
           ({"id": CRAWL, "index": {"match": "somewhere"}}, "match: 'somewhere' is not one of first, anywhere"),
           ({"id": CRAWL, "base": "ftp://mirror/"}, "unknown URL scheme 'ftp://'")]
    for block, message in bad:
        table = tmp_path / "t.yaml"
        table.write_text(yaml.safe_dump({"sources": [{"name": "cc", "weight": 1, "crawl": block}]}))
        with pytest.raises(ValueError, match=message):
            load_table(table)
    table.write_text(yaml.safe_dump({"sources": [{"name": "cc", "weight": 1, "crawl": {"id": CRAWL},
                                                  "inputs": ["x.warc.gz"]}]}))
    with pytest.raises(ValueError, match="either its inputs or a crawl, not both"):
        load_table(table)


@pytest.fixture
def fast_remote(monkeypatch):
    monkeypatch.setenv("TAMIZ_REMOTE_RETRIES", "2")
    monkeypatch.setenv("TAMIZ_REMOTE_BACKOFF", "0.05")


# ---------------------------------------------------------------------------------------------- WET


def test_wet_records_skip_extraction_and_line_up_with_the_warc_pages(crawl_tree, full_files, tmp_path):
    from tamiz.pipeline.warc import WET_EXTRACTOR

    wet = _ingest_all([crawl_tree.root / p for p in crawl_tree.wet_paths], tmp_path)
    assert wet and all(json.loads(d["metadata"])["extractor"] == WET_EXTRACTOR for d in wet)
    assert all(json.loads(d["metadata"])["cc_languages"] for d in wet)
    warc = {d["id"]: d for d in full_files}
    both = [d for d in wet if d["id"] in warc]  # the same page has the same id from its WET and its WARC record
    assert len(both) >= 0.8 * len(warc)
    for d in both:
        assert d["url"] == warc[d["id"]]["url"]
    # WET keeps the navigation and boilerplate that the main-content extraction drops
    longer = sum(len(d["text"]) > len(warc[d["id"]]["text"]) for d in both)
    assert longer > 0.8 * len(both)


# ------------------------------------------------------------------------------------ the columnar index


def test_the_index_selects_spanish_records_and_fetches_only_their_ranges(crawl_tree, http_crawl, full_files,
                                                                          tmp_path):
    from tamiz.pipeline.commoncrawl import plan_index

    spec = _spec(base=http_crawl.url, index={"languages": ["spa"], "match": "first"})
    selections, counts = plan_index(spec, tmp_path / "ingest")
    assert counts["selected"] == crawl_tree.summary["spanish_rows"] and counts["warc_files"] == 4
    docs = _ingest_all(selections, tmp_path / "ingest")
    # every Spanish page that full-file language ID keeps is found through the index (on this tree)
    assert [d["id"] for d in docs] == [d["id"] for d in full_files]
    assert docs == full_files
    fetched = sum(http_crawl.bytes_sent(p) for p in crawl_tree.warc_paths)
    whole = sum((crawl_tree.root / p).stat().st_size for p in crawl_tree.warc_paths)
    assert fetched == counts["selected_bytes"] < 0.6 * whole
    # a rerun plans the same selection files and skips every one of them
    again, _ = plan_index(spec, tmp_path / "ingest")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in selections]
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    assert all(ingest_file(s, tmp_path / "ingest", "common_crawl", IngestConfig()).get("resumed") for s in again)


def test_merged_requests_read_only_the_selected_records(crawl_tree, http_crawl, full_files, tmp_path):
    """max_gap merges neighbouring records into one request: fewer requests, more bytes, and the records in
    the gaps (other languages, requests, metadata) are fetched but never read."""
    from tamiz.pipeline.commoncrawl import plan_index

    spec = _spec(base=http_crawl.url, index={"languages": ["spa"], "max_gap": 1 << 16})
    selections, counts = plan_index(spec, tmp_path / "ingest")
    assert counts["requests"] < counts["selected"] / 10
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    read = 0
    for s in selections:
        read += ingest_file(s, tmp_path / "ingest", "common_crawl", IngestConfig())["counts"]["records"]
    assert read == counts["selected"]
    docs = sorted((r for f in (tmp_path / "ingest" / "docs").glob("*.parquet") for r in pq.read_table(f).to_pylist()),
                  key=lambda d: d["id"])
    assert docs == full_files


def test_anywhere_selects_at_least_what_first_selects(crawl_tree, tmp_path):
    from tamiz.pipeline.commoncrawl import index_files, select_from_index

    spec_first = _spec(base=str(crawl_tree.root), index={"languages": ["spa"]})
    spec_any = _spec(base=str(crawl_tree.root), index={"languages": ["spa", "eng"], "match": "anywhere"})
    first = select_from_index(index_files(spec_first), spec_first.index)
    anywhere = select_from_index(index_files(spec_any), spec_any.index)
    assert first.selected == crawl_tree.summary["spanish_rows"]
    assert anywhere.selected > first.selected


def test_merge_ranges():
    from tamiz.pipeline.commoncrawl import merge_ranges

    assert merge_ranges([(100, 10), (0, 50), (50, 20), (200, 5)]) == [(0, 70), (100, 10), (200, 5)]
    assert merge_ranges([(0, 50), (60, 10)], max_gap=10) == [(0, 70)]
    assert merge_ranges([(0, 50), (50, 50)], max_bytes=60) == [(0, 50), (50, 50)]
    assert merge_ranges([(0, 50), (0, 50)]) == [(0, 50)]


def test_an_index_without_the_needed_columns_is_a_clear_error(crawl_tree, tmp_path):
    from tamiz.pipeline.commoncrawl import check_index

    bad = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"url": ["https://x.es/"], "content_languages": ["spa"]}), bad)
    spec = _spec(base=str(crawl_tree.root), index={"parquet": [str(bad)]})
    with pytest.raises(ValueError, match=r"part-00000.parquet: the index lacks the column\(s\) fetch_status, "
                                         r"content_mime_type"):
        check_index(spec)


# ---------------------------------------------------------------------------------- outputs on object storage


def test_a_stage_in_the_store_is_invisible_until_its_manifest_is_published(s3_env, tmp_path, monkeypatch):
    from tamiz.core import mirror, objectstore, remote
    from tamiz.core.atomic import atomic_path, write_json
    from tamiz.pipeline.inputs import input_files

    url = "s3://tamiz-out/build"
    fs, _ = remote.filesystem(url)
    if not fs.exists("tamiz-out"):
        fs.mkdir("tamiz-out")
    work = tmp_path / "work"
    stage = work / "ingest"

    def write_stage(shards: list[int]) -> None:
        for i in shards:
            with atomic_path(stage / "docs" / f"s{i}.parquet") as tmp:
                pq.write_table(pa.table({"id": [f"d{i}"], "text": ["hola"], "source": ["s"], "url": [None],
                                         "metadata": ["{}"]}), tmp)
            write_json(stage / "_shards" / f"s{i}.json", {})
        write_json(stage / "manifest.json", {"outputs": [{"path": f"docs/s{i}.parquet"} for i in shards]})

    with mirror.activated(url, work) as m:
        write_stage([0, 1, 2])
        (stage / ".tamiz.lock").write_text("")
        # an upload killed after two objects: no manifest in the store, so the stage is not there for readers
        put = fs.put_file
        calls = []

        def dying_put(lpath, rpath, *a, **k):
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(rpath)
            return put(lpath, rpath, *a, **k)

        monkeypatch.setattr(fs, "put_file", dying_put)
        with pytest.raises(KeyboardInterrupt):
            m.upload_changes()
        assert len(calls) == 2 and not any(c.endswith(("manifest.json", ".json")) for c in calls)  # records last
        with pytest.raises(FileNotFoundError):
            input_files([f"{url}/ingest"])
        monkeypatch.setattr(fs, "put_file", put)
        got = m.upload_changes()
        assert got["uploaded"] == 5, (got, calls)  # the rest: one shard, three records, the manifest
        assert [f.path for f in input_files([f"{url}/ingest"])] == [f"{url}/ingest/docs/s{i}.parquet" for i in range(3)]
        assert not fs.exists("tamiz-out/build/ingest/.tamiz.lock")
        # a stage written again is unpublished first; the new manifest names what counts
        mirror.unpublish(stage)
        with pytest.raises(FileNotFoundError):
            input_files([f"{url}/ingest"])
        write_stage([1, 2])
        m.upload_changes()
        assert [f.path for f in input_files([f"{url}/ingest"])] == [f"{url}/ingest/docs/s{i}.parquet" for i in (1, 2)]
    # and a fresh folder gets it all back
    pulled = objectstore.pull(url, tmp_path / "other")
    assert pulled["downloaded"] == 7  # three shards (s0 is named by no manifest, and read by no reader), three records, the manifest
    assert (tmp_path / "other" / "ingest" / "manifest.json").read_bytes() == (stage / "manifest.json").read_bytes()


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tamiz.flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_tamiz_run_from_http_through_the_index_and_from_s3_into_s3(prefect_server, crawl_tree, http_crawl, s3_env,
                                                                  sample_dir, full_files, tmp_path):
    """The issue's done-when: the crawl read through the columnar index over HTTP, a curated source from
    S3, everything published to s3://. The first build meets a WARC file that answers 404: it stops after
    ingest naming that file and publishes what finished. The rerun, from a fresh working folder (another
    machine), takes the finished shards from the store, fetches only the missing file and completes the
    build."""
    import os

    from tamiz.core import remote
    from test_build import cli_env

    books = tmp_path / "inputs" / "reina_valera_1909.jsonl.gz"  # the first 150 chapters: a small curated source
    books.parent.mkdir()
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        chapters = [next(f) for _ in range(150)]
    with gzip.open(books, "wt", encoding="utf-8") as f:
        f.writelines(chapters)
    s3_env.upload_tree("tamiz-inputs", books.parent)
    table = {
        "name": "remote",
        "sources": [
            {"name": "common_crawl", "kind": "crawl", "weight": 0.6,
             "crawl": {"id": CRAWL, "base": http_crawl.url + "/", "index": {"languages": ["spa"]}},
             "dedup": {"exact_partitions": 4}},
            {"name": "books", "kind": "books", "weight": 0.4, "inputs": ["s3://tamiz-inputs/reina_valera_1909.jsonl.gz"],
             "filters": {"enabled": False}, "dedup": {"exact_partitions": 4}},
        ],
        "shards": {"seq_len": 64, "seed": 7, "validation_fraction": 0.02},
        "tokenizer": {"vocab_size": 1024},
        "training": {"enabled": False},
    }
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(table, sort_keys=False))
    fs, _ = remote.filesystem("s3://tamiz-out/")
    if not fs.exists("tamiz-out"):
        fs.mkdir("tamiz-out")
    env = {**cli_env(), **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "TAMIZ_"))},
           "TAMIZ_WORK_DIR": str(tmp_path / "work1"), "COLUMNS": "200", "TAMIZ_REMOTE_RETRIES": "1",
           "TAMIZ_REMOTE_BACKOFF": "0.05"}
    out = "s3://tamiz-out/cc-build"
    missing = crawl_tree.warc_paths[2]
    http_crawl.fail(missing, "404", times=-1)
    r = _cli(["run", str(path), "--out", out, "--workers", "2"], env, tmp_path)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"{http_crawl.url_for(missing)}: not found" in r.stderr, r.stderr[-3000:]
    assert "published s3://tamiz-out/cc-build" in r.stdout
    listing = {k.split("cc-build/", 1)[1] for k in fs.find("tamiz-out/cc-build")}
    assert "ingest/common_crawl/manifest.json" not in listing  # the stage is not published...
    assert sum(k.startswith("ingest/common_crawl/_shards/") for k in listing) == 3  # ...its finished files are

    # another machine: a fresh working folder; the three finished files come from the store
    http_crawl.clear_faults()
    http_crawl.reset_stats()
    env["TAMIZ_WORK_DIR"] = str(tmp_path / "work2")
    r = _cli(["run", str(path), "--out", out, "--workers", "2"], env, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "ingest common_crawl: 1 of 4 input file(s) done now, 3 already done" in r.stdout, r.stdout
    assert "through the columnar index: 134 of 285 HTML pages labelled spa" in r.stdout, r.stdout
    fetched = {p for p, s in http_crawl.stats.items() if s["bytes"] and p.endswith(".warc.gz")}
    assert fetched == {missing}  # of the WARC files, only the missing one was read again
    listing = {k.split("cc-build/", 1)[1] for k in fs.find("tamiz-out/cc-build")}
    for f in ("ingest/common_crawl/manifest.json", "ingest/books/manifest.json", "filter/manifest.json",
              "dedup/manifest.json", "tokenizer/tokenizer.json", "shards/manifest.json", "report/report.md"):
        assert f in listing, f
    assert not any(k.rsplit("/", 1)[-1].startswith(".") and not k.endswith(".stage-done.json") for k in listing)
    # the crawl's documents are those of the whole files read from local disk (the index found every
    # Spanish page of this tree), read back from the store through the stage's manifest
    from tamiz.pipeline.inputs import input_files

    got = []
    for f in input_files([f"{out}/ingest/common_crawl"]):
        with remote.open_input(f.path) as fh:
            got += pq.read_table(fh).to_pylist()
    assert sorted(got, key=lambda d: d["id"]) == full_files


def test_select_first_with_the_index_keeps_only_the_chosen_files_records(crawl_tree, tmp_path):
    from tamiz.pipeline.commoncrawl import plan_index

    spec = _spec(base=str(crawl_tree.root), select="first", count=1, index={"languages": ["spa"]})
    selections, counts = plan_index(spec, tmp_path)
    assert len(selections) == 1 and counts["warc_files"] == 1
    assert crawl_tree.warc_paths[0] == json.loads(selections[0].read_text())["warc"]
    assert 0 < counts["selected"] < crawl_tree.summary["spanish_rows"]
