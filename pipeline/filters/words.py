"""Spanish-aware word splitting for the heuristic filters: one precompiled regex, no NLP library.

A token is either a *word* or a *symbol*:
  - a word is a run of letters/digits (any script; accents, ñ, ü; decomposed accents are composed)
    that may hold inner connectors, so `apt-get`, `l'école`, `1.000,50`, `3,5%`, `e-mail`,
    `foo@bar.com`, `https://x.org/a?b=c`, `-i`/`--help` and `/etc/apt/sources.list`, `~/kernel`,
    `.bashrc` are one word each;
  - a symbol is `...`, a run of dashes, or any other single non-space character: `¿ ¡ « » , . ( ) €`
    and every emoji are tokens of their own, so "¿Qué?" is `¿ Qué ?`.
This follows what spaCy's Spanish tokenizer (datatrove's word splitter for `spa_Latn`) does for
punctuation, at a small fraction of the cost; docs/filters.md lists where the two differ
(abbreviations like `aprox.` keep their period in spaCy; emoji count as symbols here).

The functions of a text are pure. Filters of one document share one split through the document's
view (tamiz.pipeline.document.DocView, made by the runner for each document): `view.derive(tokens_of)`,
`view.derive(words_of)` and `view.derive(lines_of)` are computed at most once per document text.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import filterfalse

from tamiz.pipeline.document import DocView

# \w is Unicode-aware: letters of every script, digits, _. Text is NFC-normalised first (only when it is
# not already), so "e" + combining acute is "é". Possessive quantifiers (Python 3.11) avoid backtracking.
_CONNECT = r"(?:[-'’.@:/+&=?~]+|(?<=\d),(?=\d))"  # inner connectors; a comma only between digits
_WORD = rf"\w++(?:{_CONNECT}\w++)*+%?"
TOKEN_RE = re.compile(
    rf"{_WORD}"  # a word
    rf"|(?<![\w-])-{{1,2}}(?=[^\W\d_]){_WORD}"  # an option-like word (-i, --help)
    rf"|(?<![\w/.~-])(?:~?/|\.)(?=\w){_WORD}"  # a path or dot-file (/etc/hosts, ~/kernel, .bashrc)
    r"|\.{2,}|-{2,}|[^\w\s]"  # or a symbol
)
# a token is a symbol when it has no letter or digit (emoji, punctuation, currency signs)
_HAS_WORDCHAR = re.compile(r"[^\W_]").search
_HAS_ALPHA = re.compile(r"[^\W\d_]").search


def split_words(text: str) -> list[str]:
    """All tokens (words and symbols) of `text`, in order."""
    norm = text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
    return TOKEN_RE.findall(norm)


def word_tokens(tokens: list[str]) -> list[str]:
    """The tokens that are words, in no particular order."""
    # most words are all letters/digits (str.isalnum runs in C); the regex looks only at the rest
    # (symbols and words with connectors). Order is not kept: no caller needs it.
    return [*filter(str.isalnum, tokens), *(t for t in filterfalse(str.isalnum, tokens) if _HAS_WORDCHAR(t))]


def split_tokens_words(text: str) -> tuple[list[str], list[str]]:
    """(all tokens, the tokens that are words, in no particular order) of `text`."""
    tokens = split_words(text)
    return tokens, word_tokens(tokens)


# ------------------------------------------------- what the filters share, once per document text

def tokens_of(view: DocView) -> list[str]:
    """`view.derive(tokens_of)`: all tokens of the document text (split_words)."""
    return split_words(view.text)


def words_of(view: DocView) -> list[str]:
    """`view.derive(words_of)`: the tokens that are words, in no particular order."""
    return word_tokens(view.derive(tokens_of))


def lines_of(view: DocView) -> list[str]:
    """`view.derive(lines_of)`: the text split at every newline (empty lines included)."""
    return view.text.split("\n")


def is_symbol(token: str) -> bool:
    """True for tokens without any letter or digit: punctuation, emoji, `...`, `--`, `€`."""
    return _HAS_WORDCHAR(token) is None


def has_alpha(token: str) -> bool:
    """True when the token holds at least one letter (of any script)."""
    return _HAS_ALPHA(token) is not None


def count_alpha(words: list[str]) -> int:
    """How many tokens hold at least one letter (most are all letters: str.isalpha runs in C)."""
    return sum(map(str.isalpha, words)) + sum(1 for w in filterfalse(str.isalpha, words) if _HAS_ALPHA(w))
