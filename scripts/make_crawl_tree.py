#!/usr/bin/env python3
"""Build a Common Crawl-shaped tree (WARC, WET, path lists, columnar index) from real WARC files.

Tests and benchmarks serve this tree from 127.0.0.1 (HTTP or a local S3) in place of
``https://data.commoncrawl.org/`` and ``s3://commoncrawl/``, which these machines cannot reach.
Under ``dest`` it writes, for one crawl and one segment::

    crawl-data/<crawl>/segments/<segment>/warc/CC-MAIN-<start>-<end>-<NNNNN>.warc.gz
    crawl-data/<crawl>/segments/<segment>/wet/CC-MAIN-<start>-<end>-<NNNNN>.warc.wet.gz
    crawl-data/<crawl>/{warc,wet,segment,cc-index-table}.paths.gz
    cc-index/table/cc-main/warc/crawl=<crawl>/subset=warc/part-00000-<uuid>.c000.gz.parquet
    crawl-tree.json                      (what was written: sizes, sha256, row counts)

* WARC files are byte-identical copies of the inputs (or, with ``spanish_share``, the inputs less
  some whole captures, every kept gzip member byte-identical). Each input must hold one gzip
  member per record, as Common Crawl's do, because a byte range of the index must hold exactly
  one record; anything else is refused.
* WET files are made like Common Crawl's: a ``warcinfo`` record, then one ``conversion`` record
  per HTTP-200 HTML response holding the page's WHOLE visible text (navigation and boilerplate
  included: WET is not main-content extraction), each record its own gzip member.
* The index has one row per ``response`` record of every WARC, whatever its status or type
  (Common Crawl files 3xx/4xx captures under ``subset=crawldiagnostics``; here they share
  ``subset=warc`` so selection code must check ``fetch_status`` itself). Revisit records get no
  row. ``warc_record_offset``/``warc_record_length`` are the real byte range of the record's gzip
  member in the written WARC file.

Language labels (``content_languages`` and ``WARC-Identified-Content-Language``) must not come
from tamiz's own language ID, or "recall of the index selection against tamiz's language ID"
would be 100% by construction. Common Crawl runs CLD2; here the label is the page's DECLARED
language: the ``<html lang=...>`` attribute, else the language folder in the URL
(``/browse/es-ES/stable/...``, ``/debian-handbook/es-ES/...``), mapped to ISO-639-3. When both
are present and disagree, both are given, the attribute first (``spa,eng``). Like CLD2's, these
labels are imperfect: several debian-handbook "translations" are mostly English and even es-ES
has untranslated pages, so some ``spa`` rows are English text. Only HTTP-200 HTML responses get
labels (Common Crawl detects languages on successful HTML fetches only).

Deterministic: the same inputs give the same bytes (inputs sorted by name, names and record ids
derived from content, gzip mtime 0, no clock). ``url_host_registered_domain`` is the last two host
labels (no public suffix list): right for every host of the bundled sample.

Usage::

    python scripts/make_crawl_tree.py --out /tmp/cc                        # the bundled sample
    python scripts/make_crawl_tree.py --out /tmp/cc --spanish-share 0.05   # ~5% Spanish, like CC
    python scripts/make_crawl_tree.py --out /tmp/cc --crawl CC-MAIN-2024-10 a.warc.gz b.warc.gz
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import logging
import math
import re
import shutil
import sys
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUTS = ROOT / "data" / "sample" / "common_crawl"
DEFAULT_CRAWL = "CC-MAIN-2024-26"
DEFAULT_SEGMENT = "1718198861000.0"
HTML_TYPES = ("text/html", "application/xhtml+xml")
# uuid5 namespace for every id this script makes (record ids, the index part name)
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/tamiz/make_crawl_tree")

log = logging.getLogger("make_crawl_tree")

# ISO-639-1 (what lang attributes and URL folders use) -> ISO-639-3 (what Common Crawl's index uses)
ISO639_3 = {
    "ar": "ara", "bg": "bul", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell",
    "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin", "fr": "fra",
    "ga": "gle", "gl": "glg", "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun", "id": "ind", "is": "isl",
    "it": "ita", "ja": "jpn", "ko": "kor", "lt": "lit", "lv": "lav", "ms": "msa", "nb": "nob", "nl": "nld",
    "nn": "nno", "no": "nor", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk",
    "sl": "slv", "sq": "sqi", "sr": "srp", "sv": "swe", "th": "tha", "tr": "tur", "uk": "ukr", "vi": "vie",
    "zh": "zho",
}
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.IGNORECASE)
_LANG_ATTR = re.compile(r"""(?:^|\s)(?:xml:)?lang\s*=\s*["']?\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*""", re.IGNORECASE)
_URL_LANG = re.compile(r"^([a-z]{2})(?:[-_][A-Za-z]{2,4})?$")
_STAMP = re.compile(r"(?<!\d)(\d{14})(?!\d)")
_INDEX = re.compile(r"(?<!\d)(\d{5})\.warc(?:\.gz)?$")


