#!/usr/bin/env python3
"""Build the bundled sample corpus in ``data/sample/`` from real Debian packages.

The sample is small (a few MB) but real: every text in it comes from a Debian
package, so the pipeline, its tests and its benchmarks run on real Spanish (and
some non-Spanish) text instead of invented strings.

Inputs (Debian packages; pass ``--debs DIR`` with the ``.deb`` files, otherwise
they are fetched with ``apt-get download`` into a temporary folder):

* ``debian-handbook``     HTML pages in 26 language folders -> Common Crawl-shaped
                          WARC files in ``common_crawl/`` (plus ``INJECTED.json``,
                          a manifest of every record and of every injected oddity:
                          duplicates, near duplicates, latin-1 pages, redirects...).
* ``sword-text-sparv``    Reina-Valera 1909 Bible (SWORD zText module) ->
                          ``books/reina_valera_1909.jsonl.gz``, one document per chapter.
* ``debian-reference-es`` Debian Reference in Spanish (plain text) ->
                          ``reference/debian_reference_es.jsonl``, one document per section.
* ``fortunes-es``         Spanish fortunes -> ``reference/fortunes_es.jsonl``, one per fortune.
* ``fortunes-es-off``     the fortunes tagged offensive (ROT13 in the package, decoded
                          here) -> ``offensive/fortunes_es_off.jsonl``, kept OUT of the
                          default folders on purpose (for testing content filters only).

The output is deterministic: the same inputs give the same bytes on every run
(fixed seeds, fixed dates, sorted inputs, record ids derived from content,
gzip with mtime=0). Check with::

    python scripts/build_sample.py --debs /tmp/debs --out /tmp/a
    python scripts/build_sample.py --debs /tmp/debs --out /tmp/b
    diff -r /tmp/a /tmp/b

Usage::

    python scripts/build_sample.py                  # apt-get download, write data/sample
    python scripts/build_sample.py --debs /tmp/debs --out data/sample
"""

from __future__ import annotations

import argparse
import base64
import codecs
import gzip
import hashlib
import html
import io
import json
import random
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# --------------------------------------------------------------------------
# Fixed parameters (change them and the sample changes).
# --------------------------------------------------------------------------

#: Debian packages used, with the versions the committed sample was built from.
PACKAGES: dict[str, str] = {
    "debian-handbook": "11.20220922",
    "debian-reference-es": "2.100",
    "fortunes-es": "1.36",
    "fortunes-es-off": "1.36",
    "sword-text-sparv": "2.60-1",
}

SEED = "tamiz-sample-2024"
N_SHARDS = 4
#: Pages taken from each non-es-ES language folder of debian-handbook.
PAGES_PER_OTHER_LANG = 6
#: First capture time of the simulated crawl.
CRAWL_START = datetime(2024, 6, 13, 9, 15, 2, tzinfo=timezone.utc)
#: The handbook files in the package are dated 2022-09-22.
HANDBOOK_LAST_MODIFIED = datetime(2022, 9, 22, 14, 3, 11, tzinfo=timezone.utc)
MIN_FORTUNE_CHARS = 20

HANDBOOK_HTML = "usr/share/doc/debian-handbook/html"
SWORD_MODULE = "usr/share/sword/modules/texts/ztext/spaRV1909eb"
DEBREF_TXT = "usr/share/debian-reference/debian-reference.es.txt.gz"
FORTUNES_DIR = "usr/share/games/fortunes/es"
FORTUNES_OFF_DIR = "usr/share/games/fortunes/off/es/off"

MAIN_HOST = "debian-handbook.info"
MIRROR_HOSTS = ["mirror.example.org", "libros.example.com", "www.example.net", "docs.example.org"]
USER_AGENT = "Mozilla/5.0 (compatible; tamiz-sample-crawler/0.1; +https://example.org/tamiz-bot)"

# es-ES pages given special treatment in the WARCs (chosen by hand: text-rich
# pages with accents and ñ; see INJECTED.json for the resulting records).
LATIN1_PAGES = ["sect.rights-management.html", "sect.user-group-databases.html"]
META_CHARSET_ONLY_PAGES = ["sect.why-debian.html"]
NEAR_DUP_ORIGINALS = [
    "sect.acknowledgments.html",
    "sect.kernel-role-and-tasks.html",
    "sect.building-first-package.html",
]
EXACT_DUP_ES_PAGES = ["case-study.html", "sect.nfs-file-server.html"]
REVISIT_ES_PAGES = ["index.html", "apt.html", "sect.apt-get.html"]
CSS_ASSET = "Common_Content/css/common.css"
PNG_ASSET = "images/package.png"


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def rng(purpose: str) -> random.Random:
    """A random generator seeded from SEED and ``purpose`` (stable across runs)."""
    return random.Random(f"{SEED}:{purpose}")


def stable_uuid(*parts: object) -> str:
    """A WARC record id derived from ``parts`` (uuid5), e.g. ``<urn:uuid:...>``."""
    name = "\x1f".join(str(p) for p in parts)
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'tamiz-sample:' + name)}>"


def warc_date(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def write_bytes_gz(path: Path, data: bytes) -> None:
    """Write ``data`` gzip-compressed with a fixed header (no name, mtime 0)."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(data)


def jsonl_bytes(docs: Iterable[dict[str, str]]) -> bytes:
    lines = [json.dumps(d, ensure_ascii=False) for d in docs]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_jsonl(path: Path, docs: list[dict[str, str]]) -> None:
    """Write documents as JSON lines; gzip (mtime 0) if the name ends in ``.gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = jsonl_bytes(docs)
    if path.suffix == ".gz":
        write_bytes_gz(path, data)
    else:
        path.write_bytes(data)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# Debian packages: find or download, read version, extract
# --------------------------------------------------------------------------


def read_ar(path: Path) -> dict[str, bytes]:
    """Members of a Debian ``.deb`` (an ``ar`` archive) by name."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ValueError(f"{path} is not an ar archive")
    members: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)
    return members


def open_member_tar(blob: bytes, name: str) -> tarfile.TarFile:
    if name.endswith(".zst"):
        # Python's tarfile cannot read zstd before 3.14: use the zstd tool.
        blob = subprocess.run(["zstd", "-dc"], input=blob, capture_output=True, check=True).stdout
        return tarfile.open(fileobj=io.BytesIO(blob), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")


def deb_control(path: Path) -> dict[str, str]:
    """Fields of a ``.deb``'s ``control`` file (Package, Version, ...)."""
    members = read_ar(path)
    name = next(n for n in members if n.startswith("control.tar"))
    with open_member_tar(members[name], name) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("./") == "control")
        text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def extract_deb(path: Path, dest: Path) -> None:
    """Extract a ``.deb``'s files under ``dest`` (dpkg-deb if present, else Python)."""
    dest.mkdir(parents=True, exist_ok=True)
    if shutil.which("dpkg-deb"):
        subprocess.run(["dpkg-deb", "-x", str(path), str(dest)], check=True)
        return
    members = read_ar(path)
    name = next(n for n in members if n.startswith("data.tar"))
    with open_member_tar(members[name], name) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - old Pythons
            tar.extractall(dest)


