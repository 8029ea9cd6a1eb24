"""Text normalization for dedup, suited to Spanish: what two copies of a page may differ by.

NFKC (fullwidth forms, ligatures, non-breaking spaces fold to plain ones), lower case (Ñ -> ñ,
É -> é), every run of digits becomes "0" (dates, counters, prices), and every run of punctuation,
symbols or spaces (¿ ¡ « » — … _ and the rest) separates words. Words are the runs of letters
and digits left (`[^\\W_]+`), so ñ and accented vowels stay inside their word.

Accents are kept by default: in Spanish they carry meaning (él/el, sí/si, más/mas, tú/tu,
está/esta, papá/papa), and benchmarks/bench_dedup.py measures what stripping them would merge on
the sample (see docs/dedup.md). `strip_accents=True` drops only acute, grave, diaeresis and
circumflex marks: the tilde of ñ is never removed (año and ano are different words).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator

_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
_STRIP_MARKS = dict.fromkeys(map(ord, "\u0300\u0301\u0302\u0308"))  # grave, acute, circumflex, diaeresis (not U+0303 tilde)
CHUNK_CHARS = 1 << 22  # huge documents are normalized in pieces of about this many characters


def normalize_text(text: str, lowercase: bool = True, fold_digits: bool = True, strip_accents: bool = False) -> str:
    """The canonical normalized text: words joined by single spaces (what exact dedup hashes)."""
    return " ".join(tokens(text, lowercase, fold_digits, strip_accents))


def prepare(text: str, lowercase: bool = True, strip_accents: bool = False) -> str:
    """The character-level part of `tokens`: NFKC, lower case, accents (before digits and words)."""
    t = unicodedata.normalize("NFKC", text)
    if lowercase:
        t = t.lower()
    if strip_accents:
        t = unicodedata.normalize("NFC", unicodedata.normalize("NFD", t).translate(_STRIP_MARKS))
    return t


def tokens(text: str, lowercase: bool = True, fold_digits: bool = True, strip_accents: bool = False) -> list[str]:
    """The normalized words of `text` (the units of word shingles)."""
    t = prepare(text, lowercase, strip_accents)
    if fold_digits:
        t = _DIGITS.sub("0", t)
    return _WORD.findall(t)


def token_chunks(text: str, lowercase: bool = True, fold_digits: bool = True, strip_accents: bool = False,
                 chunk_chars: int = CHUNK_CHARS) -> Iterator[list[str]]:
    """`tokens(text)` in pieces, cut only at whitespace, so a huge document never needs all its
    words in memory at once. The concatenation of the pieces equals `tokens(text)` for any text
    whose words are separated by whitespace at the cuts (a cut always falls on whitespace)."""
    n, start = len(text), 0
    while start < n:
        end = min(start + chunk_chars, n)
        if end < n:
            cut = _last_space(text, start, end)
            end = cut if cut > start else _next_space(text, end)
        yield tokens(text[start:end], lowercase, fold_digits, strip_accents)
        start = end


def _last_space(text: str, start: int, end: int) -> int:
    for i in range(end - 1, max(start, end - 4096) - 1, -1):
        if text[i].isspace():
            return i
    return -1


def _next_space(text: str, pos: int) -> int:
    m = re.compile(r"\s").search(text, pos)
    return m.start() if m else len(text)
