"""Rehydration: repeat each kept document by the size of the duplicate cluster dedup removed it from.

Dedup keeps one document per cluster of duplicates and writes the cluster's size on it
(`metadata.dup_cluster_size`, 1 for a document without duplicates; docs/dedup.md). FineWeb-2 found
that putting some of those copies back ("re-hydrating") helps: a page copied across the web a few times
is usually better than one nobody copied, and one copied thousands of times is usually boilerplate.
Its README gives the weights it used (huggingface/fineweb-2, "Deduplication"):

    cluster size   1   2   3-4   5-99   100-999   1000+
    copies         1   2   3     5      8         1

(the datatrove step there is `upsampling_weights = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}`: each key
is the smallest cluster size of its bucket). `RehydrateConfig` holds such a table, per source in the
dataset table (`rehydrate: {preset: fineweb2}` or `rehydrate: {buckets: {1: 1, 2: 2, ...}}`), and
`copies` turns cluster sizes into the number of times each training document goes into the source's
token stream. A fractional count (1.5) gives each document the floor or the ceiling, chosen by a hash
of its id (`draw`), so the expected count is the number written, and the same document always gets the
same count, on any worker and in any order. Where the copies are placed (passes of the source's stream,
so copies of one document sit apart): shards/rehydrate.py. What it means for the mix: docs/data-format.md,
"Rehydration".
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# FineWeb-2's weights (README of huggingface/fineweb-2): the smallest cluster size of each bucket -> copies
PRESETS: dict[str, dict[int, int]] = {"fineweb2": {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}}
# A document repeated more than this is memorised, not rehydrated; a larger number is most likely a typo.
MAX_COPIES = 100


@dataclass(frozen=True)
class RehydrateConfig:
    """A source's `rehydrate:` block: how many times a training document goes into the source's stream,
    by the size of its duplicate cluster. Give `preset` or `buckets`, not both."""

    preset: str | None = None  # "fineweb2": FineWeb-2's weights (1, 2, 3-4, 5-99, 100-999, 1000+ -> 1, 2, 3, 5, 8, 1)
    buckets: dict[int, int | float] | None = None  # smallest cluster size of each bucket -> copies, e.g.
    #   {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}; a bucket runs up to the next one. Copies: a number from
    #   0 to 100; a fraction gives each document the floor or the ceiling by a hash of its id (1.5: half
    #   the documents once, half twice), 0 leaves the bucket's documents out of training

    def __post_init__(self) -> None:
        if self.preset is not None and self.buckets is not None:
            raise ValueError("preset: give a preset or buckets, not both")
        if self.preset is None and self.buckets is None:
            raise ValueError("buckets: missing (give buckets, e.g. {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}, "
                             "or a preset: fineweb2)")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset: {self.preset!r} is not one of {', '.join(PRESETS)}")
        table = self.table()
        if not table:
            raise ValueError("buckets: no bucket given")
        for low, n in table.items():
            if isinstance(low, bool) or not isinstance(low, int) or low < 1:
                raise ValueError(f"buckets: {low!r} is not a cluster size (an integer >= 1)")
            number = isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n)
            if not number or not 0 <= n <= MAX_COPIES:
                raise ValueError(f"buckets.{low}: {n!r} is not a number of copies from 0 to {MAX_COPIES}")
        if min(table) != 1:
            raise ValueError(f"buckets: the first bucket starts at {min(table)}; it must start at 1 "
                             "(every kept document has a cluster size of 1 or more)")

    def table(self) -> dict[int, int | float]:
        """Smallest cluster size of each bucket -> copies, in order (the preset's when one is named)."""
        raw = PRESETS[self.preset] if self.preset is not None else self.buckets
        try:
            return dict(sorted(raw.items()))  # type: ignore[union-attr]
        except TypeError:  # keys of mixed types: the check in __post_init__ names the bad one
            return dict(raw)  # type: ignore[arg-type]

    @property
    def max_copies(self) -> int:
        """The most copies any document gets (how many passes the source's stream makes)."""
        return math.ceil(max(self.table().values()))

    def buckets_list(self) -> list[dict[str, Any]]:
        """The buckets as records: {"sizes": "3-4", "from": 3, "to": 4 (None: no end), "copies": 3}."""
        lows = list(self.table())
        out = []
        for i, low in enumerate(lows):
            high = lows[i + 1] - 1 if i + 1 < len(lows) else None
            label = f"{low}+" if high is None else (str(low) if high == low else f"{low}-{high}")
            out.append({"sizes": label, "from": low, "to": high, "copies": self.table()[low]})
        return out

    def as_dict(self) -> dict[str, Any]:
        """What the build's keys hold: the resolved buckets, so a preset and its buckets written out agree."""
        return {"buckets": [[low, n] for low, n in self.table().items()]}

    def bucket_of(self, cluster_size: np.ndarray) -> np.ndarray:
        """The index of each cluster size's bucket (sizes below 1, i.e. unknown, count as 1)."""
        lows = np.fromiter(self.table(), dtype=np.int64)
        return np.searchsorted(lows, np.maximum(cluster_size, 1), side="right") - 1

    def copies(self, cluster_size: np.ndarray, draw: np.ndarray) -> np.ndarray:
        """How many times each document goes into the stream (int64), from its cluster size and its
        `draw` (uint64, a hash of its id): floor(c) plus one more when draw / 2^64 < c - floor(c)."""
        c = np.fromiter(self.table().values(), dtype=np.float64)[self.bucket_of(np.asarray(cluster_size))]
        base = np.floor(c)
        u = (np.asarray(draw, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # exact, in [0, 1)
        return (base + (u < c - base)).astype(np.int64)


def draw(doc_id: str) -> int:
    """The document's rounding draw: 8 bytes of blake2b of its id, personalised so that it does not follow
    the validation split's hash of the same id (a training document's draw is uniform on [0, 2^64))."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=b"tamiz-rehydrate").digest(),
                          "big")


def cluster_size(metadata: dict[str, Any]) -> int:
    """The document's duplicate-cluster size from dedup (0 when it has none: not deduplicated)."""
    v = metadata.get("dup_cluster_size")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else 0
