"""XXH3-64 (seed 0, default secret) for numba: the word hashes of tamiz's "xxh3" shingle hash, compiled.

tamiz's "xxh3" shingle hash starts from `xxhash.xxh3_64_intdigest(word.encode("utf-8"))` of every word.
`kernels.tokenize_hash` computes those values while it cuts the normalized text into words, so no word
ever becomes a Python object (a dict lookup per word cost ~95 ns, a regex `findall` ~250 ns). This
follows the XXH3 specification (xxhash's doc/xxhash_spec.md: the 0, 1-3, 4-8, 9-16, 17-128, 129-240
byte and long-input paths); the tests compare it with the xxhash package on every length from 0 to
2,100 bytes, on longer inputs and on real Spanish words.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

# the default 192-byte secret of XXH3 (kSecret in the specification)
SECRET = np.frombuffer(bytes([
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]), dtype=np.uint8)

U = np.uint64
P32_1, P32_2, P32_3 = U(0x9E3779B1), U(0x85EBCA77), U(0xC2B2AE3D)
P64_1, P64_2, P64_3 = U(0x9E3779B185EBCA87), U(0xC2B2AE3D27D4EB4F), U(0x165667B19E3779F9)
P64_4, P64_5 = U(0x85EBCA77C2B2AE63), U(0x27D4EB2F165667C5)
PMX1, PMX2 = U(0x165667919E3779F9), U(0x9FB21C651E98DF25)
M32 = U(0xFFFFFFFF)
S8, S16, S24, S28, S29, S32, S33, S35, S37, S40, S47, S48, S49, S56 = (
    U(s) for s in (8, 16, 24, 28, 29, 32, 33, 35, 37, 40, 47, 48, 49, 56))
S64 = U(64)


def _r64(b, i):
    return (U(b[i]) | (U(b[i + 1]) << S8) | (U(b[i + 2]) << S16) | (U(b[i + 3]) << S24)
            | (U(b[i + 4]) << S32) | (U(b[i + 5]) << S40) | (U(b[i + 6]) << S48) | (U(b[i + 7]) << S56))


def _r32(b, i):
    return U(b[i]) | (U(b[i + 1]) << S8) | (U(b[i + 2]) << S16) | (U(b[i + 3]) << S24)


def _rotl(x, r):
    return (x << r) | (x >> (S64 - r))


def _swap32(x):
    return ((x & U(0xFF)) << S24) | ((x & U(0xFF00)) << S8) | ((x >> S8) & U(0xFF00)) | ((x >> S24) & U(0xFF))


def _swap64(x):
    return (_swap32(x & M32) << S32) | _swap32(x >> S32)


def _fold(a, b):
    """The 128-bit product of a and b, its low and high halves xor-ed."""
    a_lo, a_hi, b_lo, b_hi = a & M32, a >> S32, b & M32, b >> S32
    lo_lo, hi_lo, lo_hi, hi_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi, a_hi * b_hi
    cross = (lo_lo >> S32) + (hi_lo & M32) + lo_hi
    upper = (hi_lo >> S32) + (cross >> S32) + hi_hi
    lower = (cross << S32) | (lo_lo & M32)
    return lower ^ upper


def _xxh64_avalanche(h):
    h ^= h >> S33
    h *= P64_2
    h ^= h >> S29
    h *= P64_3
    return h ^ (h >> S32)


def _avalanche(h):
    h ^= h >> S37
    h *= PMX1
    return h ^ (h >> S32)


def _rrmxmx(h, n):
    h ^= _rotl(h, S49) ^ _rotl(h, S24)
    h *= PMX2
    h ^= (h >> S35) + n
    h *= PMX2
    return h ^ (h >> S28)


def _mix16(b, i, s):
    return _fold(_r64(b, i) ^ _r64(SECRET, s), _r64(b, i + 8) ^ _r64(SECRET, s + 8))


def _accumulate(acc, b, i, s):
    for j in range(8):
        v = _r64(b, i + 8 * j)
        k = v ^ _r64(SECRET, s + 8 * j)
        acc[j ^ 1] += v
        acc[j] += (k & M32) * (k >> S32)


def _scramble(acc, s):
    for j in range(8):
        a = acc[j]
        a ^= a >> S47
        a ^= _r64(SECRET, s + 8 * j)
        acc[j] = a * P32_1


def _long(b, start, n):
    acc = np.empty(8, dtype=np.uint64)
    acc[0], acc[1], acc[2], acc[3] = P32_3, P64_1, P64_2, P64_3
    acc[4], acc[5], acc[6], acc[7] = P64_4, P32_2, P64_5, P32_1
    stripes_per_block = (192 - 64) // 8  # 16 stripes of 64 bytes per block
    block = 64 * stripes_per_block
    n_blocks = (n - 1) // block
    for k in range(n_blocks):
        for st in range(stripes_per_block):
            _accumulate(acc, b, start + k * block + st * 64, st * 8)
        _scramble(acc, 192 - 64)
    n_stripes = ((n - 1) - block * n_blocks) // 64
    for st in range(n_stripes):
        _accumulate(acc, b, start + n_blocks * block + st * 64, st * 8)
    _accumulate(acc, b, start + n - 64, 192 - 64 - 7)  # the last stripe
    h = U(n) * P64_1
    for j in range(4):
        h += _fold(acc[2 * j] ^ _r64(SECRET, 11 + 16 * j), acc[2 * j + 1] ^ _r64(SECRET, 11 + 16 * j + 8))
    return _avalanche(h)


def _xxh3_64(b, start, n):
    """XXH3-64 of b[start:start + n] (seed 0); reads no byte outside that range."""
    un = U(n)
    if n == 0:
        return _xxh64_avalanche(_r64(SECRET, 56) ^ _r64(SECRET, 64))
    if n <= 3:
        c1, c2, c3 = U(b[start]), U(b[start + (n >> 1)]), U(b[start + n - 1])
        combined = (c1 << S16) | (c2 << S24) | c3 | (un << S8)
        return _xxh64_avalanche(combined ^ (_r32(SECRET, 0) ^ _r32(SECRET, 4)))
    if n <= 8:
        x = _r32(b, start + n - 4) + (_r32(b, start) << S32)
        return _rrmxmx(x ^ (_r64(SECRET, 8) ^ _r64(SECRET, 16)), un)
    if n <= 16:
        lo = _r64(b, start) ^ (_r64(SECRET, 24) ^ _r64(SECRET, 32))
        hi = _r64(b, start + n - 8) ^ (_r64(SECRET, 40) ^ _r64(SECRET, 48))
        return _avalanche(un + _swap64(lo) + hi + _fold(lo, hi))
    if n <= 128:
        acc = un * P64_1
        if n > 32:
            if n > 64:
                if n > 96:
                    acc += _mix16(b, start + 48, 96)
                    acc += _mix16(b, start + n - 64, 112)
                acc += _mix16(b, start + 32, 64)
                acc += _mix16(b, start + n - 48, 80)
            acc += _mix16(b, start + 16, 32)
            acc += _mix16(b, start + n - 32, 48)
        acc += _mix16(b, start, 0)
        acc += _mix16(b, start + n - 16, 16)
        return _avalanche(acc)
    if n <= 240:
        acc = un * P64_1
        for i in range(8):
            acc += _mix16(b, start + 16 * i, 16 * i)
        acc = _avalanche(acc)
        for i in range(8, n // 16):
            acc += _mix16(b, start + 16 * i, 16 * (i - 8) + 3)
        acc += _mix16(b, start + n - 16, 136 - 17)
        return _avalanche(acc)
    return _long(b, start, n)


def _xxh3_64_of(b):
    return _xxh3_64(b, 0, b.shape[0])


if numba is not None:
    for _name in ("_r64", "_r32", "_rotl", "_swap32", "_swap64", "_fold", "_xxh64_avalanche", "_avalanche",
                  "_rrmxmx", "_mix16", "_accumulate", "_scramble", "_long", "_xxh3_64"):
        globals()[_name] = numba.njit(cache=True, nogil=True)(globals()[_name])
    xxh3_64 = numba.njit(cache=True)(_xxh3_64_of)  # one buffer (uint8 array): for the tests
    xxh3_64_at = _xxh3_64
else:  # pragma: no cover
    xxh3_64 = xxh3_64_at = None
