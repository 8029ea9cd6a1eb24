"""Close-language filter: drop Catalan, Galician, Portuguese, Asturian and Occitan text that a Spanish
language ID kept.

fastText's lid.176 gives `es` as the top language to many Galician and Asturian paragraphs, and to
some short Portuguese and Occitan texts (docs/langid.md, "Close languages"). This step counts, in each document, the *marker words* of
each close language and of Spanish against it: high-precision word lists made as FineWeb-2 made
its own (frequent in the language, and at least 95% of the word's uses are in it rather than in
the other language or English; `scripts/build_close_language.py` builds them from Debian's
translations, resources/close_language/: `ca.txt` Catalan against Spanish, `es-ca.txt` Spanish
against Catalan, ...). The close language with the most markers is the candidate; the document is
dropped with reason `close_language:<lang>` when that language has at least `min_markers` markers
and more than `max_share` of the markers of the pair (its own and Spanish's against it). A Spanish
text that quotes a Catalan sentence keeps many more Spanish markers than Catalan ones; a short text
without markers is kept. Set lookups over the document's words (shared through its view): no model.

Measured in `metadata.close_language`: `top` (the candidate language, or null without any marker),
`markers` (its markers), `es` (Spanish markers against it), `share` (markers / (markers + es)).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.config import CloseLanguageConfig
from tamiz.pipeline.filters.words import words_of

LISTS = Path(__file__).resolve().parent / "resources" / "close_language"


def marker_words(words: list[str]) -> list[str]:
    """Lowercased words, with elisions split after the apostrophe (`d'aquest` -> `d'`, `aquest`), as the
    lists were made: Catalan, Occitan and Asturian elide (l', d', s', n'), Spanish does not."""
    out: list[str] = []
    for w in words:
        w = w.lower()
        if "'" in w or "’" in w:
            out += w.replace("’", "'").replace("'", "' ").split()
        else:
            out.append(w)
    return out


@lru_cache(maxsize=16)
def load_markers(name: str) -> frozenset[str]:
    """One marker list: `ca` (Catalan against Spanish) or `es-ca` (Spanish against Catalan), ...
    (resources/close_language/<name>.txt)."""
    path = LISTS / f"{name}.txt"
    return frozenset(w for w in path.read_text(encoding="utf-8").split() if w)


def count_markers(words: list[str], languages: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """{lang: (the language's markers, Spanish's markers against it)} among `words`."""
    seen = Counter(marker_words(words))
    out = {}
    for lang in languages:
        mine, spanish = load_markers(lang), load_markers(f"es-{lang}")
        out[lang] = (sum(n for w, n in seen.items() if w in mine), sum(n for w, n in seen.items() if w in spanish))
    return out


def markers_of(view: DocView, languages: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """`view.derive(markers_of, languages)`: count_markers of the document's words."""
    return count_markers(view.derive(words_of), languages)


@dataclass
class CloseLanguage:
    """Filter: drop documents whose marker words are mostly those of a close language."""

    config: CloseLanguageConfig = field(default_factory=CloseLanguageConfig)
    name: str = "close_language"

    def filter(self, doc: Document, view: DocView | None = None):
        c = self.config
        counts = DocView.of(doc.text, view).derive(markers_of, c.languages)
        top = max(c.languages, key=lambda lang: counts[lang][0])  # ties: the first in `languages`
        n, es = counts[top]
        share = n / (n + es) if n + es else 0.0
        doc.metadata[self.name] = {"top": top if n else None, "markers": n, "es": es, "share": round(share, 4)}
        if n >= c.min_markers and share > c.max_share:
            return False, top
        return True
