"""The thresholds `tamiz filter --calibrate` can propose: one `Rule` per threshold of the heuristic filters.

A rule names the config field (`gopher_quality.min_doc_words`, `gopher_repetition.top_n_grams[2]`), the
measure the filter compares it with (what the filter stores in `doc.metadata[<family>]`), and the side
it drops: `min` drops a document whose value is below the threshold, `max` one whose value is above.
`Rule.value` reads one document's value from its measures, `None` when the rule does not apply to it
(no measure: an empty text; bad words below `badwords_min_count`; a line-punctuation share of 0 with
`line_punct_exclude_zero`). `Rule.removes` is the filter's own comparison, including its quirks: a
threshold of `None` is off, and for the fields the filters test by truth (`if limit and ...`) 0 is off too.
tests/test_calibrate.py checks every rule's comparison against the filter's own `decide`.

Rules that are not thresholds (lorem ipsum, a curly bracket, an empty text) are never proposed; they
still count in the predicted share a whole chain removes (calibrate.py applies the filters' `decide`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tamiz.pipeline.filters.config import HeuristicsConfig

FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")  # chain order


@dataclass(frozen=True)
class Rule:
    family: str  # filter family (a section of the filters config and a key of doc.metadata)
    field: str  # config field of that family
    measure: str  # key of doc.metadata[family] the filter compares (or "symbol_ratio", see value)
    side: str  # "min": drops a value below the threshold; "max": drops a value above it
    n: int | None = None  # the n of an (n, fraction) pair of top_n_grams / dup_n_grams
    integer: bool = False  # the threshold is an integer (words, stop words, sentences)
    positive: bool = False  # the field must be > 0 (its check refuses 0, or reads 0 as "off")
    zero_off: bool = False  # the filter tests this field by truth: a threshold of 0 turns the check off
    ratio: bool = False  # the field is a share between 0 and 1

    @property
    def key(self) -> str:
        """`family.field`, or `family.field[n]` for an n-gram pair: how reports and files name the rule."""
        return f"{self.family}.{self.field}" + (f"[{self.n}]" if self.n is not None else "")

    @property
    def measure_key(self) -> str:
        return f"{self.family}.{self.measure}"

    def current(self, cfg: HeuristicsConfig) -> float | int | None:
        """The threshold `cfg` sets for this rule (None: off)."""
        value = getattr(getattr(cfg, self.family), self.field)
        if self.n is None:
            return value
        return dict(value).get(self.n)

    def active(self, cfg: HeuristicsConfig) -> bool:
        """Whether the rule can drop anything under `cfg`: its family is on and its threshold set."""
        fam = getattr(cfg, self.family)
        t = self.current(cfg)
        if not fam.enabled or t is None or (self.zero_off and t == 0):
            return False
        if self.family == "c4" and self.field == "badwords_max_ratio":
            return fam.badwords
        return True

    def with_threshold(self, cfg: HeuristicsConfig, t: float | int | None) -> HeuristicsConfig:
        """A copy of `cfg` with this rule's threshold set to `t` (checked by the config's own checks)."""
        fam = getattr(cfg, self.family)
        if self.n is None:
            new = t
        else:
            new = tuple((n, float(t) if n == self.n else f) for n, f in getattr(fam, self.field))
        return dataclasses.replace(cfg, **{self.family: dataclasses.replace(fam, **{self.field: new})})

    def value(self, m: dict, cfg: HeuristicsConfig) -> float | None:
        """This rule's value for one document's measures `m` (= doc.metadata[family]); None when the rule
        does not apply to it."""
        if not m:
            return None
        if self.measure == "symbol_ratio":  # one threshold for '#' and for '...' per token: the larger one
            return max(m["hash_ratio"], m["ellipsis_ratio"])
        v = m.get(self.measure)
        if v is None:
            return None
        if self.field == "badwords_max_ratio" and m["badwords"] < cfg.c4.badwords_min_count:
            return None  # a document with fewer bad words than the count rule asks is never dropped for them
        if self.field == "line_punct_thr" and v == 0 and cfg.fineweb.line_punct_exclude_zero:
            return None
        return float(v)

    def removes(self, values: np.ndarray, t: float | int | None) -> np.ndarray:
        """Which of `values` (NaN: the rule does not apply) the threshold `t` drops, as the filter does."""
        if t is None or (self.zero_off and t == 0):
            return np.zeros(len(values), dtype=bool)
        with np.errstate(invalid="ignore"):
            return values < t if self.side == "min" else values > t


def rules_for(cfg: HeuristicsConfig) -> list[Rule]:
    """Every threshold of the heuristic chain under `cfg` (the n-gram pairs it lists), in chain order."""
    rules = [
        Rule("gopher_quality", "min_doc_words", "words", "min", integer=True, positive=True),
        Rule("gopher_quality", "max_doc_words", "words", "max", integer=True, positive=True, zero_off=True),
        Rule("gopher_quality", "min_avg_word_length", "mean_word_len", "min", positive=True),
        Rule("gopher_quality", "max_avg_word_length", "mean_word_len", "max", positive=True, zero_off=True),
        Rule("gopher_quality", "max_symbol_word_ratio", "symbol_ratio", "max", ratio=True),
        Rule("gopher_quality", "max_bullet_lines_ratio", "bullet_lines", "max", ratio=True),
        Rule("gopher_quality", "max_ellipsis_lines_ratio", "ellipsis_lines", "max", ratio=True),
        Rule("gopher_quality", "min_alpha_words_ratio", "alpha_words", "min", ratio=True),
        Rule("gopher_quality", "min_stop_words", "stop_words", "min", integer=True),
    ]
    for key in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
        rules.append(Rule("gopher_repetition", key, key, "max", positive=True, zero_off=True, ratio=True))
    rep = cfg.gopher_repetition
    rules += [Rule("gopher_repetition", "top_n_grams", f"top_{n}_gram", "max", n=n, ratio=True) for n, _ in rep.top_n_grams]
    rules += [Rule("gopher_repetition", "dup_n_grams", f"dup_{n}_gram", "max", n=n, ratio=True) for n, _ in rep.dup_n_grams]
    rules += [
        Rule("c4", "min_num_sentences", "sentences", "min", integer=True),
        Rule("c4", "badwords_max_ratio", "badwords_ratio", "max", ratio=True),
        Rule("fineweb", "line_punct_thr", "line_punct", "min", ratio=True),
        Rule("fineweb", "short_line_thr", "short_lines", "max", ratio=True),
        Rule("fineweb", "char_duplicates_ratio", "char_dup", "max", ratio=True),
        Rule("fineweb", "new_line_ratio", "newline_ratio", "max", positive=True),
    ]
    return rules


def rule_values(rule: Rule, measures: list[dict[str, dict]], cfg: HeuristicsConfig) -> np.ndarray:
    """The rule's value for each document ({family: measures} each), NaN where it does not apply."""
    out = np.full(len(measures), np.nan)
    for i, m in enumerate(measures):
        v = rule.value(m.get(rule.family) or {}, cfg)
        if v is not None:
            out[i] = v
    return out
