"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A1.1.2).

Measures, stored under `doc.metadata["gopher_quality"]`:
  words            tokens with a letter or digit (punctuation, symbols and emoji excluded)
  tokens           all tokens, symbols included (the denominator of the ratios, as in datatrove)
  mean_word_len    mean characters per word
  hash_ratio       '#' per token;   ellipsis_ratio: '...' and '…' per token
  bullet_lines     share of non-empty lines that start with a bullet (•, -, *, ·, ▪, ...)
  ellipsis_lines   share of non-empty lines that end with '...' or '…'
  alpha_words      share of tokens that hold a letter
  stop_words       how many distinct stop words occur (case-insensitive)
Reasons, checked in this order: short_doc, long_doc, short_words, long_words, hash, ellipsis,
bullet_lines, ellipsis_lines, alpha_words, stop_words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.config import GopherQualityConfig
from tamiz.pipeline.filters.words import count_alpha, lines_of, tokens_of, words_of

# Spanish dialogue lines start with a raya (—) or, in some books, an en dash: not bullets.
BULLETS = ("•", "-", "*", "·", "◦", "▪", "‣", "●", "○", "■", "□", "➢", "►", "✓", "✔")
ELLIPSES = ("...", "…")


@dataclass
class GopherQuality:
    config: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    name: str = "gopher_quality"

    def __post_init__(self) -> None:
        self._stop = frozenset(self.config.stop_words)

    def measure(self, text: str, view: DocView | None = None) -> dict:
        view = DocView.of(text, view)
        tokens, words = view.derive(tokens_of), view.derive(words_of)
        n_tok, n_words = len(tokens), len(words)
        lines = [ln for ln in (s.strip() for s in view.derive(lines_of)) if ln]
        n_lines = len(lines) or 1
        present = set(map(str.lower, set(words))) & self._stop if self._stop else ()
        return {
            "words": n_words,
            "tokens": n_tok,
            "mean_word_len": round(sum(map(len, words)) / n_words, 6) if n_words else 0.0,
            "hash_ratio": round(text.count("#") / n_tok, 6) if n_tok else 0.0,
            "ellipsis_ratio": round((text.count("...") + text.count("…")) / n_tok, 6) if n_tok else 0.0,
            "bullet_lines": round(sum(1 for ln in lines if ln.startswith(BULLETS)) / n_lines, 6),
            "ellipsis_lines": round(sum(1 for ln in lines if ln.endswith(ELLIPSES)) / n_lines, 6),
            "alpha_words": round(count_alpha(words) / n_tok, 6) if n_tok else 0.0,
            "stop_words": len(present),
        }

    def filter(self, doc: Document, view: DocView | None = None):
        m = self.measure(doc.text, view)
        doc.metadata[self.name] = m
        return self.decide(m)

    def decide(self, m: dict):
        """Keep (True) or (False, reason) for the measures `m` of one document (what `measure` returns)."""
        c = self.config
        if c.min_doc_words and m["words"] < c.min_doc_words:
            return False, "short_doc"
        if c.max_doc_words and m["words"] > c.max_doc_words:
            return False, "long_doc"
        if c.min_avg_word_length and m["mean_word_len"] < c.min_avg_word_length:
            return False, "short_words"
        if c.max_avg_word_length and m["mean_word_len"] > c.max_avg_word_length:
            return False, "long_words"
        if c.max_symbol_word_ratio is not None:
            if m["hash_ratio"] > c.max_symbol_word_ratio:
                return False, "hash"
            if m["ellipsis_ratio"] > c.max_symbol_word_ratio:
                return False, "ellipsis"
        if c.max_bullet_lines_ratio is not None and m["bullet_lines"] > c.max_bullet_lines_ratio:
            return False, "bullet_lines"
        if c.max_ellipsis_lines_ratio is not None and m["ellipsis_lines"] > c.max_ellipsis_lines_ratio:
            return False, "ellipsis_lines"
        if c.min_alpha_words_ratio is not None and m["alpha_words"] < c.min_alpha_words_ratio:
            return False, "alpha_words"
        if c.min_stop_words and m["stop_words"] < c.min_stop_words:
            return False, "stop_words"
        return True
