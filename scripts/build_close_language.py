#!/usr/bin/env python3
"""Build the close-language evaluation set and the marker word lists from real Debian packages.

Languages: Spanish (es) and the five close languages a Spanish language ID can keep: Catalan (ca),
Galician (gl), Portuguese (pt, European and Brazilian together), Asturian (ast) and Occitan (oc).
Text comes from three kinds of Debian files, all translated by people:

* help     ``gnome-user-docs``: GNOME's help pages (Mallard XML) in es, ca, gl, pt, pt_BR;
           a paragraph is one ``<p>``, a page is the title and every paragraph of a ``.page`` file.
           Paragraphs identical to the English original (untranslated) are left out.
* messages gettext catalogues (``.mo``) of dpkg, GLib, GTK 2, gdk-pixbuf, PackageKit,
           shared-mime-info and at-spi2-core, which all seven languages have: the translated
           strings (``msgstr``), joined in catalogue order into paragraph-sized (>= 150 characters)
           and page-sized (>= 1,500 characters) documents. Strings of fewer than 3 words and
           untranslated strings are left out. Single strings of 40 to 149 characters are
           sentence-sized documents.
* book     ``debian-handbook``: the Catalan (ca-ES) and Brazilian Portuguese (pt-BR) books,
           extracted with resiliparse as ingest does; evaluation only (never used for the lists).

Each help page and each message goes to the ``train`` or the ``eval`` half by a hash of its
name (the page file name, the message id), the same for every language, so no evaluation text,
nor its translation into another language, was seen when the lists were made.

Outputs:

* ``data/close_language/<lang>.jsonl.gz``: the evaluation documents (fields id, lang, genre,
  size, text), at most EVAL_PARAGRAPHS paragraphs and EVAL_PAGES pages per language and genre,
  chosen by hash.
* ``pipeline/filters/resources/close_language/<lang>.txt`` and ``es-<lang>.txt``: for each close
  language, its marker words against Spanish and Spanish's against it, made as FineWeb-2 made its
  high-precision word lists (misc/precision_filtering of huggingface/fineweb-2): the language's
  frequent words (count at or above the 95th percentile of its word counts, and at least
  MIN_COUNT) of which at least ``MIN_SHARE`` of the uses are in it. FineWeb-2 divided raw counts
  over all its languages; here counts are per million words (the corpora differ in size), each
  list is made against one rival language (a word shared by Galician and Portuguese but not
  Spanish marks both) and against English (help pages and messages leave some strings
  untranslated; English is the originals of the same pages and messages plus ``manpages``). As
  the rival of the close languages, Spanish also counts the text of ``manpages-es``, the Spanish
  installation guide and ``maint-guide-es`` and, for everyday words ("rato", "les", "da", "mas"),
  the training half of the sample's fortunes (``data/sample/reference/fortunes_es.jsonl``, by the
  same hash of the fortune's id), so a word common in Spanish outside this genre cannot become a
  close-language marker.

Usage (the .deb files are fetched with ``apt-get download`` unless ``--debs`` names a folder that
holds them)::

    python scripts/build_close_language.py --debs /tmp/lang_debs
"""

from __future__ import annotations

import argparse
import gettext
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_sample import extract_deb, write_jsonl  # noqa: E402  (scripts/ is not a package)

REPO = Path(__file__).resolve().parent.parent

PACKAGES = {  # Debian 12 (bookworm) versions the committed files were built from
    "gnome-user-docs": "43.0-2",
    "debian-handbook": "11.20220922",
    "dpkg": "1.21.23",
    "libglib2.0-data": "2.74.6-2+deb12u9",
    "libgtk2.0-common": "2.24.33-2+deb12u1",
    "libgdk-pixbuf2.0-common": "2.42.10+dfsg-1+deb12u4",
    "packagekit": "1.2.6-5+deb12u1",
    "shared-mime-info": "2.2-1",
    "at-spi2-common": "2.46.0-5",
    "manpages-es": "4.18.1-1",
    "manpages": "6.03-2",
    "installation-guide-amd64": "20230508+deb12u1",
    "maint-guide-es": "1.2.53",
    "apt": "2.6.1",
    "libapt-pkg6.0": "2.6.1",
    "sed": "4.9-1+deb12u1",
    "gettext-base": "0.21-12",
}
MO_PACKAGES = ("dpkg", "libglib2.0-data", "libgtk2.0-common", "libgdk-pixbuf2.0-common", "packagekit",
               "shared-mime-info", "at-spi2-common",  # these seven: every language
               "apt", "libapt-pkg6.0", "sed", "gettext-base")  # no Occitan
