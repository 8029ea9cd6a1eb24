"""Offensive and adult words: a score per document from Spanish word lists by country, to tag or drop.

The lists are spanlp's (MIT; one per country, resources/spanlp/<ISO alpha-3>.txt, resources/NOTICE.md),
curated as C4's bad-words rule uses them (pipeline/filters/c4.py: ordinary words such as "año"/"ano",
animals and identity terms left out, ñ spellings added) and a few more ordinary words
(resources/offensive_exclude.txt: "basura", "moco", "zurdo"...), plus any lists of your own. Only single-word
entries count; words are matched whole, lowercased, with accents folded and ñ kept.

score = offensive-word occurrences / words of the document. A document is offensive when its score is
at least `threshold` and it holds at least `min_hits` offensive words; then `action` "drop" drops it
with reason `offensive:words`, and "tag" keeps it with `metadata.offensive.tagged = true` and
"offensive" in `metadata.tags` (the filter stage counts tags in its manifest). Measured in
`metadata.offensive`: `hits`, `words`, `score`, `found` (up to 5 distinct words), `tagged`.

Where C4's rule (c4.py) judges web pages with every country's list at once and a high bar (2 hits
and 0.5%), this step is for the policy of a corpus: which countries' vocabulary, which threshold,
and tagging instead of dropping, so a later stage or a mixer can decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import filterfalse
from pathlib import Path

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.c4 import FOLD, RESOURCES, _fold, _read_list
from tamiz.pipeline.filters.config import OffensiveConfig
from tamiz.pipeline.filters.words import words_of

SPANLP = RESOURCES / "spanlp"
COUNTRIES = tuple(sorted(p.stem for p in SPANLP.glob("*.txt")))


def check_countries(countries: tuple[str, ...]) -> None:
    """ValueError naming the first country code that has no list."""
    for c in countries:
        if not isinstance(c, str) or c.upper() not in COUNTRIES:
            raise ValueError(f"countries: {c!r} has no list (lists: {', '.join(COUNTRIES)})")


def check_word_list(path: str | Path) -> list[str]:
    """The entries of a user's word list; ValueError naming the file (and line) when it is missing, is
    not UTF-8, or holds no word. Called when the config is made, before any work starts."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ValueError(f"word_lists: {p}: cannot be read ({e.strerror or e})") from None
    words = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"word_lists: {p}, line {n}: not UTF-8 (byte 0x{raw[e.start]:02x} at column "
                             f"{e.start + 1}); save the list as UTF-8") from None
        line = line.lstrip("\ufeff").split("#", 1)[0].strip().lower()
        if line:
            words.append(line)
    if not words:
        raise ValueError(f"word_lists: {p}: holds no word (one word per line, '#' starts a comment)")
    return words


@lru_cache(maxsize=16)
def load_offensive_words(countries: tuple[str, ...] = (), curated: bool = True,
                         word_lists: tuple[str, ...] = ()) -> frozenset[str]:
    """The single-word entries of the countries' lists (all when empty), folded as they are matched,
    without tamiz's exclusions when `curated`, plus the user's lists."""
    words: set[str] = set()
    for c in countries or COUNTRIES:
        words |= {w.translate(FOLD) for w in _read_list(SPANLP / f"{c.upper()}.txt") if " " not in w}
    if curated:
        words -= set(_read_list(RESOURCES / "badwords_es_exclude.txt"))
        words -= set(_read_list(RESOURCES / "offensive_exclude.txt"))
        words |= set(_read_list(RESOURCES / "badwords_es_extra.txt"))
    for path in word_lists:
        words |= {_fold(w) for w in check_word_list(path) if " " not in w}
    return frozenset(words)


def count_offensive(words: list[str], lexicon: frozenset[str]) -> tuple[int, list[str]]:
    """(occurrences of lexicon words among `words`, up to 5 distinct ones found, sorted)."""
    distinct = set(words)
    low = set(map(str.lower, distinct))
    found = (low & lexicon) | ({w.translate(FOLD) for w in filterfalse(str.isascii, low)} & lexicon)
    if not found:
        return 0, []
    hits = {w for w in distinct if _fold(w) in found}
    return sum(1 for w in words if w in hits), sorted(found)[:5]


@dataclass
class Offensive:
    """Filter: score offensive words per word; tag (keep) or drop the documents at or over the threshold."""

    config: OffensiveConfig = field(default_factory=OffensiveConfig)
    name: str = "offensive"

    def __post_init__(self) -> None:
        c = self.config
        self._lexicon = load_offensive_words(c.countries, c.curated, c.word_lists)

    def filter(self, doc: Document, view: DocView | None = None):
        c = self.config
        words = DocView.of(doc.text, view).derive(words_of)
        hits, found = count_offensive(words, self._lexicon)
        score = hits / len(words) if words else 0.0
        flagged = hits >= c.min_hits and score >= c.threshold
        doc.metadata[self.name] = {"hits": hits, "words": len(words), "score": round(score, 6), "found": found,
                                   "tagged": flagged and c.action == "tag"}
        if not flagged:
            return True
        if c.action == "drop":
            return False, "words"
        tags = doc.metadata.setdefault("tags", [])
        if self.name not in tags:
            tags.append(self.name)
        return True
