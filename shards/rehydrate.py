"""Rehydration in the packing step: which documents go into each pass of a source's token stream, and
the counts the manifest reports.

A training document that `RehydrateConfig.copies` (pipeline/rehydrate.py) gives c copies is packed in
passes 0 .. c-1: pass 0 packs every document with at least one copy, in input order (without
rehydration, the only pass: the stream is what it always was); pass k then packs, again in input order,
the documents with more than k copies, appended to the same source's stream. So copy k and copy k+1 of
a document are separated by every other document of pass k+1 (the documents after it in pass k and
those before it in pass k+1, a superset of pass k+1 without it): two copies share a row only when all
the other documents repeated that often hold fewer tokens than a row. The mix then shuffles rows
(pipeline/mix.py), so copies land at unrelated places in training.

Why here and not while tokenizing: the tokenized files keep each document once, with its cluster size and
rounding draw (shards/tokenize.py), so changing the buckets re-mixes without re-tokenizing, like changing
a weight. Validation documents are never repeated: the split is by document (a hash of its id) before
any copy exists, and copies are made of training documents only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tamiz.pipeline.rehydrate import RehydrateConfig


class Rehydration:
    """The configs of the rehydrated sources (by their index in the mix) and the counts of pass 0."""

    def __init__(self, configs: dict[int, RehydrateConfig]):
        self.configs = configs
        self.passes = max((c.max_copies for c in configs.values()), default=1) or 1
        # per source index: per bucket [documents, tokens, copies, tokens with copies]; documents without a size
        self.buckets = {s: np.zeros((len(c.table()), 4), dtype=np.int64) for s, c in configs.items()}
        self.without_size = {s: 0 for s in configs}

    def copies(self, batch: pa.RecordBatch, codes: np.ndarray, val: np.ndarray, lengths: np.ndarray,
               count: bool) -> np.ndarray | None:
        """Copies of each document of the batch (1 for validation documents and sources without a config);
        None when no document of the batch belongs to a rehydrated source. `count`: add to the counts
        (pass 0 only)."""
        out = None
        for s, cfg in self.configs.items():
            m = (codes == s) & ~val
            if not m.any():
                continue
            if out is None:
                out = np.ones(len(codes), dtype=np.int64)
            size = batch.column("cluster_size").to_numpy()[m]
            k = cfg.copies(size, batch.column("draw").to_numpy()[m])
            out[m] = k
            if count:
                b, n = cfg.bucket_of(size), lengths[m]
                acc = self.buckets[s]
                np.add.at(acc[:, 0], b, 1)
                np.add.at(acc[:, 1], b, n)
                np.add.at(acc[:, 2], b, k)
                np.add.at(acc[:, 3], b, k * n)
                self.without_size[s] += int((size < 1).sum())
        return out

    def summary(self, s: int) -> dict[str, Any] | None:
        """The manifest's `rehydration` of source index s: its buckets with their training documents and
        tokens before and after, and how many documents had no cluster size (counted as 1)."""
        if s not in self.configs:
            return None
        acc = self.buckets[s].tolist()
        return {"buckets": [{**b, "documents": d, "tokens": t, "rehydrated_documents": c, "rehydrated_tokens": ct}
                            for b, (d, t, c, ct) in zip(self.configs[s].buckets_list(), acc)],
                "without_cluster_size": self.without_size[s]}

    def totals(self, s: int) -> tuple[int, int] | None:
        """(documents, tokens) of source s's training stream with its copies; None without a config."""
        if s not in self.configs:
            return None
        acc = self.buckets[s]
        return int(acc[:, 2].sum()), int(acc[:, 3].sum())


def select(values: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The documents `idx` (sorted) of a batch, values[offsets[i]:offsets[i+1]] each, as one array and
    its offsets (from 0), in one gather."""
    starts = offsets[idx]
    lengths = offsets[idx + 1] - starts
    new = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new[1:])
    gather = np.arange(new[-1], dtype=np.int64) + np.repeat(starts - new[:-1], lengths)
    return values[gather], new