LANGS = ("es", "ca", "gl", "pt", "ast", "oc")
HELP_FOLDERS = {"es": ["es"], "ca": ["ca"], "gl": ["gl"], "pt": ["pt", "pt_BR"]}
MO_FOLDERS = {"es": ["es"], "ca": ["ca"], "gl": ["gl"], "pt": ["pt", "pt_BR"], "ast": ["ast"], "oc": ["oc"]}
BOOK_FOLDERS = {"ca": ["ca-ES"], "pt": ["pt-BR"]}
HELP_ROOT = "usr/share/help"
FORTUNES = REPO / "data" / "sample" / "reference" / "fortunes_es.jsonl"  # fortunes-es 1.36, the sample's
HELP_GUIDES = ("gnome-help", "system-admin-guide")
GUIDE_FOLDERS = {"es": "es", "ca": "ca", "pt": "pt"}  # installation-guide-amd64 (training only)
GUIDE_HTML = "usr/share/doc/installation-guide-amd64"
HANDBOOK_HTML = "usr/share/doc/debian-handbook/html"

EVAL_PARAGRAPHS = 100  # per language and genre
EVAL_PAGES = 25
SENTENCE_CHARS = 40  # one message of 40 to 149 characters is a sentence-sized document
PARAGRAPH_CHARS = 150  # messages joined until at least this long
PAGE_CHARS = 1500
MIN_HELP_PARAGRAPH = 80
PERCENTILE = 95  # FineWeb-2: a word must be at least this frequent in its language...
MIN_SHARE = 0.95  # ... and at least this share of the word's uses (per million words) must be in it
MIN_COUNT = 3  # ... and seen at least this many times

_MALLARD = "{http://projectmallard.org/1.0/}"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"^[^\W\d_]+(?:['’][^\W\d_]+)*['’]?$")


def half(key: str) -> str:
    """'train' or 'eval', by a hash of the unit's name (the same for every language)."""
    return "eval" if hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()[0] % 2 else "train"


def order(key: str) -> bytes:
    return hashlib.blake2b(f"order:{key}".encode("utf-8"), digest_size=8).digest()


def norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


# ----------------------------------------------------------------------------------------- readers

def help_pages(root: Path, folder: str) -> dict[str, tuple[str, list[str]]]:
    """{guide/page name: (title, paragraphs)} of one language folder of gnome-user-docs' guides."""
    out = {}
    for path in sorted(p for g in HELP_GUIDES for p in (root / HELP_ROOT / folder / g).glob("*.page")):
        tree = ET.parse(path)  # Debian's own files, not crawled input
        page = tree.getroot()
        title = page.find(f"{_MALLARD}title")
        paras = [norm("".join(p.itertext())) for p in page.iter(f"{_MALLARD}p")]
        out[f"{path.parent.name}/{path.name}"] = (norm("".join(title.itertext())) if title is not None else "",
                                                 [p for p in paras if p])
    return out


