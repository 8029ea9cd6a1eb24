"""Union-find over dense document indices, vectorized with numpy (edges are united in batches).

Union always hooks the larger root under the smaller, so the root of every component is its
smallest index (parent[x] <= x holds throughout) and the result does not depend on edge order.
Memory: one int32 (int64 past 2^31 documents) per document.
"""

from __future__ import annotations

import numpy as np


class UnionFind:
    def __init__(self, n: int):
        self.dtype = np.int32 if n < 2**31 else np.int64
        self.parent = np.arange(n, dtype=self.dtype)

    def find(self, x: np.ndarray) -> np.ndarray:
        """Roots of the nodes `x` (and compresses their paths)."""
        x = np.asarray(x, dtype=self.dtype)
        r = self.parent[x]
        while True:
            rr = self.parent[r]
            if np.array_equal(rr, r):
                break
            r = rr
        self.parent[x] = r
        return r

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        """Unite a[i] with b[i] for every i."""
        a = np.asarray(a, dtype=self.dtype)
        b = np.asarray(b, dtype=self.dtype)
        while len(a):
            ra, rb = self.find(a), self.find(b)
            diff = ra != rb
            if not diff.any():
                return
            lo, hi = np.minimum(ra, rb)[diff], np.maximum(ra, rb)[diff]
            np.minimum.at(self.parent, hi, lo)  # several edges may hook one root: the smallest wins
            a, b = a[diff], b[diff]

    def roots(self) -> np.ndarray:
        """Root (smallest member) of every node."""
        p = self.parent
        while True:
            q = p[p]
            if np.array_equal(q, p):
                break
            p = q
        self.parent = p
        return p
