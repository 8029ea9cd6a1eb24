"""Perplexity in the filter stage: the scoring step, and cc_net's buckets and BERTIN's two sampling functions.

docs/filters.md gives the formulas and their sources:
  buckets   cc_net: head (< p30), middle (< p60), tail, by percentiles of the perplexities
  gaussian  BERTIN: p = factor * exp(-(1/width) * ((ppl - median) / median) ** 2), factor 0.78, width 9/2
  stepwise  BERTIN: p = factor / (width of the quartile range the document falls in), the last one
            10 * Q3 wide; factor = 0.2265 * median (BERTIN's 1.5e5 for its median of 662,247.5)
Each document's uniform draw is seeded by its id, so a rerun keeps the same documents.
PerplexityScore (mapper) stores `metadata["perplexity"]` with a scorer from kenlm.py's `load_scorer`;
PerplexitySample (filter) keeps by the cutoffs of one source (`cutoffs_from` or `fixed_cutoffs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tamiz.pipeline.document import Document, id_seed
from tamiz.pipeline.perplexity.kenlm import BACKENDS, load_scorer

SAMPLINGS = ("none", "gaussian", "stepwise", "buckets")
BUCKETS = ("head", "middle", "tail")
BERTIN_BOUNDARIES = (536394.99320948, 662247.50212365, 919250.87225178)  # BERTIN's mC4-es quartiles
BERTIN_STEP_FACTOR = 1.5e5
STEP_FACTOR_PER_MEDIAN = BERTIN_STEP_FACTOR / BERTIN_BOUNDARIES[1]  # 0.2265...


# ----------------------------------------------------------------------------- sampling functions

def gaussian_probability(ppl, median: float, factor: float = 0.78, width: float = 9 / 2):
    """BERTIN's Gaussian: factor * exp(-(1/width) * ((ppl - median) / median) ** 2)."""
    x = (np.asarray(ppl, dtype=np.float64) - median) / median
    return factor * np.exp(-(1.0 / width) * x ** 2)


def stepwise_probability(ppl, boundaries: Sequence[float], factor: float):
    """BERTIN's stepwise: factor / quartile range, the ranges being Q1, Q2-Q1, Q3-Q2 and 10*Q3, capped at 1.

    BERTIN's code leaves ppl == Q2 or Q3 in no range (an error there); here ranges are
    (-inf, Q1], (Q1, Q2], (Q2, Q3), [Q3, inf).
    """
    q1, q2, q3 = boundaries
    p = np.asarray(ppl, dtype=np.float64)
    width = np.where(p <= q1, q1, np.where(p <= q2, q2 - q1, np.where(p < q3, q3 - q2, 10 * q3)))
    return np.minimum(1.0, factor / width)


def bucket_of(ppl: float, head: float, tail: float) -> str:
    """cc_net's bucket: head below the head cutoff, middle below the tail cutoff, else tail."""
    return "head" if ppl < head else ("middle" if ppl < tail else "tail")


def uniform_draw(doc_id: str, salt: int = 0) -> float:
    """A document's uniform draw in [0, 1), the same on every run (seeded by its id)."""
    return float(np.random.default_rng(id_seed(doc_id, salt)).uniform())