def mo_strings(roots: dict[str, Path], folder: str) -> list[tuple[str, str]]:
    """(message id, translation) of the gettext catalogues of MO_PACKAGES in one locale folder."""
    out = []
    for pkg in MO_PACKAGES:
        for path in sorted((roots[pkg] / "usr/share/locale" / folder / "LC_MESSAGES").glob("*.mo")):
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 (the parsed msgid -> msgstr map)
            for msgid, msgstr in sorted(catalog.items(), key=lambda kv: str(kv[0])):
                if not isinstance(msgid, str) or not msgid or not isinstance(msgstr, str):
                    continue  # the header, and plural forms (keyed by (msgid, n))
                text = norm(msgstr.replace("_", "") if "_" in msgstr and "_" not in msgid else msgstr)
                if len(text.split()) >= 3 and text != norm(msgid):
                    out.append((f"{pkg}/{path.stem}/{msgid}", text))
    return out


def book_paragraphs(root: Path, folder: str, base: str = HANDBOOK_HTML) -> dict[str, list[str]]:
    """{page: paragraphs} of one language of an HTML book (debian-handbook, the installation guide),
    extracted as tamiz's ingest does."""
    from tamiz.pipeline.extract import extract_text

    out = {}
    for path in sorted((root / base / folder).glob("*.html")):
        text = extract_text(path.read_text(encoding="utf-8"), "resiliparse")
        out[path.name] = [norm(p) for p in text.split("\n") if norm(p)]
    return out


# ------------------------------------------------------------------------------------- evaluation

def joined(strings: list[tuple[str, str]], min_chars: int, prefix: str) -> list[dict]:
    """Consecutive strings joined until each document has at least `min_chars` characters."""
    docs, buf, first = [], [], ""
    for key, text in strings:
        if not buf:
            first = key
        buf.append(text)
        if sum(map(len, buf)) + len(buf) - 1 >= min_chars:
            docs.append({"id": f"{prefix}/{first}", "text": " ".join(buf)})
            buf = []
    return docs


def eval_docs(lang: str, roots: dict[str, Path], english_help: dict, english_book: dict) -> list[dict]:
    docs: list[dict] = []

    def take(genre: str, size: str, found: list[dict], n: int) -> None:
        found = sorted(found, key=lambda d: order(d["id"]))[:n]
        docs.extend({"id": d["id"], "lang": lang, "genre": genre, "size": size, "text": d["text"]}
                    for d in sorted(found, key=lambda d: d["id"]))

    if lang in HELP_FOLDERS:
        paras, pages = [], []
        for folder in HELP_FOLDERS[lang]:
            for name, (title, ps) in help_pages(roots["gnome-user-docs"], folder).items():
                if half(name) != "eval":
                    continue
                en = set(english_help.get(name, ("", []))[1])
                translated = [p for p in ps if p not in en]
                paras += [{"id": f"help/{folder}/{name}#{i}", "text": p} for i, p in enumerate(ps)
                          if p in translated and len(p) >= MIN_HELP_PARAGRAPH]
                if ps and len(translated) * 2 >= len(ps) and sum(map(len, ps)) >= 400:
                    pages.append({"id": f"help/{folder}/{name}", "text": "\n".join([title, *ps])})
        take("help", "paragraph", paras, EVAL_PARAGRAPHS)
        take("help", "page", pages, EVAL_PAGES)
    strings = [(k, t) for folder in MO_FOLDERS[lang] for k, t in mo_strings(roots, folder) if half(k) == "eval"]
    take("messages", "sentence", [{"id": f"messages/{lang}/{k}", "text": t} for k, t in strings
                                  if SENTENCE_CHARS <= len(t) < PARAGRAPH_CHARS], EVAL_PARAGRAPHS)
    take("messages", "paragraph", joined(strings, PARAGRAPH_CHARS, f"messages/{lang}"), EVAL_PARAGRAPHS)
    take("messages", "page", joined(strings, PAGE_CHARS, f"messages/{lang}"), EVAL_PAGES)
    if lang in BOOK_FOLDERS:
        paras, pages = [], []
        for folder in BOOK_FOLDERS[lang]:
            for name, ps in book_paragraphs(roots["debian-handbook"], folder).items():
                en = set(english_book.get(name, []))
                translated = [p for p in ps if p not in en]
                paras += [{"id": f"book/{folder}/{name}#{i}", "text": p} for i, p in enumerate(ps)
                          if p in translated and len(p) >= PARAGRAPH_CHARS]
                chunk: list[str] = []
                for i, p in enumerate(translated):  # page-sized runs of the translated text
                    chunk.append(p)
                    if sum(map(len, chunk)) >= 3 * PAGE_CHARS:
                        pages.append({"id": f"book/{folder}/{name}@{i}", "text": "\n".join(chunk)})
                        chunk = []
        take("book", "paragraph", paras, EVAL_PARAGRAPHS)
        take("book", "page", pages, EVAL_PAGES)
    return docs


