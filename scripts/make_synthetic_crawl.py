#!/usr/bin/env python3
"""Generate a Common Crawl-shaped crawl of any size, deterministically, from real pages and real Spanish text.

Benchmarks need gigabytes of crawl; the bundled sample is 2 MB and these machines cannot reach
Common Crawl. This script writes as much crawl as asked, with KNOWN rates of everything the build
must find (copies, near copies, other languages, junk, broken records) and a ground truth to
check each stage against. Under ``--out`` it writes, for one crawl and one segment::

    crawl-data/<crawl>/segments/<segment>/warc/CC-MAIN-<start>-<end>-<NNNNN>.warc.gz
    crawl-data/<crawl>/warc.paths.gz         (every WARC path, as Common Crawl lists them)
    labels/CC-MAIN-<start>-<end>-<NNNNN>.labels.jsonl.gz   (one line per record: the truth)
    synthetic-crawl.json                     (arguments, per file bytes/sha256/counts, totals)

Read ``crawl-data/`` (or the paths list), not ``--out`` itself: tamiz would take the label files
for JSONL input. WARC files look like Common Crawl's: a ``warcinfo`` record, then per capture a
``request``, a ``response`` (or ``revisit``) and a ``metadata`` record, each record its own gzip
member (mtime 0; deflate level 6, the default of Java's GZIPOutputStream), with WARC-Record-ID, digests,
WARC-Concurrent-To and CC's header order. File names carry the first and last capture time.

Material (nothing is invented but a few short Spanish boilerplate lines for near copies):

* Page templates: the HTTP-200 UTF-8 HTML responses of the bundled sample WARC files
  (``data/sample/common_crawl``: debian-handbook pages in 26 language folders), plus, with
  ``--pages DIR``, every ``DIR/<lang-folder>/*.html`` (e.g. the ``debian-handbook`` package's
  ``/usr/share/doc/debian-handbook/html``). A template keeps its real head, navigation and
  footer; its main content (first to last paragraph element) is replaced. Pages with more than 200
  characters of text outside it (a listing after the last paragraph, a table of contents) are not
  used: every page made on them would share that text.
* Spanish pages: the main content is real Spanish text (``data/sample/reference/*.jsonl``,
  ``data/sample/books/*.jsonl.gz``, or ``--text FILE``): 4 or more paragraphs of one source, each
  a run of 1-5 consecutive sentences of one of its paragraphs at a seeded random place, 600 to
  15,000 characters in all. So every original page is unique as a document (two pages share a
  sentence run now and then, as real sites share quotes); a sentence-level dedup would still find
  repeats, since 1 GB of pages draws from a few MB of text.
* Other-language pages: paragraphs of the non-Spanish handbook pages, pooled per language folder
  (paragraphs that are plainly English go to ``en``: several "translations" are mostly English;
  folders left with under 10 paragraphs are not used) on a template of that folder. A language is
  drawn in proportion to its paragraphs (about half English with the bundled sample, as in Common
  Crawl). The label is that pool's language, not a detection: untranslated bits remain.
* Non-HTML captures reuse the sample's real redirect, 404, 503, CSS and PNG responses.

Rates (``SynthConfig``; every draw is per capture, so counts vary around the rates; the ground
truth gives what was written):

* ``broken`` and ``non_html``: shares of all captures. Non-HTML captures split 40% redirects
  (301/302), 20% 404, 20% CSS/PNG, 15% revisits, 5% 503.
* ``spanish_share``: share of the other captures (HTTP-200 HTML pages) that are Spanish; the rest
  are other-language pages. ``exact_copies``, ``near_copies`` and ``junk`` are shares of the
  Spanish pages (all three are Spanish); the remaining Spanish pages are originals.
* Exact copy: the byte-identical HTTP payload of an earlier original under another URL (http://,
  a mirror host, tracking parameters). Near copy: the same template and paragraphs with ONE edit:
  ``words_changed`` (1.5% of the words swapped for other real words), ``boilerplate_added`` (a
  banner and a footer paragraph in the main content) or ``paragraphs_reordered`` (1-2 swaps); its
  label gives the word 5-gram Jaccard of its main text with the original's (mostly 0.8-0.99; short
  pages lower), so a benchmark can tell which ones a dedup threshold should catch.
  The original is an earlier capture of the same file or of an earlier file (half and half), so
  copies cross files as in Common Crawl; a copy that finds no earlier original in 64 draws (at the
  start of the first file) is written as an original (counted under ``adjusted``). Copies never
  copy copies.
* Junk (Spanish, what Gopher/C4/FineWeb rules drop): ``too_short`` (one cut paragraph),
  ``boilerplate_only`` (the template without main content), ``link_list``, ``repeated_lines``
  (one line 10-40 times), ``ellipsis_teasers`` (lines cut with "…").
* Broken records, as tamiz's reader (``tamiz.pipeline.warc``) handles them: ``bad_http_header``
  (no status line) and ``binary_payload`` (PNG bytes labelled text/html) are quarantined and the
  file goes on; ``truncated_gzip`` (the file ends inside a gzip member, past the WARC header),
  ``bad_warc_header`` (no ``WARC/1.0`` line) and ``content_length_too_long`` end the reading of a
  file, so they are only ever a file's LAST record (one per file; a second one drawn in the same
  file becomes an in-place kind, counted under ``adjusted``). Each broken record is one
  quarantined record for the reader (``expected_read`` in the ground truth).

Ground truth: ``synthetic-crawl.json`` holds the arguments, per file (path, bytes, sha256, records
by WARC type, counts by category and kind, ``expected_read``: what ``ReadReport`` must count) and
the totals. Each label line holds offset, length, record_id, warc_type, url, category (warcinfo,
request, metadata, original, exact_copy, near_copy, other_language, junk, broken, non_html),
kind, lang, for copies and revisits ``original`` (the record id of the original response) and for
near copies ``jaccard``.

Deterministic and streamed: the same arguments give the same bytes (no clock, no uuid4: ids are
uuid5 of (seed, file, capture); dates follow the crawl's ISO week; gzip mtime 0; same zlib). Each
capture is a pure function of (seed, file, capture) and of the plan (captures per file, fixed
before writing), so files are written independently (``--jobs``) and record by record; memory
does not grow with ``--gb``. ``--gb`` is a target: the captures per file come from the mean size
of 300 calibration captures, and the summary says what was written. Pages are smaller than most
of Common Crawl's (a capture is about 4.5 kB compressed here, with its request and metadata; a
~1 GB Common Crawl file holds some tens of thousands of captures), so a GB holds more documents.

Usage::

    python scripts/make_synthetic_crawl.py --out /tmp/cc --gb 1.0 --seed 0 --jobs 2
    python scripts/make_synthetic_crawl.py --out /tmp/cc --files 50 --records-per-file 20
    python scripts/make_synthetic_crawl.py --out /tmp/cc --gb 5 --spanish-share 0.05   # CC-like
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import logging
import math
import multiprocessing
import os
import random
import re
import shutil
import sys
import time
import unicodedata
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DEFAULT_CRAWL = "CC-MAIN-2024-26"  # as scripts/make_crawl_tree.py
DEFAULT_SEGMENT = "1718198861000.0"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/tamiz/make_synthetic_crawl")
GZIP_LEVEL = 6  # Common Crawl's Java writer uses deflate's default level
CALIBRATION_CAPTURES = 300
MIN_PARAGRAPHS = 4  # of a Spanish page
WORDS_CHANGED = 0.015  # share of a words_changed near copy's words swapped: word 5-gram Jaccard ~0.85
MAX_TEMPLATE_TEXT = 200  # characters of a template's text outside its title and main content (navigation)
CAPTURE_SECONDS = 2  # between two captures of one file
FILE_SECONDS = 613  # between the first captures of two files

NON_HTML_MIX = (("redirect", 0.40), ("not_found", 0.20), ("not_html", 0.20), ("revisit", 0.15), ("server_error", 0.05))
NEAR_EDITS = ("words_changed", "boilerplate_added", "paragraphs_reordered")
JUNK_KINDS = ("too_short", "boilerplate_only", "link_list", "repeated_lines", "ellipsis_teasers")
BROKEN_IN_PLACE = ("bad_http_header", "binary_payload")
BROKEN_AT_END = ("truncated_gzip", "bad_warc_header", "content_length_too_long")
PAGE_CATEGORIES = ("original", "exact_copy", "near_copy", "other_language", "junk")

# the only invented text: short boilerplate a mirror or a news site adds (near copies)
BANNERS = ("Esta es una copia espejo del artículo original. Última sincronización: {date}.",
           "Publicado originalmente en {host}. Reproducido con permiso de sus autores.",
           "Artículo actualizado por última vez el {date}. Las opiniones expresadas son de sus autores.")
FOOTERS = ("Compartir este artículo: Facebook · Twitter · WhatsApp · Correo electrónico.",
           "Todos los derechos reservados. Prohibida su reproducción total o parcial sin autorización.",
           "Suscríbase a nuestro boletín para recibir cada semana las últimas novedades.")
SITE_WORDS = ("noticias", "blog", "foro", "revista", "diario", "cultura", "recetas", "viajes", "salud", "deportes",
              "tecnologia", "educacion", "musica", "cine", "libros", "historia", "ciencia", "economia", "opinion",
              "comunidad", "biblioteca", "apuntes", "archivo", "portal")
# English words that are not (common) words of the other handbook languages (no "in", "to", "at", "for", "on")
ENGLISH_WORDS = frozenset((
    "the", "of", "and", "that", "with", "this", "are", "is", "it", "be", "or", "as", "if", "which", "can", "not",
    "you", "your", "have", "has", "will", "its", "these", "such", "when", "also", "more", "may", "other", "only",
    "into", "their", "they", "there", "than", "then", "from", "been", "were", "would", "should", "some", "does",
    "each", "used", "using", "what", "where", "how", "very", "often"))
SERVERS = ("nginx", "Apache/2.4.59 (Debian)", "cloudflare", "LiteSpeed", "Microsoft-IIS/10.0")

log = logging.getLogger("make_synthetic_crawl")


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Size: ``gb`` (with ``file_mb``), or ``files`` and ``records_per_file``."""

    seed: int = 0
    gb: float | None = None
    """target size of all WARC files, compressed, in 10^9 bytes"""
    file_mb: float = 100.0
    """target size of one WARC file in 10^6 bytes (Common Crawl's are ~1,000)"""
    files: int | None = None
    """number of WARC files (with records_per_file, instead of gb)"""
    records_per_file: int | None = None
    """captures per file: each a request, a response (or revisit) and a metadata record"""
    spanish_share: float = 0.5
    """share of the HTTP-200 HTML pages that are Spanish (originals, copies, junk)"""
    exact_copies: float = 0.05
    """share of the Spanish pages that are byte-identical copies of an earlier original"""
    near_copies: float = 0.05
    """share of the Spanish pages that are an earlier original with one small edit"""
    junk: float = 0.03
    """share of the Spanish pages that are junk (too short, boilerplate, link lists, ...)"""
    broken: float = 0.001
    """share of all captures whose response record is broken"""
    non_html: float = 0.05
    """share of all captures that are redirects, 404/503, CSS/PNG or revisits"""
    crawl: str = DEFAULT_CRAWL
    segment: str = DEFAULT_SEGMENT
    pages: tuple[str, ...] = ()
    """folders of extra real HTML pages, laid out <lang-folder>/*.html"""
    texts: tuple[str, ...] = ()
    """JSONL(.gz) files of Spanish text (field "text"); default: the bundled sample's"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", tuple(map(str, self.pages)))  # paths as given, JSON-ready
        object.__setattr__(self, "texts", tuple(map(str, self.texts)))
        if (self.gb is None) == (self.files is None):
            raise ValueError("gb: give either gb (with file_mb) or files (with records_per_file)")
        if self.gb is not None:
            _check(self.gb, "gb", lambda v: v > 0, "is not a positive number")
            _check(self.file_mb, "file_mb", lambda v: v > 0, "is not a positive number")
            if self.records_per_file is not None:
                raise ValueError("records_per_file: only with files, not with gb")
        else:
            if not isinstance(self.files, int) or self.files < 1:
                raise ValueError(f"files: {self.files!r} is not a positive integer")
            if not isinstance(self.records_per_file, int) or self.records_per_file < 1:
                raise ValueError(f"records_per_file: {self.records_per_file!r} is not a positive integer")
        for name in ("spanish_share", "exact_copies", "near_copies", "junk", "broken", "non_html"):
            _check(getattr(self, name), name, lambda v: 0 <= v <= 1, "is not in [0, 1]")
        if self.exact_copies + self.near_copies + self.junk >= 1:
            raise ValueError(f"exact_copies + near_copies + junk: {self.exact_copies + self.near_copies + self.junk:g} "
                             "leaves no Spanish originals (must be below 1)")
        if self.broken + self.non_html >= 1:
            raise ValueError(f"broken + non_html: {self.broken + self.non_html:g} leaves no pages (must be below 1)")
        if not re.fullmatch(r"CC-MAIN-\d{4}-\d{2}", self.crawl) or not 1 <= int(self.crawl[-2:]) <= 53:
            raise ValueError(f"crawl: {self.crawl!r} is not like CC-MAIN-2024-26")
        if not re.fullmatch(r"\d+\.\d+", self.segment):
            raise ValueError(f"segment: {self.segment!r} is not like 1718198861000.0")
        for folder in self.pages:
            if not Path(folder).is_dir():
                raise ValueError(f"pages: {folder}: no such folder")
        for file in self.texts:
            if not Path(file).is_file():
                raise ValueError(f"texts: {file}: no such file")


def _check(value, name: str, ok: Callable[[float], bool], what: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}: {value!r} {what}")


# ---------------------------------------------------------------------------------------------
# Real material: templates, paragraph pools, non-HTML responses


@dataclass(frozen=True)
class Template:
    """A real page cut around its title and its main content (first to last paragraph element)."""

    name: str  # <lang-folder>/<file>, for the record
    lang: str  # ISO-639-1 of the folder
    title: str  # the page's own title (link lists)
    head: str  # up to the <title> text
    body: str  # from </title> to the main content
    tail: str  # after the main content
    para_open: str
    para_close: str


@dataclass(frozen=True)
class HttpSample:
    """A real non-200 or non-HTML response of the sample: its status line, type and payload."""

    status_line: str
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class TextSource:
    """A Spanish text as sentences (HTML-escaped), each marked when it starts a paragraph."""

    name: str
    sentences: list[str]
    starts: list[bool]


@dataclass
class Material:
    spanish_templates: list[Template]
    templates: dict[str, list[Template]]  # other language -> templates of its folders
    texts: list[TextSource]  # Spanish text, one per file
    text_weights: list[int]  # characters per source: a page picks its source with these weights
    vocabulary: list[str]  # Spanish words (for words_changed)
    foreign: dict[str, list[str]]  # other language -> paragraphs (inner HTML)
    titles: list[str]  # real Spanish titles (link lists)
    http: dict[str, list[HttpSample]]  # redirect, not_found, server_error, not_html
    binary: bytes  # a real PNG (binary_payload)
    inputs: tuple[tuple[str, ...], tuple[str, ...]]  # the pages and texts arguments it was loaded from
    description: dict = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted(self.foreign)


_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_PARA = re.compile(r"""<p(?:\s[^>]*)?>|<div\s+class=["']para["'][^>]*>""", re.IGNORECASE)
_TAGS = {t: re.compile(rf"<(/?){t}(?:\s[^>]*)?>", re.IGNORECASE) for t in ("p", "div")}
_STRIP = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_FOLDER = re.compile(r"^([a-z]{2})(?:[-_][A-Za-z]{2,4})?$")
_WORD = re.compile(r"^[a-záéíóúüñ]{4,}$")
_LETTERS = re.compile(r"[^\W\d_]{2,}")  # a word of two letters or more
_SYMBOLS = re.compile(r"[^\w ]|[\d_]")  # neither a letter nor a space
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(¿¡A-ZÁÉÍÓÚÑ])")