# ---------------------------------------------------------------------------------------------
# Reading a per-record gzip WARC


@dataclass
class Record:
    """One WARC record: its gzip member's place in the input file and its parsed WARC part."""

    offset: int
    raw: bytes  # the gzip member, byte for byte
    headers: dict[str, str]  # WARC headers, lower-cased names
    block: bytes

    @property
    def type(self) -> str:
        return self.headers.get("warc-type", "")

    @property
    def id(self) -> str:
        return self.headers.get("warc-record-id", "")


def read_records(path: Path) -> list[Record]:
    """Every record of a WARC file that has one gzip member per record; ValueError for anything else."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        raise ValueError(f"{path}: not gzip: Common Crawl WARC files are gzip, one member per record")
    records, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(data[pos:])
        except zlib.error as e:
            raise ValueError(f"{path}: bad gzip member at byte {pos}: {e}") from None
        if not d.eof:
            raise ValueError(f"{path}: truncated gzip member at byte {pos}")
        end = len(data) - len(d.unused_data)
        records.append(_parse_member(path, pos, data[pos:end], out))
        pos = end
    return records


def _parse_member(path: Path, offset: int, raw: bytes, out: bytes) -> Record:
    head, sep, rest = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or not lines[0].startswith(b"WARC/"):
        raise ValueError(f"{path}: the gzip member at byte {offset} does not start with a WARC record")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("utf-8", "replace").partition(":")
        headers[name.strip().lower()] = value.strip()
    n = int(headers.get("content-length", "-1"))
    # exactly one record: header, block of Content-Length bytes, CRLF CRLF, and nothing more
    if n < 0 or len(rest) != n + 4 or rest[n:] != b"\r\n\r\n":
        raise ValueError(f"{path}: the gzip member at byte {offset} does not hold exactly one WARC record "
                         "(range requests need one gzip member per record)")
    return Record(offset, raw, headers, rest[:n])


# ---------------------------------------------------------------------------------------------
# One response: index row fields, language label, WET text


@dataclass
class Response:
    record: Record
    url: str
    status: int
    mime: str  # from the HTTP Content-Type, lower-cased, no parameters
    mime_detected: str
    charset: str | None = None
    languages: str | None = None
    text: str | None = None  # the WET text (HTTP-200 HTML only)
    redirect: str | None = None
    request_id: str = ""  # WARC-Concurrent-To: the request record of the same capture


def declared_languages(html: str, url: str) -> str | None:
    """ISO-639-3 labels from the page's <html lang> attribute, else its URL's language folder."""
    labels = []
    tag = _HTML_TAG.search(html[:65536])
    if tag:
        m = _LANG_ATTR.search(tag.group(0)[5:])
        if m and m.group(1).lower() in ISO639_3:
            labels.append(ISO639_3[m.group(1).lower()])
    for segment in urlsplit(url).path.split("/"):
        m = _URL_LANG.match(segment)
        if m and m.group(1) in ISO639_3:
            if ISO639_3[m.group(1)] not in labels:
                labels.append(ISO639_3[m.group(1)])
            break
    return ",".join(labels) or None


def whole_text(html: str) -> str:
    """All visible text, boilerplate included (Common Crawl's WET is not main-content extraction)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    try:
        return extract_plain_text(tree, main_content=False)
    finally:
        del tree  # resiliparse trees must be freed on the thread that made them


def _sniff(payload: bytes, fallback: str) -> str:
    head = payload[:1024].lstrip().lower()
    if head.startswith(b"\x89png"):
        return "image/png"
    if head.startswith(b"<?xml") and b"<html" in payload[:4096].lower():
        return "application/xhtml+xml"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return fallback


def _charset_name(codec: str) -> str:
    return {"utf-8": "UTF-8", "cp1252": "windows-1252"}.get(codec, codec.upper())


def analyse_response(record: Record) -> Response | None:
    """The index fields of a response record; None (logged) when its HTTP part cannot be parsed."""
    from tamiz.pipeline.warc import HttpError, decode_html, parse_http

    url = record.headers.get("warc-target-uri", "")
    try:
        status, http, payload = parse_http(record.block)
    except HttpError as e:
        log.warning("%s at byte %d: no index row (%s)", url, record.offset, e)
        return None
    ctype = http.get("content-type", "")
    mime = ctype.split(";")[0].strip().lower() or "unk"
    detected = record.headers.get("warc-identified-payload-type") or _sniff(payload, mime)
    r = Response(record, url, status, mime, detected, redirect=http.get("location"),
                 request_id=record.headers.get("warc-concurrent-to", ""))
    if status == 200 and (mime in HTML_TYPES or detected in HTML_TYPES):
        html, codec, _ = decode_html(payload, ctype)
        r.charset = _charset_name(codec)
        r.languages = declared_languages(html, url)
        r.text = whole_text(html)
    return r


# ---------------------------------------------------------------------------------------------
# Names, digests, records


def _stamp(date: str) -> str:
    return datetime.fromisoformat(date).astimezone(UTC).strftime("%Y%m%d%H%M%S")


def cc_stem(path: Path, position: int, records: list[Record]) -> str:
    """``CC-MAIN-<start>-<end>-<NNNNN>``: start from the name's 14 digits (else the first record's
    date), end from the last record's date, index from the name's 5 digits (else the position)."""
    dates = [r.headers["warc-date"] for r in records if "warc-date" in r.headers]
    if not dates:
        raise ValueError(f"{path}: no WARC-Date in any record")
    m = _STAMP.search(path.name)
    start = m.group(1) if m else _stamp(dates[0])
    end = max(start, _stamp(dates[-1]))
    m = _INDEX.search(path.name)
    return f"CC-MAIN-{start}-{end}-{int(m.group(1)) if m else position:05d}"


def block_digest(block: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode("ascii")


def record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(NAMESPACE, chr(31).join(parts))}>"


def warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC/1.0 record as its own gzip member (fixed header: mtime 0, no name)."""
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(block)}\r\n\r\n"
    return gzip.compress(head.encode("utf-8") + block + b"\r\n\r\n", compresslevel=9, mtime=0)


def wet_file(name: str, crawl: str, source_name: str, first_date: str, responses: list[Response]) -> bytes:
    info = (f"Software-Info: tamiz scripts/make_crawl_tree.py (resiliparse extract_plain_text, main_content=False)\r\n"
            f"Extracted-Date: {first_date}\r\n"
            f"isPartOf: {crawl}\r\n"
            f"publisher: tamiz (a Common Crawl-shaped test tree, NOT Common Crawl data)\r\n"
            f"description: Wet file holding plain text extracted from the WARC file {source_name}\r\n"
            f"language-labels: declared by the page (<html lang>, else URL language folder), not detected\r\n").encode()
    out = [warc_record([("WARC-Type", "warcinfo"), ("WARC-Date", first_date), ("WARC-Filename", name),
                        ("WARC-Record-ID", record_id("warcinfo", crawl, name)),
                        ("Content-Type", "application/warc-fields")], info)]
    for r in responses:
        block = r.text.encode("utf-8", "replace")
        headers = [("WARC-Type", "conversion"), ("WARC-Target-URI", r.url),
                   ("WARC-Date", r.record.headers.get("warc-date", first_date)),
                   ("WARC-Record-ID", record_id("conversion", r.record.id)),
                   ("WARC-Refers-To", r.record.id), ("WARC-Block-Digest", block_digest(block))]
        if r.languages:
            headers.append(("WARC-Identified-Content-Language", r.languages))
        out.append(warc_record(headers + [("Content-Type", "text/plain")], block))
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# The index


def surt_key(url: str) -> str:
    """Sort-friendly URL key as in Common Crawl's index: ``org,example)/path?a=1&b=2``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    key = ",".join(reversed(host.split(".")))
    if parts.port and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        key += f":{parts.port}"
    query = "&".join(sorted(parts.query.lower().split("&"))) if parts.query else ""
    return key + ")" + (parts.path.lower() or "/") + (f"?{query}" if query else "")


def index_row(r: Response, offset: int, warc_path: str, segment: str) -> dict:
    parts = urlsplit(r.url)
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    is_ip = all(x.isdigit() for x in labels)
    return {
        "url_surtkey": surt_key(r.url), "url": r.url, "url_host_name": host,
        "url_host_tld": None if is_ip else labels[-1],
        "url_host_registered_domain": host if is_ip else ".".join(labels[-2:]),
        "url_protocol": parts.scheme, "url_port": parts.port, "url_path": parts.path or "/",
        "url_query": parts.query or None,
        "fetch_time": datetime.fromisoformat(r.record.headers["warc-date"]),
        "fetch_status": r.status,
        "fetch_redirect": r.redirect if 300 <= r.status < 400 else None,
        "content_digest": r.record.headers.get("warc-payload-digest", "").removeprefix("sha1:") or None,
        "content_mime_type": r.mime, "content_mime_detected": r.mime_detected,
        "content_charset": r.charset, "content_languages": r.languages,
        "warc_filename": warc_path, "warc_record_offset": offset, "warc_record_length": len(r.record.raw),
        "warc_segment": segment,
    }


def index_schema():
    import pyarrow as pa

    s, i16, i32 = pa.string(), pa.int16(), pa.int32()
    return pa.schema([
        ("url_surtkey", s), ("url", s), ("url_host_name", s), ("url_host_tld", s),
        ("url_host_registered_domain", s), ("url_protocol", s), ("url_port", i32), ("url_path", s),
        ("url_query", s), ("fetch_time", pa.timestamp("us", tz="UTC")), ("fetch_status", i16),
        ("fetch_redirect", s), ("content_digest", s), ("content_mime_type", s), ("content_mime_detected", s),
        ("content_charset", s), ("content_languages", s), ("warc_filename", s), ("warc_record_offset", i32),
        ("warc_record_length", i32), ("warc_segment", s),
    ])


def write_index(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: (r["url_surtkey"], r["fetch_time"], r["warc_filename"], r["warc_record_offset"]))
    schema = index_schema()
    table = pa.Table.from_pydict({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)
    pq.write_table(table, path, compression="gzip")


# ---------------------------------------------------------------------------------------------
# Spanish share


def is_spanish(r: Response) -> bool:
    return bool(r.languages) and r.languages.startswith("spa")


def spanish_to_keep(per_file: list[list[Response]], share: float) -> list[int]:
    """How many Spanish responses each file keeps so that Spanish responses are ``share`` of all
    responses: the total split over files in proportion to their Spanish counts (largest remainder)."""
    spanish = [sum(map(is_spanish, rs)) for rs in per_file]
    others = sum(len(rs) for rs in per_file) - sum(spanish)
    total = min(sum(spanish), round(share * others / (1 - share)))
    if total == sum(spanish) and share * (others + total) > total:
        log.warning("spanish_share=%s: the inputs hold only %d Spanish of %d responses (%.3f); all are kept",
                    share, total, others + total, total / max(1, others + total))
    if not sum(spanish):
        return spanish
    quotas = [total * s / sum(spanish) for s in spanish]
    keep = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(keep)), key=lambda i: (-(quotas[i] - keep[i]), i))
    for i in by_remainder[: total - sum(keep)]:
        keep[i] += 1
    return keep


