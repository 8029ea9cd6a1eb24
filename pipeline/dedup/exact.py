"""Exact dedup: identical normalized text, and the same page fetched twice (same normalized URL).

Keys are 128-bit xxh3 hashes (of the normalized text, see `minhash.Signer`; of the normalized URL
here). The exact stage is partitioned by key hash: each partition groups equal keys across all
shards and links every member of a group to the group's best-ranked member (the keep rule of
`layout.py`). Those links join the near-duplicate links in one union-find, so an exact duplicate
is removed like any other member of its cluster; a document removed as an exact duplicate takes no
further part in the near-duplicate search (it would only find what its twin finds).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import xxhash

TEXT, URL = 0, 1  # key kinds (a text match wins over a URL match when both link a document)
KIND_NAMES = {TEXT: "exact", URL: "url"}

_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "yclid", "igshid")


def normalize_url(url: str) -> str:
    """A URL's identity for dedup: scheme (http = https), lower-case host without `www.` and default
    port, path without a trailing slash, query without tracking parameters (utm_*, fbclid...) and
    sorted, no fragment. Returns "" for something that is not an absolute URL."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    if not host or parts.scheme.lower() not in ("http", "https"):
        return ""
    if host.startswith("www."):
        host = host[4:]
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.lower().startswith(_TRACKING))
    return urlunsplit(("http", host, path, urlencode(query), ""))


def url_key(url: str | None) -> bytes | None:
    norm = normalize_url(url) if url else ""
    return xxhash.xxh3_128_digest(norm.encode("utf-8")) if norm else None


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """Partition of each 16-byte key (rows of a (n, 16) uint8 array): its first 8 bytes mod `partitions`."""
    head = np.ascontiguousarray(keys[:, :8]).view("<u8").reshape(-1)
    return (head % np.uint64(partitions)).astype(np.int64)


def group_edges(key_hi: np.ndarray, key_lo: np.ndarray, kind: np.ndarray, rank: np.ndarray, uid: np.ndarray,
                new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links (kept uid, duplicate uid, kind) for every group of equal (kind, key) with two or more
    members: each member to the best-ranked member. Only groups with a document of this run (`new`)
    are emitted; the others were linked by the run that brought them."""
    if len(uid) == 0:
        e = np.zeros(0, dtype=np.uint64)
        return e, e, np.zeros(0, dtype=np.uint8)
    order = np.lexsort((rank, key_lo, key_hi, kind))
    kh, kl, kd, u, nw = key_hi[order], key_lo[order], kind[order], uid[order], new[order]
    start = np.ones(len(u), dtype=bool)
    start[1:] = (kh[1:] != kh[:-1]) | (kl[1:] != kl[:-1]) | (kd[1:] != kd[:-1])
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    size = np.diff(np.append(first, len(u)))
    has_new = np.zeros(len(first), dtype=bool)
    np.logical_or.at(has_new, group, nw)
    member = ~start & (size[group] > 1) & has_new[group]
    return u[first[group[member]]], u[member], kd[member].astype(np.uint8)