def _close_of(text: str, tag: str, start: int) -> tuple[int, int] | None:
    depth = 1
    for m in _TAGS[tag].finditer(text, start):
        if m.group(0).endswith("/>"):
            continue
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return m.start(), m.end()
    return None


def plain(fragment: str) -> str:
    return _SPACES.sub(" ", html.unescape(_STRIP.sub(" ", fragment))).strip()


def split_page(text: str, name: str, lang: str) -> tuple[Template, list[str]] | None:
    """The page as a template and its paragraphs (inner HTML); None without a title or a paragraph."""
    t = _TITLE.search(text)
    if not t:
        return None
    paras, pos = [], t.end()
    for m in _PARA.finditer(text, t.end()):
        if m.start() < pos:
            continue  # inside the previous paragraph
        tag = "p" if m.group(0)[1].lower() == "p" else "div"
        close = _close_of(text, tag, m.end())
        if close is None:
            break
        paras.append((m.start(), m.end(), close[0], close[1], tag))
        pos = close[1]
    if not paras:
        return None
    first, last = paras[0], paras[-1]
    template = Template(name, lang, plain(t.group(1)), text[: t.start(1)], text[t.end(1): first[0]], text[last[3]:],
                        text[first[0]: first[1]], f"</{first[4]}>")
    return template, [text[a:b].strip() for _, a, b, _, _ in paras]