def captures_to_drop(responses: list[Response], keep: int, records: list[Record]) -> set[str]:
    """Record ids of the Spanish captures after the first ``keep``: response, its request, its metadata."""
    drop = set()
    for r in [r for r in responses if is_spanish(r)][keep:]:
        drop |= {r.record.id, r.request_id}
    drop |= {rec.id for rec in records if rec.type == "metadata" and rec.headers.get("warc-concurrent-to") in drop}
    drop.discard("")
    return drop


# ---------------------------------------------------------------------------------------------
# The tree


def _gz_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes(gzip.compress("".join(f"{x}\n" for x in lines).encode("utf-8"), compresslevel=9, mtime=0))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_crawl_tree(dest: Path, warcs: list[Path], crawl: str = DEFAULT_CRAWL, segment: str = DEFAULT_SEGMENT,
                     spanish_share: float | None = None) -> dict:
    """Write a Common Crawl-shaped tree of ``warcs`` under ``dest``; returns (and writes to
    ``dest/crawl-tree.json``) a summary: files with sizes and sha256, index and Spanish row counts.

    ``spanish_share``: None keeps every record (WARC files byte-identical to the inputs); a value in
    [0, 1) drops whole Spanish captures (response, request, metadata; the first ones of each file
    are kept) so that Spanish responses are about that share of all responses.
    """
    if not re.fullmatch(r"CC-MAIN-\d{4}-\d{2}", crawl):
        raise ValueError(f"crawl: {crawl!r} is not like CC-MAIN-2024-26")
    if not re.fullmatch(r"\d+\.\d+", segment):
        raise ValueError(f"segment: {segment!r} is not like 1718198861000.0")
    if spanish_share is not None and not (math.isfinite(spanish_share) and 0 <= spanish_share < 1):
        raise ValueError(f"spanish_share: {spanish_share!r} is not in [0, 1)")
    warcs = sorted((Path(w) for w in warcs), key=lambda p: p.name)
    if not warcs:
        raise ValueError("warcs: no input WARC files")
    if len({w.name for w in warcs}) != len(warcs):
        raise ValueError(f"warcs: two inputs share a file name: {[str(w) for w in warcs]}")

    dest = Path(dest)
    seg_dir = f"crawl-data/{crawl}/segments/{segment}"
    index_dir = f"cc-index/table/cc-main/warc/crawl={crawl}/subset=warc"
    for ours in (dest / "crawl-data" / crawl, dest / index_dir):  # only this crawl's folders: no stale files
        shutil.rmtree(ours, ignore_errors=True)
    for sub in ("warc", "wet"):
        (dest / seg_dir / sub).mkdir(parents=True, exist_ok=True)
    (dest / index_dir).mkdir(parents=True, exist_ok=True)

    # read and analyse every input
    inputs = []
    for position, path in enumerate(warcs):
        records = read_records(path)
        responses = [r for r in (analyse_response(rec) for rec in records if rec.type == "response") if r]
        inputs.append((path, records, responses, cc_stem(path, position, records)))
    if len({stem for *_, stem in inputs}) != len(inputs):
        raise ValueError(f"warcs: two inputs map to one Common Crawl name: {[s for *_, s in inputs]}")
    keep = (spanish_to_keep([rs for _, _, rs, _ in inputs], spanish_share) if spanish_share is not None
            else [len(rs) for _, _, rs, _ in inputs])

    rows, warc_paths, wet_paths, dropped, wet_records = [], [], [], 0, 0
    for (path, records, responses, stem), k in zip(inputs, keep):
        warc_rel, wet_rel = f"{seg_dir}/warc/{stem}.warc.gz", f"{seg_dir}/wet/{stem}.warc.wet.gz"
        drop = captures_to_drop(responses, k, records) if spanish_share is not None else set()
        offsets, pos = {}, 0
        if drop:
            with open(dest / warc_rel, "wb") as f:
                for rec in records:
                    if rec.id not in drop:
                        offsets[rec.id] = pos
                        f.write(rec.raw)
                        pos += len(rec.raw)
        else:
            shutil.copyfile(path, dest / warc_rel)
            offsets = {rec.id: rec.offset for rec in records}
        kept = [r for r in responses if r.record.id not in drop]
        dropped += len(responses) - len(kept)
        rows += [index_row(r, offsets[r.record.id], warc_rel, segment) for r in kept]
        first_date = next(rec.headers["warc-date"] for rec in records if "warc-date" in rec.headers)
        pages = [r for r in kept if r.text is not None]
        wet_records += len(pages)
        (dest / wet_rel).write_bytes(wet_file(Path(wet_rel).name, crawl, Path(warc_rel).name, first_date, pages))
        warc_paths.append(warc_rel)
        wet_paths.append(wet_rel)

    index_rel = f"{index_dir}/part-00000-{uuid.uuid5(NAMESPACE, crawl)}.c000.gz.parquet"
    write_index(dest / index_rel, rows)
    lists = {"warc.paths.gz": warc_paths, "wet.paths.gz": wet_paths, "segment.paths.gz": [seg_dir],
             "cc-index-table.paths.gz": [index_rel]}
    for name, lines in lists.items():
        _gz_lines(dest / "crawl-data" / crawl / name, lines)

    written = sorted(warc_paths + wet_paths + [index_rel] + [f"crawl-data/{crawl}/{n}" for n in lists])
    spanish = [r for r in rows if (r["content_languages"] or "").startswith("spa")]
    summary = {
        "crawl": crawl,
        "segment": segment,
        "inputs": [w.name for w in warcs],
        "files": [{"path": p, "bytes": (dest / p).stat().st_size, "sha256": _sha256(dest / p)} for p in written],
        "warc_paths": warc_paths,
        "wet_paths": wet_paths,
        "index_path": index_rel,
        "index_rows": len(rows),
        "wet_records": wet_records,
        "spanish_rows": len(spanish),  # content_languages starts with "spa"
        "spanish_rows_any": sum("spa" in (r["content_languages"] or "").split(",") for r in rows),
        "spanish_record_bytes": sum(r["warc_record_length"] for r in spanish),
        "warc_bytes": sum((dest / p).stat().st_size for p in warc_paths),
        "spanish_share": round(len(spanish) / max(1, len(rows)), 4),
        "spanish_share_requested": spanish_share,
        "dropped_spanish_responses": dropped,
    }
    (dest / "crawl-tree.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


# ---------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Build a Common Crawl-shaped tree (WARC, WET, *.paths.gz, columnar Parquet index) "
                    "from per-record-gzip WARC files, to serve from 127.0.0.1 in tests and benchmarks.",
        epilog="The same inputs always give the same bytes. See the module docstring for the layout.")
    p.add_argument("warcs", nargs="*", type=Path, metavar="WARC",
                   help=f"input WARC files, one gzip member per record (default: {DEFAULT_INPUTS.relative_to(ROOT)}/*.warc.gz)")
    p.add_argument("--out", required=True, type=Path, help="folder to write the tree into (this crawl's folders are replaced)")
    p.add_argument("--crawl", default=DEFAULT_CRAWL, help="crawl id, like CC-MAIN-2024-26 (default: %(default)s)")
    p.add_argument("--segment", default=DEFAULT_SEGMENT, help="segment name (default: %(default)s)")
    p.add_argument("--spanish-share", type=float, default=None, metavar="F",
                   help="drop Spanish captures until Spanish responses are about F of all (e.g. 0.05, "
                        "Common Crawl's share); default: keep every record, WARC files byte-identical")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    warcs = args.warcs or sorted(DEFAULT_INPUTS.glob("*.warc.gz"))
    s = build_crawl_tree(args.out, warcs, args.crawl, args.segment, args.spanish_share)
    print(f"{args.out}: {len(s['warc_paths'])} WARC + WET files, {s['index_rows']} index rows, "
          f"{s['spanish_rows']} Spanish ({s['spanish_share']:.1%}, {s['spanish_record_bytes']:,} bytes of "
          f"{s['warc_bytes']:,}); summary in crawl-tree.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
