"""Pre-tokenization regexes: where BPE merges may never cross.

A byte-level BPE first splits text into pieces with a regex; merges happen only inside a piece,
so the regex decides which tokens can exist at all (no token spans a word and the following
punctuation, digits come in bounded groups, and so on). The candidates below were compared on
held-out Spanish text (bytes per token, tokens per word, words kept whole): see
docs/tokenizer.md and `benchmarks/bench_tokenizer.py --patterns`.

All of them are written for the Oniguruma engine that HF `tokenizers` uses (no possessive
quantifiers, which tiktoken's newer cl100k string has); `check_pattern` compiles one there.
"""

from __future__ import annotations

# GPT-2 (Radford et al. 2019): English contractions, a space glued to the next word, number or
# punctuation run, unbounded digit runs.
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# GPT-4's cl100k_base: case-insensitive contractions, one non-letter (a space, "¿", a quote) may
# lead a word, digits in groups of 1-3, newlines kept apart from other whitespace.
CL100K = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
          r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Spanish-aware, from cl100k:
#  - no English contractions: Spanish has none, and in Spanish text they only cut words that follow
#    an apostrophe or a quote not preceded by a space ("'tengo'" at the start of a line -> "'t" +
#    "engo", "'respuesta'" -> "'re" + "spuesta", "O'Donnell" -> "O" + "'D" + "onnell");
#  - combining marks belong to the word (\p{M}), so an accent that NFC cannot compose onto its
#    letter does not cut the word in two;
#  - a space may lead a digit group like it leads a word (" 1909", " 3:16", " 2.6"): Spanish
#    writes numbers after a space, and cl100k spends a token on that lone space every time.
ES = (r"""[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+| ?\p{N}{1,3}"""
      r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# ES, plus: an opening mark (¿ ¡ ( « " ') joins the following word together with the space before
# it (" ¿Qué", " (véase", " «hola"), so the word is not split from its usual " word" form by a
# mark that takes the space.
ES_OPEN = (r""" ?[¿¡(«"']?[\p{L}\p{M}]+|[^\s\p{L}\p{M}\p{N}][\p{L}\p{M}]+| ?\p{N}{1,3}"""
           r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

PATTERNS: dict[str, str] = {
    "gpt2": GPT2,
    "cl100k": CL100K,
    "es": ES,
    "es-open": ES_OPEN,
}

# Chosen by measurement on held-out Spanish text (docs/tokenizer.md, "Choosing the regex").
DEFAULT_PATTERN = "es"


def resolve_pattern(name_or_regex: str) -> tuple[str, str]:
    """(name, regex) for a name in PATTERNS, or ("custom", regex) for a regex given as is."""
    if name_or_regex in PATTERNS:
        return name_or_regex, PATTERNS[name_or_regex]
    return "custom", name_or_regex


def check_pattern(regex: str) -> None:
    """Raise ValueError when `regex` does not compile in HF tokenizers' regex engine."""
    from tokenizers import Regex

    if not regex:
        raise ValueError("pattern: empty regex")
    try:
        Regex(regex)
    except Exception as e:  # tokenizers raises a bare Exception for a bad regex
        raise ValueError(f"pattern: {regex!r} is not a valid regex for HF tokenizers ({e})") from None