# ------------------------------------------------------------------------------------ word lists

def words(text: str) -> list[str]:
    """The lowercased words of `text` as the close-language filter reads them (its `marker_words`)."""
    from tamiz.pipeline.filters.close_language import marker_words
    from tamiz.pipeline.filters.words import split_tokens_words

    return marker_words(split_tokens_words(text)[1])


def training_counts(lang: str, roots: dict[str, Path], english_help: dict) -> Counter:
    """Word counts of the training half of one language. 'en': the English originals of the same help
    pages and messages and the English manual pages, so that untranslated English never becomes a
    marker; 'es+': Spanish with its manual pages and two Debian books, and 'es-fortunes': everyday Spanish
    (the training half of the sample's fortunes), the rivals of the close languages besides 'es'."""
    counts: Counter = Counter()
    if lang == "es-fortunes":  # everyday Spanish as a rival: the training half of fortunes-es
        for line in FORTUNES.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if half(r["id"]) == "train":
                counts.update(words(r["text"]))
        return _clean(counts)
    if lang == "es+":  # Spanish as a rival: the training half, the manual pages, two Debian books
        counts = training_counts("es", roots, english_help)
        counts.update(man_words(roots["manpages-es"] / "usr/share/man/es"))
        counts.update(guide_words(roots, GUIDE_FOLDERS["es"]))
        counts.update(html_words(roots["maint-guide-es"] / "usr/share/doc/maint-guide-es/html"))
        return _clean(counts)
    if lang == "en":
        for name, (title, ps) in english_help.items():
            if half(name) == "train":
                for text in [title, *ps]:
                    counts.update(words(text))
        for key, _ in mo_strings(roots, "es"):
            if half(key) == "train":
                counts.update(words(key.split("/", 2)[2]))
        counts.update(man_words(roots["manpages"] / "usr/share/man"))
        return _clean(counts)
    for folder in HELP_FOLDERS.get(lang, []):
        for name, (title, ps) in help_pages(roots["gnome-user-docs"], folder).items():
            if half(name) == "train":
                en = set(english_help.get(name, ("", []))[1])
                for text in [title, *(p for p in ps if p not in en)]:
                    counts.update(words(text))
    for folder in MO_FOLDERS[lang]:
        for key, text in mo_strings(roots, folder):
            if half(key) == "train":
                counts.update(words(text))
    if lang in GUIDE_FOLDERS and lang != "es":
        counts.update(guide_words(roots, GUIDE_FOLDERS[lang]))
    return _clean(counts)


def guide_words(roots: dict[str, Path], folder: str) -> Counter:
    """Word counts of one language of the Debian installation guide (paragraphs left in English out)."""
    english = {p for ps in book_paragraphs(roots["installation-guide-amd64"], "en", GUIDE_HTML).values() for p in ps}
    counts: Counter = Counter()
    for ps in book_paragraphs(roots["installation-guide-amd64"], folder, GUIDE_HTML).values():
        for p in ps:
            if p not in english:
                counts.update(words(p))
    return counts


def man_words(folder: Path) -> Counter:
    """Word counts of the manual pages under `folder` (roff requests and font escapes left out): Spanish
    for 'es', English for 'en', so that words of the untranslated parts mark neither."""
    import gzip

    counts: Counter = Counter()
    for path in sorted(folder.rglob("*.gz")):
        raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        text = "\n".join(line for line in raw.splitlines() if not line.startswith((".", "'", '\\"')))
        counts.update(words(re.sub(r"\\f[BIRP]|\\[-&(e]|\\\(..", " ", text)))
    return counts


