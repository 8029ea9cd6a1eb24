"""Gopher repetition rules (Rae et al. 2021, appendix A1.1.1): repeated lines, paragraphs and n-grams.

Measures, stored under `doc.metadata["gopher_repetition"]` (all as fractions of the document):
  dup_line_frac / dup_para_frac            lines / paragraphs that repeat an earlier one
  dup_line_char_frac / dup_para_char_frac  their characters / all characters
  top_<n>_gram (n = 2, 3, 4)                characters covered by the most frequent n-gram
  dup_<n>_gram (n = 5..10)                  characters of n-grams that repeat an earlier n-gram
                                           (non-overlapping: after a repeat the scan jumps n words)
The definitions (and the character counts: " ".join for the top n-gram, "".join for the repeated
ones) follow datatrove's GopherRepetitionFilter, so the FineWeb-2 thresholds mean the same here.
Reasons: empty, dup_para_frac, dup_para_char_frac, dup_line_frac, dup_line_char_frac,
top_<n>_gram, dup_<n>_gram.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.config import GopherRepetitionConfig
from tamiz.pipeline.filters.words import tokens_of

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier item, their total characters)."""
    counts = Counter(items)
    if len(counts) == len(items):
        return 0, 0
    dups = chars = 0
    for s, c in counts.items():
        if c > 1:
            dups += c - 1
            chars += (c - 1) * len(s)
    return dups, chars


_P = np.uint64(0x100000001B3)  # odd multiplier of the rolling n-gram hash (FNV prime)


def ngram_hashes(words: list[str], n_max: int) -> list[np.ndarray]:
    """hashes[n] = one 64-bit hash per n-gram (position i covers words[i:i+n]), for n = 1..n_max.

    Built from Python's string hash in C (map) and numpy's wrapping uint64 arithmetic, so there is
    no per-word Python loop; two different n-grams share a hash with probability ~ N^2 / 2^64.
    """
    h1 = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    out = [h1[:0], h1]
    h = h1
    for n in range(2, n_max + 1):
        if len(h) < 2:
            h = h1[:0]
        else:
            with np.errstate(over="ignore"):
                h = h[:-1] * _P + h1[n - 1:]
        out.append(h)
    return out


def top_ngram_chars(h: np.ndarray, n: int, cum: list[int]) -> int:
    """Characters of the most frequent n-gram (words joined by spaces) times its count; among equally
    frequent n-grams the one that occurs first (as datatrove's Counter.most_common(1))."""
    if not len(h):
        return 0
    _, first, counts = np.unique(h, return_index=True, return_counts=True)
    best = counts.max()
    i = int(first[counts == best].min())
    return (cum[i + n] - cum[i] + n - 1) * int(best)


def dup_ngram_chars(h: np.ndarray, n: int, cum: list[int]) -> int:
    """Characters of n-grams equal to an earlier one, scanning left to right and jumping n words after
    each repeat (datatrove's find_all_duplicate). Only positions of n-grams that occur more than once
    can repeat, so the Python scan visits just those. `cum[i]` = characters of words[:i]."""
    if not len(h):
        return 0
    _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
    positions = np.flatnonzero(counts[inverse] > 1)
    if not len(positions):
        return 0
    seen: set = set()
    nxt = total = 0
    for i, g in zip(positions.tolist(), h[positions].tolist()):
        if i < nxt:
            continue
        if g in seen:
            total += cum[i + n] - cum[i]
            nxt = i + n
        else:
            seen.add(g)
    return total


@dataclass
class GopherRepetition:
    config: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    name: str = "gopher_repetition"

    def measure(self, text: str, view: DocView | None = None) -> dict:
        n_chars = len(text)
        paragraphs = _PARAGRAPHS.split(text.strip())
        p_dups, p_chars = find_duplicates(paragraphs)
        lines = _LINES.split(text)
        l_dups, l_chars = find_duplicates(lines)
        m = {
            "dup_para_frac": round(p_dups / len(paragraphs), 6),
            "dup_para_char_frac": round(p_chars / n_chars, 6),
            "dup_line_frac": round(l_dups / len(lines), 6),
            "dup_line_char_frac": round(l_chars / n_chars, 6),
        }
        words = DocView.of(text, view).derive(tokens_of)
        cum = [0, *accumulate(map(len, words))]
        c = self.config
        hashes = ngram_hashes(words, max([n for n, _ in c.top_n_grams + c.dup_n_grams], default=1))
        for n, _ in c.top_n_grams:
            m[f"top_{n}_gram"] = round(top_ngram_chars(hashes[n], n, cum) / n_chars, 6)
        none_below = False  # no repeated k-gram implies no repeated (k+1)-gram
        for n, _ in sorted(c.dup_n_grams):
            chars = 0 if none_below else dup_ngram_chars(hashes[n], n, cum)
            none_below = none_below or chars == 0
            m[f"dup_{n}_gram"] = round(chars / n_chars, 6)
        return m

    def filter(self, doc: Document, view: DocView | None = None):
        m = self.measure(doc.text, view) if doc.text else {}
        doc.metadata[self.name] = m
        return self.decide(m)

    def decide(self, m: dict):
        """Keep (True) or (False, reason) for the measures `m` of one document ({} for an empty text)."""
        if not m:
            return False, "empty"
        c = self.config
        for key in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
            limit = getattr(c, key)
            if limit and m[key] > limit:
                return False, key
        for n, limit in c.top_n_grams:
            if m[f"top_{n}_gram"] > limit:
                return False, f"top_{n}_gram"
        for n, limit in c.dup_n_grams:
            if m[f"dup_{n}_gram"] > limit:
                return False, f"dup_{n}_gram"
        return True
