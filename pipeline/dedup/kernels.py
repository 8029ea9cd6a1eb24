"""MinHash's loops compiled with numba: words and word hashes (`tokenize_hash`), the shingle mix
(`xxh3_shingles`) and the permutation step (`permute`), which this docstring describes.

For every shingle hash x of a document and every permutation p, h = a[p] * x + b[p] (mod 2^32 for
datasketch's "affine32" scheme; mod 2^64, then mod 2^61 - 1, then the low 32 bits for "legacy"), and
the document's signature keeps the minimum per p. numpy needs three passes over a (num_perm x block)
array for this (multiply, add, reduce); the loop below keeps the signature row in registers and is
vectorized by LLVM over the permutations, which measured 5-6x faster on one core
(benchmarks/bench_dedup.py). The numpy version in `minhash.Signer.permute_numpy` stays as the
reference the tests compare against, and is used where numba cannot be imported.
"""

from __future__ import annotations

from functools import lru_cache

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
                    row[p] = min(row[p], np.uint32(((a[p] * v + b[p]) % MERSENNE) & LOW32))
            else:
                for p in range(P):
                    row[p] = min(row[p], np.uint32(a[p] * v + b[p]))


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


WORD, DECIMAL = 1, 2  # bits of the character table (`char_table`)


def _tokenize_hash(cps, starts, table, fold_digits, word_hashes, n_words, text, text_starts, lower, lower_docs,
                   strict=False):
    """`normalize.tokens` after NFKC, and the word hashes, in one pass over each document.

    cps: the documents' code points, document d at cps[starts[d]:starts[d + 1]] (NFKC already applied;
    lower case too, or, where lower_docs[d], applied here as c -> lower[c], `lower_table`). A word is a run of characters whose table entry has the WORD bit (Python's
    `[^\\W_]`); with fold_digits, every run of DECIMAL characters (Python's `\\d`) is one "0". Writes
    the UTF-8 of each document's words joined by single spaces to text[text_starts[d]:text_starts[d + 1]],
    the XXH3-64 of every word to word_hashes (document after document) and the number of words of each
    document to n_words; returns the number of words in all. With `strict`, returns -1 as soon as a
    document starts or ends with a separator or holds two in a row (words joined by single spaces
    never do: an empty word among them does)."""
    nw = 0
    pos = 0
    for d in range(starts.shape[0] - 1):
        text_starts[d] = pos
        count = 0
        in_word = False
        prev_digit = False
        wstart = 0
        low = lower_docs[d]
        for i in range(starts[d], starts[d + 1]):
            c = cps[i]
            if low:
                c = lower[c]
            f = table[c]
            if f & WORD:
                if not in_word:
                    if count > 0:
                        text[pos] = 32
                        pos += 1
                    wstart = pos
                    in_word = True
                if fold_digits and (f & DECIMAL):
                    if not prev_digit:
                        text[pos] = 48  # "0"
                        pos += 1
                    prev_digit = True
                    continue
                prev_digit = False
                if c < 0x80:
                    text[pos] = c
                    pos += 1
                elif c < 0x800:
                    text[pos] = 0xC0 | (c >> 6)
                    text[pos + 1] = 0x80 | (c & 0x3F)
                    pos += 2
                elif c < 0x10000:
                    text[pos] = 0xE0 | (c >> 12)
                    text[pos + 1] = 0x80 | ((c >> 6) & 0x3F)
                    text[pos + 2] = 0x80 | (c & 0x3F)
                    pos += 3
                else:
                    text[pos] = 0xF0 | (c >> 18)
                    text[pos + 1] = 0x80 | ((c >> 12) & 0x3F)
                    text[pos + 2] = 0x80 | ((c >> 6) & 0x3F)
                    text[pos + 3] = 0x80 | (c & 0x3F)
                    pos += 4
            else:
                prev_digit = False
                if in_word:
                    word_hashes[nw] = xxh3_64_at(text, wstart, pos - wstart)
                    nw += 1
                    count += 1
                    in_word = False
                elif strict:
                    return -1
        if in_word:
            word_hashes[nw] = xxh3_64_at(text, wstart, pos - wstart)
            nw += 1
            count += 1
        elif strict and starts[d + 1] > starts[d]:
            return -1
        n_words[d] = count
    text_starts[starts.shape[0] - 1] = pos
    return nw


@lru_cache(maxsize=1)
def space_table() -> np.ndarray:
    """A table for `tokenize_hash` in which every character but the space is a word character: words
    already cut, joined by single spaces, come back as they were."""
    table = np.full(0x110000, WORD, dtype=np.uint8)
    table[0x20] = 0
    return table


@lru_cache(maxsize=1)
def lower_table() -> tuple[np.ndarray, str]:
    """`str.lower` of one character as a table, taken from this Python (~0.05 s, once per process):
    lower[c] is the code point of chr(c).lower() wherever that is one character whatever surrounds it.
    Returns (lower, specials): the characters for which it is not (where Python's lower case is two
    characters, İ -> i̇, or depends on the neighbours, Σ -> σ or final ς) map to themselves in the
    table; a text holding one of them is lower-cased by Python instead."""
    every = np.arange(0x110000, dtype=np.uint32)
    lower = every.copy()
    candidates: list[int] = []
    step = 1 << 12
    for lo in range(0, 0x110000, step):
        chunk = every[lo:lo + step].tobytes().decode("utf-32-le", "surrogatepass")
        low = chunk.lower()
        if len(low) == len(chunk):
            mapped = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            candidates += (np.flatnonzero(mapped != every[lo:lo + step]) + lo).tolist()
        else:  # some character of the block lower-cases to several: check each on its own
            candidates += range(lo, min(lo + step, 0x110000))
    specials = []
    for c in candidates:
        ch = chr(c)
        alone = ch.lower()
        if len(alone) != 1 or ("a" + ch).lower() != "a" + alone or (ch + "a").lower() != alone + "a" \
                or ("a" + ch + "a").lower() != "a" + alone + "a":
            lower[c] = c
            if alone != ch:
                specials.append(ch)
        else:
            lower[c] = ord(alone)
    lower.setflags(write=False)
    return lower, "".join(specials)


@lru_cache(maxsize=1)
def char_table() -> np.ndarray:
    """One byte per code point: WORD where Python's regex `[^\\W_]` matches the character, DECIMAL where
    `\\d` does, taken from this Python's own `re` (so the compiled tokenizer agrees with
    `normalize.tokens` for the Unicode version at hand); built once per process (~0.1 s)."""
    import re

    every = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros(0x110000, dtype=np.uint8)
    for m in re.finditer(r"[^\W_]+", every):
        table[m.start():m.end()] |= WORD
    for m in re.finditer(r"\d+", every):
        table[m.start():m.end()] |= DECIMAL
    return table


if numba is not None:
    from tamiz.pipeline.dedup.xxh3 import xxh3_64_at

    tokenize_hash = numba.njit(cache=True, nogil=True)(_tokenize_hash)
    permute = numba.njit(cache=True, nogil=True)(_permute)
    xxh3_shingles = numba.njit(cache=True, nogil=True)(_xxh3_shingles)
else:  # pragma: no cover
    permute = xxh3_shingles = tokenize_hash = None

AVAILABLE = numba is not None