def find_or_download_debs(debs_dir: Path | None, tmp: Path) -> dict[str, Path]:
    """Map package name -> ``.deb`` path, downloading missing ones with apt-get."""
    if debs_dir is None:
        debs_dir = tmp / "debs"
        debs_dir.mkdir()
        for pkg, version in PACKAGES.items():
            print(f"apt-get download {pkg}={version}", file=sys.stderr)
            res = subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=debs_dir)
            if res.returncode != 0:
                print(f"  {pkg}={version} not available; taking the candidate version", file=sys.stderr)
                subprocess.run(["apt-get", "download", pkg], cwd=debs_dir, check=True)
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        candidates = sorted(debs_dir.glob(f"{pkg}_*.deb"))
        if not candidates:
            raise SystemExit(f"no {pkg}_*.deb in {debs_dir}")
        found[pkg] = candidates[-1]
    return found


# --------------------------------------------------------------------------
# Reina-Valera 1909 (SWORD zText)
# --------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_BOOK_START = re.compile(r'<div[^>]*\bosisID="([^"]+)"[^>]*\bsID="[^"]*"[^>]*type="book"')
_BOOK_TITLE = re.compile(r'<title[^>]*type="main"[^>]*>(.*?)</title>', re.S)
_BOOK_NAME = re.compile(r'<milestone[^>]*\bn="([^"]+)"[^>]*type="x-usfm-h"')
_CHAPTER_START = re.compile(r'<chapter\b(?=[^>]*\bsID=)[^>]*\bosisID="([^".]+)\.(\d+)"[^>]*>')


def read_ztext_entries(module_dir: Path, testament: str) -> list[str]:
    """All index entries (module/testament/book/chapter headings and verses) of a testament.

    SWORD zText layout: ``.bzs`` holds ``<III`` = (offset, compressed size,
    uncompressed size) per block into ``.bzz`` (each block zlib-compressed);
    ``.bzv`` holds ``<IIH`` = (block, offset in the uncompressed block, size) per
    entry, in versification order (KJV here).
    """
    bzs = (module_dir / f"{testament}.bzs").read_bytes()
    bzv = (module_dir / f"{testament}.bzv").read_bytes()
    bzz = (module_dir / f"{testament}.bzz").read_bytes()
    blocks: list[bytes] = []
    for off, size, usize in struct.iter_unpack("<III", bzs):
        data = zlib.decompress(bzz[off : off + size]) if size else b""
        if len(data) != usize:
            raise ValueError(f"{testament}: block at {off} unpacks to {len(data)}, index says {usize}")
        blocks.append(data)
    entries = []
    for block, off, size in struct.iter_unpack("<IIH", bzv):
        entries.append(blocks[block][off : off + size].decode("utf-8") if size else "")
    return entries


def osis_to_text(markup: str) -> str:
    """Plain text of an OSIS fragment: drop titles, keep the words of ``<w>`` etc."""
    markup = _BOOK_TITLE.sub(" ", markup)
    text = html.unescape(_TAG.sub("", markup))
    return re.sub(r"\s+", " ", text).strip()


def build_bible(module_dir: Path) -> list[dict[str, str]]:
    """One document per book chapter of the Reina-Valera 1909, verses one per line."""
    docs: list[dict[str, str]] = []
    book_titles: dict[str, str] = {}
    current: tuple[str, int] | None = None
    verses: list[str] = []

    def flush() -> None:
        if current is not None and verses:
            book, chap = current
            docs.append(
                {"id": f"rv1909-{book}.{chap}", "title": f"{book_titles[book]} {chap}", "text": "\n".join(verses)}
            )

    for testament in ("ot", "nt"):
        for entry in read_ztext_entries(module_dir, testament):
            m = _BOOK_START.search(entry)
            if m:
                # The running-header name ("1 Crónicas"); the module's main title for
                # 1 Chronicles is just "Crónicas", so it is only the fallback.
                h, t = _BOOK_NAME.search(entry), _BOOK_TITLE.search(entry)
                book_titles[m.group(1)] = h.group(1) if h else osis_to_text(t.group(1)) if t else m.group(1)
            c = _CHAPTER_START.search(entry)
            if c:
                before = osis_to_text(entry[: c.start()])
                if before:  # text before a chapter marker belongs to the old chapter
                    verses.append(before)
                flush()
                current, verses = (c.group(1), int(c.group(2))), []
                entry = entry[c.end() :]
            if m and not c:
                continue  # book heading: title only
            text = osis_to_text(entry)
            if text and current is not None:
                verses.append(text)
    flush()
    return docs


# --------------------------------------------------------------------------
# Debian Reference (Spanish), plain text -> sections
# --------------------------------------------------------------------------


