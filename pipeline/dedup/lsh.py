"""Banding, bucket candidates and candidate verification for MinHash LSH.

* band hash: the `rows` signature values of a band mixed into 64 bits (band values are compared
  for real before two documents are linked, so a hash collision never links anything);
* bucket candidates: documents of one bucket sorted by uid; each member is paired with the first
  member and with the `window` members before it. The pairs among a prefix of the bucket do not
  depend on the members after it, which is what makes an incremental run (previous corpus = a
  prefix in uid order) find the same pairs as a full rerun;
* one band owns a pair: the first band in which the two signatures agree, so band tasks never
  duplicate each other's work and need not be merged;
* verification ("exact", the default): the Jaccard similarity of the two documents' sets of
  shingle hashes (stored by the signature stage) is at least the threshold; ("estimate"): at least
  ceil(threshold * num_perm) permutations agree; ("none"): every candidate is linked.
"""

from __future__ import annotations

import math
import mmap
from pathlib import Path

import numpy as np

from tamiz.pipeline.dedup.files import as_matrix, drop_pages, open_random
from tamiz.pipeline.dedup.layout import split_uid

_K1 = np.uint64(0x9E3779B97F4A7C15)
_S32 = np.uint64(32)


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 hash of each band of each signature."""
    out = np.empty((len(sigs), bands), dtype=np.uint64)
    for i in range(bands):
        h = np.full(len(sigs), np.uint64(rows + 0x51ED27), dtype=np.uint64)
        for j in range(i * rows, (i + 1) * rows):
            h ^= sigs[:, j].astype(np.uint64)
            h *= _K1
            h ^= h >> _S32
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> _S32
        out[:, i] = h
    return out


def hash_range(part: int, parts: int) -> tuple[int, int]:
    """[lo, hi) of the band hashes in `part` of `parts` equal ranges of the uint64 space (hi <= 2^64)."""
    return (part << 64) // parts, ((part + 1) << 64) // parts


def in_range(h: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Which uint64 values of `h` are in [lo, hi) (hi = 2^64: no upper bound)."""
    sel = h >= np.uint64(lo)
    if hi < 1 << 64:
        sel &= h < np.uint64(hi)
    return sel


