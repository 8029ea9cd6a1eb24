"""The local Common Crawl stand-ins are right: the tree (scripts/make_crawl_tree.py), its HTTP server
with range requests and injected faults, and its S3 copy, checked with real clients (fsspec's HTTP
filesystem, s3fs, boto3, http.client) on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import re
import socket
import zlib
from contextlib import closing

import fsspec
import pytest
from warcio.archiveiterator import ArchiveIterator

from scripts.make_crawl_tree import build_crawl_tree, declared_languages
from tests.remote_servers import *  # noqa: F403  (the fixtures)
from tests.remote_servers import BUCKET, SAMPLE_WARCS, CrawlTree, build_sample_tree, parse_range

CC_NAME = re.compile(r"CC-MAIN-\d{14}-\d{14}-\d{5}\.warc(\.wet)?\.gz")


def one_record(member: bytes) -> tuple[dict[str, str], bytes]:
    """The WARC headers and block of a byte range that must be exactly one gzip member of one record."""
    d = zlib.decompressobj(31)
    out = d.decompress(member)
    assert d.eof and not d.unused_data, "the range is not exactly one gzip member"
    head, _, rest = out.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "WARC/1.0"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    n = int(headers["Content-Length"])
    assert rest[n:] == b"\r\n\r\n"
    return headers, rest[:n]


def gz_lines(data: bytes) -> list[str]:
    return gzip.decompress(data).decode().splitlines()


def conn(srv, timeout: float = 5) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", int(srv.url.rsplit(":", 1)[1]), timeout=timeout)


def get(srv, path: str, method: str = "GET", **headers) -> tuple[http.client.HTTPResponse, bytes]:
    """One request on its own connection (raw: no client-side path normalisation)."""
    with closing(conn(srv)) as c:
        c.request(method, "/" + path, headers=headers)
        r = c.getresponse()
        return r, r.read()


# ---------------------------------------------------------------------------------------------
# The tree


def test_tree_layout_paths_lists_and_copies(crawl_tree):
    root, crawl = crawl_tree.root, crawl_tree.crawl
    lists = {n: gz_lines((root / "crawl-data" / crawl / f"{n}.paths.gz").read_bytes())
             for n in ("warc", "wet", "segment", "cc-index-table")}
    assert lists["warc"] == crawl_tree.warc_paths and len(lists["warc"]) == 4
    assert lists["wet"] == crawl_tree.wet_paths
    assert lists["segment"] == [f"crawl-data/{crawl}/segments/1718198861000.0"]
    assert lists["cc-index-table"] == [crawl_tree.index_path]
    assert re.fullmatch(rf"cc-index/table/cc-main/warc/crawl={crawl}/subset=warc/part-00000-[0-9a-f-]{{36}}\.c000\.gz\.parquet",
                        crawl_tree.index_path)
    for p in lists["warc"] + lists["wet"] + lists["cc-index-table"]:
        assert (root / p).is_file(), p
    for p in lists["warc"] + lists["wet"]:
        assert p.startswith(f"crawl-data/{crawl}/segments/1718198861000.0/w") and CC_NAME.fullmatch(p.rsplit("/", 1)[1])
    # every WARC is a byte-identical copy of one input, in name order
    inputs = sorted(SAMPLE_WARCS.glob("*.warc.gz"))
    assert [hashlib.sha256((root / p).read_bytes()).hexdigest() for p in lists["warc"]] == \
           [hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs]
    files = {f["path"]: f for f in crawl_tree.summary["files"]}
    assert all(files[p]["bytes"] == (root / p).stat().st_size for p in files)


def test_index_rows_match_the_warc_records(crawl_tree):
    rows = crawl_tree.index_rows()
    responses = []
    for p in crawl_tree.warc_paths:
        with open(crawl_tree.root / p, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type == "response":
                    responses.append((p, rec.rec_headers.get_header("WARC-Target-URI")))
    assert sorted((r["warc_filename"], r["url"]) for r in rows) == sorted(responses)  # one row per response
    s = crawl_tree.summary
    spanish = [r for r in rows if (r["content_languages"] or "").startswith("spa")]
    assert s["index_rows"] == len(rows) == 293 and s["spanish_rows"] == len(spanish) > 100
    assert s["spanish_record_bytes"] == sum(r["warc_record_length"] for r in spanish)
    assert {r["fetch_status"] for r in rows} >= {200, 301, 302, 404, 503}
    assert {r["content_languages"] for r in rows if r["fetch_status"] != 200 or r["content_mime_type"] in ("image/png", "text/css")} == {None}
    row = next(r for r in rows if r["url"] == "https://debian-handbook.info/browse/es-ES/stable/index.html")
    assert row["url_surtkey"] == "info,debian-handbook)/browse/es-es/stable/index.html"
    assert (row["url_host_tld"], row["url_host_registered_domain"], row["content_languages"]) == ("info", "debian-handbook.info", "spa")


def test_declared_languages():
    es = "https://debian-handbook.info/browse/es-ES/stable/apt.html"
    assert declared_languages("<html><body>x</body></html>", es) == "spa"
    assert declared_languages('<html xmlns="x" lang="en-US">', es) == "eng,spa"  # attribute first, then the URL
    assert declared_languages('<html lang="es">', es) == "spa"
    assert declared_languages("<html>", "https://mirror.example.org/debian-handbook/pt-BR/x.html") == "por"
    assert declared_languages("<html>", "https://example.org/get/now/") is None


def test_wet_records_refer_to_responses(crawl_tree):
    rows = crawl_tree.index_rows()
    pages = {}  # record id -> index row, for HTTP-200 HTML responses
    for p in crawl_tree.warc_paths:
        data = (crawl_tree.root / p).read_bytes()
        for r in (r for r in rows if r["warc_filename"] == p):
            headers, _ = one_record(data[r["warc_record_offset"]: r["warc_record_offset"] + r["warc_record_length"]])
            if r["content_charset"]:
                pages[headers["WARC-Record-ID"]] = r
    seen = []
    for p in crawl_tree.wet_paths:
        data = (crawl_tree.root / p).read_bytes()
        with io.BytesIO(data) as f:
            records = [(rec.rec_type, rec.rec_headers, rec.content_stream().read()) for rec in ArchiveIterator(f)]
        assert records[0][0] == "warcinfo" and records[0][1].get_header("WARC-Filename") == p.rsplit("/", 1)[1]
        for kind, h, block in records[1:]:
            assert kind == "conversion" and h.get_header("Content-Type") == "text/plain"
            row = pages[h.get_header("WARC-Refers-To")]
            assert h.get_header("WARC-Target-URI") == row["url"]
            assert h.get_header("WARC-Identified-Content-Language") == row["content_languages"]
            assert h.get_header("WARC-Block-Digest") == "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()
            assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", h.get_header("WARC-Record-ID"))
            seen.append(h.get_header("WARC-Refers-To"))
        assert len(_members(data)) == len(records)  # one gzip member per record
    assert sorted(seen) == sorted(pages) and len(seen) == crawl_tree.summary["wet_records"]
    text = gzip.decompress((crawl_tree.root / crawl_tree.wet_paths[0]).read_bytes())
    assert b"Download the ebook" in text  # whole page text, boilerplate included (not main content)


def test_builder_is_deterministic(crawl_tree, tmp_path):
    again = build_sample_tree(tmp_path / "again")
    assert again.summary == crawl_tree.summary
    for f in crawl_tree.summary["files"]:
        assert (again.root / f["path"]).read_bytes() == (crawl_tree.root / f["path"]).read_bytes(), f["path"]
    assert (again.root / "crawl-tree.json").read_bytes() == (crawl_tree.root / "crawl-tree.json").read_bytes()


def test_spanish_share_keeps_whole_captures(crawl_tree, tmp_path):
    a = build_sample_tree(tmp_path / "a", spanish_share=0.05).summary
    b = build_sample_tree(tmp_path / "b", spanish_share=0.05).summary
    assert a["files"] == b["files"]  # deterministic (sha256 of every file)
    assert 0.04 <= a["spanish_share"] <= 0.06 and a["spanish_rows"] >= 4
    assert a["index_rows"] == crawl_tree.summary["index_rows"] - a["dropped_spanish_responses"]
    originals = {m for p in crawl_tree.warc_paths for m in _members((crawl_tree.root / p).read_bytes())}
    rows = CrawlTree(tmp_path / "a", a).index_rows()
    for p in a["warc_paths"]:
        data = (tmp_path / "a" / p).read_bytes()
        members = _members(data)
        assert set(members) <= originals  # every kept record byte-identical to an input record
        types = [one_record(m)[0]["WARC-Type"] for m in members]
        assert types[0] == "warcinfo" and types.count("request") >= types.count("response")
        for r in (r for r in rows if r["warc_filename"] == p):
            headers, _ = one_record(data[r["warc_record_offset"]: r["warc_record_offset"] + r["warc_record_length"]])
            assert headers["WARC-Target-URI"] == r["url"]
    with pytest.raises(ValueError, match="spanish_share"):
        build_crawl_tree(tmp_path / "c", sorted(SAMPLE_WARCS.glob("*.warc.gz")), spanish_share=1.0)


def _members(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        out.append(data[pos:end])
        pos = end
    return out


def test_refuses_warcs_without_one_gzip_member_per_record(tmp_path):
    src = min(SAMPLE_WARCS.glob("*.warc.gz"))
    plain = gzip.decompress(src.read_bytes())
    whole = tmp_path / "in" / "whole-00000.warc.gz"
    whole.parent.mkdir()
    whole.write_bytes(gzip.compress(plain, mtime=0))  # one member for the whole file
    with pytest.raises(ValueError, match="exactly one WARC record"):
        build_crawl_tree(tmp_path / "out", [whole])
    raw = tmp_path / "in" / "raw-00000.warc.gz"
    raw.write_bytes(plain)
    with pytest.raises(ValueError, match="not gzip"):
        build_crawl_tree(tmp_path / "out", [raw])


# ---------------------------------------------------------------------------------------------
# HTTP


def test_every_index_range_over_http_is_its_record(crawl_tree, http_crawl):
    rows = crawl_tree.index_rows()
    fs = fsspec.filesystem("http")
    blobs = fs.cat_ranges([http_crawl.url_for(r["warc_filename"]) for r in rows],
                          [r["warc_record_offset"] for r in rows],
                          [r["warc_record_offset"] + r["warc_record_length"] for r in rows])
    for r, blob in zip(rows, blobs):
        headers, _ = one_record(blob)
        assert (headers["WARC-Type"], headers["WARC-Target-URI"]) == ("response", r["url"])
    assert http_crawl.bytes_sent() == sum(r["warc_record_length"] for r in rows)
    stats = http_crawl.stats
    assert sum(s["requests"] for s in stats.values()) == len(rows) and all(set(s["statuses"]) == {206} for s in stats.values())


def test_http_listing_paths_and_whole_files_through_fsspec(crawl_tree, http_crawl):
    fs = fsspec.filesystem("http")
    lines = gz_lines(fs.cat_file(http_crawl.url_for(f"crawl-data/{crawl_tree.crawl}/warc.paths.gz")))
    assert lines == crawl_tree.warc_paths
    info = fs.info(http_crawl.url_for(lines[0]))
    assert info["size"] == (crawl_tree.root / lines[0]).stat().st_size
    with fs.open(http_crawl.url_for(lines[0]), "rb", block_size=4096) as f:  # random access file
        f.seek(1000)
        assert f.read(500) == (crawl_tree.root / lines[0]).read_bytes()[1000:1500]
    with pytest.raises(FileNotFoundError):
        fs.cat_file(http_crawl.url_for("crawl-data/nope.warc.gz"))


def test_http_ranges_headers_and_refusals(crawl_tree, http_crawl):
    path = crawl_tree.warc_paths[1]
    data = (crawl_tree.root / path).read_bytes()
    size = len(data)
    r, body = get(http_crawl, path, "HEAD")
    assert r.status == 200 and body == b"" and int(r.headers["Content-Length"]) == size
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["ETag"] and r.headers["Last-Modified"]
    r, body = get(http_crawl, path)
    assert r.status == 200 and body == data
    r, body = get(http_crawl, path, Range="bytes=10-19")
    assert (r.status, body, r.headers["Content-Range"]) == (206, data[10:20], f"bytes 10-19/{size}")
    r, body = get(http_crawl, path, Range=f"bytes={size - 5}-")
    assert (r.status, body) == (206, data[-5:])
    r, body = get(http_crawl, path, Range="bytes=-7")
    assert (r.status, body) == (206, data[-7:])
    r, body = get(http_crawl, path, Range=f"bytes={size - 3}-{size + 100}")
    assert (r.status, body) == (206, data[-3:])
    r, _ = get(http_crawl, path, Range=f"bytes={size}-")
    assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    assert get(http_crawl, "crawl-data/missing.warc.gz")[0].status == 404
    assert get(http_crawl, "crawl-data")[0].status == 404  # folders are not served
    for bad in ("../../etc/passwd", "crawl-data/../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd"):
        assert get(http_crawl, bad)[0].status == 403
    assert parse_range("bytes=5-2", 10) is None and parse_range("bytes=0-1,4-5", 10) is None
    assert http_crawl.stats[path]["statuses"] == {200: 2, 206: 4, 416: 1}


# ---------------------------------------------------------------------------------------------
# Faults


def test_fault_reset_aborts_the_connection(crawl_tree, http_crawl):
    path = crawl_tree.warc_paths[0]
    http_crawl.fail(path, "reset", after_bytes=1000)
    with closing(conn(http_crawl)) as c:
        c.request("GET", "/" + path)
        r = c.getresponse()
        assert r.status == 200
        with pytest.raises((ConnectionResetError, http.client.IncompleteRead)) as e:
            r.read()
    assert isinstance(e.value, ConnectionResetError) or len(e.value.partial) == 1000
    assert get(http_crawl, path)[0].status == 200  # one time only
    assert http_crawl.stats[path]["bytes"] == 1000 + (crawl_tree.root / path).stat().st_size


def test_fault_503_then_recovers_and_head_uses_it_up(crawl_tree, http_crawl):
    path = crawl_tree.warc_paths[0]
    http_crawl.fail(path, "503", times=2)
    r, _ = get(http_crawl, path, "HEAD")
    assert r.status == 503 and r.headers["Retry-After"] == "0"
    r, _ = get(http_crawl, path, Range="bytes=0-9")
    assert r.status == 503
    assert get(http_crawl, path, Range="bytes=0-9")[0].status == 206


def test_fault_stall_times_out_a_shorter_read_timeout(crawl_tree, http_crawl):
    path = crawl_tree.warc_paths[0]
    http_crawl.fail(path, "stall", after_bytes=100, seconds=3)
    http_crawl.fail(path, "stall", after_bytes=100, seconds=0.2)  # queued: the next request's fault
    with closing(conn(http_crawl, timeout=0.5)) as c:
        c.request("GET", "/" + path, headers={"Range": "bytes=0-9999"})
        r = c.getresponse()
        assert r.read(100) == (crawl_tree.root / path).read_bytes()[:100]
        with pytest.raises(socket.timeout):
            r.read(1)
    with closing(conn(http_crawl, timeout=2)) as c:
        c.request("GET", "/" + path, headers={"Range": "bytes=0-9999"})
        assert c.getresponse().read() == (crawl_tree.root / path).read_bytes()[:10000]  # a short stall completes


def test_fault_truncate_closes_short_of_content_length(crawl_tree, http_crawl):
    path = crawl_tree.warc_paths[0]
    http_crawl.fail(path, "truncate", after_bytes=2500)
    with closing(conn(http_crawl)) as c:
        c.request("GET", "/" + path, headers={"Range": "bytes=0-9999"})
        r = c.getresponse()
        assert r.status == 206 and r.headers["Content-Length"] == "10000"
        with pytest.raises(http.client.IncompleteRead) as e:
            r.read()
    assert len(e.value.partial) == 2500


def test_fault_404_counts_down_or_lasts(crawl_tree, http_crawl):
    a, b = crawl_tree.warc_paths[:2]
    http_crawl.fail(a, "404", times=2)
    http_crawl.fail(b, "404", times=-1)
    assert [get(http_crawl, a)[0].status for _ in range(3)] == [404, 404, 200]
    assert [get(http_crawl, b, "HEAD")[0].status for _ in range(3)] == [404, 404, 404]
    with pytest.raises(FileNotFoundError):
        fsspec.filesystem("http").cat_file(http_crawl.url_for(b), 0, 10)
    http_crawl.clear_faults()
    assert get(http_crawl, b, Range="bytes=0-9")[0].status == 206
    with pytest.raises(ValueError, match="kind"):
        http_crawl.fail(a, "teapot")


def test_faults_do_not_survive_a_test(crawl_tree, http_crawl):
    http_crawl.fail(crawl_tree.warc_paths[2], "404", times=-1)
    assert get(http_crawl, crawl_tree.warc_paths[2])[0].status == 404
    # remote_servers_reset clears it after this test; the next test starts clean


def test_faults_were_cleared(crawl_tree, http_crawl):
    assert get(http_crawl, crawl_tree.warc_paths[2], "HEAD")[0].status == 200
    assert list(http_crawl.stats) == [crawl_tree.warc_paths[2]]  # counts start from zero


# ---------------------------------------------------------------------------------------------
# S3


def test_s3_listing_and_range_reads(crawl_tree, s3_crawl):
    fs = s3_crawl.filesystem()
    seg = f"{BUCKET}/crawl-data/{crawl_tree.crawl}/segments/1718198861000.0"
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{seg}/warc")) == sorted(p.rsplit("/", 1)[1] for p in crawl_tree.warc_paths)
    assert gz_lines(fs.cat_file(f"{BUCKET}/crawl-data/{crawl_tree.crawl}/wet.paths.gz")) == crawl_tree.wet_paths
    rows = crawl_tree.index_rows()[::25]
    for r in rows:
        blob = fs.cat_file(f"{BUCKET}/{r['warc_filename']}", start=r["warc_record_offset"],  # keywords: the 2nd parameter is version_id
                           end=r["warc_record_offset"] + r["warc_record_length"])
        assert one_record(blob)[0]["WARC-Target-URI"] == r["url"]
    obj = s3_crawl.client().get_object(Bucket=BUCKET, Key=crawl_tree.warc_paths[0], Range="bytes=0-99")
    assert obj["ResponseMetadata"]["HTTPStatusCode"] == 206 and len(obj["Body"].read()) == 100
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{BUCKET}/crawl-data/nope.warc.gz")


def test_s3_env_alone_reaches_the_server(crawl_tree, s3_env):
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)  # no endpoint or keys given: all from the environment
    index = fs.cat_file(f"{BUCKET}/crawl-data/{crawl_tree.crawl}/cc-index-table.paths.gz")
    assert gz_lines(index) == [crawl_tree.index_path]
    assert fs.info(f"{BUCKET}/{crawl_tree.index_path}")["size"] == (crawl_tree.root / crawl_tree.index_path).stat().st_size
