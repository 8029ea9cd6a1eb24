"""Vectorized MinHash signatures of word shingles, bit-compatible with datasketch.

A signature row is what `datasketch.MinHash(num_perm, seed, scheme=..., hashfunc=...)` holds after
`update_batch` over the document's shingles (the byte strings `" ".join(words[i:i+k])`), so
`LeanMinHash(seed=seed, hashvalues=row, scheme=scheme)` equals datasketch's own (tested):

* permutations: datasketch's, drawn from `np.random.RandomState(seed)` (`permutations()`):
  "affine32" (datasketch >= 2.0 default): h -> a*fmix32(h) + b mod 2^32 with odd a;
  "legacy" (datasketch < 2.0): h -> ((a*h + b) mod 2^64 mod (2^61 - 1)) & (2^32 - 1).
* shingle hash, `hashfunc`:
  "sha1": datasketch's default `sha1_hash32` (first 4 bytes of SHA-1, little endian), one
  hashlib call per shingle: exact compatibility with a plain `MinHash(num_perm, seed)`.
  "xxh3" (default): every word is hashed with xxh3_64 and the shingle hash is a fixed mix of its
  words' hashes; the same function on shingle bytes is `shingle_hash32`, to pass as datasketch's
  `hashfunc`. With numba (`kernels.py`, `xxh3.py`) the words are cut and hashed in compiled code
  straight from the text; without it, `normalize.tokens`, a dict of word hashes and numpy.

The permutation step, the bulk of the work, is a numba loop over each document's shingles
(`kernels.py`); its numpy reference runs over blocks of shingles of many documents as a
(num_perm x block) array with `np.minimum.reduceat` per document. Memory stays bounded for any
document size. Documents with fewer words than the shingle size are one shingle (all their words);
documents without words have no signature.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np
import xxhash

from tamiz.pipeline.dedup import kernels
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.normalize import CHUNK_CHARS, prepare, token_chunks, tokens

MAX32 = np.uint32(0xFFFFFFFF)
_NO_LOWER = np.zeros(1, dtype=np.uint32)  # the `lower` argument of the kernel when it lower-cases nothing
_EMPTY = np.zeros(0, dtype=np.uint32)
MERSENNE = np.uint64((1 << 61) - 1)
BLOCK = 4096  # shingles per permutation block: a (num_perm x BLOCK) uint32 array stays in cache

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_S32 = np.uint64(32)
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters (a, b) for MinHash(num_perm, seed, scheme=scheme)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, MERSENNE, dtype=np.uint64), gen.randint(0, MERSENNE, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        a, b = ab[0].copy(), ab[1].copy()
    elif scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    else:
        raise ValueError(f"scheme: {scheme!r} is not affine32 or legacy")
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix64(h: np.ndarray) -> np.ndarray:
    s, m1, m2 = _FMIX64
    h = h ^ (h >> s)
    h = h * m1
    h ^= h >> s
    h = h * m2
    return h ^ (h >> s)


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h ^= h >> s2
    h = h * m2
    return h ^ (h >> s1)


def _word_hash(word: bytes) -> int:
    return xxhash.xxh3_64_intdigest(word)


def _mix_words(hashes: list[np.ndarray], n_words: int) -> np.ndarray:
    """The xxh3 shingle hash from the word hashes at each position (vectorized over shingles)."""
    h = np.full(len(hashes[0]), np.uint64((n_words * int(_K2)) & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    for w in hashes:
        h ^= w
        h *= _K1
        h ^= h >> _S32
    return (_fmix64(h) >> _S32).astype(np.uint32)


def shingle_hash32(shingle: bytes) -> int:
    """The "xxh3" shingle hash of one shingle (words separated by single spaces), as a datasketch
    `hashfunc`: `MinHash(num_perm, seed, hashfunc=shingle_hash32)` gives tamiz's signatures."""
    words = shingle.split(b" ")
    cols = [np.array([_word_hash(w)], dtype=np.uint64) for w in words]
    return int(_mix_words(cols, len(words))[0])


def sha1_hash32(data: bytes) -> int:
    """datasketch.hashfunc.sha1_hash32."""
    return int.from_bytes(hashlib.sha1(data).digest()[:4], "little")


@dataclass
class Signed:
    """Signatures of a batch: `sigs[i]` is valid where `has_sig[i]` (documents with at least one word)."""

    sigs: np.ndarray  # (n, num_perm) uint32
    has_sig: np.ndarray  # (n,) bool
    n_tokens: np.ndarray  # (n,) int64
    text_keys: list[bytes]  # 16-byte xxh3_128 of the normalized text (of the raw text when it normalizes to nothing)
    shingles: list[np.ndarray] | None = None  # sorted distinct shingle hashes per document (if asked for)


