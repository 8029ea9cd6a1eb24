"""Read HTML pages out of WARC files (gzip or not), robustly.

Only `response` and `resource` records with HTTP 200 (responses) and an HTML content type become
documents. Everything else is skipped and counted by reason; records that cannot be read are
quarantined with their byte offset, and the good records of the same file are still returned.
The document text is the decoded HTML; extraction is a later step.
"""

from __future__ import annotations

import codecs
import re
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import xxhash
from fastwarc.warc import ArchiveIterator, WarcRecordType

from tamiz.core import remote
from tamiz.pipeline.document import Document
from tamiz.pipeline.report import ReadReport

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
    it = iter(ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False))
    first = True
    while True:
        try:
            record = next(it)
        except StopIteration:
            if first:
                report.bad("file", "no WARC records found (not a WARC file?)", count_record=False)
            return
        except remote.RemoteError:
            raise
        except Exception as e:  # fastwarc raises OSError on a broken header or stream
            cause = next((x for x in _causes(e) if isinstance(x, remote.RemoteError)), None)
            if cause is not None:
                raise cause from e
            where = "file" if first else f"after offset {f.tell()}"
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
        if declared > max_payload_bytes + HEADER_BYTES:  # a small .warc.gz can hold a huge record: read its head only
            _too_large(record, rtype, offset, declared, max_payload_bytes + HEADER_BYTES, report)
            continue
        block = record.reader.read()
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
