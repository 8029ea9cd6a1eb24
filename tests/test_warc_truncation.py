"""A WARC file that ends early (a truncated download) is never read as a shorter good file.

The bundled sample WARCs (one gzip member per record, as Common Crawl's) cut inside a member: every cut
gives the complete records before it, with their original text, and then exactly one quarantined record
at the cut member's offset, or, when only the end of the last member (its 8-byte gzip trailer) is
missing, the record read whole and a file-level entry. The counts reconcile in every case. Plain .warc
files, whole-file gzip, remote files (range requests) and byte ranges (base_offset) likewise.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator

from tamiz.pipeline import warc
from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.warc import read_warc_stream
from tests.remote_servers import RangeHTTPServer

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "sample" / "common_crawl").glob("*.warc.gz"))
NAMES = [p.name.split("-")[-1].removesuffix(".warc.gz") for p in SAMPLES]


def members(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each gzip member."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(data[pos:])
        assert d.eof
        n = len(data) - pos - len(d.unused_data)
        out.append((pos, n))
        pos += n
    return out


def read(data: bytes, tmp_path: Path, name: str = "cut.warc.gz") -> tuple[list, ReadReport]:
    """Read bytes as tamiz reads an input file; the counts must reconcile whatever the bytes."""
    path = tmp_path / name
    path.write_bytes(data)
    report = ReadReport(str(path), quiet=True)
    docs = list(read_documents(path, report, "cc"))
    assert report.reconciles()
    assert report.yielded == len(docs)
    return docs, report


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Read complete bytes (the records before a cut) once for all the cuts that share them."""
    seen: dict[bytes, tuple[list, ReadReport]] = {}
    folder = tmp_path_factory.mktemp("reference")

    def get(data: bytes, name: str = "ref.warc.gz") -> tuple[list, ReadReport]:
        key = name.encode() + b"\0" + data
        if key not in seen:
            seen[key] = read(data, folder, name)
            assert not seen[key][1].quarantine
        return seen[key]
    return get


def texts(docs: list) -> list[tuple[str, int, str]]:
    return [(d.id, d.metadata["warc_offset"], d.text) for d in docs]


@pytest.fixture(scope="module")
def sample() -> dict[str, tuple[bytes, list[tuple[int, int]], set[int]]]:
    """Each sample file: its bytes, its members, and the offsets of its HTML pages."""
    out = {}
    for name, path in zip(NAMES, SAMPLES):
        data = path.read_bytes()
        report = ReadReport(str(path), quiet=True)
        pages = {d.metadata["warc_offset"] for d in read_documents(path, report, "cc")}
        assert not report.quarantine
        out[name] = (data, members(data), pages)
    return out


