"""C4's rules (Raffel et al. 2020, section 2.2; tensorflow_datasets c4_utils) for Spanish web text.

Two steps, so that the filter only decides:
  C4LineCleaner (mapper "c4_lines"): removes the lines that fail the line rules (a word over
    `max_word_length` characters, no terminal punctuation when that rule is on, fewer than
    `min_words_per_line` words, "javascript", a cookie/privacy/terms phrase) and Wikipedia
    citation marks; records how many lines each rule removed in `metadata["c4_lines"]`.
  C4Quality (filter "c4"): drops the document for "lorem ipsum", a curly bracket "{" (code),
    fewer than `min_num_sentences` sentences in the lines that pass the line rules, or bad words;
    records `metadata["c4"]` = {sentences, lorem_ipsum, curly_bracket, badwords, badwords_ratio,
    badwords_found}.
As in C4 (and datatrove), "lorem ipsum" and "{" count only in lines that pass the length and
punctuation rules. Bad words: spanlp's per-country Spanish lists, minus tamiz's exclusions of
ordinary words (resources/badwords_es_exclude.txt), matched on whole words with accents folded
(ñ kept); C4 dropped a page for one bad word, tamiz drops it when they are both at least
`badwords_min_count` and more than `badwords_max_ratio` of its words (docs/filters.md says why).

The document rules read the line scan of the text before C4LineCleaner removed its lines: C4LineCleaner
keeps its scan in the document's view (tamiz.pipeline.document.DocView) for the text it leaves, and
C4Quality reads it there for its own config; called without that view (or with another config),
C4Quality scans the text it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import filterfalse
from pathlib import Path

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.config import C4Config
from tamiz.pipeline.filters.words import split_tokens_words, words_of

RESOURCES = Path(__file__).resolve().parent / "resources"
CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]|\[editar]|\[cita requerida]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
# A match starts only at the start of a run of end marks ((?<!...)) and never gives marks back (++, *+):
# the plain form retried every position of a long run ("....x") and took quadratic time (7 s for 16 kB).
_SENT_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'»”’)\]]*+(?=\s|$)")
_ENDS_SENTENCE = re.compile(r"(?<![.!?…])[.!?…]++[\"'»”’)\]]*+\s*+$").search
# fold accents for matching the ASCII word lists; ñ stays ñ (so "año" is not "ano")
FOLD = str.maketrans("áàâäãéèêëíìîïóòôöõúùûüç", "aaaaaeeeeiiiiooooouuuuc")


def _fold(word: str) -> str:
    low = word.lower()
    return low if low.isascii() else low.translate(FOLD)


def _read_list(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            out.append(line)
    return out


@lru_cache(maxsize=1)
def load_badwords() -> frozenset[str]:
    """Single-word entries of spanlp's lists (all countries), minus the exclusions, plus ñ spellings.

    Multi-word entries ("carne con papas", "de balde", "su madre") are left out: most are ordinary
    phrases, and the offensive ones contain an offensive single word that is matched anyway.
    """
    words: set[str] = set()
    for f in sorted((RESOURCES / "spanlp").glob("*.txt")):
        words |= {w.translate(FOLD) for w in _read_list(f) if " " not in w}
    words -= set(_read_list(RESOURCES / "badwords_es_exclude.txt"))
    words |= set(_read_list(RESOURCES / "badwords_es_extra.txt"))
    return frozenset(words)


def count_sentences(line: str) -> int:
    """Sentence ends (. ! ? … with closing quotes) in a line; an unterminated tail counts as one."""
    return len(_SENT_END.findall(line)) + (0 if _ENDS_SENTENCE(line) else 1)


def _policy_regex(phrases: tuple[str, ...]) -> re.Pattern:
    return _compile_alternation(phrases)


@lru_cache(maxsize=32)
def _compile_alternation(phrases: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) or "(?!)")


def scan_lines(text: str, c: C4Config) -> tuple[list[str], dict]:
    """The lines that pass C4's line rules, and what the scan found (counts per rule and doc flags)."""
    kept: list[str] = []
    st = {"lines": 0, "too_long_word": 0, "no_terminal_punct": 0, "too_few_words": 0, "javascript": 0,
          "policy": 0, "lorem_ipsum": False, "curly_bracket": False, "sentences": 0}
    policy = _policy_regex(c.policy_substrings).search if c.filter_policy else None
    max_word = c.max_word_length
    min_words = c.min_words_per_line
    for line in text.splitlines():
        line = line.strip()
        st["lines"] += 1
        words = line.split()
        if max_word is not None and len(line) > max_word and max(map(len, words)) > max_word:
            st["too_long_word"] += 1
            continue
        if c.remove_citations and "[" in line:
            line = CITATION_RE.sub("", line)
        if c.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
            st["no_terminal_punct"] += 1
            continue
        if min_words is not None and len(words) < min_words:
            st["too_few_words"] += 1
            continue
        low = line.lower()
        if c.filter_lorem_ipsum and "lorem ipsum" in low:
            st["lorem_ipsum"] = True
        if c.filter_javascript and "javascript" in low:
            st["javascript"] += 1
            continue
        if c.filter_curly_bracket and "{" in line:
            st["curly_bracket"] = True
        if policy is not None and policy(low):
            st["policy"] += 1
            continue
        kept.append(line)
    if c.min_num_sentences and kept:
        # one regex pass over all kept lines, plus one for each line with an unterminated tail
        st["sentences"] = len(_SENT_END.findall("\n".join(kept))) + sum(1 for ln in kept if not _ENDS_SENTENCE(ln))
    return kept, st


