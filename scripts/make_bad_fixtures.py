#!/usr/bin/env python3
"""Generate the small bad-input fixtures in ``tests/fixtures/`` (deterministically).

Readers of WARC and JSON-lines input must survive broken files. This script
writes one tiny file per kind of breakage, built from real public-domain text
(chapters of the Reina-Valera 1909 Bible taken from the bundled sample,
``data/sample/books/reina_valera_1909.jsonl.gz``):

=============================  ==========================================================
``bad_truncated.warc.gz``      valid per-record-gzipped WARC cut in the middle of record 3
``bad_not_warc.warc.gz``       a gzipped plain-text file (not a WARC at all)
``bad_empty.warc``             0 bytes
``bad_http_header.warc.gz``    response record whose HTTP header block is garbage
``bad_binary_payload.warc.gz`` response labelled text/html whose payload is random bytes
``bad_invalid_utf8.warc.gz``   page that declares UTF-8 but holds invalid UTF-8 bytes
``bad_lines.jsonl``            good lines mixed with a broken line, a JSON list, no "text"
=============================  ==========================================================

The WARC records are assembled by hand (not with warcio) so that exactly the
intended defect is present: Content-Length and the sha1 digests are correct for
every record unless the defect is about them. Each gzip member has mtime 0, so
the output is byte-identical on every run. The exact layout (record offsets,
truncation byte) is printed and described in ``tests/fixtures/NOTICE.md``.

Optionally (``--pywb-sdist``), also copy the real broken/odd WARC files shipped
in the pywb 2.10.0 source distribution (GPL-3.0, test fixtures only)::

    pip download --no-deps --no-binary :all: pywb==2.10.0 -d /tmp/pywb
    python scripts/make_bad_fixtures.py --pywb-sdist /tmp/pywb/pywb-2.10.0.tar.gz
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import io
import json
import random
import sys
import tarfile
import zlib
from pathlib import Path

SEED = "tamiz-bad-fixtures"
WARC_DATE = "2024-06-14T10:00:00Z"
HTTP_DATE = "Fri, 14 Jun 2024 10:00:00 GMT"
HOST = "fixtures.example.org"

#: pywb 2.10.0 sdist member -> fixture name.
PYWB_FILES = {
    "pywb-2.10.0/sample_archive/warcs/example-bad.warc.gz.bad": "bad_example.warc.gz",
    "pywb-2.10.0/sample_archive/warcs/missing-status-text.warc": "bad_missing_status_text.warc",
    "pywb-2.10.0/sample_archive/warcs/iana.warc.gz": "real_iana.warc.gz",
    "pywb-2.10.0/sample_archive/warcs/dupes.warc.gz": "real_dupes.warc.gz",
}


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def gzip_member(data: bytes) -> bytes:
    """One gzip member (header with mtime 0, no file name)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def record_id(name: str) -> str:
    digest = hashlib.sha1(f"{SEED}:{name}".encode()).hexdigest()
    return f"<urn:uuid:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}>"


def warc_record(
    rec_type: str,
    name: str,
    block: bytes,
    url: str | None = None,
    content_type: str = "application/http; msgtype=response",
    payload: bytes | None = None,
) -> bytes:
    """Uncompressed bytes of one WARC/1.0 record with correct length and digests."""
    headers = [("WARC-Type", rec_type), ("WARC-Record-ID", record_id(name)), ("WARC-Date", WARC_DATE)]
    if url:
        headers.append(("WARC-Target-URI", url))
    headers.append(("Content-Type", content_type))
    headers.append(("WARC-Block-Digest", sha1_b32(block)))
    if payload is not None:
        headers.append(("WARC-Payload-Digest", sha1_b32(payload)))
    headers.append(("Content-Length", str(len(block))))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def warcinfo(name: str, description: str) -> bytes:
    fields = (
        f"software: tamiz scripts/make_bad_fixtures.py\r\nformat: WARC File Format 1.0\r\n"
        f"description: {description}\r\n"
    ).encode("utf-8")
    return warc_record("warcinfo", name + ":warcinfo", fields, content_type="application/warc-fields")


