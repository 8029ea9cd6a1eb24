"""The one frozen configuration shared by every dedup stage, and the LSH parameter choice.

Every file the dedup stages write carries `DedupConfig.hash()`; a file written under another
configuration is refused (mixing signatures of two configurations silently gives wrong clusters).

Bands and rows are derived from the target Jaccard threshold like datasketch's
`MinHashLSH._optimal_param`: over every (b, r) with b * r <= num_perm, minimise
    fp_weight * integral_0^t P(s) ds  +  fn_weight * integral_t^1 (1 - P(s)) ds,
where P(s) = 1 - (1 - s^r)^b is the probability that two documents of Jaccard similarity s share
at least one band (become candidates). The integrals are computed here with a fixed 2,001-point
Simpson rule (no scipy), which picks the same (b, r) as datasketch (tested).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from tamiz.core.config import from_mapping
from tamiz.pipeline.writers import config_hash

HASHES = ("xxh3", "sha1")
VERIFY = ("exact", "estimate", "none")
SCHEMES = ("affine32", "legacy")
AUTO_BAND_TASK_DOCS = 50_000_000  # band_partitions="auto": at most this many documents per band task (see the field)
# How the work is cut into tasks, not what it computes: left out of `hash()` (so runs with other values
# share files, resume each other and serve as `--against`), and out of `as_dict()` at their default (so
# the records and layout.json of runs made before the field existed stay valid, byte for byte).
EXECUTION_FIELDS = {"band_partitions": 1}


@dataclass(frozen=True)
class DedupConfig:
    """Settings of exact + MinHash-LSH dedup (all checked here, before any work starts)."""

    threshold: float = 0.8  # Jaccard similarity of word shingles at or above which two documents are duplicates
    shingle_size: int = 5  # words per shingle (FineWeb and GPT-3 dedup use 5-grams); shorter docs are one shingle
    num_perm: int = 128  # MinHash permutations (signature length)
    seed: int = 1  # permutation seed, as in datasketch.MinHash(num_perm, seed)
    hashfunc: str = "xxh3"  # shingle hash: "xxh3" (vectorized, words hashed once) or "sha1" (datasketch's default sha1_hash32)
    scheme: str = "affine32"  # datasketch permutation scheme: "affine32" (datasketch >= 2.0 default) or "legacy"
    lowercase: bool = True  # normalization: case folding (str.lower; Ñ -> ñ)
    fold_digits: bool = True  # normalization: every digit becomes 0 (dates, counters and prices stop mattering)
    strip_accents: bool = False  # normalization: drop acute/grave/diaeresis/circumflex (never the tilde of ñ); off: see docs/dedup.md
    verify: str = "exact"  # link an LSH candidate pair only if its Jaccard >= threshold: "exact" (shingle-hash
    #                        sets, stored per shard), "estimate" (signature agreement, no extra storage) or "none"
    #                        (every candidate)
    fp_weight: float = 0.1  # LSH parameter choice: weight of the false-positive area (verification removes those)
    fn_weight: float = 0.9  # ... and of the false-negative area
    bands: int | None = None  # LSH bands; None: derived from threshold and weights
    rows: int | None = None  # rows (permutations) per band; None: derived
    bucket_window: int = 8  # in a band bucket (uid order) each member is compared to the first and to the previous N
    exact_partitions: int = 16  # hash partitions of the exact (text and URL) dedup stage
    url_dedup: bool = True  # documents with the same normalized URL are duplicates (keep one fetch)
    band_partitions: int | str = 1  # tasks per band, each the documents whose band hash falls in one of this many
    #                                 equal ranges (links are the same for any value: a candidate pair shares its
    #                                 band hash); a band task's memory is ~ corpus / band_partitions; "auto": the
    #                                 fewest that keep every band task under 50 million documents (AUTO_BAND_TASK_DOCS)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold: {self.threshold} is not in (0, 1]")
        if not 1 <= self.shingle_size <= 64:
            raise ValueError(f"shingle_size: {self.shingle_size} is not between 1 and 64")
        if not 2 <= self.num_perm <= 4096:
            raise ValueError(f"num_perm: {self.num_perm} is not between 2 and 4096")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed: {self.seed} is not in [0, 2^32)")
        if self.verify not in VERIFY:
            raise ValueError(f"verify: {self.verify!r} is not one of {', '.join(VERIFY)}")
        if self.hashfunc not in HASHES:
            raise ValueError(f"hashfunc: {self.hashfunc!r} is not one of {', '.join(HASHES)}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme: {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        for name in ("fp_weight", "fn_weight"):
            w = getattr(self, name)
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"{name}: {w} is not a finite non-negative number")
        if self.fp_weight + self.fn_weight <= 0:
            raise ValueError("fp_weight, fn_weight: at least one must be positive")
        if self.bucket_window < 1:
            raise ValueError(f"bucket_window: {self.bucket_window} is not at least 1")
        if not 1 <= self.exact_partitions <= 4096:
            raise ValueError(f"exact_partitions: {self.exact_partitions} is not between 1 and 4096")
        bp = self.band_partitions
        if bp != "auto" and (isinstance(bp, bool) or not isinstance(bp, int) or not 1 <= bp <= 4096):
            raise ValueError(f"band_partitions: {bp!r} is not an integer between 1 and 4096, or 'auto'")
        if (self.bands is None) != (self.rows is None):
            raise ValueError(f"bands, rows: give both or neither (got bands={self.bands}, rows={self.rows})")
        if self.bands is None:
            b, r = optimal_param(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)
            object.__setattr__(self, "bands", b)
            object.__setattr__(self, "rows", r)
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands, rows: {self.bands} x {self.rows} does not fit num_perm={self.num_perm}")

    def as_dict(self) -> dict[str, Any]:
        """The fields, execution fields (EXECUTION_FIELDS) only where they differ from their default."""
        d = dataclasses.asdict(self)
        for k, default in EXECUTION_FIELDS.items():
            if d[k] == default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "dedup") -> "DedupConfig":
        """A config from a mapping of its fields (as_dict's output, or a table's `dedup:` block); ValueError
        names the field (`dedup.threshold: ...`). Values are kept as written, so the hash is as_dict's."""
        return from_mapping(cls, d, where)

    def hash(self) -> str:
        """What every dedup file carries: the settings that decide results (execution fields left out)."""
        d = self.as_dict()
        for k in EXECUTION_FIELDS:
            d.pop(k, None)
        return config_hash(d)

    def band_tasks(self, documents: int) -> int:
        """Tasks per band over a corpus of `documents` (previous runs' included): band_partitions, or
        the "auto" choice (ceil(documents / AUTO_BAND_TASK_DOCS), at most 4096)."""
        if self.band_partitions == "auto":
            return max(1, min(4096, -(-documents // AUTO_BAND_TASK_DOCS)))
        return int(self.band_partitions)

    def candidate_probability(self, s: np.ndarray | float) -> np.ndarray:
        """P(two documents of Jaccard `s` share at least one band): the LSH S-curve."""
        s = np.asarray(s, dtype=np.float64)
        return 1.0 - (1.0 - s ** self.rows) ** self.bands

    def removal_probability(self, s: np.ndarray | float) -> np.ndarray:
        """P(a pair of Jaccard `s` is linked): a candidate, and then verified. "exact": s >= threshold;
        "estimate": at least ceil(threshold * num_perm) permutations agree (binomial, treating
        agreement as independent of the banding: an approximation)."""
        cand = self.candidate_probability(s)
        if self.verify == "none":
            return cand
        s_arr = np.atleast_1d(np.asarray(s, dtype=np.float64))
        if self.verify == "exact":
            return cand * (s_arr >= self.threshold - 1e-12).reshape(np.shape(s))
        k = math.ceil(self.threshold * self.num_perm - 1e-9)
        out = np.array([_binom_sf(k, self.num_perm, float(x)) for x in s_arr])
        return cand * out.reshape(np.shape(s))


def s_curve(config: DedupConfig, points: int = 21) -> list[tuple[float, float, float]]:
    """(Jaccard, P(candidate), P(linked)) at evenly spaced similarities from 0 to 1."""
    xs = np.linspace(0.0, 1.0, points)
    return [(float(x), float(c), float(v)) for x, c, v in
            zip(xs, config.candidate_probability(xs), config.removal_probability(xs))]


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n <= 4096)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    i = np.arange(k, n + 1)
    logc = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in i])
    return float(np.exp(logc + i * math.log(p) + (n - i) * math.log1p(-p)).sum())


@lru_cache(maxsize=64)
def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + false negative areas (datasketch's
    rule and search order: the first (b, r) with the smallest error wins)."""
    lo = np.linspace(0.0, threshold, _NODES)
    hi = np.linspace(threshold, 1.0, _NODES)
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = _simpson(1 - (1 - lo[None, :] ** r) ** b, threshold)
        fn = _simpson((1 - hi[None, :] ** r) ** b, 1.0 - threshold)
        err = fp * fp_weight + fn * fn_weight
        i = int(np.argmin(err))
        if err[i] < best:
            best, opt = float(err[i]), (b, i + 1)
    return opt


_NODES = 2001  # odd: Simpson's rule


def _simpson(y: np.ndarray, width: float) -> np.ndarray:
    """Simpson's rule along the last axis over an interval of `width` (one integral per row)."""
    if width <= 0:
        return np.zeros(y.shape[0])
    h = width / (_NODES - 1)
    return h / 3 * (y[:, 0] + y[:, -1] + 4 * y[:, 1:-1:2].sum(axis=1) + 2 * y[:, 2:-1:2].sum(axis=1))