def line_scan(view: DocView, c: C4Config) -> tuple[list[str], dict]:
    """`view.derive(line_scan, c)`: scan_lines of the document text."""
    return scan_lines(view.text, c)


def rules_scan(view: DocView, c: C4Config) -> dict:
    """`view.derive(rules_scan, c)`: what the document rules read, the scan of the text before
    C4LineCleaner removed lines (which it keeps in the view), else the scan of this text."""
    return view.derive(line_scan, c)[1]


def find_badwords(text: str) -> tuple[int, int, list[str]]:
    """(bad-word occurrences, words, up to 5 distinct bad words found, sorted) in `text`."""
    return count_badwords(split_tokens_words(text)[1])


def count_badwords(words: list[str]) -> tuple[int, int, list[str]]:
    """(bad-word occurrences, words, up to 5 distinct bad words found, sorted) among `words`."""
    bad = load_badwords()
    low = set(map(str.lower, set(words)))
    found = (low & bad) | ({w.translate(FOLD) for w in filterfalse(str.isascii, low)} & bad)
    if not found:
        return 0, len(words), []
    hits = {w for w in set(words) if _fold(w) in found}
    n = sum(1 for w in words if w in hits)
    return n, len(words), sorted(found)[:5]


@dataclass
class C4LineCleaner:
    """Mapper: keeps only the lines that pass C4's line rules (what C4 and FineWeb did)."""

    config: C4Config = field(default_factory=C4Config)
    name: str = "c4_lines"

    def map(self, doc: Document, view: DocView | None = None) -> Document:
        view = DocView.of(doc.text, view)
        kept, st = view.derive(line_scan, self.config)
        doc.metadata[self.name] = {k: st[k] for k in ("lines", "too_long_word", "no_terminal_punct",
                                                      "too_few_words", "javascript", "policy")}
        if st["lines"] != len(kept):
            doc.text = "\n".join(kept)
            # C4's document rules count lorem ipsum and "{" also in lines that a later line rule removed
            # (as C4 and datatrove do), which a scan of the new text would miss: C4Quality reads this scan
            view.follow(doc.text)
            view.keep(st, rules_scan, self.config)
        return doc


@dataclass
class C4Quality:
    """Filter: C4's document rules (lorem ipsum, curly bracket, too few sentences, bad words)."""

    config: C4Config = field(default_factory=C4Config)
    name: str = "c4"

    def filter(self, doc: Document, view: DocView | None = None):
        c = self.config
        view = DocView.of(doc.text, view)
        st = view.derive(rules_scan, c)
        m = {"sentences": st["sentences"], "lorem_ipsum": st["lorem_ipsum"], "curly_bracket": st["curly_bracket"]}
        if c.badwords:
            n_bad, n_words, found = count_badwords(view.derive(words_of))
            m.update(badwords=n_bad, badwords_ratio=round(n_bad / n_words, 6) if n_words else 0.0,
                     badwords_found=found)
        doc.metadata[self.name] = m
        return self.decide(m)

    def decide(self, m: dict):
        """Keep (True) or (False, reason) for the measures `m` of one document (what `filter` stores)."""
        c = self.config
        if m["lorem_ipsum"]:
            return False, "lorem_ipsum"
        if m["curly_bracket"]:
            return False, "curly_bracket"
        if c.min_num_sentences and m["sentences"] < c.min_num_sentences:
            return False, "too_few_sentences"
        if c.badwords and m["badwords"] >= c.badwords_min_count and m["badwords_ratio"] > c.badwords_max_ratio:
            return False, "badwords"
        return True
