"""Mixing sources by weight: the GPT-3-style table, the blend order, repetition and subsampling.

Weights are shares of training tokens (docs/data-format.md, "What a weight means"). Packed rows all
hold the same number of tokens, so a share of tokens is a share of rows, and the mix is planned on
rows:

- `Blender` / `blend(weights, n)`: which source fills each of the n row slots. Deterministic, no
  random draw, and every prefix of the stream matches the weights within one row per source (see
  `Blender`; the tokenizer's weighted training text uses the same rule, by characters).
- `plan_mix(...)`: which row of its source fills each slot. A source that needs more rows than it
  has is repeated: whole passes, each in its own seeded order, plus a partial pass of distinct rows
  chosen by a seeded permutation; a source that needs fewer is subsampled the same way (a partial
  pass only). The same seed gives the same stream.
- `mix_table(...)`: the GPT-3 table (tokens, weight, tokens in the mix, epochs) with a warning for
  sources repeated more than MAX_EPOCHS times.
"""

from __future__ import annotations

import math
import zlib
from array import array
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tamiz.pipeline.table import check_weight

# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models" (NeurIPS): up to ~4 epochs of
# repeated data are almost as good as unique data; beyond that the value of repetition drops fast.
MAX_EPOCHS = 4.0


def normalize(weights: Sequence[float], names: Sequence[str] | None = None) -> list[float]:
    """Check (finite, >= 0, not all 0) and normalize weights to sum 1; errors name the source."""
    labels = list(names) if names is not None else [f"weights[{i}]" for i in range(len(weights))]
    ws = [check_weight(f"{label}.weight" if names is not None else label, w) for label, w in zip(labels, weights)]
    total = math.fsum(ws)
    if not ws or total <= 0:
        raise ValueError("weights: at least one source needs a positive weight")
    return [w / total for w in ws]


class Blender:
    """Which source is due next, so that every prefix of a stream matches the weights: the one blending
    rule of the code base, for rows (`blend`) and for the tokenizer's training text (documents counted
    by characters, tamiz.tokenizer.corpus).

    Megatron's blend picks, for slot i, the source with the largest `weight * i - count`. That greedy
    rule keeps prefixes close but not within one row: on random weights we measured deviations of
    1.84 rows (Megatron's exact rule) and 1.18 rows (with i counted after the pick). We use the
    refinement that is proven to stay within one: Tijdeman's rule for the chairman assignment problem
    (R. Tijdeman, "The chairman assignment problem", Discrete Mathematics 32, 1980). Among the sources
    that are at least d = 1/(2k-2) units behind their share (`weight * t - count >= d` for the next
    unit t, k = sources with a positive weight), pick the one whose next unit is due first (smallest
    `(count + 1 - d) / weight`); ties go to the earlier source. When every item is one unit (a row),
    for every prefix length i and every source |count - weight * i| <= 1 - d < 1. When items are
    several units (a document of n characters, `add(source, n)`), only a source behind its share is
    picked, so no source is ever ahead of its share by as much as its last item (and the sources
    behind are behind by what the others are ahead). Sources with weight 0 are never picked.
    """

    def __init__(self, weights: Sequence[float]):
        w = normalize(weights)
        if len(w) >= 1 << 16:
            raise ValueError(f"weights: {len(w)} sources; at most 65535 are supported")
        self.active = [s for s, x in enumerate(w) if x > 0]
        self._w = [w[s] for s in self.active]
        self._d = 1.0 / (2 * len(self.active) - 2) if len(self.active) > 1 else 0.0
        self._at = {s: j for j, s in enumerate(self.active)}
        self._counts = [0] * len(self.active)  # units each active source has given
        self._total = 0

    def next(self) -> int:
        """The source due next (an index into the weights)."""
        return self.active[_due(self._w, self._counts, self._total + 1, self._d)]

    def add(self, source: int, units: int = 1) -> None:
        """Count `units` given by `source` (the one `next` returned)."""
        self._counts[self._at[source]] += units
        self._total += units


def _due(ws: list[float], counts: list[int], t: int, d: float) -> int:
    """Tijdeman's pick for unit t (see `Blender`): the position in `ws` of the source due first among
    those at least d behind their share."""
    best, best_due = -1, math.inf
    for j in range(len(ws)):
        c = counts[j]
        if ws[j] * t - c >= d:
            due = (c + 1 - d) / ws[j]
            if due < best_due:
                best, best_due = j, due
    # never -1: the deficits weight * t - count sum to t - total = 1, so one is >= 1/k >= d
    return best


