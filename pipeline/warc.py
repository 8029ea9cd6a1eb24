"""Read HTML pages out of WARC files (gzip or not), robustly.

Only `response` and `resource` records with HTTP 200 (responses) and an HTML content type become
documents. Everything else is skipped and counted by reason; records that cannot be read are
quarantined with their byte offset, and the good records of the same file are still returned.
The document text is the decoded HTML; extraction is a later step.

A file that ends early is never read as a shorter good file: fastwarc stops without a word when a
.warc.gz ends inside the gzip header or the first bytes of a member (the record in it vanishes) or
inside a member's 8-byte trailer, so after the last record `_check_end` looks at the end of the file
(see there; a few KB are read, not the file again).
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import xxhash
from fastwarc.warc import ArchiveIterator, WarcRecordType

from tamiz.core import remote
from tamiz.pipeline.document import Document
from tamiz.pipeline.report import ReadReport

log = logging.getLogger("tamiz")

HTML_TYPES = ("text/html", "application/xhtml+xml")
HEADER_BYTES = 1 << 16  # room for the HTTP headers in a record whose payload may be max_payload_bytes
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s.*)?$")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\x00\x00\x01\x00")
_RECORD_TYPE_NAMES = {
    int(t): name
    for t, name in (
        (WarcRecordType.warcinfo, "warcinfo"), (WarcRecordType.response, "response"),
        (WarcRecordType.resource, "resource"), (WarcRecordType.request, "request"),
        (WarcRecordType.metadata, "metadata"), (WarcRecordType.revisit, "revisit"),
        (WarcRecordType.conversion, "conversion"), (WarcRecordType.continuation, "continuation"),
    )
}


def _causes(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while e is not None and len(out) < 16:
        out.append(e)
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return out


def _raise_remote(e: BaseException) -> None:
    """Raise the RemoteError behind a fastwarc error (the file could not be fetched), if there is one."""
    cause = next((x for x in _causes(e) if isinstance(x, remote.RemoteError)), None)
    if cause is not None:
        raise cause from e


class HttpError(ValueError):
    """The HTTP part of a record could not be parsed."""


def read_warc(path: str | Path, report: ReadReport, source: str = "common_crawl",
              max_payload_bytes: int = 8 << 20) -> Iterator[Document]:
    """Yield one Document (text = decoded HTML) per readable HTML page in the WARC file."""
    name = remote.basename(path)
    with remote.open_input(path) as f:
        size = remote.input_size(f) if remote.is_url(str(path)) else Path(path).stat().st_size
        if size == 0:
            report.bad("file", "empty file", count_record=False)
            return
        yield from read_warc_stream(f, name, report, source, max_payload_bytes)


def read_warc_stream(f: BinaryIO, name: str, report: ReadReport, source: str = "common_crawl",
                     max_payload_bytes: int = 8 << 20, base_offset: int = 0) -> Iterator[Document]:
    """The documents of a WARC stream (a whole file, or byte ranges of one: their records' offsets are
    `base_offset` plus their place in the stream). RemoteError (the file could not be fetched after
    retries) is raised, not quarantined: the task fails and a rerun reads the file again."""
    start, magic = _start_of(f)
    it = iter(ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False))
    first = True
    last: tuple[int, int, str] | None = None  # stream position, Content-Length and id of the last record
    while True:
        try:
            record = next(it)
        except StopIteration:
            if first:
                if not _check_end(f, start, magic, None, base_offset, report):
                    report.bad("file", "no WARC records found (not a WARC file?)", count_record=False)
            elif last is not None:
                _check_end(f, start, magic, last, base_offset, report)
            return
        except remote.RemoteError:
            raise
        except Exception as e:  # fastwarc raises OSError on a broken header or stream
            _raise_remote(e)
            if first and _check_end(f, start, magic, None, base_offset, report):
                return  # a gzip file that ends inside its first member: one lost record, not "not a WARC"
            nxt = None if first or last is None else _next_record_offset(f, start, magic, last)
            where = ("file" if first else f"offset {base_offset + nxt}" if nxt is not None
                     else f"after offset {f.tell()}")
            what = "not a WARC file" if first else "unreadable WARC record; rest of file skipped"
            report.bad(where, f"{what}: {e}", count_record=not first)
            return
        first = False
        offset = base_offset + record.stream_pos
        rtype = _RECORD_TYPE_NAMES.get(int(record.record_type), "unknown")
        try:
            declared = int(record.headers.get("Content-Length", "-1"))
        except ValueError:
            declared = -1
        last = (record.stream_pos, declared, record.headers.get("WARC-Record-ID", "") or "") if declared >= 0 else None
        try:  # a small .warc.gz can hold a huge record: read its head only
            if declared > max_payload_bytes + HEADER_BYTES:
                _too_large(record, rtype, offset, declared, max_payload_bytes + HEADER_BYTES, report)
                continue
            block = record.reader.read()
        except remote.RemoteError:
            raise
        except Exception as e:  # a damaged gzip stream inside the block (OSError from fastwarc)
            _raise_remote(e)
            report.bad(f"offset {offset}", f"unreadable record block: {e}; rest of file skipped")
            return
        if declared < 0:
            report.bad(f"offset {offset}", "WARC header without a valid Content-Length (truncated file?)", block[:256])
            continue
        if len(block) < declared:
            report.bad(f"offset {offset}", f"record shorter than its Content-Length (truncated or malformed): {len(block)} of {declared} bytes; rest of file skipped",
                       block[:256])
            return
        if rtype == "conversion":  # a WET file's text, already extracted by Common Crawl
            doc = _conversion(record, block, name, offset, source, report)
            if doc is not None:
                yield doc
            continue
        if rtype not in ("response", "resource"):
            report.skip(f"record_{rtype}")
            continue
        url = record.headers.get("WARC-Target-URI", "") or ""
        date = record.headers.get("WARC-Date", "") or ""
        record_id = record.headers.get("WARC-Record-ID", "") or f"{name}@{offset}"
        try:
            if rtype == "response":
                status, headers, payload = parse_http(block, max_payload_bytes)
            else:
                status, headers, payload = 200, {"content-type": record.headers.get("Content-Type", "")}, block
        except HttpError as e:
            report.bad(f"offset {offset}", f"broken HTTP header: {e}", block[:256])
            continue
        if status != 200:
            report.skip(f"http_{status}")
            continue
        content_type = headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        if mime not in HTML_TYPES:
            report.skip("not_html")
            continue
        if len(payload) > max_payload_bytes:
            report.bad(f"offset {offset}", f"payload of {len(payload)} bytes exceeds {max_payload_bytes}", payload[:256])
            continue
        if _looks_binary(payload):
            report.bad(f"offset {offset}", "binary payload in an HTML record", payload[:256])
            continue
        try:
            html, charset, errors = decode_html(payload, content_type)
        except UnicodeDecodeError as e:
            report.bad(f"offset {offset}", f"undecodable text: {e.reason}", payload[:256])
            continue
        doc_id = xxhash.xxh64_hexdigest(f"{source}\0{url}\0{record_id}".encode())
        report.good()
        yield Document(
            id=doc_id,
            text=html,
            source=source,
            url=url,
            metadata={
                "warc_file": name,
                "warc_offset": offset,
                "warc_date": date,
                "warc_record_id": record_id,
                "charset": charset,
                "decode_errors": errors,
            },
        )


# ---------------------------------------------------------------------------------------------
# The end of the file: did the last record end where the file ends?

END_CHECK_MAX_BYTES = 64 << 20  # compressed bytes the end check inflates at most (one member, normally a few KB)
END_CHECK_MAX_INFLATED = 256 << 20  # and their inflated size (a gzip bomb as the last record)
_GZIP = b"\x1f\x8b"
_RECORD_END = b"\r\n\r\n"  # what closes every WARC record
_WHITESPACE = b" \t\r\n"
_TRUNCATED = "truncated download?"


def _start_of(f: BinaryIO) -> tuple[int | None, bytes]:
    """Where the stream starts and its first bytes, read before fastwarc reads it (a buffered file is
    peeked: no extra read, no range request). (None, b"") for a stream that cannot seek: no end check."""
    try:
        if not f.seekable():
            return None, b""
        start = f.tell()
        peek = getattr(f, "peek", None)
        if peek is not None:
            return start, peek(5)[:5]
        head = f.read(5)
        f.seek(start)
        return start, head
    except remote.RemoteError:
        raise
    except (OSError, ValueError, AttributeError):
        return None, b""


def _check_end(f: BinaryIO, start: int | None, magic: bytes, last: tuple[int, int, str] | None,
               base_offset: int, report: ReadReport) -> bool:
    """After fastwarc's last record: report what of the file's end it did not read; True if it reported.

    fastwarc ends without an error where a .warc.gz ends inside the gzip header or the first bytes of a
    member (the record in it is lost without a trace) or inside its 8-byte trailer (CRC32 and size), and
    where a plain .warc ends inside the CRLF CRLF that closes the last record. So the last record (whose
    block fastwarc read whole, or skipped when too large) is found again where it starts (`last`: its
    stream position, Content-Length and id) and the file must end where it ends:

    - gzip, one member per record (WARC's and Common Crawl's layout): the last member's header is inflated
      up to the end of its WARC header (a few KB) and the file's last 4 bytes must be the gzip size of
      header + Content-Length + CRLF CRLF. Only if not, the members from the last record to the end of
      the file are inflated (at most END_CHECK_MAX_BYTES; a file gzipped as one member is inflated again
      from its start) to tell a member cut after the last record (a record lost: quarantined at the
      member's offset, counted) from a last member cut after its record's content (the record was read
      whole: a file-level entry, since records after it may be missing);
    - plain: the bytes after the last record's block must be CRLF CRLF (then only whitespace).

    With no record read (`last` None) a gzip file that ends inside its first member is one cut record,
    not "no WARC records". A stream that cannot seek is not checked. RemoteError is raised.
    """
    if start is None:
        return False
    try:
        size = f.seek(0, io.SEEK_END)
        if magic.startswith(_GZIP):
            return _check_gzip_end(f, start, size, last, base_offset, report)
        if magic.startswith(b"WARC/") and last is not None:
            return _check_plain_end(f, start, size, last, base_offset, report)
        return False
    except remote.RemoteError:
        raise
    except (OSError, ValueError, zlib.error) as e:
        log.warning("%s: the end of the file could not be checked: %s", report.path, e)
        return False


def _next_record_offset(f: BinaryIO, start: int | None, magic: bytes, last: tuple[int, int, str]) -> int | None:
    """Where the record after `last` starts (its stream position), to name an unreadable record by its
    offset; None where that cannot be told cheaply (a record of several gzip members, a one-member file)."""
    if start is None:
        return None
    pos, declared, record_id = last
    try:
        if magic.startswith(b"WARC/"):
            f.seek(start + pos)
            head = f.read(HEADER_BYTES)
            end = head.find(_RECORD_END)
            if end < 0 or not _is_header_of(head[:end], declared, record_id):
                return None
            return pos + end + len(_RECORD_END) + declared + len(_RECORD_END)
        if not magic.startswith(_GZIP) or _member_header_len(f, start + pos, declared, record_id) is None:
            return None
        f.seek(start + pos)
        d, used, inflated = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, 0
        while not d.eof and used <= END_CHECK_MAX_BYTES and inflated <= END_CHECK_MAX_INFLATED:
            chunk = f.read(1 << 20)
            if not chunk:
                return None
            while chunk and not d.eof:
                inflated += len(d.decompress(chunk, 4 << 20))
                rest = d.unused_data if d.eof else d.unconsumed_tail
                used += len(chunk) - len(rest)
                chunk = rest
        return pos + used if d.eof and inflated >= declared else None
    except remote.RemoteError:
        raise
    except (OSError, ValueError, zlib.error):
        return None


def _check_gzip_end(f: BinaryIO, start: int, size: int, last: tuple[int, int, str] | None,
                    base_offset: int, report: ReadReport) -> bool:
    walk_from, record_end = start, None  # record_end: where the last record ends, inflated, from walk_from
    if last is not None:
        pos, declared, record_id = last
        header_len = _member_header_len(f, start + pos, declared, record_id)
        if header_len is not None:  # the last record starts a member: one member per record
            record_end = header_len + declared + len(_RECORD_END)
            if size - start - pos >= 18:  # the fast path: that member ends with its trailer where the file ends
                f.seek(size - 4)
                if f.read(4) == struct.pack("<I", record_end & 0xFFFFFFFF):
                    return False
            walk_from = start + pos
    if size - walk_from > END_CHECK_MAX_BYTES:
        log.warning("%s: the end of the file was not checked (its last gzip member holds %d bytes)",
                    report.path, size - walk_from)
        return False
    end = _walk_gzip(f, walk_from, record_end if record_end is not None else 0 if last is None else 1 << 62)
    if end.state == "unchecked":
        log.warning("%s: the end of the file was not checked (its last gzip member inflates to over %d bytes)",
                    report.path, END_CHECK_MAX_INFLATED)
    if end.state in ("ok", "unchecked"):
        return False
    at = base_offset + end.member - start
    cut = end.state in ("header", "deflate", "trailer")
    if last is None:  # nothing read: a cut first member is one lost record; anything else is not a WARC
        if not cut:
            return False
    elif end.state == "damaged":
        report.bad("file", f"gzip member at offset {at} is damaged ({end.reason}); records after it, if any, "
                           "were not read", end.head, count_record=False)
        return True
    elif end.state == "unread":
        report.bad(f"offset {at}", f"gzip member at offset {at} holds data after the last record that was "
                                   "not read as a WARC record", end.head)
        return True
    held = f"{size - end.member} bytes of it"
    if last is None or record_end is not None and (end.unc >= record_end or end.after):
        # a member after the last record's: its record is lost, counted here
        incomplete = "its gzip header" if end.state == "header" else "the record in it"
        report.bad(f"offset {at}", f"file ends inside a gzip member at offset {at} ({held}; {incomplete} "
                                   f"incomplete): {_TRUNCATED}", end.head)
    elif record_end is None:  # a file gzipped as one member (several records a member): what is lost is unknown
        what = (f"without the gzip trailer (CRC32 and size) of its member at offset {at}" if end.state == "trailer"
                else f"inside a gzip member at offset {at} ({held})")
        report.bad("file", f"file ends {what}: {_TRUNCATED} records after the last one read may be missing",
                   count_record=False)
    else:  # the last record's member: the record was read whole, its member's end is missing
        what = ("without the gzip trailer (CRC32 and size) of its last member" if end.state == "trailer"
                else "inside its last gzip member, after the record's content")
        report.bad("file", f"file ends {what} at offset {at} ({held}): {_TRUNCATED} that record was read "
                           "whole; records after it, if any, are missing", count_record=False)
    return True


def _member_header_len(f: BinaryIO, pos: int, declared: int, record_id: str) -> int | None:
    """The length of the WARC header that the gzip member at `pos` starts with, if it is the header of
    the last record (same WARC-Record-ID and Content-Length: the record starts its member); else None."""
    f.seek(pos)
    if f.read(2) != _GZIP:
        return None
    f.seek(pos)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = b""
    try:
        while len(out) < HEADER_BYTES and not d.eof:
            chunk = f.read(4096)
            if not chunk:
                return None
            out += d.decompress(chunk, HEADER_BYTES - len(out))
            end = out.find(_RECORD_END)
            if end >= 0:
                return end + len(_RECORD_END) if _is_header_of(out[:end], declared, record_id) else None
    except zlib.error:
        return None
    return None


def _is_header_of(header: bytes, declared: int, record_id: str) -> bool:
    if not header.startswith(b"WARC/"):
        return False
    ids, lengths = [], []
    for line in header.split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"warc-record-id":
            ids.append(value.strip().decode("utf-8", "replace"))
        elif name == b"content-length":
            lengths.append(value.strip())
    return ids == ([record_id.strip()] if record_id.strip() else []) and lengths == [str(declared).encode()]


@dataclass
class _End:
    """How a walk over gzip members to the end of the file ended."""

    state: str  # ok, unchecked, header/deflate/trailer (the file ends there), damaged, unread
    member: int = 0  # stream position of the member concerned
    unc: int = 0  # its inflated start, counted from the first member walked
    head: bytes = b""  # its first inflated bytes
    reason: str = ""
    after: bool = False  # it holds more than whitespace after the end of the last record


def _gzip_header_len(buf: bytes) -> int | None:
    """Length of the gzip member header `buf` starts with; None if `buf` ends inside it, -1 if not gzip."""
    if buf[:3] != b"\x1f\x8b\x08"[:len(buf[:3])]:
        return -1
    if len(buf) < 10:
        return None
    flags, pos = buf[3], 10
    if flags & 4:  # FEXTRA
        if len(buf) < pos + 2:
            return None
        pos += 2 + int.from_bytes(buf[pos:pos + 2], "little")
    for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            z = buf.find(b"\0", pos)
            if z < 0:
                return None
            pos = z + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos if pos <= len(buf) else None


def _walk_gzip(f: BinaryIO, pos: int, record_end: int) -> _End:
    """Inflate the gzip members from stream position `pos` to the end of the file (output discarded,
    memory bounded), checking each trailer, and say where and how the file ends. A whole member that
    holds more than whitespace after `record_end` (inflated, counted from `pos`) is 'unread'."""
    f.seek(pos)
    buf, at_eof, unc = b"", False, 0

    def more() -> bytes:
        nonlocal at_eof
        chunk = f.read(1 << 20)
        at_eof = not chunk
        return chunk

    while True:
        while len(buf) < 10 and not at_eof:
            buf += more()
        if not buf:
            return _End("ok")
        member, member_unc = pos, unc
        hlen = _gzip_header_len(buf)
        while hlen is None and not at_eof:
            buf += more()
            hlen = _gzip_header_len(buf)
        if hlen is None:
            return _End("header", member, member_unc)
        if hlen < 0:
            return _End("damaged", member, member_unc, buf[:256], "not a gzip member")
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        data, pos = buf[hlen:], pos + hlen
        crc, n, head, text = 0, 0, b"", False
        while not d.eof:
            if not data and not at_eof:
                data = more()
            try:
                out = d.decompress(data, 4 << 20)
            except zlib.error as e:
                return _End("damaged", member, member_unc, head, str(e))
            rest = d.unused_data if d.eof else d.unconsumed_tail
            pos += len(data) - len(rest)
            data = rest
            crc, n = zlib.crc32(out, crc), n + len(out)
            if len(head) < 256:
                head += out[:256 - len(head)]
            if not text and member_unc + n > record_end:
                text = bool(out[max(0, record_end - (member_unc + n - len(out))):].strip(_WHITESPACE))
            if unc + n > END_CHECK_MAX_INFLATED:
                return _End("unchecked")
            if not out and not data and at_eof and not d.eof:
                return _End("deflate", member, member_unc, head, after=text)
        buf = data
        while len(buf) < 8 and not at_eof:
            buf += more()
        if len(buf) < 8:
            return _End("trailer", member, member_unc, head, after=text)
        if buf[:8] != struct.pack("<II", crc & 0xFFFFFFFF, n & 0xFFFFFFFF):
            return _End("damaged", member, member_unc, head, "its CRC32 or size does not match its data")
        if text:
            return _End("unread", member, member_unc, head, after=True)
        buf, pos, unc = buf[8:], pos + 8, unc + n


def _check_plain_end(f: BinaryIO, start: int, size: int, last: tuple[int, int, str], base_offset: int,
                     report: ReadReport) -> bool:
    pos, declared, record_id = last
    f.seek(start + pos)
    head = f.read(HEADER_BYTES)
    end = head.find(_RECORD_END)
    if end < 0 or not _is_header_of(head[:end], declared, record_id):
        return False
    block_end = start + pos + end + len(_RECORD_END) + declared
    if block_end > size:  # a record too large to read, cut: it was counted when it was skipped
        report.bad("file", f"file ends inside its last record at offset {base_offset + pos} "
                           f"({size - start - pos} of its {block_end + len(_RECORD_END) - start - pos} bytes): "
                           f"{_TRUNCATED}", count_record=False)
        return True
    f.seek(block_end)
    tail = f.read(HEADER_BYTES)
    if len(tail) < len(_RECORD_END) and _RECORD_END.startswith(tail):
        report.bad("file", f"file ends inside the CRLF CRLF that closes its last record at offset "
                           f"{base_offset + pos}: {_TRUNCATED} the record was read whole; records after it, "
                           "if any, are missing", count_record=False)
        return True
    text = tail.lstrip(_WHITESPACE)
    if not text:
        return False
    at = block_end + len(tail) - len(text)  # where what fastwarc did not read starts
    report.bad(f"offset {base_offset + at - start}",
               f"file ends inside a WARC record at offset {base_offset + at - start} ({size - at} bytes of it, "
               f"not readable as a record): {_TRUNCATED}", text[:256])
    return True


WET_EXTRACTOR = "common_crawl_wet"  # metadata["extractor"] of a WET document: Extract leaves its text as it is


def _conversion(record, block: bytes, name: str, offset: int, source: str, report: ReadReport) -> Document | None:
    """A WET `conversion` record as a document whose text is already extracted (UTF-8 plain text), with
    Common Crawl's language labels (CLD2, ISO-639-3, most likely first) in its metadata. Its id is the id
    the same page gets from its WARC response (WARC-Refers-To), so WARC and WET builds line up."""
    url = record.headers.get("WARC-Target-URI", "") or ""
    refers_to = record.headers.get("WARC-Refers-To", "") or ""
    own_id = record.headers.get("WARC-Record-ID", "") or f"{name}@{offset}"
    if _looks_binary(block):
        report.bad(f"offset {offset}", "binary payload in a conversion record", block[:256])
        return None
    try:
        text = block.decode("utf-8")
        errors = 0
    except UnicodeDecodeError:
        text, _, errors = decode_html(block, "text/plain; charset=utf-8")
    doc_id = xxhash.xxh64_hexdigest(f"{source}\0{url}\0{refers_to or own_id}".encode())
    report.good()
    return Document(
        id=doc_id, text=text, source=source, url=url,
        metadata={
            "warc_file": name,
            "warc_offset": offset,
            "warc_date": record.headers.get("WARC-Date", "") or "",
            "warc_record_id": refers_to or own_id,
            "wet_record_id": own_id,
            "cc_languages": record.headers.get("WARC-Identified-Content-Language", "") or "",
            "extractor": WET_EXTRACTOR,
            "decode_errors": errors,
        },
    )


def _too_large(record, rtype: str, offset: int, declared: int, limit: int, report: ReadReport) -> None:
    """Count a record too large to read as what it would have been: skipped by type, status or MIME type
    as usual (read from its first bytes), or, an HTML page, quarantined unread."""
    if rtype not in ("response", "resource"):
        report.skip(f"record_{rtype}")
        return
    if rtype == "response":
        head = record.reader.read(HEADER_BYTES)
        try:
            status, headers, _ = parse_http(head, 0)
        except HttpError as e:
            report.bad(f"offset {offset}", f"broken HTTP header: {e}", head[:256])
            return
    else:
        status, headers = 200, {"content-type": record.headers.get("Content-Type", "")}
    if status != 200:
        report.skip(f"http_{status}")
    elif headers.get("content-type", "").split(";")[0].strip().lower() not in HTML_TYPES:
        report.skip("not_html")
    else:
        report.bad(f"offset {offset}", f"record of {declared} bytes exceeds {limit} (not read)")


def parse_http(block: bytes, max_bytes: int = 8 << 20) -> tuple[int, dict[str, str], bytes]:
    """Split an HTTP response block into (status, lower-cased headers, decoded payload).

    A gzip/deflate payload is inflated to at most `max_bytes` + 1 bytes (so a compression bomb stops
    there and the caller sees a payload over its limit)."""
    head, sep, payload = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = block.partition(b"\n\n")
    if not sep:
        raise HttpError("no end of headers")
    lines = head.split(b"\n")
    m = _STATUS.match(lines[0].strip())
    if not m:
        raise HttpError(f"bad status line {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or any(c in name for c in b" \t"):
            raise HttpError(f"bad header line {line[:60]!r}")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        payload = _dechunk(payload)
    encoding = headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            payload = _inflate(payload, 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS, max_bytes + 1)
        except zlib.error:
            pass  # Common Crawl often stores the decoded body but keeps the header
    return int(m.group(1)), headers, payload


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Decompress (every gzip member) into at most `limit` bytes; raises zlib.error on data that is not compressed."""
    out = bytearray()
    while data and len(out) < limit:
        d = zlib.decompressobj(wbits)
        out += d.decompress(data, limit - len(out))
        if not d.eof:
            if len(out) >= limit:
                break
            raise zlib.error("truncated compressed data")
        data = d.unused_data
    return bytes(out)


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(data):
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return data  # not really chunked: keep as is
        try:
            n = int(data[pos:eol].split(b";")[0], 16)
        except ValueError:
            return data
        if n == 0:
            break
        out += data[eol + 2 : eol + 2 + n]
        pos = eol + 2 + n + 2
    return bytes(out)


def _looks_binary(payload: bytes) -> bool:
    head = payload[:4096]
    if head.startswith(_BINARY_MAGIC):
        return True
    if not head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))  # bytes < 9 or 14..31, counted in C
    return controls / len(head) > 0.05