def html_words(folder: Path) -> Counter:
    from tamiz.pipeline.extract import extract_text

    counts: Counter = Counter()
    for path in sorted(folder.glob("*.html")):
        counts.update(words(extract_text(path.read_text(encoding="utf-8"), "resiliparse")))
    return counts


def _clean(counts: Counter) -> Counter:
    """Words of letters only (elisions kept)."""
    return Counter({w: n for w, n in counts.items() if _WORD.match(w)})


def marker_lists(counts: dict[str, Counter]) -> dict[str, list[str]]:
    """{"ca": Catalan markers against Spanish, "es-ca": Spanish markers against Catalan, ...}: the pair of
    lists the filter compares for each close language. English is a rival of every list; the Spanish
    list is the union of the markers of the help and messages and of the everyday fortunes."""
    import numpy as np

    per_million = {lang: {w: n * 1e6 / sum(c.values()) for w, n in c.items()} for lang, c in counts.items()}

    def chosen(lang: str, rivals: tuple[str, ...]) -> list[str]:
        c = counts[lang]
        cut = max(float(np.percentile(list(c.values()), PERCENTILE)), MIN_COUNT)
        out = []
        for w, n in c.items():
            if n < cut:
                continue
            mine = per_million[lang][w]
            rival = max(per_million[o].get(w, 0.0) for o in rivals)
            if mine / (mine + rival) >= MIN_SHARE:
                out.append(w)
        return sorted(out, key=lambda w: (-c[w], w))

    lists = {}
    for lang in LANGS[1:]:
        lists[lang] = chosen(lang, ("es", "es+", "es-fortunes", "en"))
        both = set(chosen("es", (lang, "en"))) | set(chosen("es-fortunes", (lang, "en")))  # technical and everyday
        lists[f"es-{lang}"] = sorted(both, key=lambda w: (-counts["es"][w], -counts["es-fortunes"][w], w))
    return lists


# ------------------------------------------------------------------------------------------- main

def fetch(debs: Path | None, tmp: Path) -> dict[str, Path]:
    if debs is None:
        debs = tmp / "debs"
        debs.mkdir()
        for pkg, version in PACKAGES.items():
            subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=debs, check=True)
    roots = {}
    for pkg in PACKAGES:
        found = sorted(debs.glob(f"{pkg}_*.deb"))
        if not found:
            raise SystemExit(f"no {pkg}_*.deb in {debs}")
        roots[pkg] = tmp / pkg
        extract_deb(found[-1], roots[pkg])
    return roots


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--debs", type=Path, help="folder with the .deb files (default: apt-get download)")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "close_language")
    ap.add_argument("--lists", type=Path, default=REPO / "pipeline" / "filters" / "resources" / "close_language")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        roots = fetch(args.debs, Path(tmp))
        english_help = help_pages(roots["gnome-user-docs"], "C")
        english_book = book_paragraphs(roots["debian-handbook"], "en-US")
        summary: dict = {"packages": PACKAGES, "eval": {}, "lists": {}, "training_words": {}}
        args.out.mkdir(parents=True, exist_ok=True)
        for lang in LANGS:
            docs = eval_docs(lang, roots, english_help, english_book)
            write_jsonl(args.out / f"{lang}.jsonl.gz", docs)
            summary["eval"][lang] = dict(sorted(Counter(f"{d['genre']}/{d['size']}" for d in docs).items()))
        counts = {lang: training_counts(lang, roots, english_help) for lang in (*LANGS, "en", "es+", "es-fortunes")}
        lists = marker_lists(counts)
        args.lists.mkdir(parents=True, exist_ok=True)
        for lang, ws in lists.items():
            (args.lists / f"{lang}.txt").write_text("\n".join(ws) + "\n", encoding="utf-8")
            summary["lists"][lang] = len(ws)
        summary["training_words"] = {lang: sum(c.values()) for lang, c in counts.items()}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        print(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