@dataclass(frozen=True)
class PerplexityConfig:
    """Scoring and sampling by perplexity in the filter stage."""

    model: str  # tamiz .npz (`tamiz perplexity train`) or a KenLM .arpa/.bin
    backend: str = "auto"  # auto (by file name) | tamiz | kenlm
    sp_model: str | None = None  # SentencePiece model for a cc_net KenLM model
    sampling: str = "none"  # none | gaussian | stepwise | buckets
    factor: float | None = None  # gaussian: 0.78; stepwise: 0.2265 * median
    width: float = 9 / 2  # gaussian width (BERTIN: 9/2)
    boundaries: tuple[float, float, float] | None = None  # quartiles; None: computed over the documents
    percentile_head: float = 30.0  # cc_net's bucket cutoffs
    percentile_tail: float = 60.0
    keep_buckets: tuple[str, ...] = ("head", "middle")
    sources: tuple[str, ...] | None = None  # sources sampling applies to (None: all); all are scored
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling: {self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        if self.factor is not None and not self.factor > 0:
            raise ValueError(f"factor: {self.factor} must be positive")
        if not self.width > 0:
            raise ValueError(f"width: {self.width} must be positive")
        if self.boundaries is not None:
            b = tuple(float(x) for x in self.boundaries)
            if len(b) != 3 or not 0 < b[0] < b[1] < b[2] or not all(map(math.isfinite, b)):
                raise ValueError(f"boundaries: {self.boundaries!r} must be three increasing positive quartiles")
            object.__setattr__(self, "boundaries", b)
        if not 0 < self.percentile_head < self.percentile_tail < 100:
            raise ValueError(f"percentile_head/percentile_tail: {self.percentile_head}/{self.percentile_tail} "
                             "must satisfy 0 < head < tail < 100")
        bad = [b for b in self.keep_buckets if b not in BUCKETS]
        if bad or not self.keep_buckets:
            raise ValueError(f"keep_buckets: {list(self.keep_buckets)!r} must be a non-empty subset of {BUCKETS}")
        object.__setattr__(self, "keep_buckets", tuple(self.keep_buckets))
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(self.sources))

    def applies(self, source: str) -> bool:
        return self.sources is None or source in self.sources

    def needs_distribution(self) -> bool:
        """True when sampling needs percentiles of the perplexities (a second pass over the documents)."""
        return self.sampling == "buckets" or (self.sampling in ("gaussian", "stepwise") and self.boundaries is None)


def cutoffs_from(perplexities: Sequence[float], config: PerplexityConfig) -> dict[str, float]:
    """Quartiles and cc_net cutoffs of a perplexity sample (finite values only)."""
    p = np.asarray([x for x in perplexities if math.isfinite(x)], dtype=np.float64)
    if not len(p):
        return {}
    q1, q2, q3 = (float(x) for x in np.quantile(p, [0.25, 0.5, 0.75]))
    head, tail = (float(x) for x in np.percentile(p, [config.percentile_head, config.percentile_tail]))
    return {"q1": q1, "median": q2, "q3": q3, "head": head, "tail": tail, "n": int(len(p))}


@dataclass
class PerplexityScore:
    """Mapper: stores metadata["perplexity"]."""

    config: PerplexityConfig
    name: str = "perplexity_score"
    _scorer: Any = field(default=None, repr=False)

    def map(self, doc: Document) -> Document:
        if self._scorer is None:
            self._scorer = _cached_scorer(self.config.model, self.config.backend, self.config.sp_model)
        ppl = self._scorer.perplexity(doc.text)
        doc.metadata["perplexity"] = round(ppl, 3) if math.isfinite(ppl) else None
        return doc


_SCORERS: dict[tuple, Any] = {}


def _cached_scorer(path: str, backend: str, sp_model: str | None):
    key = (str(Path(path).resolve()), backend, sp_model)
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(path, backend, sp_model)
    return _SCORERS[key]


@dataclass
class PerplexitySample:
    """Filter: BERTIN's Gaussian or stepwise sampling, or cc_net buckets, with cutoffs of one source."""

    config: PerplexityConfig
    cutoffs: dict[str, float]  # from cutoffs_from (or built from fixed boundaries)
    name: str = "perplexity"

    def filter(self, doc: Document):
        c = self.config
        if c.sampling == "none" or not c.applies(doc.source):
            return True
        ppl = doc.metadata.get("perplexity")
        if ppl is None:
            return False, "no_text"
        if c.sampling == "buckets":
            b = bucket_of(ppl, self.cutoffs["head"], self.cutoffs["tail"])
            doc.metadata["perplexity_bucket"] = b
            return True if b in c.keep_buckets else (False, f"bucket_{b}")
        med = self.cutoffs["median"]
        if c.sampling == "gaussian":
            p = float(gaussian_probability(ppl, med, 0.78 if c.factor is None else c.factor, c.width))
        else:
            factor = STEP_FACTOR_PER_MEDIAN * med if c.factor is None else c.factor
            p = float(stepwise_probability(ppl, (self.cutoffs["q1"], med, self.cutoffs["q3"]), factor))
        doc.metadata["perplexity_keep_p"] = round(p, 6)
        return True if uniform_draw(doc.id, c.seed) < p else (False, f"{c.sampling}_sample")


def fixed_cutoffs(config: PerplexityConfig) -> dict[str, float]:
    """Cutoffs from configured boundaries (no second pass): quartiles only."""
    q1, q2, q3 = config.boundaries or BERTIN_BOUNDARIES
    return {"q1": q1, "median": q2, "q3": q3}
