"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.4).

Measures, stored under `doc.metadata["fineweb"]` (over the non-empty lines):
  line_punct      share of lines ending in terminal punctuation (. ? ! … and the other scripts'
                  full stops, as datatrove's list), optionally followed by closing quotes or
                  brackets (» ” " ' ) ]), which Spanish puts after the punctuation of a quote
  short_lines     share of lines of at most `short_line_length` characters
  char_dup        characters in lines that repeat an earlier line / characters without newlines
  newline_ratio   newlines per token
Reasons: empty, line_punct_ratio, short_line_ratio, char_dup_ratio, list_ratio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.config import FineWebConfig
from tamiz.pipeline.filters.gopher_repetition import find_duplicates
from tamiz.pipeline.filters.words import lines_of, tokens_of

# Terminal punctuation of the scripts a Spanish crawl meets (datatrove's TERMINAL_PUNCTUATION lists
# ~160 characters of every script; the ones outside this set do not end Spanish lines).
TERMINAL = ".?!…。！？｡．؟।॥։።"
_ENDS_PUNCT = re.compile(rf"[{re.escape(TERMINAL)}][\"'»”’)\]]*\s*$")


@dataclass
class FineWebQuality:
    config: FineWebConfig = field(default_factory=FineWebConfig)
    name: str = "fineweb"

    def measure(self, text: str, view: DocView | None = None) -> dict:
        c = self.config
        view = DocView.of(text, view)
        lines = [ln for ln in view.derive(lines_of) if ln.strip()]
        n = len(lines)
        if not n:
            return {}
        ends = _ENDS_PUNCT.search
        n_tokens = len(view.derive(tokens_of))
        chars = len(text) - text.count("\n")
        return {
            "line_punct": round(sum(1 for ln in lines if ends(ln)) / n, 6),
            "short_lines": round(sum(1 for ln in lines if len(ln) <= c.short_line_length) / n, 6),
            "char_dup": round(find_duplicates(lines)[1] / chars, 6) if chars else 0.0,
            "newline_ratio": round(text.count("\n") / n_tokens, 6) if n_tokens else 0.0,
        }

    def filter(self, doc: Document, view: DocView | None = None):
        m = self.measure(doc.text, view)
        doc.metadata[self.name] = m
        return self.decide(m)

    def decide(self, m: dict):
        """Keep (True) or (False, reason) for the measures `m` of one document ({} when it has no line)."""
        c = self.config
        if not m:
            return False, "empty"
        if c.line_punct_thr is not None and m["line_punct"] < c.line_punct_thr \
                and not (m["line_punct"] == 0 and c.line_punct_exclude_zero):
            return False, "line_punct_ratio"
        if c.short_line_thr is not None and m["short_lines"] > c.short_line_thr:
            return False, "short_line_ratio"
        if c.char_duplicates_ratio is not None and m["char_dup"] > c.char_duplicates_ratio:
            return False, "char_dup_ratio"
        if c.new_line_ratio is not None and m["newline_ratio"] > c.new_line_ratio:
            return False, "list_ratio"
        return True