def bucket_pairs(h: np.ndarray, uid: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (u, v), u < v, from documents sharing a band hash (see module doc)."""
    order = np.lexsort((uid, h))
    hs, us = h[order], uid[order]
    if len(hs) < 2:
        e = np.zeros(0, dtype=np.uint64)
        return e, e
    same_next = hs[1:] == hs[:-1]
    in_bucket = np.zeros(len(hs), dtype=bool)
    in_bucket[1:] |= same_next
    in_bucket[:-1] |= same_next
    hs, us = hs[in_bucket], us[in_bucket]
    start = np.ones(len(hs), dtype=bool)
    start[1:] = hs[1:] != hs[:-1]
    first = np.flatnonzero(start)
    group = np.cumsum(start) - 1
    pos = np.arange(len(hs)) - first[group]
    us_, vs_ = [], []
    idx = np.arange(len(hs))
    for j in range(1, window + 1):
        m = pos >= j
        us_.append(us[idx[m] - j])
        vs_.append(us[m])
    m = pos > window
    us_.append(us[first[group[m]]])
    vs_.append(us[m])
    return np.concatenate(us_), np.concatenate(vs_)


def min_agree(threshold: float, num_perm: int) -> int:
    """Agreeing permutations needed for an estimated Jaccard >= threshold."""
    return math.ceil(threshold * num_perm - 1e-9)


class _Mapped:
    """Per-shard files mapped for scattered reads, whose pages are unmapped from the process once read
    (`release`). Reading one row maps up to 64 KiB of cached neighbours too (the kernel's fault-around,
    measured: ~60 KiB of resident memory per signature row read), so without it a band task that reads
    rows all over the corpus's signature files holds most of them in its resident memory: clean pages
    the kernel could drop, but the figure a worker's memory monitor kills on."""

    def __init__(self) -> None:
        self._maps: dict[int, mmap.mmap] = {}
        self._touched: set[int] = set()

    def _open(self, shard: int, path: Path, kind: str, config_hash: str):
        reader, self._maps[shard] = open_random(path, kind, config_hash)
        return reader

    def release(self, shard: int | None = None) -> None:
        """Unmap the pages read so far (of `shard`, or of every shard read since the last call)."""
        for s in [shard] if shard is not None else sorted(self._touched):
            drop_pages(self._maps[s])
            self._touched.discard(s)


class SignatureStore(_Mapped):
    """Random access to signature rows by uid, over memory-mapped signature files (only touched
    pages are read; nothing is held in the heap but the rows asked for)."""

    def __init__(self, files: dict[int, Path], num_perm: int, config_hash: str):
        super().__init__()
        self.files = files
        self.num_perm = num_perm
        self.config_hash = config_hash
        self._open_m: dict[int, np.ndarray] = {}

    def matrix(self, shard: int) -> np.ndarray:
        m = self._open_m.get(shard)
        if m is None:
            reader = self._open(shard, self.files[shard], "signatures", self.config_hash)
            batch = reader.get_batch(0) if reader.num_record_batches == 1 else reader.read_all().combine_chunks()
            col = batch.column("sig") if hasattr(batch, "column") else batch["sig"]
            m = as_matrix(col, np.uint32)
            if m.shape[1] != self.num_perm:
                raise ValueError(f"{self.files[shard]}: signatures of {m.shape[1]} permutations, expected {self.num_perm}")
            self._open_m[shard] = m
        return m

    def gather(self, uid: np.ndarray) -> np.ndarray:
        """Signature rows of `uid` (resident memory: at most the pages of one shard's rows at a time)."""
        shard, row = split_uid(uid)
        out = np.empty((len(uid), self.num_perm), dtype=np.uint32)
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            out[sel] = self.matrix(int(s))[row[sel]]
            self.release(int(s))
        return out


class ShingleStore(_Mapped):
    """Random access to documents' sorted shingle-hash sets, over memory-mapped files."""

    def __init__(self, files: dict[int, Path], config_hash: str):
        super().__init__()
        self.files = files
        self.config_hash = config_hash
        self._arrays_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _arrays(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        got = self._arrays_of.get(shard)
        if got is None:
            reader = self._open(shard, self.files[shard], "shingles", self.config_hash)
            col = reader.get_batch(0).column("h") if reader.num_record_batches == 1 else \
                reader.read_all().column("h").combine_chunks()
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int64, count=len(col) + 1 + col.offset)[col.offset:]
            values = col.values.to_numpy() if col.offset == 0 else col.flatten().to_numpy()
            got = self._arrays_of[shard] = (offsets - offsets[0], values)
        return got

    def get(self, uid: int) -> np.ndarray:
        shard, row = int(uid) >> 32, int(uid) & 0xFFFFFFFF
        offsets, values = self._arrays(shard)
        self._touched.add(shard)
        return values[offsets[row]:offsets[row + 1]]

    def jaccard(self, u: np.ndarray, v: np.ndarray, release_every: int = 1024) -> np.ndarray:
        """Exact Jaccard similarity of each pair's shingle sets (mapped pages released every
        `release_every` pairs)."""
        out = np.zeros(len(u), dtype=np.float64)
        for i, (a, b) in enumerate(zip(u.tolist(), v.tolist())):
            if i % release_every == 0:
                self.release()
            x, y = self.get(a), self.get(b)
            inter = len(np.intersect1d(x, y, assume_unique=True))
            union = len(x) + len(y) - inter
            out[i] = inter / union if union else 0.0
        return out


def check_pairs(store: SignatureStore, u: np.ndarray, v: np.ndarray, band: int, rows: int,
                need: int, chunk: int = 1 << 15, shingles: ShingleStore | None = None,
                threshold: float = 1.0) -> dict[str, np.ndarray]:
    """For candidates of `band`: which to keep (first agreeing band is this one, and verified:
    by `shingles` (exact Jaccard >= threshold) when given, else by >= `need` agreeing permutations)."""
    earlier = np.zeros(len(u), dtype=bool)
    collision = np.zeros(len(u), dtype=bool)
    agree = np.zeros(len(u), dtype=np.uint16)
    jac = np.zeros(len(u), dtype=np.float64)
    lo_b, hi_b = band * rows, (band + 1) * rows
    for lo in range(0, len(u), chunk):
        hi = min(lo + chunk, len(u))
        su, sv = store.gather(u[lo:hi]), store.gather(v[lo:hi])
        eq = su == sv
        agree[lo:hi] = eq.sum(axis=1)
        collision[lo:hi] = ~eq[:, lo_b:hi_b].all(axis=1)
        if band:
            earlier[lo:hi] = eq[:, :lo_b].reshape(hi - lo, band, rows).all(axis=2).any(axis=1)
    owned = ~collision & ~earlier
    if shingles is not None:
        idx = np.flatnonzero(owned)
        jac[idx] = shingles.jaccard(u[idx], v[idx])
        shingles.release()
        keep = owned & (jac >= threshold - 1e-9)
    else:
        keep = owned & (agree >= need)
    return {"keep": keep, "agree": agree, "jaccard": jac, "earlier": earlier, "collision": collision, "owned": owned}