def _clean_block(lines: list[str]) -> str:
    """Join a section's lines: body text is indented 4 spaces in the package's
    rendering (headings are not), so drop those 4; keep the hard line wrapping.
    About 2,300 lines of the package's text are indented with no-break spaces
    (U+00A0) instead of spaces: those leading ones become spaces first."""
    lines = [re.sub(r"^[ \u00a0]+", lambda m: " " * len(m.group(0)), line.rstrip()) for line in lines]
    text = "\n".join(line[4:] if line.startswith("    ") else line for line in lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def build_debian_reference(txt: str) -> list[dict[str, str]]:
    """Split the Debian Reference into documents: one per ``N.M.`` section,
    plus one per chapter introduction and per preface section."""
    lines = txt.splitlines()
    # The body starts at the second "Prefacio" (the first is in the table of contents).
    starts = [i for i, line in enumerate(lines) if line == "Prefacio"]
    if len(starts) < 2:
        raise ValueError("unexpected debian-reference text layout")
    body = lines[starts[1] :]

    chapter_re = re.compile(r"^(Capítulo (\d+)|Apéndice ([A-Z]))\. (.+)$")
    docs: list[dict[str, str]] = []
    chapter_key = "pr"  # "pr", "1".."12", "A"
    title = "Prefacio"
    sec_id = "pr"
    buf: list[str] = []

    def flush() -> None:
        text = _clean_block(buf)
        if text:
            docs.append({"id": f"debian-reference-es-{sec_id}", "title": title, "text": text})

    i = 0
    # Skip the preface's own table of contents.
    while i < len(body) and body[i] != "Tabla de contenidos":
        i += 1
    i += 1
    while i < len(body) and (not body[i].strip() or re.match(r"^\s*\d+(\.\d+)*\. ", body[i])):
        i += 1
    while i < len(body):
        line = body[i]
        cm = chapter_re.match(line)
        if chapter_key == "pr":
            sm = re.match(r"^(\d+)\. \S", line)
        else:
            sm = re.match(rf"^({re.escape(chapter_key)}\.\d+)\. \S", line)
        if cm:
            flush()
            chapter_key = cm.group(2) or cm.group(3)
            title, sec_id, buf = line, f"ch{chapter_key}" if cm.group(2) else f"ap{chapter_key}", []
        elif sm:
            flush()
            heading = line
            # A heading may wrap onto a second unindented line.
            if i + 1 < len(body) and body[i + 1].strip() and not body[i + 1].startswith(" "):
                i += 1
                heading += " " + body[i].strip()
            num = sm.group(1)
            title, sec_id, buf = heading, (f"pr{num}" if chapter_key == "pr" else num), []
        else:
            buf.append(line)
        i += 1
    flush()
    return docs


# --------------------------------------------------------------------------
# Fortunes
# --------------------------------------------------------------------------


def split_fortunes(text: str) -> list[str]:
    """Entries of a fortune file (separated by lines that are just ``%``)."""
    entries, cur = [], []
    for line in text.splitlines():
        if line.rstrip() == "%":
            entries.append("\n".join(cur).strip("\n"))
            cur = []
        else:
            cur.append(line.rstrip())
    entries.append("\n".join(cur).strip("\n"))
    return entries


def build_fortunes(folder: Path, prefix: str, rot13: bool = False) -> tuple[list[dict[str, str]], int]:
    """Documents for every fortune of ``folder/*.fortunes`` with >= MIN_FORTUNE_CHARS characters.

    Returns the documents and the number of entries dropped as too short.
    """
    docs: list[dict[str, str]] = []
    dropped = 0
    for path in sorted(folder.glob("*.fortunes")):
        category = path.name[: -len(".fortunes")]
        text = path.read_text(encoding="utf-8")
        for n, entry in enumerate(split_fortunes(text), start=1):
            if rot13:
                entry = codecs.decode(entry, "rot13")
            if not entry.strip():
                continue
            if len(entry.strip()) < MIN_FORTUNE_CHARS:
                dropped += 1
                continue
            docs.append({"id": f"{prefix}/{category}/{n:04d}", "title": category, "text": entry})
    return docs, dropped


# --------------------------------------------------------------------------
# Common Crawl-shaped WARCs from debian-handbook
# --------------------------------------------------------------------------


@dataclass
class Capture:
    """One fetch of one URL (becomes request + response/revisit [+ metadata] records)."""

    url: str
    kind: str  # page, exact_dup, near_dup, latin1, meta_charset_only, redirect, not_found, error, css, png, revisit
    status: str = "200 OK"
    content_type: str | None = "text/html; charset=utf-8"
    body: bytes = b""
    lang_folder: str | None = None
    page: str | None = None
    server: str = "nginx"
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    identified_type: str | None = None
    refers_to: Capture | None = None
    note: str = ""
    # Filled in when the crawl is laid out:
    date: datetime = CRAWL_START
    shard: int = -1
    response_id: str = ""
    payload_digest: str = ""
    with_metadata: bool = False


def handbook_url(lang: str, page: str, host: str = MAIN_HOST, scheme: str = "https") -> str:
    if host == MAIN_HOST:
        return f"{scheme}://{host}/browse/{lang}/stable/{page}"
    return f"{scheme}://{host}/debian-handbook/{lang}/{page}"


def payload_sha1(body: bytes) -> str:
    """WARC-style payload digest: ``sha1:`` + base32 of the SHA-1."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def strip_html_words(body: str) -> list[str]:
    """Rough visible words of an HTML page (for the informational similarity figures)."""
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return text.split()


def jaccard_word5(a: str, b: str) -> float:
    wa, wb = strip_html_words(a), strip_html_words(b)
    sa = {tuple(wa[i : i + 5]) for i in range(max(0, len(wa) - 4))}
    sb = {tuple(wb[i : i + 5]) for i in range(max(0, len(wb) - 4))}
    return round(len(sa & sb) / max(1, len(sa | sb)), 4)


def to_latin1_page(html_text: str) -> bytes:
    """Re-encode a UTF-8 handbook page as ISO-8859-1 (declarations updated;
    characters outside latin-1 become numeric character references)."""
    html_text = html_text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1)
    html_text = html_text.replace("charset=UTF-8", "charset=ISO-8859-1", 1)
    return html_text.encode("iso-8859-1", errors="xmlcharrefreplace")


def to_meta_charset_page(html_text: str) -> bytes:
    """Drop the XML declaration and use a bare ``<meta charset>`` as the only encoding hint."""
    html_text = re.sub(r"^<\?xml[^>]*\?>\s*", "", html_text)
    html_text = html_text.replace(
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />', '<meta charset="utf-8" />', 1
    )
    return html_text.encode("utf-8")


def near_dup_variant(html_text: str, variant: int) -> tuple[str, list[str]]:
    """A lightly edited copy of a page, as a mirror would serve it. Returns (html, edits)."""
    edits: list[str] = []
    if variant in (0, 1):
        date = "3 de marzo de 2024" if variant == 0 else "17 de mayo de 2024"
        footer = (
            "Espejo mantenido por voluntarios. Contacto: espejo@example.org"
            if variant == 0
            else "Alojado por Example Hosting. Todos los derechos de los autores reservados."
        )
        banner = (
            '<div class="mirror-banner"><p>Esta es una copia espejo del Manual del Administrador de Debian. '
            f"Última sincronización: {date}.</p></div>"
        )
        html_text = html_text.replace("<body>", "<body>" + banner, 1)
        html_text = html_text.replace("</body>", f'<div class="mirror-footer"><p>{footer}</p></div></body>', 1)
        edits += [f"added mirror banner (sync date {date})", "added mirror footer"]
    elif variant == 2:
        html_text = re.sub(
            r'<div id="banner">.*?</div>',
            '<div id="header"><a href="/">Documentación Debian en español</a></div>'
            '<p class="updated">Actualizado el 12 de abril de 2024</p>',
            html_text,
            count=1,
            flags=re.S,
        )
        html_text = html_text.replace("<strong>Anterior</strong>", "<strong>« Anterior</strong>")
        html_text = html_text.replace("<strong>Siguiente</strong>", "<strong>Siguiente »</strong>")
        html_text = html_text.replace(
            "</body>",
            '<div class="cookies">Este sitio utiliza cookies propias para mejorar la navegación. '
            "Al continuar, acepta su uso.</div></body>",
            1,
        )
        edits += [
            "replaced site banner with a different header",
            "added date line 'Actualizado el 12 de abril de 2024'",
            "navigation labels '« Anterior' / 'Siguiente »'",
            "added cookie notice",
        ]
    else:
        html_text = re.sub(
            r'<div id="banner">.*?</div>',
            '<div id="header"><a href="/">Manuales libres</a> | <a href="/debian/">Debian</a></div>',
            html_text,
            count=1,
            flags=re.S,
        )
        html_text = html_text.replace("</body>", '<p class="updated">Última revisión: 2024-02-29</p></body>', 1)
        edits += ["replaced site banner with a different header", "added date line 'Última revisión: 2024-02-29'"]
    return html_text, edits


ERROR_PAGE_TEMPLATE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

APACHE_404_ES = """<!DOCTYPE html>
<html lang="es">
<head><meta charset="utf-8"><title>Página no encontrada</title></head>
<body>
<h1>Página no encontrada</h1>
<p>La página que busca no existe o ha sido movida. Puede volver a la
<a href="/debian-handbook/">portada del manual</a> o usar el buscador.</p>
<hr><address>Apache/2.4.59 (Debian) Server at mirror.example.org Port 443</address>
</body>
</html>
"""


def collect_captures(html_root: Path) -> tuple[list[Capture], dict[str, list[str]]]:
    """All captures of the simulated crawl (before ordering), and the pages taken per folder."""
    langs = sorted(p.name for p in html_root.iterdir() if p.is_dir())
    chosen: dict[str, list[str]] = {}
    for lang in langs:
        pages = sorted(p.name for p in (html_root / lang).glob("*.html"))
        if lang == "es-ES":
            chosen[lang] = pages
        else:
            chosen[lang] = sorted(rng(f"pages:{lang}").sample(pages, PAGES_PER_OTHER_LANG))

    def read(lang: str, page: str) -> str:
        return (html_root / lang / page).read_text(encoding="utf-8")

    mirror_rng = rng("mirror-hosting")
    caps: list[Capture] = []
    by_url: dict[str, Capture] = {}

    def add(cap: Capture) -> Capture:
        if cap.kind != "revisit":
            assert cap.url not in by_url, cap.url
            by_url[cap.url] = cap
        caps.append(cap)
        return cap

    def page_headers(body: bytes, host: str) -> list[tuple[str, str]]:
        if host == MAIN_HOST:
            etag = f'"{int(HANDBOOK_LAST_MODIFIED.timestamp()):x}-{len(body):x}"'
            return [("Last-Modified", http_date(HANDBOOK_LAST_MODIFIED)), ("ETag", etag), ("Accept-Ranges", "bytes")]
        return [
            ("Last-Modified", http_date(datetime(2024, 3, 3, 4, 12, 40, tzinfo=timezone.utc))),
            ("Vary", "Accept-Encoding"),
            ("Accept-Ranges", "bytes"),
        ]

    def server_for(host: str) -> str:
        return "nginx" if host == MAIN_HOST else "Apache/2.4.59 (Debian)"

    special = set(LATIN1_PAGES) | set(META_CHARSET_ONLY_PAGES)
    for lang in langs:
        for page in chosen[lang]:
            host = MAIN_HOST
            if lang != "es-ES" and mirror_rng.random() < 0.1:
                host = MIRROR_HOSTS[mirror_rng.randrange(len(MIRROR_HOSTS))]
            text = read(lang, page)
            kind, ctype = "page", "text/html; charset=utf-8"
            if lang == "es-ES" and page in LATIN1_PAGES:
                body, kind, ctype = to_latin1_page(text), "latin1", "text/html; charset=iso-8859-1"
            elif lang == "es-ES" and page in META_CHARSET_ONLY_PAGES:
                body, kind, ctype = to_meta_charset_page(text), "meta_charset_only", "text/html"
            else:
                body = text.encode("utf-8")
            add(
                Capture(
                    url=handbook_url(lang, page, host),
                    kind=kind,
                    content_type=ctype,
                    body=body,
                    lang_folder=lang,
                    page=page,
                    server=server_for(host),
                    extra_headers=page_headers(body, host),
                    identified_type="application/xhtml+xml" if body.startswith(b"<?xml") else "text/html",
                )
            )
    assert not special - set(chosen["es-ES"])

    # Exact duplicates: identical payload bytes at other URLs.
    fr_page = chosen["fr-FR"][0]
    dup_plan = [
        ("es-ES", EXACT_DUP_ES_PAGES[0], handbook_url("es-ES", EXACT_DUP_ES_PAGES[0], MIRROR_HOSTS[0])),
        (
            "es-ES",
            EXACT_DUP_ES_PAGES[0],
            handbook_url("es-ES", EXACT_DUP_ES_PAGES[0]) + "?utm_source=twitter&utm_medium=social",
        ),
        ("es-ES", EXACT_DUP_ES_PAGES[1], handbook_url("es-ES", EXACT_DUP_ES_PAGES[1], scheme="http")),
        ("fr-FR", fr_page, handbook_url("fr-FR", fr_page, MIRROR_HOSTS[0])),
    ]
    for lang, page, url in dup_plan:
        orig = by_url[handbook_url(lang, page)]
        host = urlsplit(url).hostname or MAIN_HOST
        add(
            Capture(
                url=url,
                kind="exact_dup",
                content_type=orig.content_type,
                body=orig.body,
                lang_folder=lang,
                page=page,
                server=server_for(host),
                extra_headers=page_headers(orig.body, host),
                identified_type=orig.identified_type,
                refers_to=orig,
            )
        )

    # Near duplicates: small edits, on mirror hosts.
    nd_plan = [
        (NEAR_DUP_ORIGINALS[0], 0, MIRROR_HOSTS[0]),
        (NEAR_DUP_ORIGINALS[0], 1, MIRROR_HOSTS[1]),
        (NEAR_DUP_ORIGINALS[1], 2, MIRROR_HOSTS[2]),
        (NEAR_DUP_ORIGINALS[2], 3, MIRROR_HOSTS[3]),
    ]
    for page, variant, host in nd_plan:
        orig = by_url[handbook_url("es-ES", page)]
        new_html, edits = near_dup_variant(orig.body.decode("utf-8"), variant)
        body = new_html.encode("utf-8")
        add(
            Capture(
                url=handbook_url("es-ES", page, host),
                kind="near_dup",
                body=body,
                lang_folder="es-ES",
                page=page,
                server=server_for(host),
                extra_headers=page_headers(body, host),
                identified_type=orig.identified_type,
                refers_to=orig,
                note="; ".join(edits),
            )
        )

    # Redirects and errors.
    def small(
        url: str,
        kind: str,
        status: str,
        body: bytes,
        ctype: str,
        extra: list[tuple[str, str]],
        server: str = "nginx",
        note: str = "",
    ) -> None:
        add(
            Capture(
                url=url,
                kind=kind,
                status=status,
                content_type=ctype,
                body=body,
                server=server,
                extra_headers=extra,
                identified_type="text/html",
                note=note,
            )
        )

    for url, target in [
        (f"http://{MAIN_HOST}/browse/es-ES/stable/", f"https://{MAIN_HOST}/browse/es-ES/stable/"),
        (f"https://{MAIN_HOST}/browse/es-ES/stable/", f"https://{MAIN_HOST}/browse/es-ES/stable/index.html"),
    ]:
        body = ERROR_PAGE_TEMPLATE.format(code=301, reason="Moved Permanently").encode()
        small(url, "redirect", "301 Moved Permanently", body, "text/html", [("Location", target)])
    body = ERROR_PAGE_TEMPLATE.format(code=302, reason="Found").encode()
    small(
        f"https://{MAIN_HOST}/get/",
        "redirect",
        "302 Found",
        body,
        "text/html",
        [("Location", f"https://{MAIN_HOST}/get/now/")],
    )
    body = ERROR_PAGE_TEMPLATE.format(code=404, reason="Not Found").encode()
    small(
        f"https://{MAIN_HOST}/browse/es-ES/stable/sect.squeeze-upgrade.html",
        "not_found",
        "404 Not Found",
        body,
        "text/html",
        [],
    )
    body = APACHE_404_ES.encode("utf-8")
    small(
        f"https://{MIRROR_HOSTS[0]}/debian-handbook/es-ES/sect.lenny.html",
        "not_found",
        "404 Not Found",
        body,
        "text/html; charset=utf-8",
        [],
        server="Apache/2.4.59 (Debian)",
        note="Spanish 404 page: real status, Spanish boilerplate text",
    )
    body = ERROR_PAGE_TEMPLATE.format(code=503, reason="Service Temporarily Unavailable").encode()
    small(
        f"https://{MIRROR_HOSTS[2]}/debian-handbook/de-DE/index.html",
        "error",
        "503 Service Temporarily Unavailable",
        body,
        "text/html",
        [("Retry-After", "120")],
    )

    # Non-HTML payloads.
    for asset, kind, ctype in [(CSS_ASSET, "css", "text/css"), (PNG_ASSET, "png", "image/png")]:
        body = (html_root / "es-ES" / asset).read_bytes()
        add(
            Capture(
                url=handbook_url("es-ES", asset),
                kind=kind,
                content_type=ctype,
                body=body,
                lang_folder="es-ES",
                page=asset,
                extra_headers=page_headers(body, MAIN_HOST),
                identified_type=ctype,
            )
        )

    # Revisits: later fetches of the same URL with an identical payload.
    revisit_targets = [handbook_url("es-ES", p) for p in REVISIT_ES_PAGES]
    revisit_targets.append(handbook_url("de-DE", chosen["de-DE"][0]))
    for url in revisit_targets:
        orig = by_url[url]
        add(
            Capture(
                url=url,
                kind="revisit",
                content_type=orig.content_type,
                lang_folder=orig.lang_folder,
                page=orig.page,
                server=orig.server,
                extra_headers=orig.extra_headers,
                identified_type=orig.identified_type,
                refers_to=orig,
            )
        )
    return caps, chosen


def lay_out_crawl(caps: list[Capture]) -> list[list[Capture]]:
    """Order captures (shuffled; each revisit after its original), date them, split into shards."""
    base = [c for c in caps if c.kind != "revisit"]
    revisits = [c for c in caps if c.kind == "revisit"]
    order_rng = rng("order")
    order_rng.shuffle(base)
    for rv in revisits:
        pos = base.index(rv.refers_to)  # type: ignore[arg-type]
        base.insert(order_rng.randint(pos + 1, len(base)), rv)
    t = CRAWL_START
    time_rng = rng("time")
    for cap in base:
        cap.date = t
        t += timedelta(seconds=time_rng.randint(2, 95))
    shards: list[list[Capture]] = []
    per = -(-len(base) // N_SHARDS)
    for i in range(N_SHARDS):
        shard = base[i * per : (i + 1) * per]
        for cap in shard:
            cap.shard = i
        shards.append(shard)
    for shard in shards:  # metadata records for the first two HTML pages of each shard
        for cap in [c for c in shard if c.kind == "page"][:2]:
            cap.with_metadata = True
    return shards


def request_headers(url: str) -> StatusAndHeaders:
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    headers = [
        ("Host", parts.netloc),
        ("User-Agent", USER_AGENT),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", "es-ES,es;q=0.9,en;q=0.5"),
        ("Accept-Encoding", "br,gzip"),
        ("Connection", "Keep-Alive"),
    ]
    return StatusAndHeaders(f"GET {path} HTTP/1.1", headers, protocol="", is_http_request=True)


def response_headers(cap: Capture, body_len: int) -> StatusAndHeaders:
    headers: list[tuple[str, str]] = [("Server", cap.server), ("Date", http_date(cap.date))]
    if cap.content_type:
        headers.append(("Content-Type", cap.content_type))
    headers.append(("Content-Length", str(body_len)))
    headers += cap.extra_headers
    headers.append(("Connection", "keep-alive" if cap.server == "nginx" else "Keep-Alive"))
    return StatusAndHeaders(cap.status, headers, protocol="HTTP/1.1")


def ip_for(url: str) -> str:
    host = urlsplit(url).hostname or ""
    digest = hashlib.sha1(host.encode()).digest()
    return f"203.0.113.{digest[0] % 250 + 2}" if host == MAIN_HOST else f"198.51.100.{digest[0] % 250 + 2}"


def write_shard(path: Path, shard: list[Capture], index: int) -> list[dict[str, object]]:
    """Write one WARC file; return the manifest rows of its records."""
    rows: list[dict[str, object]] = []
    first = shard[0].date
    info_id = stable_uuid("warcinfo", path.name)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)

        def emit(record: object, row: dict[str, object]) -> None:
            row = {"file": path.name, "offset": fh.tell(), **row}
            writer.write_record(record)
            rows.append(row)

        info = (
            f"software: tamiz scripts/build_sample.py (warcio WARCWriter)\r\n"
            f"isPartOf: tamiz-sample (Common Crawl-shaped sample, NOT a real crawl)\r\n"
            f"description: debian-handbook {PACKAGES['debian-handbook']} pages packed as a simulated crawl, "
            f"shard {index + 1} of {N_SHARDS}\r\n"
            f"operator: tamiz\r\n"
            f"robots: classic\r\n"
            f"format: WARC File Format 1.0\r\n"
            f"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n"
        ).encode("utf-8")
        rec = writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(info),
            length=len(info),
            warc_headers_dict={
                "WARC-Type": "warcinfo",
                "WARC-Date": warc_date(first),
                "WARC-Record-ID": info_id,
                "WARC-Filename": path.name,
            },
        )
        emit(rec, {"type": "warcinfo", "record_id": info_id, "date": warc_date(first)})

        for seq, cap in enumerate(shard):
            date = warc_date(cap.date)
            req_id = stable_uuid(path.name, seq, "request", cap.url)
            resp_id = stable_uuid(path.name, seq, cap.kind, cap.url)
            common = {"WARC-Date": date, "WARC-Warcinfo-ID": info_id, "WARC-IP-Address": ip_for(cap.url)}
            req = writer.create_warc_record(
                cap.url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=request_headers(cap.url),
                warc_headers_dict={"WARC-Type": "request", "WARC-Record-ID": req_id, **common},
            )
            emit(req, {"type": "request", "record_id": req_id, "url": cap.url, "date": date})
            base_row = {
                "url": cap.url,
                "date": date,
                "kind": cap.kind,
                "lang_folder": cap.lang_folder,
                "page": cap.page,
            }
            if cap.kind == "revisit":
                orig = cap.refers_to
                assert orig is not None and orig.payload_digest
                rec = writer.create_revisit_record(
                    cap.url,
                    orig.payload_digest,
                    orig.url,
                    warc_date(orig.date),
                    http_headers=response_headers(cap, len(orig.body)),
                    warc_headers_dict={
                        "WARC-Type": "revisit",
                        "WARC-Record-ID": resp_id,
                        "WARC-Concurrent-To": req_id,
                        **common,
                    },
                )
                cap.response_id = resp_id
                emit(
                    rec,
                    {
                        "type": "revisit",
                        "record_id": resp_id,
                        **base_row,
                        "status": int(cap.status.split()[0]),
                        "refers_to_record_id": orig.response_id,
                        "refers_to_date": warc_date(orig.date),
                        "payload_digest": orig.payload_digest,
                    },
                )
                continue
            cap.payload_digest = payload_sha1(cap.body)
            headers = {"WARC-Type": "response", "WARC-Record-ID": resp_id, **common, "WARC-Concurrent-To": req_id}
            if cap.identified_type:
                headers["WARC-Identified-Payload-Type"] = cap.identified_type
            rec = writer.create_warc_record(
                cap.url,
                "response",
                payload=io.BytesIO(cap.body),
                length=len(cap.body),
                http_headers=response_headers(cap, len(cap.body)),
                warc_headers_dict=headers,
            )
            cap.response_id = resp_id
            emit(
                rec,
                {
                    "type": "response",
                    "record_id": resp_id,
                    **base_row,
                    "status": int(cap.status.split()[0]),
                    "content_type": cap.content_type,
                    "payload_length": len(cap.body),
                    "payload_digest": cap.payload_digest,
                },
            )
            if cap.with_metadata:
                meta_id = stable_uuid(path.name, seq, "metadata", cap.url)
                fetch_ms = rng(f"fetch:{cap.url}").randint(40, 900)
                meta = f"fetchTimeMs: {fetch_ms}\r\ncharset-detected: UTF-8\r\n".encode()
                rec = writer.create_warc_record(
                    cap.url,
                    "metadata",
                    payload=io.BytesIO(meta),
                    length=len(meta),
                    warc_content_type="application/warc-fields",
                    warc_headers_dict={
                        "WARC-Type": "metadata",
                        "WARC-Record-ID": meta_id,
                        "WARC-Date": date,
                        "WARC-Warcinfo-ID": info_id,
                        "WARC-Concurrent-To": resp_id,
                    },
                )
                emit(
                    rec,
                    {"type": "metadata", "record_id": meta_id, "url": cap.url, "date": date, "concurrent_to": resp_id},
                )
    return rows


def dump_manifest(manifest: dict[str, object]) -> str:
    """JSON text of the manifest: indented, except one line per entry of "records"."""
    head = {k: v for k, v in manifest.items() if k != "records"}
    text = json.dumps(head, ensure_ascii=False, indent=1)
    records = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in manifest["records"])  # type: ignore[union-attr]
    return text[: text.rstrip().rfind("}")].rstrip() + ',\n "records": [\n  ' + records + "\n ]\n}\n"


def build_warcs(html_root: Path, out_dir: Path) -> dict[str, object]:
    """Write the WARC shards and INJECTED.json; return summary counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    caps, chosen = collect_captures(html_root)
    shards = lay_out_crawl(caps)
    files: list[dict[str, object]] = []
    all_rows: list[dict[str, object]] = []
    for i, shard in enumerate(shards):
        name = f"tamiz-sample-{shard[0].date:%Y%m%d%H%M%S}-{i:05d}.warc.gz"
        rows = write_shard(out_dir / name, shard, i)
        all_rows += rows
        counts: dict[str, int] = {}
        for row in rows:
            counts[str(row["type"])] = counts.get(str(row["type"]), 0) + 1
        files.append(
            {
                "file": name,
                "first_date": warc_date(shard[0].date),
                "last_date": warc_date(shard[-1].date),
                "records": dict(sorted(counts.items())),
            }
        )

    def where(cap: Capture) -> dict[str, object]:
        return {"url": cap.url, "file": files[cap.shard]["file"], "record_id": cap.response_id}

    html_pages = [c for c in caps if c.kind in ("page", "latin1", "meta_charset_only")]
    pages_per_folder: dict[str, int] = {}
    for cap in html_pages:
        pages_per_folder[cap.lang_folder or ""] = pages_per_folder.get(cap.lang_folder or "", 0) + 1

    exact: dict[str, dict[str, object]] = {}
    for cap in caps:
        if cap.kind == "exact_dup":
            orig = cap.refers_to
            assert orig is not None
            group = exact.setdefault(
                orig.url, {"original": where(orig), "duplicates": [], "payload_digest": orig.payload_digest}
            )
            group["duplicates"].append(where(cap))  # type: ignore[union-attr]
    near = []
    for cap in caps:
        if cap.kind == "near_dup":
            orig = cap.refers_to
            assert orig is not None
            near.append(
                {
                    "original": where(orig),
                    "near_duplicate": where(cap),
                    "edits": cap.note.split("; "),
                    "jaccard_word5_tag_stripped": jaccard_word5(orig.body.decode(), cap.body.decode()),
                }
            )
    latin1 = []
    for cap in caps:
        if cap.kind == "latin1":
            text = cap.body.decode("iso-8859-1")
            words = sorted({w for w in re.findall(r"\w*ñ\w*", text) if len(w) > 4})[:5]
            latin1.append(
                {
                    **where(cap),
                    "page": f"es-ES/{cap.page}",
                    "header_charset": "iso-8859-1",
                    "meta_charset": "ISO-8859-1",
                    "words_with_enye": words,
                    "numeric_char_refs": len(re.findall(r"&#\d+;", text)),
                    "note": "characters outside latin-1 were written as &#NNNN; references",
                }
            )
    injected = {
        "generator": "scripts/build_sample.py",
        "seed": SEED,
        "source_package": f"debian-handbook {PACKAGES['debian-handbook']}",
        "files": files,
        "html_pages_per_lang_folder": dict(sorted(pages_per_folder.items())),
        "pages_taken_per_lang_folder": {k: v for k, v in sorted(chosen.items())},
        "notes": [
            "Folder names are not language labels: several debian-handbook 'translations' are mostly English, "
            "and even es-ES has untranslated pages (e.g. sect.dynamic-routing.html, sect.config-printing.html) "
            "and many partly English ones. Hand-checked labels: tests/fixtures/lang_labels.tsv.",
            "Pages whose payload starts with an XML declaration have WARC-Identified-Payload-Type "
            "application/xhtml+xml (as Common Crawl's detector reports XHTML); all are served as text/html.",
            "Revisit records have no payload: resolve them through WARC-Refers-To-Target-URI/-Date (or skip them).",
            "Exact duplicates have byte-identical HTTP payloads; near duplicates differ by the listed edits.",
            "Untranslated pages in different language folders are near duplicates of each other "
            "(naturally, not injected).",
            "records[]: one entry per WARC record in file order, with its byte offset (seek there and read one "
            "record). records[].kind for responses/revisits: page (plain handbook page), latin1, "
            "meta_charset_only, exact_dup, near_dup, redirect, not_found, error (503), css, png, revisit.",
        ],
        "exact_duplicates": list(exact.values()),
        "near_duplicates": near,
        "latin1_pages": latin1,
        "meta_charset_only": [
            {
                **where(c),
                "page": f"es-ES/{c.page}",
                "header_content_type": c.content_type,
                "note": 'no charset in HTTP header, no XML declaration; only <meta charset="utf-8">',
            }
            for c in caps
            if c.kind == "meta_charset_only"
        ],
        "non_html": [
            {**where(c), "content_type": c.content_type, "payload_length": len(c.body)}
            for c in caps
            if c.kind in ("css", "png")
        ],
        "non_200": [
            {
                **where(c),
                "status": int(c.status.split()[0]),
                "location": dict(c.extra_headers).get("Location"),
                "note": c.note,
            }
            for c in caps
            if c.kind in ("redirect", "not_found", "error")
        ],
        "revisits": [
            {**where(c), "refers_to": where(c.refers_to), "payload_digest": c.refers_to.payload_digest}
            for c in caps
            if c.kind == "revisit" and c.refers_to is not None
        ],
        "metadata_records": [r for r in all_rows if r["type"] == "metadata"],
        "records": all_rows,
    }
    (out_dir / "INJECTED.json").write_text(dump_manifest(injected), encoding="utf-8")
    record_counts: dict[str, int] = {}
    for row in all_rows:
        record_counts[str(row["type"])] = record_counts.get(str(row["type"]), 0) + 1
    return {
        "files": files,
        "pages_per_folder": pages_per_folder,
        "record_counts": dict(sorted(record_counts.items())),
        "html_pages": len(html_pages),
        "captures": len(caps),
    }


# --------------------------------------------------------------------------
# NOTICE.md and README.md
# --------------------------------------------------------------------------


def human(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def write_notice(out: Path, versions: dict[str, str]) -> None:
    v = versions
    text = f"""# Sources and licenses of the bundled sample

Everything in `data/sample/` (but `evaluation/`, written once with the questions below) was produced by
`scripts/build_sample.py` from these Debian packages (no text was invented, apart from the short mirror banners,
redirect/error pages and date lines injected into the simulated crawl and listed
in `common_crawl/INJECTED.json`).

| file(s) | Debian package (version) | upstream | license |
|---|---|---|---|
| `common_crawl/*.warc.gz`, `common_crawl/INJECTED.json` | `debian-handbook` ({v["debian-handbook"]}) | *The Debian Administrator's Handbook*, Raphaël Hertzog and Roland Mas, and its translators (https://debian-handbook.info/) | GPL-2.0-or-later **or** CC-BY-SA-3.0 (dual licensed) |
| `books/reina_valera_1909.jsonl.gz` | `sword-text-sparv` ({v["sword-text-sparv"]}) | Santa Biblia, Reina-Valera 1909 (SWORD module `spaRV1909eb`, CrossWire) | public domain |
| `reference/debian_reference_es.jsonl` | `debian-reference-es` ({v["debian-reference-es"]}) | *Guía de referencia de Debian*, Osamu Aoki and the Spanish translators | GPL-2.0-or-later |
| `reference/fortunes_es.jsonl` | `fortunes-es` ({v["fortunes-es"]}) | fortunes collected by the Debian maintainer (see the package's README.Debian) | GPL-2.0-or-later |
| `offensive/fortunes_es_off.jsonl` | `fortunes-es-off` ({v["fortunes-es-off"]}) | the subset tagged offensive by the maintainers | GPL-2.0-or-later |
| `evaluation/handbook_qa.jsonl` | `debian-handbook` (11.20220922), `debian-reference-es` (2.100) | contexts: five paragraphs of handbook pages as the sample crawl holds them and one paragraph of the Debian Reference, verbatim; questions written for tamiz, answers are spans of the contexts | GPL-2.0-or-later (handbook: or CC-BY-SA-3.0) |

Notes:

* The WARC files are a *simulated* crawl: the page bodies are the real HTML of the
  handbook, but URLs on hosts other than debian-handbook.info, dates, IP addresses
  (documentation ranges 198.51.100.0/24 and 203.0.113.0/24) and HTTP headers are made up
  by the script.
* `offensive/` holds texts the Debian maintainers tagged offensive (sexist, racist and
  crude jokes). It is there only to test content filters; it is not part of the default
  sample and must not be used as training data.
* The tamiz code is Apache-2.0; these data files keep their own licenses above.
"""
    (out / "NOTICE.md").write_text(text, encoding="utf-8")


def write_readme(out: Path, summary: dict[str, object]) -> None:
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "README.md")
    rows = "\n".join(f"| `{p.relative_to(out)}` | {human(p.stat().st_size)} |" for p in files)
    total = sum(p.stat().st_size for p in files)
    w = summary["warc"]  # type: ignore[index]
    per_folder = w["pages_per_folder"]  # type: ignore[index]
    es = per_folder.get("es-ES", 0)  # type: ignore[union-attr]
    rc = ", ".join(f"{k} {n}" for k, n in w["record_counts"].items())  # type: ignore[index,union-attr]
    text = f"""# The bundled sample corpus

A small, real, mostly Spanish corpus for running the tamiz pipeline, its tests and
benchmarks without downloads. Built by `scripts/build_sample.py` (deterministic: the
same packages give the same bytes). Sources and licenses: [NOTICE.md](NOTICE.md).

Rebuild (downloads the Debian packages with `apt-get download`):

    python scripts/build_sample.py            # or: --debs DIR_WITH_DEBS --out data/sample

## Contents

* `common_crawl/` - {len(w["files"])} Common Crawl-shaped WARC files (gzip per record, warcio) with
  {w["html_pages"]} handbook pages (HTML responses from the 26 language folders of
  `debian-handbook`; es-ES: all {es}, other folders: {PAGES_PER_OTHER_LANG} each), plus injected
  exact and near duplicates, latin-1 pages, a page with only `<meta charset>`,
  redirects, 404/503 responses, CSS and PNG payloads, revisit and metadata records.
  Every record (file, offset, type, URL) and every injected case is listed in
  `common_crawl/INJECTED.json`. Folder names are not language labels: several
  "translations" are mostly English, and es-ES has untranslated pages too (see
  `tests/fixtures/lang_labels.tsv`).
  Records: {rc}.
* `books/reina_valera_1909.jsonl.gz` - the whole Reina-Valera 1909 Bible,
  {summary["bible_docs"]} documents (one per chapter, one verse per line, no verse numbers; 1909
  spelling such as "fué", "á" is original; the 18 KJV verse slots the module leaves empty,
  e.g. Job 38:39-41, are skipped).
* `reference/debian_reference_es.jsonl` - Debian Reference in Spanish, {summary["debref_docs"]} documents
  (one per `N.M` section, plus chapter introductions and the preface sections; the text keeps the
  package's hard wrapping at ~70 columns; some titles and paragraphs are untranslated English in
  the package itself, e.g. "3.6. Other system monitors", "7.2. GUI communication protocol").
* `reference/fortunes_es.jsonl` - {summary["fortune_docs"]} Spanish fortunes (one per document;
  {summary["fortunes_dropped"]} entries under {MIN_FORTUNE_CHARS} characters dropped).
* `offensive/fortunes_es_off.jsonl` - {summary["fortune_off_docs"]} fortunes tagged offensive (decoded from
  ROT13). NOT part of the default sample: for testing content filters only.
* `evaluation/handbook_qa.jsonl` - a tiny reading-comprehension evaluation set (6 items: `id`,
  `source`, `context`, `question`, `answer`): five contexts are paragraphs of handbook pages of the
  crawl, one a paragraph of the Debian Reference. The table decontaminates the crawl against it
  (docs/filters.md, "Benchmark decontamination"): the pages holding a context, and their copies on
  other hosts, leave the training data. Not built by `scripts/build_sample.py`.

JSON lines have the fields `id`, `title`, `text`.

## Files

| file | size |
|---|---|
{rows}
| total | {human(total)} |
"""
    (out / "README.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the bundled sample corpus (data/sample) from Debian packages, deterministically."
    )
    parser.add_argument(
        "--debs",
        type=Path,
        default=None,
        help="folder holding the .deb files (default: apt-get download into a temp folder)",
    )
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output folder (default: data/sample)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    with tempfile.TemporaryDirectory(prefix="tamiz-sample-") as tmpname:
        tmp = Path(tmpname)
        debs = find_or_download_debs(args.debs, tmp)
        versions: dict[str, str] = {}
        roots: dict[str, Path] = {}
        for pkg, deb in debs.items():
            control = deb_control(deb)
            versions[pkg] = control["Version"]
            if control["Version"] != PACKAGES[pkg]:
                print(
                    f"warning: {pkg} is {control['Version']}, the committed sample used {PACKAGES[pkg]}",
                    file=sys.stderr,
                )
            roots[pkg] = tmp / pkg
            extract_deb(deb, roots[pkg])

        for sub in ("common_crawl", "books", "reference", "offensive"):
            if (out / sub).exists():
                shutil.rmtree(out / sub)
        out.mkdir(parents=True, exist_ok=True)

        summary: dict[str, object] = {}
        summary["warc"] = build_warcs(roots["debian-handbook"] / HANDBOOK_HTML, out / "common_crawl")

        bible = build_bible(roots["sword-text-sparv"] / SWORD_MODULE)
        write_jsonl(out / "books" / "reina_valera_1909.jsonl.gz", bible)
        summary["bible_docs"] = len(bible)

        with gzip.open(roots["debian-reference-es"] / DEBREF_TXT, "rt", encoding="utf-8") as fh:
            debref = build_debian_reference(fh.read())
        write_jsonl(out / "reference" / "debian_reference_es.jsonl", debref)
        summary["debref_docs"] = len(debref)

        fortunes, dropped = build_fortunes(roots["fortunes-es"] / FORTUNES_DIR, "fortunes-es")
        write_jsonl(out / "reference" / "fortunes_es.jsonl", fortunes)
        summary["fortune_docs"], summary["fortunes_dropped"] = len(fortunes), dropped

        off, _ = build_fortunes(roots["fortunes-es-off"] / FORTUNES_OFF_DIR, "fortunes-es-off", rot13=True)
        write_jsonl(out / "offensive" / "fortunes_es_off.jsonl", off)
        summary["fortune_off_docs"] = len(off)

    write_notice(out, versions)
    write_readme(out, summary)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        print(f"{sha256_file(path)}  {human(path.stat().st_size):>9}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