def blend(weights: Sequence[float], n: int) -> np.ndarray:
    """The source index of each of `n` row slots, so that every prefix matches the weights within one
    row per source: `Blender`'s rule, one unit per row. The loop over rows stays here, reading the
    blender's state directly, because it runs once per row of the training split."""
    b = Blender(weights)
    if n < 0:
        raise ValueError(f"n: {n} is negative")
    if len(b.active) == 1:
        return np.full(n, b.active[0], dtype=np.uint16)
    ws, counts, d, active = b._w, b._counts, b._d, b.active
    out = array("H")
    for t in range(1, n + 1):
        j = _due(ws, counts, t, d)
        counts[j] += 1
        out.append(active[j])
    return np.frombuffer(out, dtype=np.uint16).copy()


def source_order(unique_rows: int, count: int, seed: int, key: str) -> np.ndarray:
    """The `count` rows a source contributes, in order: whole passes over its `unique_rows` rows (each
    pass in its own seeded order), then a partial pass of distinct rows (a seeded random subset)."""
    if count and not unique_rows:
        raise ValueError(f"{key}: needs {count} rows but has none")
    full, rem = divmod(count, unique_rows) if unique_rows else (0, 0)
    parts = [_rng(seed, key, p).permutation(unique_rows) for p in range(full)]
    if rem:
        parts.append(_rng(seed, key, full).permutation(unique_rows)[:rem])
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class MixPlan:
    names: tuple[str, ...]
    weights: tuple[float, ...]  # normalized
    unique_rows: tuple[int, ...]  # rows each source has
    counts: tuple[int, ...]  # rows each source fills in the mix
    source: np.ndarray  # source index of each slot (uint16)
    row: np.ndarray  # row of that source in each slot (int64)

    @property
    def epochs(self) -> tuple[float, ...]:
        return tuple(c / u if u else 0.0 for c, u in zip(self.counts, self.unique_rows))


def plan_mix(names: Sequence[str], unique_rows: Sequence[int], weights: Sequence[float], total_rows: int,
             seed: int) -> MixPlan:
    """Which row of which source fills each of `total_rows` slots (see the module docstring)."""
    w = normalize(weights, names)
    for name, u, x in zip(names, unique_rows, w):
        if x > 0 and u <= 0:
            raise ValueError(f"source {name!r} has weight {x:.4g} but no rows to give "
                             "(no documents, or fewer tokens than one row)")
    src = blend(w, total_rows)
    counts = np.bincount(src, minlength=len(names)) if total_rows else np.zeros(len(names), dtype=np.int64)
    row = np.zeros(total_rows, dtype=np.int64)
    for s, name in enumerate(names):
        if counts[s]:
            row[src == s] = source_order(int(unique_rows[s]), int(counts[s]), seed, name)
    return MixPlan(tuple(names), tuple(w), tuple(int(u) for u in unique_rows), tuple(int(c) for c in counts),
                   src, row)


@dataclass(frozen=True)
class MixRow:
    name: str
    kind: str
    documents: int
    tokens: int
    weight: float  # normalized
    mix_tokens: float  # weight * budget
    epochs: float  # mix_tokens / rehydrated_tokens: passes over the source's stream
    rehydrated_tokens: int = 0  # tokens once rehydration has repeated documents (= tokens without it)
    unique_epochs: float = 0.0  # mix_tokens / tokens: passes over the source's own text


def mix_table(sources: Sequence[tuple[str, str, int, int]], weights: Sequence[float], budget_tokens: int,
              rehydrated: Sequence[int] | None = None) -> tuple[list[MixRow], list[str]]:
    """GPT-3's table for (name, kind, documents, tokens) sources and a training budget; plus warnings.
    `rehydrated`: each source's tokens with the copies rehydration adds (docs/data-format.md,
    "Rehydration"); the epochs are then passes over that stream, and `unique_epochs` passes over the
    source's own text. The warning is about the epochs: the repetition the weight itself makes.

    Raises ValueError for a source with a positive weight and no tokens (it cannot fill its share).
    """
    if budget_tokens <= 0:
        raise ValueError(f"tokens: {budget_tokens} is not a positive training budget")
    w = normalize(weights, [s[0] for s in sources])
    rehydrated = list(rehydrated) if rehydrated is not None else [s[3] for s in sources]
    rows, warnings = [], []
    for (name, kind, docs, tokens), x, rt in zip(sources, w, rehydrated):
        if x > 0 and rt <= 0:
            raise ValueError(f"source {name!r} has weight {x:.4g} but no documents with text"
                             + (" (rehydration left none of them)" if tokens > 0 else ""))
        mix = x * budget_tokens
        epochs = mix / rt if rt else 0.0
        rows.append(MixRow(name, kind, docs, tokens, x, mix, epochs, rt, mix / tokens if tokens else 0.0))
        if epochs > MAX_EPOCHS:
            warnings.append(f"{name} is repeated {epochs:.1f} times (more than {MAX_EPOCHS:g} epochs): repeated "
                            "tokens are worth less than new ones; lower its weight, add data or train on fewer tokens")
    return rows, warnings


def _rng(seed: int, key: str, p: int) -> np.random.Generator:
    # keyed by the source NAME (not its position), so adding a source does not reshuffle the others
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8")), p])
