"""The MinHash permutation step compiled with numba: one pass over each document's shingles.

For every shingle hash x of a document and every permutation p, h = a[p] * x + b[p] (mod 2^32 for
datasketch's "affine32" scheme; mod 2^64, then mod 2^61 - 1, then the low 32 bits for "legacy"), and
the document's signature keeps the minimum per p. numpy needs three passes over a (num_perm x block)
array for this (multiply, add, reduce); the loop below keeps the signature row in registers and is
vectorized by LLVM over the permutations, which measured 5-6x faster on one core
(benchmarks/bench_dedup.py). The numpy version in `minhash.Signer.permute_numpy` stays as the
reference the tests compare against, and is used where numba cannot be imported.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this keeps tamiz usable without it
    numba = None

MERSENNE = np.uint64((1 << 61) - 1)
LOW32 = np.uint64(0xFFFFFFFF)


def _permute(x: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray, legacy: bool) -> None:
    """out[d, p] = min(out[d, p], h_p(x[s]) for the shingles s of document d); x is fmix32'd (affine32) or
    the raw hashes as uint64 (legacy). The branch is outside the loop over permutations (measured: as fast
    as one function per scheme)."""
    n = offsets.shape[0] - 1
    P = a.shape[0]
    for d in range(n):
        row = out[d]
        for s in range(offsets[d], offsets[d + 1]):
            v = x[s]
            if legacy:
                for p in range(P):
                    h = np.uint32(((a[p] * v + b[p]) % MERSENNE) & LOW32)
                    if h < row[p]:
                        row[p] = h
            else:
                for p in range(P):
                    h = np.uint32(a[p] * v + b[p])
                    if h < row[p]:
                        row[p] = h


K1 = np.uint64(0x9E3779B97F4A7C15)
K2 = np.uint64(0xC2B2AE3D27D4EB4F)
S32 = np.uint64(32)
S33 = np.uint64(33)
M1 = np.uint64(0xFF51AFD7ED558CCD)
M2 = np.uint64(0xC4CEB9FE1A85EC53)


def _xxh3_shingles(T: np.ndarray, lens: np.ndarray, k: int, offsets: np.ndarray, hv: np.ndarray) -> None:
    """`minhash._mix_words` for every shingle of every document, written to hv[offsets[d]:...]."""
    start = 0
    for d in range(lens.shape[0]):
        L = lens[d]
        if L == 0:
            continue
        w = k if L >= k else L
        n_sh = L - k + 1 if L >= k else 1
        seed = np.uint64(w) * K2
        o = offsets[d]
        for i in range(n_sh):
            h = seed
            for j in range(w):
                h ^= T[start + i + j]
                h *= K1
                h ^= h >> S32
            h ^= h >> S33
            h *= M1
            h ^= h >> S33
            h *= M2
            h ^= h >> S33
            hv[o + i] = np.uint32(h >> S32)
        start += L


if numba is not None:
    permute = numba.njit(cache=True, nogil=True)(_permute)
    xxh3_shingles = numba.njit(cache=True, nogil=True)(_xxh3_shingles)
else:  # pragma: no cover
    permute = xxh3_shingles = None

AVAILABLE = numba is not None