def http_response(body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nServer: nginx\r\nDate: {HTTP_DATE}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def response(name: str, url: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    return warc_record("response", name, http_response(body, content_type), url=url, payload=body)


def chapter_page(doc: dict[str, str]) -> bytes:
    """A small real-looking Spanish HTML page for one Bible chapter."""
    verses = "\n".join(f"<p>{html.escape(v)}</p>" for v in doc["text"].split("\n"))
    page = (
        '<!DOCTYPE html>\n<html lang="es">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(doc['title'])} - Reina-Valera 1909</title></head>\n"
        f"<body>\n<h1>{html.escape(doc['title'])}</h1>\n{verses}\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


def url_for(doc: dict[str, str]) -> str:
    return f"https://{HOST}/rv1909/{doc['id'].split('-', 1)[1]}.html"


def write_members(path: Path, records: list[bytes]) -> list[tuple[int, int]]:
    """Write records as concatenated gzip members; return (offset, length) of each member."""
    spans, out, pos = [], io.BytesIO(), 0
    for rec in records:
        member = gzip_member(rec)
        out.write(member)
        spans.append((pos, len(member)))
        pos += len(member)
    path.write_bytes(out.getvalue())
    return spans


# --------------------------------------------------------------------------
# The fixtures
# --------------------------------------------------------------------------


def load_chapters(bible: Path, ids: list[str]) -> dict[str, dict[str, str]]:
    wanted = set(ids)
    found: dict[str, dict[str, str]] = {}
    with gzip.open(bible, "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["id"] in wanted:
                found[doc["id"]] = doc
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"chapters not found in {bible}: {sorted(missing)}")
    return found


def make_truncated(out: Path, ch: dict[str, dict[str, str]]) -> str:
    docs = [ch["rv1909-Ps.23"], ch["rv1909-John.3"], ch["rv1909-Ruth.1"]]
    records = [warcinfo("truncated", "records 1-2 complete, record 3 cut in half, no record 4")]
    records += [response(f"truncated:{d['id']}", url_for(d), chapter_page(d)) for d in docs]
    full = out / "bad_truncated.warc.gz"
    spans = write_members(full, records)
    off3, len3 = spans[2]
    cut = off3 + len3 // 2
    full.write_bytes(full.read_bytes()[:cut])
    return (
        f"`bad_truncated.warc.gz` ({cut} bytes): per-record gzip WARC. Record 1 warcinfo (gzip member at "
        f"byte {spans[0][0]}), record 2 response {url_for(docs[0])} (member at byte {spans[1][0]}, "
        f"{spans[1][1]} bytes) are complete; record 3 response {url_for(docs[1])} starts at byte {off3} "
        f"(its member was {len3} bytes) and the file ends at byte {cut}, in the middle of that gzip "
        f"member; record 4 ({url_for(docs[2])}) is absent. A reader should yield records 1 and 2, then "
        f"report a truncated/corrupt record 3 (not hang, not crash the run)."
    )


def make_not_warc(out: Path, ch: dict[str, dict[str, str]]) -> str:
    text = "Reina-Valera 1909, Génesis 1 (texto plano, no es un WARC)\n\n" + ch["rv1909-Gen.1"]["text"] + "\n"
    (out / "bad_not_warc.warc.gz").write_bytes(gzip_member(text.encode("utf-8")))
    return (
        "`bad_not_warc.warc.gz`: valid gzip whose content is a plain UTF-8 text file (Génesis 1), not a "
        'WARC. A reader should report "not a WARC file" and yield no records.'
    )


def make_empty(out: Path) -> str:
    (out / "bad_empty.warc").write_bytes(b"")
    return "`bad_empty.warc`: 0 bytes. A reader should yield no records without error (or a clear 'empty' error)."


def make_http_header(out: Path, ch: dict[str, dict[str, str]]) -> str:
    good1, good2 = ch["rv1909-Ps.1"], ch["rv1909-Matt.5"]
    body = chapter_page(ch["rv1909-Ps.121"])
    garbage_head = b"\x89\xfe\x00GARBAGE \x13\x37 no-es-http \xff\r\n\xde\xad\xbe\xef::\x00\x00\r\nContent-Type\r\n\r\n"
    block = garbage_head + body
    bad = warc_record("response", "httphdr:bad", block, url=f"https://{HOST}/rv1909/Ps.121.html", payload=body)
    records = [
        warcinfo("httphdr", "record 3 has a garbage HTTP header block"),
        response("httphdr:good1", url_for(good1), chapter_page(good1)),
        bad,
        response("httphdr:good2", url_for(good2), chapter_page(good2)),
    ]
    write_members(out / "bad_http_header.warc.gz", records)
    return (
        f"`bad_http_header.warc.gz`: 4 records: 1 warcinfo, 2 good response ({url_for(good1)}), "
        f"3 response https://{HOST}/rv1909/Ps.121.html whose HTTP header block is binary garbage "
        f"(no status line; WARC Content-Length and block digest are correct, and an HTML page follows the "
        f"garbage), 4 good response ({url_for(good2)}). A reader should skip or flag record 3 and still "
        f"yield records 2 and 4."
    )


def make_binary_payload(out: Path, ch: dict[str, dict[str, str]]) -> str:
    good1, good2 = ch["rv1909-Prov.3"], ch["rv1909-Luke.15"]
    noise = random.Random(f"{SEED}:binary").randbytes(3000)
    records = [
        warcinfo("binary", "record 3 is text/html with a random binary payload"),
        response("binary:good1", url_for(good1), chapter_page(good1)),
        response("binary:bad", f"https://{HOST}/rv1909/Prov.4.html", noise),
        response("binary:good2", url_for(good2), chapter_page(good2)),
    ]
    write_members(out / "bad_binary_payload.warc.gz", records)
    return (
        f"`bad_binary_payload.warc.gz`: 4 records: 1 warcinfo, 2 good response ({url_for(good1)}), "
        f"3 response https://{HOST}/rv1909/Prov.4.html served as `text/html; charset=utf-8` whose "
        f"3000-byte payload is random bytes (Python random.Random('{SEED}:binary').randbytes), "
        f"4 good response ({url_for(good2)}). A reader/extractor should drop record 3 (no text, or "
        f"text that fails quality filters) and keep 2 and 4."
    )


def make_invalid_utf8(out: Path, ch: dict[str, dict[str, str]]) -> str:
    good1, good2, bad_doc = ch["rv1909-Eccl.3"], ch["rv1909-1Cor.13"], ch["rv1909-Gen.2"]
    body = chapter_page(bad_doc)
    # Re-encode the 2nd and 4th verse as latin-1 (ñ/á become single high bytes) and add stray bytes.
    parts = body.split(b"<p>")
    for i in (2, 4):
        parts[i] = parts[i].decode("utf-8").encode("iso-8859-1", errors="xmlcharrefreplace")
    bad_body = b"<p>".join(parts).replace(b"</h1>", b"</h1>\n<p>\xff\xfe \xc3\x28 \xe2\x82 \xed\xa0\x80</p>", 1)
    records = [
        warcinfo("utf8", "record 3 declares utf-8 but has invalid utf-8 bytes"),
        response("utf8:good1", url_for(good1), chapter_page(good1)),
        response("utf8:bad", url_for(bad_doc), bad_body),
        response("utf8:good2", url_for(good2), chapter_page(good2)),
    ]
    write_members(out / "bad_invalid_utf8.warc.gz", records)
    return (
        f"`bad_invalid_utf8.warc.gz`: 4 records: 1 warcinfo, 2 good response ({url_for(good1)}), "
        f"3 response {url_for(bad_doc)} with `Content-Type: text/html; charset=utf-8` and "
        f'`<meta charset="utf-8">` whose body holds invalid UTF-8: a line of stray bytes '
        f"(FF FE, C3 28, truncated E2 82, surrogate ED A0 80) after the heading, and verses 2 and 4 "
        f"encoded as latin-1; 4 good response ({url_for(good2)}). A reader must not crash: decode with "
        f"errors='replace' (or detect latin-1) and keep records 2 and 4 intact."
    )


def make_lines(out: Path, ch: dict[str, dict[str, str]]) -> str:
    d1, d2, d3, d4 = (ch[k] for k in ("rv1909-Ps.23", "rv1909-John.3", "rv1909-Ruth.1", "rv1909-Ps.1"))
    lines = [
        json.dumps(d1, ensure_ascii=False),
        json.dumps(d2, ensure_ascii=False),
        json.dumps(d3, ensure_ascii=False)[:80],  # broken: cut in the middle of a string
        json.dumps([d4["id"], d4["text"]], ensure_ascii=False),  # a JSON list, not an object
        json.dumps(
            {"id": "rv1909-Ruth.1-no-text", "title": d3["title"], "content": d3["text"]}, ensure_ascii=False
        ),  # no "text" key
        json.dumps(d4, ensure_ascii=False),
    ]
    (out / "bad_lines.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return (
        '`bad_lines.jsonl`: 6 lines. Lines 1, 2 and 6 are good documents ({"id", "title", "text"}: '
        "rv1909-Ps.23, rv1909-John.3, rv1909-Ps.1); line 3 is broken JSON (an object cut after 80 "
        "characters); line 4 is valid JSON but a list, not an object; line 5 is an object without "
        '"text" (its text is under "content"). A reader should yield the 3 good documents and '
        "count/report 3 bad lines with their line numbers."
    )


def copy_pywb(sdist: Path, out: Path) -> list[str]:
    notes = []
    with tarfile.open(sdist, "r:gz") as tar:
        for member, name in PYWB_FILES.items():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            (out / name).write_bytes(data)
            notes.append(f"{name} <- {member.split('/', 1)[1]} ({len(data)} bytes)")
    return notes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write the bad-input test fixtures into tests/fixtures/.")
    parser.add_argument(
        "--bible",
        type=Path,
        default=Path("data/sample/books/reina_valera_1909.jsonl.gz"),
        help="Reina-Valera 1909 chapters (built by scripts/build_sample.py)",
    )
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures"), help="output folder")
    parser.add_argument(
        "--pywb-sdist", type=Path, default=None, help="pywb-2.10.0.tar.gz: also copy its real broken/odd WARC files"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ids = [
        "rv1909-Gen.1",
        "rv1909-Gen.2",
        "rv1909-Ruth.1",
        "rv1909-Ps.1",
        "rv1909-Ps.23",
        "rv1909-Ps.121",
        "rv1909-Prov.3",
        "rv1909-Eccl.3",
        "rv1909-Matt.5",
        "rv1909-Luke.15",
        "rv1909-John.3",
        "rv1909-1Cor.13",
    ]
    ch = load_chapters(args.bible, ids)
    descriptions = [
        make_truncated(out, ch),
        make_not_warc(out, ch),
        make_empty(out),
        make_http_header(out, ch),
        make_binary_payload(out, ch),
        make_invalid_utf8(out, ch),
        make_lines(out, ch),
    ]
    for line in descriptions:
        print("*", line)
    if args.pywb_sdist:
        for line in copy_pywb(args.pywb_sdist, out):
            print("*", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