_CONTROL_BYTES = bytes(b for b in range(32) if b < 9 or 13 < b)


def _cp1252_repair(err: UnicodeDecodeError) -> tuple[str, int]:
    """Error handler: decode each invalid byte as windows-1252 (mixed UTF-8/latin-1 pages are common)."""
    bad = err.object[err.start : err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("tamiz_cp1252", _cp1252_repair)


def decode_html(payload: bytes, content_type: str = "") -> tuple[str, str, int]:
    """Decode with the header's charset, else the HTML's <meta charset>, else UTF-8, else cp1252.

    Returns (text, charset used, number of repaired bytes). Text that is not valid in a declared
    charset falls back to UTF-8; UTF-8 that holds some invalid bytes keeps its valid UTF-8 and has each invalid byte read as
    windows-1252 (so stray latin-1 accents survive), counted in the third value. Payloads that
    decode in no candidate charset raise UnicodeDecodeError.
    """
    candidates: list[str] = []
    m = _CT_CHARSET.search(content_type)
    if m:
        candidates.append(m.group(1))
    m2 = _META_CHARSET.search(payload[:4096])
    if m2:
        candidates.append(m2.group(1).decode("ascii", "replace"))
    candidates += ["utf-8", "cp1252"]
    seen: set[str] = set()
    for cs in candidates:
        cs = _normalise_charset(cs)
        if cs is None or cs in seen:
            continue
        seen.add(cs)
        try:
            return payload.decode(cs), cs, 0
        except UnicodeError:  # UnicodeDecodeError, or the bare UnicodeError of a codec such as 'undefined'
            if cs == "utf-8":
                # UTF-8 with some damage (or undeclared latin-1): keep valid UTF-8, repair the rest
                return payload.decode("utf-8", errors="tamiz_cp1252"), "utf-8", _count_repaired(payload)
            continue
    raise UnicodeDecodeError("unknown", payload[:16], 0, 1, "no charset decodes the payload")


def _count_repaired(payload: bytes) -> int:
    n, pos = 0, 0
    while True:
        try:
            payload[pos:].decode("utf-8")
            return n
        except UnicodeDecodeError as e:
            n += e.end - e.start
            pos += e.end


# Python codecs a page may name but no browser decodes HTML with: they give lone surrogates (utf-7, the
# escape codecs, which the Parquet writer then refuses) or are not charsets at all. Non-text codecs
# (zlib, base64, rot13, ...) are refused by `_is_text_encoding` (bytes.decode raises LookupError on them).
_NOT_HTML_CHARSETS = ("utf-7", "unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode")


def _normalise_charset(name: str) -> str | None:
    name = name.strip().lower()
    if name in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        return "cp1252"  # what browsers do (WHATWG): these labels mean windows-1252
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_HTML_CHARSETS:
        return None
    return info.name