class Signer:
    """Computes signatures and exact-dedup text keys for batches of texts under one DedupConfig."""

    def __init__(self, config: DedupConfig, chunk_chars: int = CHUNK_CHARS, cache_words: int = 1 << 21):
        self.cfg = config
        self.a, self.b = permutations(config.num_perm, config.seed, config.scheme)
        self.chunk_chars = chunk_chars
        self._cache: dict[str, int] = {}
        self._cache_words = cache_words
        self._norm = dict(lowercase=config.lowercase, fold_digits=config.fold_digits,
                          strip_accents=config.strip_accents)

    # ---- public
    def sign_texts(self, texts: list[str], keep_shingles: bool = False) -> Signed:
        """Signatures and text keys of raw texts; with `keep_shingles`, also each document's set of
        shingle hashes (what exact verification compares)."""
        n, P = len(texts), self.cfg.num_perm
        sigs = np.full((n, P), MAX32, dtype=np.uint32)
        n_tok = np.zeros(n, dtype=np.int64)
        keys: list[bytes] = [b""] * n
        sets: list[np.ndarray] = [_EMPTY] * n
        small: list[int] = []
        for i, t in enumerate(texts):
            if len(t) > self.chunk_chars:
                sigs[i], n_tok[i], keys[i], sets[i] = self._sign_huge(t, keep_shingles)
            else:
                small.append(i)
        if small:
            if kernels.AVAILABLE and self.cfg.hashfunc == "xxh3":
                hv, offsets, n_small, small_keys = self._compiled_shingles([texts[i] for i in small])
            else:
                small_tokens = [tokens(texts[i], **self._norm) for i in small]
                small_keys = [_text_key([toks], texts[i]) for toks, i in zip(small_tokens, small)]
                n_small = [len(toks) for toks in small_tokens]
                hv, offsets = self.shingle_hashes(small_tokens)
            n_tok[small] = n_small
            for i, key in zip(small, small_keys):
                keys[i] = key
            sigs[small] = self.permute(hv, offsets)
            if keep_shingles:
                for j, i in enumerate(small):
                    sets[i] = np.unique(hv[offsets[j]:offsets[j + 1]])
        return Signed(sigs, n_tok > 0, n_tok, keys, sets if keep_shingles else None)

    def _compiled_shingles(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes]]:
        """`normalize.tokens`, the word hashes and the text keys in compiled code (`kernels.tokenize_hash`):
        no word becomes a Python object. Returns (shingle hashes, offsets, words per text, text keys)."""
        if self.cfg.lowercase and not self.cfg.strip_accents:
            # NFKC here, lower case in the kernel (Python's str.lower costs as much as all the hashing),
            # except for the rare text holding a character whose lower case depends on context
            lower, specials = kernels.lower_table()
            pre = [unicodedata.normalize("NFKC", t) for t in texts]
            lower_docs = np.ones(len(pre), dtype=np.bool_)
            for j, t in enumerate(pre):
                if _holds_any(t, specials):
                    pre[j] = t.lower()
                    lower_docs[j] = False
        else:
            pre = [prepare(t, self.cfg.lowercase, self.cfg.strip_accents) for t in texts]
            lower, lower_docs = _NO_LOWER, np.zeros(len(pre), dtype=np.bool_)
        n, word_hashes, lens, joined, text_starts = _tokenize(pre, kernels.char_table(), self.cfg.fold_digits,
                                                              lower=lower, lower_docs=lower_docs)
        keys = [xxhash.xxh3_128_digest(joined[text_starts[j]:text_starts[j + 1]]) if lens[j]
                else _text_key([[]], t) for j, t in enumerate(texts)]
        hv, offsets = self._shingles_of_word_hashes(word_hashes[:n], lens)
        return hv, offsets, lens, keys

    def sign_tokens(self, docs: list[list[str]]) -> np.ndarray:
        """(len(docs), num_perm) uint32 signatures; rows of documents without words stay all MAX."""
        hv, offsets = self.shingle_hashes(docs)
        return self.permute(hv, offsets)

    def shingle_hashes(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes of the batch (uint32, document after document) and the offsets
        (len(docs) + 1) of each document's hashes."""
        if self.cfg.hashfunc == "sha1":
            return self._sha1_shingles(docs)
        return self._xxh3_shingles(docs)

    def permute(self, hv: np.ndarray, offsets: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Minimum over each document's shingle hashes of every permutation (compiled with numba;
        `permute_numpy` where numba is missing)."""
        if not kernels.AVAILABLE:
            return self.permute_numpy(hv, offsets, out)
        n, P = len(offsets) - 1, self.cfg.num_perm
        if out is None:
            out = np.full((n, P), MAX32, dtype=np.uint32)
        if len(hv) == 0:
            return out
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        legacy = self.cfg.scheme == "legacy"
        x = np.ascontiguousarray(hv, dtype=np.uint64) if legacy else np.ascontiguousarray(_fmix32(hv))
        kernels.permute(x, offsets, self.a, self.b, out, legacy)
        return out

    def permute_numpy(self, hv: np.ndarray, offsets: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """`permute` in numpy, over blocks of BLOCK shingles as a (num_perm x BLOCK) array."""
        n, P = len(offsets) - 1, self.cfg.num_perm
        if out is None:
            out = np.full((n, P), MAX32, dtype=np.uint32)
        if len(hv) == 0:
            return out
        legacy = self.cfg.scheme == "legacy"
        a, b = self.a[:, None], self.b[:, None]
        x = hv.astype(np.uint64) if legacy else _fmix32(hv)
        nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
        starts = offsets[nonempty]
        buf = np.empty((P, BLOCK), dtype=np.uint64 if legacy else np.uint32)
        for lo in range(0, len(x), BLOCK):
            hi = min(lo + BLOCK, len(x))
            blk = buf[:, : hi - lo]
            np.multiply(a, x[None, lo:hi], out=blk)
            np.add(blk, b, out=blk)
            if legacy:
                np.remainder(blk, MERSENNE, out=blk)
                np.bitwise_and(blk, np.uint64(0xFFFFFFFF), out=blk)
            # documents overlapping [lo, hi): those whose range starts before hi and ends after lo
            d0 = np.searchsorted(starts, lo, side="right") - 1
            d1 = np.searchsorted(starts, hi, side="left")
            d0 = max(d0, 0)
            docs = nonempty[d0:d1]
            seg = np.maximum(offsets[docs], lo) - lo
            mins = np.minimum.reduceat(blk, seg, axis=1).T
            out[docs] = np.minimum(out[docs], mins.astype(np.uint32, copy=False))
        return out

    # ---- shingles
    def _token_hashes(self, flat: list[str]) -> np.ndarray:
        cache = self._cache
        try:
            return np.fromiter(map(cache.__getitem__, flat), dtype=np.uint64, count=len(flat))
        except KeyError:
            if len(cache) > self._cache_words:
                cache.clear()
            for w in set(flat).difference(cache):
                cache[w] = _word_hash(w.encode("utf-8"))
            return np.fromiter(map(cache.__getitem__, flat), dtype=np.uint64, count=len(flat))

    def _xxh3_shingles(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        k = self.cfg.shingle_size
        lens = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        if kernels.AVAILABLE:
            T = self._compiled_word_hashes(docs, lens)
            if T is not None:
                return self._shingles_of_word_hashes(T, lens)
        flat = list(chain.from_iterable(docs))
        T = self._token_hashes(flat) if flat else np.zeros(0, dtype=np.uint64)
        return self._shingles_of_word_hashes(T, lens)

    def _compiled_word_hashes(self, docs: list[list[str]], lens: np.ndarray) -> np.ndarray | None:
        """The xxh3 hashes of the words of `docs`, computed from the words joined by spaces in compiled
        code; None when some word is empty or holds a space (the join would not give them back)."""
        n, T, got, _, _ = _tokenize([" ".join(d) for d in docs], kernels.space_table(), False, strict=True)
        # strict: no empty word (no leading, trailing or double space); then a word holding a space is
        # the only way to get more words than given
        return T[:n] if n >= 0 and np.array_equal(got, lens) else None

    def _shingles_of_word_hashes(self, T: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The "xxh3" shingle hashes from the word hashes T of documents of lens[d] words each."""
        k = self.cfg.shingle_size
        n_sh = np.where(lens >= k, lens - k + 1, np.minimum(lens, 1))
        offsets = np.concatenate([[0], np.cumsum(n_sh)]).astype(np.int64)
        hv = np.empty(int(offsets[-1]), dtype=np.uint32)
        if kernels.AVAILABLE:
            kernels.xxh3_shingles(T, lens, k, offsets, hv)
            return hv, offsets
        tok_start = np.concatenate([[0], np.cumsum(lens)])
        long_docs = np.flatnonzero(lens >= k)
        if len(long_docs):
            m = len(T) - k + 1
            allh = _mix_words([T[i:i + m] for i in range(k)], k)  # shingle at every flat position
            # keep positions p with p + k <= end of its document
            cnt = n_sh[long_docs]
            pos = np.arange(int(cnt.sum())) + np.repeat(tok_start[long_docs] - (np.cumsum(cnt) - cnt), cnt)
            dst = np.arange(int(cnt.sum())) + np.repeat(offsets[long_docs] - (np.cumsum(cnt) - cnt), cnt)
            hv[dst] = allh[pos]
        for L in range(1, k):  # documents shorter than a shingle: one shingle of all their words
            short = np.flatnonzero(lens == L)
            if len(short):
                cols = [T[tok_start[short] + j] for j in range(L)]
                hv[offsets[short]] = _mix_words(cols, L)
        return hv, offsets

    def _sha1_shingles(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        k = self.cfg.shingle_size
        parts, counts = [], []
        for d in docs:
            sh = [" ".join(d[i:i + k]) for i in range(len(d) - k + 1)] if len(d) >= k else ([" ".join(d)] if d else [])
            parts.append(b"".join([hashlib.sha1(s.encode("utf-8")).digest()[:4] for s in sh]))
            counts.append(len(sh))
        hv = np.frombuffer(b"".join(parts), dtype="<u4").astype(np.uint32)
        offsets = np.concatenate([[0], np.cumsum(np.array(counts, dtype=np.int64))]).astype(np.int64)
        return hv, offsets

    # ---- huge documents: bounded memory
    def _sign_huge(self, text: str, keep_shingles: bool) -> tuple[np.ndarray, int, bytes, np.ndarray]:
        k = self.cfg.shingle_size
        sig = np.full((1, self.cfg.num_perm), MAX32, dtype=np.uint32)
        key = xxhash.xxh3_128()
        carry: list[str] = []
        parts: list[np.ndarray] = []
        n_tok = 0
        first = True
        for toks in token_chunks(text, chunk_chars=self.chunk_chars, **self._norm):
            if not toks:
                continue
            key.update(((" " if not first else "") + " ".join(toks)).encode("utf-8"))
            first = False
            n_tok += len(toks)
            window = carry + toks
            if len(window) >= k:
                hv, off = self.shingle_hashes([window])
                self.permute(hv, off, out=sig)
                if keep_shingles:
                    parts.append(np.unique(hv))
            carry = window[-(k - 1):] if k > 1 else []
        if 0 < n_tok < k:  # the whole (short) document is one shingle
            hv, off = self.shingle_hashes([carry])
            self.permute(hv, off, out=sig)
            parts.append(hv)
        digest = key.digest() if n_tok else _text_key([[]], text)
        shingles = np.unique(np.concatenate(parts)) if keep_shingles and parts else _EMPTY
        return sig[0], n_tok, digest, shingles


def _holds_any(text: str, chars: str) -> bool:
    for c in chars:  # `in` is a fast search, and free where c is wider than the text's storage
        if c in text:
            return True
    return False


def _tokenize(texts: list[str], table: np.ndarray, fold_digits: bool, strict: bool = False,
              lower: np.ndarray | None = None, lower_docs: np.ndarray | None = None):
    """`kernels.tokenize_hash` over texts: (number of words or -1, word hashes, words per text, UTF-8 of
    each text's words joined by spaces, where each text's starts in it). Texts with lower_docs[j] are
    lower-cased by the kernel with the `lower` table."""
    if lower_docs is None:
        lower, lower_docs = _NO_LOWER, np.zeros(len(texts), dtype=np.bool_)
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=starts[1:])
    word_hashes = np.empty(len(cps) + 1, dtype=np.uint64)  # at most one word per character
    lens = np.empty(len(texts), dtype=np.int64)
    joined = np.empty(4 * len(cps) + 1, dtype=np.uint8)  # at most 4 UTF-8 bytes per character
    text_starts = np.empty(len(texts) + 1, dtype=np.int64)
    n = kernels.tokenize_hash(cps, starts, table, fold_digits, word_hashes, lens, joined, text_starts, lower,
                              lower_docs, strict)
    return n, word_hashes, lens, joined, text_starts


def _text_key(token_lists: list[list[str]], raw: str) -> bytes:
    toks = token_lists[0]
    if toks:
        return xxhash.xxh3_128_digest(" ".join(toks).encode("utf-8"))
    return xxhash.xxh3_128_digest(b"\x00raw\x00" + raw.encode("utf-8", "surrogatepass"))


def lean_minhash(sig: np.ndarray, config: DedupConfig):
    """The datasketch.LeanMinHash of one signature row (imports datasketch lazily)."""
    from datasketch import LeanMinHash

    values = np.asarray(sig, dtype=np.uint64 if config.scheme == "legacy" else np.uint32)
    return LeanMinHash(seed=config.seed, hashvalues=values, scheme=config.scheme)


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every signature kernel with the argument types tamiz uses;
    the Makefile runs this once after installing, so no build pays the ~8 s of compiling."""
    for scheme in ("affine32", "legacy"):
        signer = Signer(DedupConfig(num_perm=8, scheme=scheme))
        signer.sign_texts(["uno dos tres cuatro cinco seis", "año 2024", ""], keep_shingles=True)
        signer.sign_tokens([["uno", "dos", "tres", "cuatro", "cinco", "seis"], ["año"]])


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    compile_kernels()
    print(f"MinHash kernels ready ({'numba' if kernels.AVAILABLE else 'numpy, numba missing'}, "
          f"{time.perf_counter() - t0:.1f} s)")