def member_at(sample, name: str, which: str) -> tuple[int, int]:
    """The last member, or the HTML page nearest the middle of the file (its member)."""
    data, ms, pages = sample[name]
    if which == "last":
        return ms[-1]
    return min((m for m in ms if m[0] in pages), key=lambda m: abs(m[0] - len(data) // 2))


CUTS = {  # where in a member of n bytes the file ends
    "inside_gzip_header": lambda n: 5,
    "after_gzip_header": lambda n: 10,
    "10%": lambda n: n // 10,
    "50%": lambda n: n // 2,
    "90%": lambda n: n * 9 // 10,
}
TRAILER_CUTS = {"before_trailer": 8, "inside_trailer": 4, "last_byte_missing": 1}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("which", ["last", "middle"])
@pytest.mark.parametrize("name", NAMES)
def test_file_ending_inside_a_member_quarantines_its_record(sample, reference, tmp_path, name, which, cut):
    data, _, _ = sample[name]
    start, n = member_at(sample, name, which)
    docs, r = read(data[:start + CUTS[cut](n)], tmp_path)
    before_docs, before = reference(data[:start])  # the complete records before the cut
    assert (r.records, r.yielded, r.skipped) == (before.records + 1, before.yielded, before.skipped)
    assert texts(docs) == texts(before_docs) and all(d.metadata["warc_offset"] < start for d in docs)
    assert len(r.quarantine) == 1
    bad = r.quarantine[0]
    assert bad.where == f"offset {start}" and "truncated" in bad.reason, (bad.where, bad.reason)
    if cut in ("inside_gzip_header", "after_gzip_header"):  # the cuts that fastwarc passed over in silence
        assert f"file ends inside a gzip member at offset {start}" in bad.reason
        assert bad.reason.endswith("truncated download?")


@pytest.mark.parametrize("cut", list(TRAILER_CUTS))
@pytest.mark.parametrize("which", ["last", "middle"])
@pytest.mark.parametrize("name", NAMES[:2])
def test_file_ending_inside_the_gzip_trailer_keeps_the_record_and_says_so(sample, reference, tmp_path, name, which,
                                                                         cut):
    """The record's bytes are all there (as many as its Content-Length): it is read, and a file-level
    entry says that the file was cut (records after it may be missing)."""
    data, _, _ = sample[name]
    start, n = member_at(sample, name, which)
    docs, r = read(data[:start + n - TRAILER_CUTS[cut]], tmp_path)
    whole_docs, whole = reference(data[:start + n])
    assert (r.records, r.yielded, r.skipped) == (whole.records, whole.yielded, whole.skipped)
    assert texts(docs) == texts(whole_docs)
    assert [b.where for b in r.quarantine] == ["file"]
    reason = r.quarantine[0].reason
    assert f"without the gzip trailer (CRC32 and size) of its last member at offset {start}" in reason
    assert "truncated download?" in reason


def test_complete_files_are_checked_without_a_second_pass(sample, tmp_path, monkeypatch):
    """The fast path: the last member's WARC header and the file's last 4 bytes (its gzip size)."""
    def walk(*a, **k):
        raise AssertionError("a complete file was inflated a second time")

    monkeypatch.setattr(warc, "_walk_gzip", walk)
    for name in NAMES:
        data, ms, _ = sample[name]
        for end in (len(data), ms[len(ms) // 2][0]):  # the file, and the file cut between two members
            _, r = read(data[:end], tmp_path)
            assert not r.quarantine


def test_file_cut_inside_its_first_member_is_one_lost_record(sample, tmp_path):
    data, ms, _ = sample[NAMES[0]]
    for cut in (3, 10, ms[0][1] // 2):
        docs, r = read(data[:cut], tmp_path)
        assert docs == [] and r.records == 1 and [b.where for b in r.quarantine] == ["offset 0"]
        assert "truncated" in r.quarantine[0].reason


@pytest.fixture(scope="module")
def plain(sample) -> tuple[bytes, list[int]]:
    """The first sample uncompressed, and its record offsets."""
    data = gzip.decompress(sample[NAMES[0]][0])
    return data, [r.stream_pos for r in ArchiveIterator(io.BytesIO(data), parse_http=False)]


@pytest.mark.parametrize("cut", ["warc_line", "header", "10%", "50%", "90%"])
@pytest.mark.parametrize("which", ["last", "middle"])
def test_plain_warc_ending_inside_a_record_quarantines_it(plain, reference, tmp_path, which, cut):
    data, starts = plain
    i = len(starts) - 1 if which == "last" else len(starts) // 2
    start, n = starts[i], (starts[i + 1] if i + 1 < len(starts) else len(data)) - starts[i]
    at = {"warc_line": 5, "header": 100, "10%": n // 10, "50%": n // 2, "90%": n * 9 // 10}[cut]
    docs, r = read(data[:start + at], tmp_path, "cut.warc")
    before_docs, before = reference(data[:start], "ref.warc")
    assert (r.records, r.yielded, r.skipped) == (before.records + 1, before.yielded, before.skipped)
    assert texts(docs) == texts(before_docs)
    assert [b.where for b in r.quarantine] == [f"offset {start}"]


def test_plain_warc_ending_inside_the_last_crlf_crlf_keeps_the_record_and_says_so(plain, tmp_path):
    data, starts = plain
    whole_docs, whole = read(data, tmp_path, "whole.warc")
    docs, r = read(data[:-2], tmp_path, "cut.warc")
    assert texts(docs) == texts(whole_docs) and r.records == whole.records
    assert [b.where for b in r.quarantine] == ["file"]
    assert f"closes its last record at offset {starts[-1]}" in r.quarantine[0].reason


def test_whole_file_gzip_cut_between_two_records_is_not_read_as_complete(plain, tmp_path):
    """One gzip member for the whole file, flushed after each record (the cut lands exactly at a record
    boundary): what the file lost is unknown, so a file-level entry says it ends inside a member."""
    data, starts = plain
    z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out, flushed = bytearray(), {}
    for i, (a, b) in enumerate(zip(starts, starts[1:] + [len(data)])):
        out += z.compress(data[a:b]) + z.flush(zlib.Z_FULL_FLUSH)
        flushed[i] = len(out)
    whole = bytes(out + z.flush())
    k = len(starts) // 2
    docs, r = read(whole[:flushed[k]], tmp_path)
    ref_docs, ref = read(data[:starts[k + 1]], tmp_path, "ref.warc")
    # (no offsets: inside one member, fastwarc's are not the records' own)
    assert [(d.id, d.text) for d in docs] == [(d.id, d.text) for d in ref_docs] and r.records == ref.records
    assert [b.where for b in r.quarantine] == ["file"]
    assert "file ends inside a gzip member at offset 0" in r.quarantine[0].reason
    _, r = read(whole[:-3], tmp_path)
    assert "without the gzip trailer" in r.quarantine[0].reason
    _, r = read(whole, tmp_path)
    assert not r.quarantine


def test_byte_range_reports_the_offset_in_the_file(sample):
    """Common Crawl selections read one record's byte range at a time (base_offset)."""
    data, ms, _ = sample[NAMES[0]]
    a, b = ms[-2][0], ms[-1][0]
    report = ReadReport("cc", quiet=True)
    list(read_warc_stream(io.BytesIO(data[a:b + 10]), "cc", report, base_offset=a))
    assert report.reconciles() and report.records == 2
    assert [q.where for q in report.quarantine] == [f"offset {b}"]
    assert f"at offset {b}" in report.quarantine[0].reason
    report = ReadReport("cc", quiet=True)
    list(read_warc_stream(io.BytesIO(data[b:]), "cc", report, base_offset=b))
    assert not report.quarantine


def test_remote_file_cut_is_reported_as_the_local_one_without_a_second_download(sample, tmp_path, monkeypatch):
    monkeypatch.setenv("TAMIZ_REMOTE_CHUNK_MB", "0.0625")  # 64 KiB range requests
    data, ms, _ = sample[NAMES[1]]
    (s, n), (m, mn) = ms[-1], member_at(sample, NAMES[1], "middle")
    files = {"complete.warc.gz": data, "header.warc.gz": data[:s + 10], "trailer.warc.gz": data[:s + n - 4],
             "middle.warc.gz": data[:m + mn // 2], "plain.warc": gzip.decompress(data)[:-1]}
    root = tmp_path / "srv"
    root.mkdir()
    for name, blob in files.items():
        (root / name).write_bytes(blob)
    with RangeHTTPServer(root) as srv:
        for name, blob in files.items():
            local_docs, local = read(blob, tmp_path, name)
            report = ReadReport(name, quiet=True)
            docs = list(read_documents(srv.url_for(name), report, "cc"))
            assert report.reconciles() and texts(docs) == texts(local_docs), name
            assert [(b.where, b.reason) for b in report.quarantine] == \
                [(b.where, b.reason) for b in local.quarantine], name
            assert bool(report.quarantine) == (name != "complete.warc.gz")
            assert srv.stats[name]["bytes"] <= len(blob) + (128 << 10), name  # the end check: a few KB more


def test_damaged_gzip_inside_a_large_block_is_quarantined_not_a_crash(sample, reference, tmp_path):
    """A bit flip in the deflate data of a record larger than fastwarc's read buffer made the block's
    read raise OSError out of the reader (the whole file lost, the task failed)."""
    data, ms, _ = sample[NAMES[0]]
    html = b"<html><body>" + b"".join(b"<p>p\xc3\xa1rrafo %d, texto %d</p>\n" % (i, i * 7919 % 10007)
                                      for i in range(8000)) + b"</body></html>"
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    member = bytearray(gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:big>\r\n"
                                     b"WARC-Target-URI: http://a/\r\nContent-Length: %d\r\n\r\n" % len(http)
                                     + http + b"\r\n\r\n"))
    member[len(member) * 7 // 10] ^= 0xFF
    start = ms[10][0]
    docs, r = read(data[:start] + bytes(member), tmp_path)
    before_docs, before = reference(data[:start])
    assert texts(docs) == texts(before_docs) and r.records == before.records + 1
    assert [(b.where, b.reason.split(":")[0]) for b in r.quarantine] == [(f"offset {start}", "unreadable record block")]
