"""The quality classifier in the filter stage: the step that scores documents and the rules that keep them.

Scoring stores `metadata["quality_score"]` = P(high quality) (classifier.py's `score_texts`). Keeping, per document:
  pareto      GPT-3's rule: keep when `np.random.default_rng(seed).pareto(alpha) > 1 - score`, the
              seed derived from the document id, so the decision is the same on every run; the
              keep probability is P(Lomax(alpha) > 1 - s) = (2 - s) ** -alpha (alpha 9 as in GPT-3)
  threshold   keep when score >= threshold
  top_percent keep the best `top_percent` % by score (DCLM kept the top 10%); the cutoff is the
              score quantile over all documents, computed by the filter stage's second pass
  none        score only
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tamiz.pipeline.document import Document, id_seed
from tamiz.pipeline.quality.classifier import load_classifier, score_texts

RULES = ("pareto", "threshold", "top_percent", "none")


def pareto_keep(doc_id: str, score: float, alpha: float = 9.0, salt: int = 0) -> tuple[bool, float]:
    """GPT-3's rule: (keep, draw) with draw = default_rng(seed of the id).pareto(alpha), keep = draw > 1 - score."""
    draw = float(np.random.default_rng(id_seed(doc_id, salt)).pareto(alpha))
    return draw > 1.0 - score, draw


def pareto_keep_probability(score: float | np.ndarray, alpha: float = 9.0):
    """P(pareto(alpha) > 1 - s) = (2 - s) ** -alpha (numpy's pareto is the Lomax distribution)."""
    return (2.0 - np.asarray(score, dtype=np.float64)) ** -alpha


def top_percent_cutoff(scores: Sequence[float], top_percent: float) -> float:
    """The score at or above which the best `top_percent` % of documents lie."""
    s = np.asarray(scores, dtype=np.float64)
    if not len(s):
        return 0.0
    return float(np.quantile(s, 1.0 - top_percent / 100.0, method="higher"))


@dataclass(frozen=True)
class QualityConfig:
    """Applying a quality classifier in the filter stage."""

    model: str  # path of the fastText .bin written by `tamiz quality train`
    rule: str = "pareto"  # pareto | threshold | top_percent | none (score only)
    alpha: float = 9.0  # Pareto shape (GPT-3: 9)
    threshold: float = 0.5  # for rule=threshold
    top_percent: float = 10.0  # for rule=top_percent (DCLM: 10)
    sources: tuple[str, ...] | None = None  # sources the keep rule applies to (None: all); all are scored
    seed: int = 0  # mixed into every document's seed
    max_chars: int = 10_000

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule: {self.rule!r} is not one of {', '.join(RULES)}")
        if not self.alpha > 0:
            raise ValueError(f"alpha: {self.alpha} must be positive")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold: {self.threshold} is not between 0 and 1")
        if not 0 < self.top_percent <= 100:
            raise ValueError(f"top_percent: {self.top_percent} must be in (0, 100]")
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(self.sources))

    def applies(self, source: str) -> bool:
        return self.sources is None or source in self.sources


@dataclass
class QualityScorer:
    """Mapper: stores metadata["quality_score"] = P(high quality)."""

    config: QualityConfig
    name: str = "quality_score"
    _model: Any = field(default=None, repr=False)

    def map(self, doc: Document) -> Document:
        if self._model is None:
            self._model = load_classifier(self.config.model)
        doc.metadata["quality_score"] = round(float(score_texts(self._model, [doc.text], self.config.max_chars)[0]), 6)
        return doc


@dataclass
class QualityKeep:
    """Filter: keeps by the configured rule (pareto, threshold, or top_percent given its `cutoff`)."""

    config: QualityConfig
    cutoff: float | None = None  # the top_percent cutoff (computed over all documents)
    name: str = "quality"

    def filter(self, doc: Document):
        c = self.config
        if c.rule == "none" or not c.applies(doc.source):
            return True
        s = float(doc.metadata["quality_score"])
        if c.rule == "pareto":
            keep, draw = pareto_keep(doc.id, s, c.alpha, c.seed)
            doc.metadata["quality_draw"] = round(draw, 6)
            return True if keep else (False, "pareto")
        if c.rule == "threshold":
            return True if s >= c.threshold else (False, "below_threshold")
        if self.cutoff is None:
            raise ValueError("top_percent rule needs the cutoff computed over all documents")
        doc.metadata["quality_cutoff"] = self.cutoff
        return True if s >= self.cutoff else (False, "below_top_percent")