def _letter_words(text: str) -> list[str]:
    return _LETTERS.findall(text.lower())


def function_words(words: list[str]) -> bool:
    """Plainly English: at least 12% English function words (English prose has about 25%)."""
    return len(words) >= 4 and len(ENGLISH_WORDS.intersection(words)) > 0 and \
        sum(map(ENGLISH_WORDS.__contains__, words)) >= 0.12 * len(words)


def english_apart(pools: dict[str, list[str]]) -> dict[str, list[str]]:
    """Paragraphs per language folder, with the plainly English ones of other folders moved to ``en``
    (untranslated handbook text): many English function words, or nearly all words English ones (the
    words of the ``en`` folder and of the function-word matches). Languages with < 10 paragraphs go."""
    words = {lang: [_letter_words(plain(p)) for p in ps] for lang, ps in pools.items()}
    vocabulary = Counter(w for lang, wss in words.items() for ws in wss
                         if lang == "en" or function_words(ws) for w in set(ws))
    english = {w for w, n in vocabulary.items() if n >= 2}
    out: dict[str, list[str]] = {}
    for lang, ps in pools.items():
        for p, ws in zip(ps, words[lang]):
            plainly = lang != "en" and (function_words(ws) or (
                len(ws) >= 4 and sum(w in english for w in ws) / len(ws) >= 0.75))
            out.setdefault("en" if plainly else lang, []).append(p)
    return {lang: list(dict.fromkeys(ps)) for lang, ps in sorted(out.items()) if len(set(ps)) >= 10}


def folder_language(parts: list[str]) -> tuple[str, str] | None:
    """(folder, ISO-639-1) of the first path segment that names a language, like es-ES or de."""
    for part in parts:
        m = _FOLDER.match(part)
        if m:
            return part, m.group(1).lower()
    return None


def text_sentences(text: str) -> list[tuple[str, bool]]:
    """The sentences of a plain text, each with whether it starts a paragraph. Paragraphs are blocks
    between blank lines (wrapped lines joined; a Bible chapter, one verse a line, is one block).
    Left out: blocks under 40 characters (headings), under 75% letters and spaces (ASCII tables,
    command listings), plainly English (debian-reference has untranslated ones), and sentences
    over 1,000 characters. Blocks up to 300 characters (a quote) stay one sentence."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        if len(block) < 40 or _symbolic(block) or _english(block):
            continue  # a heading, an ASCII table or a listing, or English
        sentences: list[str] = []
        for piece in [block] if len(block) <= 300 else _SENTENCE_END.split(block):
            if sentences and len(piece) < 20:
                sentences[-1] += " " + piece
            else:
                sentences.append(piece)
        # a sentence of over 1,000 characters (a list run together) would dominate every page it is on
        out += [(x, i == 0) for i, x in enumerate(sentences) if len(x) <= 1000]
    return out


def _symbolic(block: str) -> bool:
    """A shell listing, or over 25% neither letters nor spaces (an ASCII table)."""
    return block.startswith(("$ ", "# ")) or _SYMBOLS.subn("", block)[1] > 0.25 * len(block)


def _english(block: str) -> bool:
    low = block.lower()
    return not ENGLISH_WORDS.isdisjoint(low.split()) and function_words(_letter_words(low))  # split: C-fast


def default_texts() -> list[Path]:
    return sorted((SAMPLE / "reference").glob("*.jsonl")) + sorted((SAMPLE / "books").glob("*.jsonl.gz"))


def load_material(pages: tuple[str, ...] = (), texts: tuple[str, ...] = ()) -> Material:
    """Read the bundled sample WARC files, the Spanish text files (default: the bundled sample's) and
    any extra page folders: what ``SynthConfig.pages`` and ``SynthConfig.texts`` name."""
    pages, texts = tuple(map(str, pages)), tuple(map(str, texts))
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from tamiz.pipeline.warc import HTML_TYPES, HttpError, parse_http

    found: dict[str, tuple[Template, list[str]]] = {}
    http: dict[str, list[HttpSample]] = {"redirect": [], "not_found": [], "server_error": [], "not_html": []}
    binary = b""
    warcs = sorted((SAMPLE / "common_crawl").glob("*.warc.gz"))
    if not warcs:
        raise FileNotFoundError(f"{SAMPLE / 'common_crawl'}: no sample WARC files")
    for path in warcs:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=False):
                url = rec.headers.get("WARC-Target-URI", "")
                try:
                    status, headers, payload = parse_http(rec.reader.read())
                except HttpError:
                    continue
                ctype = headers.get("content-type", "")
                mime = ctype.split(";")[0].strip().lower()
                line = f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}"
                if status in (301, 302):
                    http["redirect"].append(HttpSample(line, ctype, payload))
                elif status == 404:
                    http["not_found"].append(HttpSample(line, ctype, payload))
                elif status >= 500:
                    http["server_error"].append(HttpSample(line, ctype, payload))
                elif status == 200 and mime not in HTML_TYPES:
                    http["not_html"].append(HttpSample(line, ctype, payload))
                    if payload.startswith(b"\x89PNG"):
                        binary = binary or payload
                elif status == 200:
                    parts = url.split("?")[0].split("/")[3:]
                    where = folder_language(parts)
                    if where and "utf-8" in ctype.lower():
                        _add_page(found, where, parts[-1], payload)
    for folder in pages:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"pages: {root}: no such folder")
        for p in sorted(root.rglob("*.html")):
            rel = p.relative_to(root).parts
            where = folder_language(list(rel[:-1]) or [root.name])
            if where:
                _add_page(found, where, p.name, p.read_bytes())
    for kind, samples in http.items():
        if not samples:
            raise ValueError(f"{SAMPLE / 'common_crawl'}: no {kind} response to copy")
    if not binary:
        raise ValueError(f"{SAMPLE / 'common_crawl'}: no PNG response to copy (binary_payload)")

    spanish_templates, templates, foreign = [], {}, {}
    for name in sorted(found):
        template, paras = found[name]
        # text outside the main content (a listing after the last paragraph, a table of contents)
        # would be shared by every page made on the template
        usable = len(plain(template.body)) + len(plain(template.tail)) <= MAX_TEMPLATE_TEXT
        if template.lang == "es":
            if usable:
                spanish_templates.append(template)
            continue
        if usable:
            templates.setdefault(template.lang, []).append(template)
        for p in paras:
            if len(plain(p)) >= 40:
                foreign.setdefault(template.lang, []).append(p)
    foreign = english_apart(foreign)
    if not spanish_templates or not foreign:
        raise ValueError("pages: no Spanish page template or no other-language page in the material")

    sources: list[TextSource] = []
    titles: list[str] = []
    for path in [Path(t) for t in texts] or default_texts():
        docs = _read_jsonl(path)
        pairs = [x for d in docs for x in text_sentences(str(d.get("text", "")))]
        if pairs:
            full = path.resolve()
            name = str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(path)
            sources.append(TextSource(name, [html.escape(x, quote=False) for x, _ in pairs], [b for _, b in pairs]))
        titles += [str(d["title"]) for d in docs if 8 <= len(str(d.get("title", ""))) <= 80]
    if not sources:
        raise ValueError("texts: no Spanish paragraph of 40 characters or more")
    titles += [t.title for t in spanish_templates if 8 <= len(t.title) <= 80]
    vocabulary = sorted({w for src in sources for x in src.sentences[:5000] for w in x.lower().split()
                         if _WORD.match(w)})  # escaped text: words with & < > are not matched
    if not vocabulary:
        raise ValueError("texts: no Spanish word of four letters or more")
    description = {
        "warcs": [str(p.relative_to(ROOT)) for p in warcs],
        "pages": list(pages),
        "texts": [src.name for src in sources],
        "spanish_templates": len(spanish_templates),
        "other_templates": {lang: len(ts) for lang, ts in sorted(templates.items())},
        "spanish_sentences": {src.name: len(src.sentences) for src in sources},
        "other_language_paragraphs": {lang: len(ps) for lang, ps in sorted(foreign.items())},
    }
    return Material(spanish_templates, templates, sources, [sum(map(len, src.sentences)) for src in sources],
                    vocabulary, foreign, [html.escape(t, quote=False) for t in dict.fromkeys(titles)], http, binary,
                    (tuple(pages), tuple(texts)), description)


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Temporarily Unavailable"}


def _add_page(found: dict, where: tuple[str, str], file_name: str, payload: bytes) -> None:
    folder, lang = where
    name = f"{folder}/{file_name or 'index.html'}"
    if name in found:
        return  # the sample's mirrors and copies of one page: one template
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return
    cut = split_page(text, name, lang)
    if cut:
        found[name] = cut


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"texts: {path}: no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [d for d in (json.loads(line) for line in f if line.strip()) if isinstance(d, dict)]


# ---------------------------------------------------------------------------------------------
# Pages and captures: pure functions of (seed, file, capture)


@dataclass
class Page:
    template: Template
    title: str  # HTML-escaped
    paras: list[str]  # HTML of each paragraph
    url: str
    main: str | None = None  # raw main content instead of paragraphs (link lists)

    def html(self) -> bytes:
        t = self.template
        main = self.main if self.main is not None else "".join(f"{t.para_open}{p}{t.para_close}\n" for p in self.paras)
        return (t.head + self.title + t.body + main + t.tail).encode("utf-8")


@dataclass
class Capture:
    """One capture's response (or revisit) and what it is."""

    category: str
    kind: str | None
    lang: str | None
    url: str
    status_line: str
    content_type: str
    payload: bytes
    extra_http: tuple[tuple[str, str], ...] = ()
    warc_type: str = "response"
    original: str | None = None  # record id of the original (copies, revisits)
    refers_to: tuple[str, str] | None = None  # revisit: the original's URL and date
    adjusted: str | None = None  # what this capture was drawn as, when it could not be that
    jaccard: float | None = None  # near copies: word 5-gram Jaccard of its main text with the original's


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", plain(text)).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:60].rstrip("-") or "pagina"


def word5_jaccard(a: list[str], b: list[str]) -> float:
    """Jaccard similarity of the word 5-gram sets of two main texts (tags stripped), what MinHash
    dedup estimates (tamiz's default threshold: 0.8)."""
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _shingles(paras: list[str]) -> set[tuple[str, ...]]:
    words = plain(" ".join(paras)).split()
    return {tuple(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def sha1_b32(data: bytes) -> str:
    """``sha1:`` and the base32 SHA-1 (as base64.b32encode, which is pure Python and 5x slower)."""
    n = int.from_bytes(hashlib.sha1(data).digest(), "big")
    return "sha1:" + "".join([_B32[(n >> shift) & 31] for shift in range(155, -1, -5)])


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` without building a UUID object (hot: three per capture)."""
    h = bytearray(hashlib.sha1(NAMESPACE.bytes + name.encode("utf-8")).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _log_uniform(r: random.Random, low: float, high: float) -> float:
    return math.exp(r.uniform(math.log(low), math.log(high)))


class Crawl:
    """Every capture of the crawl, as a pure function of (seed, file, capture) and the plan
    (captures per file). Copies regenerate their original instead of remembering it."""

    def __init__(self, config: SynthConfig, material: Material, plan: list[int]):
        self.config, self.m, self.plan = config, material, plan
        c = config
        pages = 1 - c.broken - c.non_html
        spanish = pages * c.spanish_share
        shares = [("broken", c.broken), ("non_html", c.non_html), ("exact_copy", spanish * c.exact_copies),
                  ("near_copy", spanish * c.near_copies), ("junk", spanish * c.junk),
                  ("original", spanish * (1 - c.exact_copies - c.near_copies - c.junk)),
                  ("other_language", pages * (1 - c.spanish_share))]
        shares = [(name, share) for name, share in shares if share > 0]
        self.names = [name for name, _ in shares]
        self.cuts, total = [], 0.0
        for _, share in shares:
            total += share
            self.cuts.append(total)
        self.cuts[-1] = 1.0  # no rounding gap at the end
        year, week = int(c.crawl[8:12]), int(c.crawl[13:15])
        jan4 = datetime(year, 1, 4, tzinfo=UTC)  # ISO week 1 holds January 4
        self.base = jan4 - timedelta(days=jan4.weekday()) + timedelta(weeks=week - 1)
        self.other_templates = [t for lang in sorted(material.templates) for t in material.templates[lang]]
        self.lang_weights = [len(material.foreign[lang]) for lang in material.languages]

    # -- identities ------------------------------------------------------------------------------

    def rng(self, f: int, s: int) -> random.Random:
        return random.Random(f"{self.config.seed}/{f}/{s}")

    def category(self, f: int, s: int) -> str:
        return self._category(self.rng(f, s).random())

    def _category(self, u: float) -> str:
        for name, cut in zip(self.names, self.cuts):
            if u < cut:
                return name
        return self.names[-1]

    def record_id(self, f: int, s: int, role: str) -> str:
        return f"<urn:uuid:{uuid5(f'{self.config.seed}/{f}/{s}/{role}')}>"

    def date(self, f: int, s: int) -> datetime:
        return self.base + timedelta(seconds=f * FILE_SECONDS + s * CAPTURE_SECONDS)

    def stem(self, f: int) -> str:
        start, end = self.date(f, 0), self.date(f, max(0, self.plan[f] - 1))
        return f"CC-MAIN-{start:%Y%m%d%H%M%S}-{end:%Y%m%d%H%M%S}-{f:05d}"

    # -- pages -----------------------------------------------------------------------------------

    def spanish_paras(self, r: random.Random) -> list[str]:
        """Paragraphs of one source: each a run of 1-5 consecutive sentences of one of its paragraphs,
        at a random place; at least MIN_PARAGRAPHS of them, up to 600-15,000 characters. Drawing
        sentences, not whole paragraphs, is what keeps pages apart: 1 GB of pages draws from a few MB
        of text, and two short pages made of the same two paragraphs would be duplicates."""
        src = r.choices(self.m.texts, weights=self.m.text_weights)[0]
        pool, starts = src.sentences, src.starts
        target, size, paras, used = _log_uniform(r, 600, 15000), 0, [], set()
        for _ in range(200):
            if size >= target and len(paras) >= MIN_PARAGRAPHS:
                break
            i, n, run = r.randrange(len(pool)), r.randint(1, 5), []
            while i < len(pool) and i not in used and len(run) < n and not (run and starts[i]):
                run.append(pool[i])
                used.add(i)
                i += 1
            if run:
                paras.append(" ".join(run))
                size += len(paras[-1])
        return paras

    def original_page(self, f: int, s: int) -> Page:
        r = self.rng(f, s)
        r.random()  # the category draw
        t = r.choice(self.m.spanish_templates)
        paras = self.spanish_paras(r)
        title = _title(paras)
        host = f"{r.choice(SITE_WORDS)}{r.randrange(1, 1000)}.example.{r.choice(('com', 'org', 'net'))}"
        return Page(t, title, paras, f"https://{host}/{r.choice(SITE_WORDS)}/{slug(title)}-{f}-{s}.html")

    def find_original(self, r: random.Random, f: int, s: int) -> tuple[int, int] | None:
        """An earlier original: half the time in this file, else in any file up to this one."""
        for _ in range(64):
            fi = f if r.random() < 0.5 else r.randrange(f + 1)
            limit = s if fi == f else self.plan[fi]
            if limit > 0:
                si = r.randrange(limit)
                if self.category(fi, si) == "original":
                    return fi, si
        return None

    def near_page(self, r: random.Random, orig: Page, kind: str, f: int, s: int) -> tuple[Page, str]:
        paras = list(orig.paras)
        if kind == "paragraphs_reordered" and len(set(paras)) < 2:
            kind = "words_changed"
        if kind == "words_changed":
            vocab = self.m.vocabulary
            n_words = sum(p.count(" ") + 1 for p in paras)
            for _ in range(max(1, round(WORDS_CHANGED * n_words))):
                i = r.randrange(len(paras))
                words = paras[i].split(" ")
                j, k = r.randrange(len(words)), r.randrange(len(vocab))
                words[j] = vocab[k] if vocab[k] != words[j] else vocab[(k + 1) % len(vocab)]
                paras[i] = " ".join(words)
        elif kind == "boilerplate_added":
            when = self.date(f, s) - timedelta(days=r.randrange(1, 400))
            date = f"{when.day} de {_MONTHS[when.month - 1]} de {when.year}"
            host = orig.url.split("/")[2]
            paras = [r.choice(BANNERS).format(date=date, host=host)] + paras + [r.choice(FOOTERS)]
        else:
            for _ in range(1 if len(paras) < 4 else 2):
                i, j = r.sample(range(len(paras)), 2)
                paras[i], paras[j] = paras[j], paras[i]
            if paras == orig.paras:
                paras[0], paras[-1] = paras[-1], paras[0]
        mirror = f"{r.choice(('espejo', 'mirror', 'archivo', 'copia'))}{r.randrange(1, 100)}.example.org"
        path = orig.url.split("/", 3)[3]
        return Page(orig.template, orig.title, paras, f"https://{mirror}/{path}"), kind

    def junk_page(self, r: random.Random, kind: str, f: int, s: int) -> Page:
        t = r.choice(self.m.spanish_templates)
        pool = r.choices(self.m.texts, weights=self.m.text_weights)[0].sentences
        paras, main = [], None
        if kind == "too_short":
            paras = [_words(r.choice(pool), r.randint(5, 25))]
        elif kind == "link_list":
            titles = r.sample(self.m.titles, min(len(self.m.titles), r.randint(15, 60)))
            main = "<ul>\n" + "".join(f'<li><a href="/{slug(x)}.html">{x}</a></li>\n' for x in titles) + "</ul>\n"
            paras = titles[:1]
        elif kind == "repeated_lines":
            paras = [_words(r.choice(pool), r.randint(6, 20))] * r.randint(10, 40)
        elif kind == "ellipsis_teasers":
            cut = r.sample(pool, min(len(pool), r.randint(10, 30)))
            paras = [_words(p, r.randint(8, 15)).rstrip(".,;:") + "…" for p in cut]
        title = _title(paras) if paras else html.escape(t.title, quote=False)
        host = f"{r.choice(SITE_WORDS)}{r.randrange(1, 1000)}.example.{r.choice(('com', 'org', 'net'))}"
        return Page(t, title, paras, f"https://{host}/{slug(title)}-{f}-{s}.html", main)

    def foreign_page(self, r: random.Random, f: int, s: int) -> tuple[Page, str]:
        lang = r.choices(self.m.languages, weights=self.lang_weights)[0]
        t = r.choice(self.m.templates.get(lang) or self.other_templates)
        pool = self.m.foreign[lang]
        target, size, used = _log_uniform(r, 600, 15000), 0, []
        for _ in range(4 * min(80, len(pool))):
            if size >= target or len(used) >= min(80, len(pool)):
                break
            i = r.randrange(len(pool))
            if i not in used:
                used.append(i)
                size += len(pool[i])
        paras = [pool[i] for i in used]
        title = _title(paras)
        folder = t.name.split("/")[0]
        host = f"{lang}.site{r.randrange(1, 1000)}.example.{r.choice(('com', 'org', 'net'))}"
        return Page(t, title, paras, f"https://{host}/{folder}/{slug(title)}-{f}-{s}.html"), lang

    # -- captures --------------------------------------------------------------------------------

    def capture(self, f: int, s: int) -> Capture:
        r = self.rng(f, s)
        category = self._category(r.random())
        if category in ("exact_copy", "near_copy"):
            src = self.find_original(r, f, s)
            if src is None:
                cap = self._page_capture(r, self.original_page(f, s), "original", None, "es")
                cap.adjusted = f"{category}_without_original"
                return cap
            orig = self.original_page(*src)
            if category == "exact_copy":
                cap = self._page_capture(r, orig, category, None, "es")
                cap.url = _copy_url(r, orig.url)
            else:
                page, kind = self.near_page(r, orig, r.choice(NEAR_EDITS), f, s)
                cap = self._page_capture(r, page, category, kind, "es")
                cap.jaccard = round(word5_jaccard(orig.paras, page.paras), 4)
            cap.original = self.record_id(*src, "response")
            return cap
        if category == "original":
            return self._page_capture(r, self.original_page(f, s), category, None, "es")
        if category == "junk":
            kind = r.choice(JUNK_KINDS)
            return self._page_capture(r, self.junk_page(r, kind, f, s), category, kind, "es")
        if category == "other_language":
            page, lang = self.foreign_page(r, f, s)
            return self._page_capture(r, page, category, None, lang)
        if category == "broken":
            kind = r.choice(BROKEN_IN_PLACE + BROKEN_AT_END)
            return self._page_capture(r, self._broken_page(r, f, s), category, kind, "es")
        return self.non_html_capture(r, f, s)

    def _broken_page(self, r: random.Random, f: int, s: int) -> Page:
        t = r.choice(self.m.spanish_templates)
        paras = self.spanish_paras(r)
        title = _title(paras)
        return Page(t, title, paras, f"https://{r.choice(SITE_WORDS)}.example.com/{slug(title)}-{f}-{s}.html")

    def _page_capture(self, r: random.Random, page: Page, category: str, kind: str | None, lang: str | None) -> Capture:
        extra = (("Server", r.choice(SERVERS)),)
        return Capture(category, kind, lang, page.url, "HTTP/1.1 200 OK", "text/html; charset=utf-8", page.html(),
                       extra)

    def non_html_capture(self, r: random.Random, f: int, s: int) -> Capture:
        u, kind = r.random(), NON_HTML_MIX[-1][0]
        for name, share in NON_HTML_MIX:
            if u < share:
                kind = name
                break
            u -= share
        host = f"{r.choice(SITE_WORDS)}{r.randrange(1, 1000)}.example.{r.choice(('com', 'org', 'net'))}"
        if kind == "revisit":
            src = self.find_original(r, f, s)
            if src is not None:
                orig = self.original_page(*src)
                when = self.date(*src).strftime("%Y-%m-%dT%H:%M:%SZ")
                return Capture("non_html", kind, None, orig.url, "HTTP/1.1 200 OK", "text/html; charset=utf-8",
                               orig.html(), (("Server", r.choice(SERVERS)),), warc_type="revisit",
                               original=self.record_id(*src, "response"), refers_to=(orig.url, when))
            kind = "not_found"
            adjusted = "revisit_without_original"
        else:
            adjusted = None
        sample = r.choice(self.m.http[kind])
        path = f"/{r.choice(SITE_WORDS)}/{slug(r.choice(self.m.titles))}-{f}-{s}"
        extra: tuple[tuple[str, str], ...] = (("Server", r.choice(SERVERS)),)
        if kind == "redirect":
            url = f"http://{host}{path}/"
            to = f"https://{host}{path}/" if r.random() < 0.5 else f"http://{host}{path}/index.html"
            extra += (("Location", to),)
        elif kind == "not_html":
            ext = {"text/css": ".css", "image/png": ".png"}.get(sample.content_type.split(";")[0], ".bin")
            url = f"https://{host}/static/{slug(r.choice(self.m.titles))}-{f}-{s}{ext}"
        else:
            url = f"https://{host}{path}.html"
        cap = Capture("non_html", kind, None, url, sample.status_line, sample.content_type, sample.payload, extra)
        cap.adjusted = adjusted
        return cap


_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre")


def _words(paragraph: str, n: int) -> str:
    return html.escape(" ".join(plain(paragraph).split()[:n]), quote=False)


def _title(paras: list[str]) -> str:
    return _words(paras[0], 8).rstrip(".,;:") if paras else ""


def _copy_url(r: random.Random, url: str) -> str:
    """The same page under another URL, as crawls find exact copies."""
    host, path = url.split("/", 3)[2:]
    way = r.randrange(4)
    if way == 0:
        return f"http://{host}/{path}"
    if way == 1:
        return f"https://{r.choice(('espejo', 'mirror', 'cache', 'copia'))}{r.randrange(1, 100)}.example.org/{path}"
    if way == 2:
        source = r.choice(("twitter", "facebook", "boletin"))
        return f"{url}?utm_source={source}&utm_medium=social&utm_id={r.randrange(10**6)}"
    return f"https://{host}/amp/{path}?amp={r.randrange(1, 10**6)}"


# ---------------------------------------------------------------------------------------------
# Writing: one gzip member per record, a label line per record, the counts the reader must give

USER_AGENT = "tamiz-synthetic-crawl/1.0 (Common Crawl-shaped test data; NOT CCBot)"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"


def warc_record(wtype: str, date: str, record_id: str, ctype: str, block: bytes, fields: list[tuple[str, str]],
                version: str | None = "WARC/1.0", declared: int | None = None) -> bytes:
    """A WARC record in Common Crawl's header order; ``version=None`` and ``declared`` make broken ones."""
    head = [version] if version else []
    head += [f"WARC-Type: {wtype}", f"WARC-Date: {date}", f"WARC-Record-ID: {record_id}",
             f"Content-Length: {len(block) if declared is None else declared}", f"Content-Type: {ctype}"]
    head += [f"{k}: {v}" for k, v in fields]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"


def gzip_member(data: bytes) -> bytes:
    """One gzip member, mtime 0. Its window is no larger than the record: setting up zlib's full 32 kB
    window and hash costs more than compressing a 500-byte request record (about 6x)."""
    bits = max(9, min(15, (len(data) - 1).bit_length()))
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + bits, max(1, min(8, bits - 7)))
    return z.compress(data) + z.flush()


def truncated_member(record: bytes, block_len: int) -> bytes | None:
    """The record's gzip member cut where it still inflates to the whole WARC header and part of the
    block: a reader sees a record shorter than its Content-Length (a cut inside the header would
    make the record vanish without a trace, or read as a header without Content-Length)."""
    member = gzip_member(record)
    header_len = len(record) - block_len - 4
    for frac in (0.6, 0.7, 0.5, 0.8, 0.4, 0.9, 0.3):
        cut = int(len(member) * frac)
        got = len(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(member[:cut]))
        if header_len < got < header_len + block_len:
            return member[:cut]
    return None


class WarcWriter:
    """Writes one WARC file record by record with its label lines and counts what was written and
    what tamiz's reader must report for it."""

    def __init__(self, crawl: Crawl, f: int, out, labels=None):
        self.crawl, self.f, self.out, self.labels = crawl, f, out, labels
        self.pos = 0
        self.sha = hashlib.sha256()
        self.records: Counter = Counter()  # by WARC type
        self.counts: Counter = Counter()  # by category[/kind or language]
        self.read: Counter = Counter()  # what ReadReport must count: yielded, quarantined, skipped/<reason>
        self.info_id = crawl.record_id(f, -1, "warcinfo")

    def member(self, record: bytes, label: dict, raw: bytes | None = None) -> None:
        data = raw if raw is not None else gzip_member(record)
        self.out.write(data)
        self.sha.update(data)
        if self.labels is not None:
            line = {"offset": self.pos, "length": len(data), **{k: v for k, v in label.items() if v is not None}}
            self.labels.write((json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
        self.pos += len(data)
        self.records[label["warc_type"]] += 1

    def warcinfo(self) -> None:
        c = self.crawl
        name = f"{c.stem(self.f)}.warc.gz"
        block = (f"software: tamiz scripts/make_synthetic_crawl.py\r\nisPartOf: {c.config.crawl}\r\n"
                 f"publisher: tamiz (a synthetic Common Crawl-shaped crawl, NOT Common Crawl data)\r\n"
                 f"description: synthetic crawl, seed {c.config.seed}, file {self.f + 1} of {len(c.plan)}\r\n"
                 f"format: WARC File Format 1.0\r\n"
                 "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n"
                 ).encode()
        date = c.date(self.f, 0).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.member(warc_record("warcinfo", date, self.info_id, "application/warc-fields", block,
                                [("WARC-Filename", name), ("WARC-Block-Digest", sha1_b32(block))]),
                    {"record_id": self.info_id, "warc_type": "warcinfo", "category": "warcinfo"})
        self.read["skipped/record_warcinfo"] += 1

    def capture(self, s: int, cap: Capture, last: bool = False) -> None:
        c, f = self.crawl, self.f
        when = c.date(f, s)
        date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        req_id, resp_id = c.record_id(f, s, "request"), c.record_id(f, s, "response")
        host = cap.url.split("/")[2]
        path = "/" + cap.url.split("/", 3)[3] if cap.url.count("/") >= 3 else "/"
        ip = f"203.0.113.{zlib.crc32(host.encode()) % 254 + 1}"

        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
                   "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                   "Accept-Language: es-ES,es;q=0.9,en;q=0.5\r\nAccept-Encoding: br,gzip\r\n"
                   "Connection: Keep-Alive\r\n\r\n").encode()
        self.member(warc_record("request", date, req_id, "application/http; msgtype=request", request,
                                [("WARC-Warcinfo-ID", self.info_id), ("WARC-IP-Address", ip),
                                 ("WARC-Target-URI", cap.url), ("WARC-Block-Digest", sha1_b32(request))]),
                    {"record_id": req_id, "warc_type": "request", "url": cap.url, "category": "request"})
        self.read["skipped/record_request"] += 1

        kind = cap.kind
        payload = c.m.binary if kind == "binary_payload" else cap.payload
        extra = dict(cap.extra_http)
        lines = [] if kind == "bad_http_header" else [cap.status_line]
        lines += [f"Server: {extra.pop('Server', 'nginx')}", f"Date: {formatdate(when.timestamp(), usegmt=True)}",
                  f"Content-Type: {cap.content_type}", f"Content-Length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in extra.items()] + ["Connection: keep-alive"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        block = head if cap.warc_type == "revisit" else head + payload
        fields = [("WARC-Warcinfo-ID", self.info_id), ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", ip),
                  ("WARC-Target-URI", cap.url)]
        if cap.warc_type == "revisit":
            fields += [("WARC-Profile", REVISIT_PROFILE), ("WARC-Refers-To-Target-URI", cap.refers_to[0]),
                       ("WARC-Refers-To-Date", cap.refers_to[1])]
        fields += [("WARC-Payload-Digest", sha1_b32(payload)), ("WARC-Block-Digest", sha1_b32(block))]
        if cap.warc_type == "response":
            fields.append(("WARC-Identified-Payload-Type",
                           "image/png" if kind == "binary_payload" else cap.content_type.split(";")[0]))
        version = None if kind == "bad_warc_header" else "WARC/1.0"
        declared = len(block) + 1 + zlib.crc32(resp_id.encode()) % 4096 if kind == "content_length_too_long" else None
        record = warc_record(cap.warc_type, date, resp_id, "application/http; msgtype=response", block, fields,
                             version, declared)
        raw = None
        if kind == "truncated_gzip":
            raw = truncated_member(record, len(block))
            if raw is None:  # no cut point keeps the header whole: a wrong Content-Length instead
                kind, cap.adjusted = "content_length_too_long", "truncated_gzip_not_possible"
                record = warc_record(cap.warc_type, date, resp_id, "application/http; msgtype=response", block,
                                     fields, declared=len(block) + 1)
        self.member(record, {"record_id": resp_id, "warc_type": cap.warc_type, "url": cap.url,
                             "category": cap.category, "kind": kind, "lang": cap.lang, "original": cap.original,
                             "jaccard": cap.jaccard}, raw)
        key = cap.category + (f"/{kind}" if kind else f"/{cap.lang}" if cap.category == "other_language" else "")
        self.counts[key] += 1
        if cap.adjusted:
            self.counts[f"adjusted/{cap.adjusted}"] += 1
        if cap.category in PAGE_CATEGORIES:
            self.read["yielded"] += 1
        elif cap.category == "broken":
            self.read["quarantined"] += 1
        elif cap.warc_type == "revisit":
            self.read["skipped/record_revisit"] += 1
        else:
            status = int(cap.status_line.split()[1])
            self.read["skipped/not_html" if status == 200 else f"skipped/http_{status}"] += 1
        if last:
            return

        meta = f"fetchTimeMs: {50 + zlib.crc32(cap.url.encode()) % 2000}\r\ncharset-detected: UTF-8\r\n".encode()
        meta_id = c.record_id(f, s, "metadata")
        self.member(warc_record("metadata", date, meta_id, "application/warc-fields", meta,
                                [("WARC-Warcinfo-ID", self.info_id), ("WARC-Concurrent-To", resp_id),
                                 ("WARC-Target-URI", cap.url), ("WARC-Block-Digest", sha1_b32(meta))]),
                    {"record_id": meta_id, "warc_type": "metadata", "url": cap.url, "category": "metadata"})
        self.read["skipped/record_metadata"] += 1

    def expected_read(self) -> dict:
        skipped = {k.split("/", 1)[1]: n for k, n in sorted(self.read.items()) if k.startswith("skipped/")}
        return {"records": sum(self.records.values()), "yielded": self.read["yielded"], "skipped": skipped,
                "quarantined": self.read["quarantined"]}


def write_captures(w: WarcWriter) -> None:
    """The file's warcinfo, then its captures in order; a broken record that ends a file's reading
    is held back and written last (a second one in the file is broken in place instead)."""
    crawl, f = w.crawl, w.f
    w.warcinfo()
    tail = None
    for s in range(crawl.plan[f]):
        cap = crawl.capture(f, s)
        if cap.category == "broken" and cap.kind in BROKEN_AT_END:
            if tail is None:
                tail = (s, cap)
                continue
            cap.kind = BROKEN_IN_PLACE[BROKEN_AT_END.index(cap.kind) % len(BROKEN_IN_PLACE)]
            cap.adjusted = "broken_moved_in_place"
        w.capture(s, cap)
    if tail is not None:
        w.capture(*tail, last=True)


def nest(counts: Counter) -> dict:
    """Flat ``category/kind`` counts as the ground truth shows them."""
    out: dict = {"original": counts.get("original", 0), "exact_copy": counts.get("exact_copy", 0)}
    for category in ("near_copy", "other_language", "junk", "broken", "non_html", "adjusted"):
        out[category] = {k.split("/", 1)[1]: n for k, n in sorted(counts.items()) if k.startswith(category + "/")}
    return out


def write_file(crawl: Crawl, f: int, out: Path) -> dict:
    """Write WARC file ``f`` and its labels under ``out``; returns its entry of the ground truth."""
    c = crawl.config
    stem = crawl.stem(f)
    rel = f"crawl-data/{c.crawl}/segments/{c.segment}/warc/{stem}.warc.gz"
    labels_rel = f"labels/{stem}.labels.jsonl.gz"
    start = time.perf_counter()
    part, labels_part = out / f"{rel}.part", out / f"{labels_rel}.part"
    with open(part, "wb", buffering=1 << 20) as fh, open(labels_part, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as labels:
        w = WarcWriter(crawl, f, fh, labels)
        write_captures(w)
    os.replace(part, out / rel)
    os.replace(labels_part, out / labels_rel)
    return {"path": rel, "labels": labels_rel, "bytes": w.pos, "sha256": w.sha.hexdigest(),
            "captures": crawl.plan[f], "records": dict(sorted(w.records.items())), "counts": nest(w.counts),
            "expected_read": w.expected_read(),
            "_index": f, "_flat": dict(w.counts), "_seconds": time.perf_counter() - start}  # not in the JSON


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def plan_files(config: SynthConfig, material: Material) -> tuple[list[int], dict | None]:
    """Captures per file. With ``gb``, from the mean compressed size of calibration captures."""
    if config.files is not None:
        return [config.records_per_file] * config.files, None
    probe = WarcWriter(Crawl(config, material, [CALIBRATION_CAPTURES]), 0, _Discard())
    write_captures(probe)
    mean = probe.pos / CALIBRATION_CAPTURES
    per_file = max(1, round(config.file_mb * 1e6 / mean))
    total = max(1, round(config.gb * 1e9 / mean))
    n = max(1, round(total / per_file))  # files of equal size (within one capture), none tiny
    plan = [total // n + (i < total % n) for i in range(n)]
    return plan, {"captures": CALIBRATION_CAPTURES, "mean_capture_bytes": round(mean, 1), "captures_per_file": per_file}


# ---------------------------------------------------------------------------------------------
# The crawl

_WORKER: tuple[Crawl, Path] | None = None  # a --jobs worker's crawl (set once by the pool's initializer)


def _init_worker(crawl: Crawl, out: Path) -> None:
    global _WORKER
    _WORKER = (crawl, out)


def _work(f: int) -> dict:
    crawl, out = _WORKER
    return write_file(crawl, f, out)


def make_synthetic_crawl(out: str | os.PathLike, config: SynthConfig, jobs: int = 1,
                         progress: Callable[[str], None] | None = print, material: Material | None = None) -> dict:
    """Write the crawl under ``out`` (this crawl's folder and ``labels/`` are replaced); returns the
    ground truth, also written to ``out/synthetic-crawl.json``. ``material`` (``load_material()``)
    can be shared by several calls; ``jobs`` processes write files in parallel, same bytes."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: {jobs!r} is not a positive integer")
    material = material or load_material(config.pages, config.texts)
    if material.inputs != (config.pages, config.texts):
        raise ValueError(f"material: loaded from pages and texts {material.inputs}, not the config's")
    plan, calibration = plan_files(config, material)
    crawl = Crawl(config, material, plan)
    out = Path(out)
    shutil.rmtree(out / "crawl-data" / config.crawl, ignore_errors=True)
    shutil.rmtree(out / "labels", ignore_errors=True)
    (out / "crawl-data" / config.crawl / "segments" / config.segment / "warc").mkdir(parents=True)
    (out / "labels").mkdir()

    results: list[dict] = [{}] * len(plan)

    def done(r: dict, k: int) -> None:
        results[r["_index"]] = r
        if progress:
            progress(f"[{k}/{len(plan)}] {r['path']}  {r['bytes'] / 1e6:.1f} MB  {r['captures']:,} captures  "
                     f"{r['_seconds']:.1f} s")

    if jobs == 1 or len(plan) == 1:
        for k, f in enumerate(range(len(plan)), 1):
            done(write_file(crawl, f, out), k)
    else:
        with multiprocessing.Pool(min(jobs, len(plan)), initializer=_init_worker, initargs=(crawl, out)) as pool:
            for k, r in enumerate(pool.imap_unordered(_work, range(len(plan))), 1):
                done(r, k)

    paths = [r["path"] for r in results]
    (out / "crawl-data" / config.crawl / "warc.paths.gz").write_bytes(
        gzip.compress("".join(f"{p}\n" for p in paths).encode(), compresslevel=9, mtime=0))
    flat: Counter = Counter()
    records: Counter = Counter()
    read: Counter = Counter()
    skipped: Counter = Counter()
    for r in results:
        flat.update(r.pop("_flat"))
        r.pop("_seconds")
        r.pop("_index")
        records.update(r["records"])
        read.update({k: r["expected_read"][k] for k in ("records", "yielded", "quarantined")})
        skipped.update(r["expected_read"]["skipped"])
    summary = {
        "generator": "scripts/make_synthetic_crawl.py",
        "arguments": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "material": material.description,
        "calibration": calibration,
        "crawl": config.crawl,
        "segment": config.segment,
        "warc_paths": f"crawl-data/{config.crawl}/warc.paths.gz",
        "totals": {"files": len(results), "bytes": sum(r["bytes"] for r in results),
                   "captures": sum(plan), "records": dict(sorted(records.items())), **nest(flat),
                   "expected_read": {"records": read["records"], "yielded": read["yielded"],
                                     "skipped": dict(sorted(skipped.items())), "quarantined": read["quarantined"]}},
        "files": results,
    }
    text = json.dumps(summary, indent=1, ensure_ascii=False) + "\n"
    (out / "synthetic-crawl.json").write_text(text, encoding="utf-8")
    if summary["totals"]["adjusted"]:
        log.warning("some captures were written as other than drawn (see totals.adjusted in synthetic-crawl.json): %s",
                    summary["totals"]["adjusted"])
    return summary


# ---------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    d = SynthConfig(gb=1.0)
    p = argparse.ArgumentParser(
        description="Write a deterministic Common Crawl-shaped crawl (WARC files, warc.paths.gz, per-record "
                    "labels, synthetic-crawl.json) of any size from real pages and real Spanish text.",
        epilog="The same arguments always give the same bytes. See the module docstring for what is planted.")
    p.add_argument("--out", required=True, type=Path, help="folder to write into (this crawl's folders are replaced)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of every draw (default: %(default)s)")
    size = p.add_argument_group("size (either --gb or --files with --records-per-file)")
    size.add_argument("--gb", type=float, help="compressed size of all WARC files, 10^9 bytes (default: 1.0)")
    size.add_argument("--file-mb", type=float, default=d.file_mb,
                      help="size of one WARC file with --gb, 10^6 bytes (default: %(default)s; Common Crawl's: ~1000)")
    size.add_argument("--files", type=int, help="number of WARC files, for many tiny files")
    size.add_argument("--records-per-file", type=int, metavar="K",
                      help="captures per file with --files (each: request, response or revisit, metadata)")
    rates = p.add_argument_group("rates")
    rates.add_argument("--spanish-share", type=float, default=d.spanish_share, metavar="F",
                       help="share of HTML pages that are Spanish, the rest other languages "
                            "(default: %(default)s; Common Crawl: ~0.05)")
    rates.add_argument("--exact-copies", type=float, default=d.exact_copies, metavar="F",
                       help="share of Spanish pages that are exact copies (default: %(default)s)")
    rates.add_argument("--near-copies", type=float, default=d.near_copies, metavar="F",
                       help="share of Spanish pages that are near copies (default: %(default)s)")
    rates.add_argument("--junk", type=float, default=d.junk, metavar="F",
                       help="share of Spanish pages that are junk (default: %(default)s)")
    rates.add_argument("--broken", type=float, default=d.broken, metavar="F",
                       help="share of captures with a broken response record (default: %(default)s)")
    rates.add_argument("--non-html", type=float, default=d.non_html, metavar="F",
                       help="share of captures that are redirects, 404/503, CSS/PNG or revisits (default: %(default)s)")
    p.add_argument("--crawl", default=d.crawl, help="crawl id, like CC-MAIN-2024-26 (default: %(default)s)")
    p.add_argument("--segment", default=d.segment, help="segment name (default: %(default)s)")
    p.add_argument("--pages", action="append", default=[], metavar="DIR",
                   help="extra real HTML pages, DIR/<lang-folder>/*.html (e.g. an unpacked debian-handbook "
                        "package's usr/share/doc/debian-handbook/html); repeatable")
    p.add_argument("--text", action="append", default=[], metavar="FILE",
                   help="JSONL(.gz) of Spanish text (field 'text') instead of the bundled sample's; repeatable")
    p.add_argument("--jobs", type=int, default=1, help="processes writing files in parallel (default: %(default)s)")
    return p, p.parse_args(argv)


def config_from_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> SynthConfig:
    """The config of the command line; argparse errors name the option."""
    if args.files is None and args.records_per_file is not None:
        p.error("--records-per-file needs --files")
    if args.files is not None and args.records_per_file is None:
        p.error("--files needs --records-per-file")
    if args.files is not None and args.gb is not None:
        p.error("--gb and --files exclude each other")
    if args.jobs < 1:
        p.error(f"--jobs: {args.jobs} is not a positive integer")
    try:
        return SynthConfig(
            seed=args.seed, gb=args.gb if args.gb is not None or args.files is not None else 1.0,
            file_mb=args.file_mb, files=args.files, records_per_file=args.records_per_file,
            spanish_share=args.spanish_share, exact_copies=args.exact_copies, near_copies=args.near_copies,
            junk=args.junk, broken=args.broken, non_html=args.non_html, crawl=args.crawl, segment=args.segment,
            pages=tuple(args.pages), texts=tuple(args.text))
    except ValueError as e:
        p.error(as_options(str(e)))


_OPTIONS = {"seed": "--seed", "gb": "--gb", "file_mb": "--file-mb", "files": "--files",
            "records_per_file": "--records-per-file", "spanish_share": "--spanish-share",
            "exact_copies": "--exact-copies", "near_copies": "--near-copies", "junk": "--junk", "broken": "--broken",
            "non_html": "--non-html", "crawl": "--crawl", "segment": "--segment", "pages": "--pages", "texts": "--text"}


def as_options(message: str) -> str:
    """A config error as the command line says it: ``exact_copies: ...`` -> ``--exact-copies: ...``."""
    fields, sep, rest = message.partition(": ")
    return re.sub(r"[a-z_]+", lambda m: _OPTIONS.get(m.group(0), m.group(0)), fields) + sep + rest


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    p, args = parse_args(argv)
    config = config_from_args(p, args)
    start = time.perf_counter()
    try:
        s = make_synthetic_crawl(args.out, config, jobs=args.jobs, progress=lambda line: print(line, flush=True))
    except (FileNotFoundError, ValueError) as e:  # a --pages or --text input that cannot be used
        p.error(as_options(str(e)))
    seconds = time.perf_counter() - start
    t = s["totals"]
    pages = t["original"] + t["exact_copy"] + sum(t["near_copy"].values()) + sum(t["junk"].values()) \
        + sum(t["other_language"].values())
    print(f"{args.out}: {t['files']} WARC files, {t['bytes'] / 1e6:,.1f} MB, {t['records']} records, {t['captures']:,} "
          f"captures in {seconds:.1f} s ({t['bytes'] / 1e6 / seconds:.1f} MB/s)")
    print(f"  HTML pages {pages:,}: {t['original']:,} Spanish originals, {t['exact_copy']:,} exact copies, "
          f"{sum(t['near_copy'].values()):,} near copies {t['near_copy']}, {sum(t['junk'].values()):,} junk, "
          f"{sum(t['other_language'].values()):,} other-language")
    print(f"  broken {t['broken']}, non-HTML {t['non_html']}, adjusted {t['adjusted']}")
    print(f"  ground truth: {args.out / 'synthetic-crawl.json'}, labels in {args.out / 'labels'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
