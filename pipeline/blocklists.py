"""Block lists of hosts and URLs, parsed and checked line by line, and the hashed index they load into.

The UT1 layout (the lists of Université Toulouse 1 Capitole, https://dsi.ut-capitole.fr/blacklists/):

    <root>/<category>/domains   one domain a line: blocks that domain and every subdomain of it
    <root>/<category>/urls      one URL without its scheme a line (host/path): blocks that page and the
                                pages below its path, on that host and its subdomains

A user's own lists use the same two line formats (a domain may also be written `.example.com`, as Squid's
lists write it: the same meaning). Blank lines and lines starting with `#` are skipped;
every other line must be one entry, or loading stops with a ValueError naming the file and the line
(a space inside an entry, a scheme or a path in a domains file, a `*` wildcard, bytes that are not
UTF-8). UT1's `expressions` files (regular expressions) are not read.

Hosts are compared in one form (`canonical_host`): lower case, no trailing dot, IDNA (punycode) for a
name that is not ASCII, and one leading `www.` removed. www.example.com and example.com are one site
in practice, so a list entry `www.example.com` blocks example.com and its subdomains too, and a URL on
www.example.com is blocked by an entry `example.com` either way. An IP address is matched whole, never
by its suffixes.

Paths are compared in one form too (`canonical_path`): percent-decoded, lower case, percent-encoded again
one way, so a list's `café.example/menú` blocks the crawled `https://xn--caf-dma.example/men%C3%BA`.

The index holds each entry (a domain, or host/path for a URL) as an 8-byte xxh3 hash in one sorted
array, with a 2-byte category code beside it: 10 bytes an entry, about 10 MB per million lines, where a
Python set of the strings takes several times that (benchmarks/bench_urlfilter.py). A URL's host is
looked up by its suffixes (a.b.example.com, b.example.com, example.com, com), each by binary search;
the first hit gives the reason, so the most specific entry wins. The hosts under which URL entries are
listed are in the index too, marked: only for a URL on such a host are its path prefixes (host/a,
host/a/b, ...) looked up as well. A URL the lists do not block matches one of their hashes with
probability ~ (entries x lookups) / 2^64 (5 million entries, 20 lookups: 5e-12 a URL); the hash is
stable, so such a collision is the same on every run.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import numpy as np
from xxhash import xxh3_64_intdigest

from tamiz.pipeline.textlines import file_stamp, text_lines

_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_CANONICAL = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")  # a domain line needing no change (most)
_CANONICAL_URL = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*(?:/[a-z0-9_.~/-]*[a-z0-9_.~-])?")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_WORD = re.compile(r"[^\W_]+")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
HAS_PATHS = 0xFFFF  # the code of a host under which URL entries are listed (not a reason)


def canonical_host(host: str) -> str:
    """The form hosts are compared in: lower case, no trailing dot, punycode, no leading `www.`.

    Raises UnicodeError for a non-ASCII name that IDNA cannot encode (an empty label, a label over 63
    characters)."""
    h = host.strip().rstrip(".").lower()
    if not h.isascii():
        h = h.encode("idna").decode("ascii")
    if h.startswith("www.") and h.count(".") >= 2:
        h = h[4:]
    return h


def check_domain(entry: str) -> str:
    """One `domains` line as a canonical host; ValueError (without file and line) saying what is wrong."""
    if any(c.isspace() for c in entry):
        raise ValueError(f"{entry!r} has a space inside: one domain a line")
    if _SCHEME.match(entry):
        raise ValueError(f"{entry!r} is a URL with a scheme: a domains file holds bare domains (example.com); "
                         "URLs go in a urls file, without the scheme")
    if "/" in entry:
        raise ValueError(f"{entry!r} has a path: a domains file holds bare domains; URLs go in a urls file")
    if "*" in entry:
        raise ValueError(f"{entry!r} is a wildcard: write the domain alone, which blocks its subdomains too")
    try:
        host = canonical_host(entry[1:] if entry.startswith(".") else entry)  # Squid's .example.com: the same
    except UnicodeError:
        raise ValueError(f"{entry!r} is not a valid internationalised domain name") from None
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(f"{entry!r} is not a domain name (letters, digits, '-' and '_' in dot-separated labels)")
    return host


# the version of the form URL entries' paths are compared in: part of the ingest key where a list has URL
# entries (UrlFilterConfig.record), so pages kept or dropped under another form are not reused
# (1: lower case; 2: percent-decoded, lower case, percent-encoded one way)
PATH_FORM = 2
_PATH_SAFE = "/!$&'()*+,;=:@"  # what a path holds unencoded (RFC 3986's sub-delims, ':', '@', '/')


def canonical_path(path: str, query: str = "") -> str:
    """The form paths are compared in: percent-decoded, lower case, then percent-encoded one way (lower-case
    hex), without a trailing `/`; `?query` after it in the same form. A list writes `/menú` or `/MEN%C3%9A`,
    a crawl records `/men%C3%BA` or `/menú`: all four are `/men%c3%ba`."""
    out = quote(unquote(path).lower(), safe=_PATH_SAFE).lower().rstrip("/")
    if query:
        out += "?" + quote(unquote(query).lower(), safe=_PATH_SAFE + "?").lower()
    return out


def check_url(entry: str) -> str:
    """One `urls` line (host/path, a scheme is tolerated and dropped) as `canonical_host` + `canonical_path`,
    without a fragment; ValueError saying what is wrong."""
    if any(c.isspace() for c in entry):
        raise ValueError(f"{entry!r} has a space inside: one URL a line")
    rest = _SCHEME.sub("", entry, count=1)
    host, slash, path = rest.partition("/")
    if ":" in host:  # a port: compare hosts only
        host = host.rsplit(":", 1)[0]
    try:
        host = check_domain(host)
    except ValueError as e:
        raise ValueError(f"{entry!r}: its host {e}") from None
    path, _, query = (slash + path).split("#", 1)[0].partition("?")
    return host + canonical_path(path, query)


def host_suffixes(host: str) -> list[str]:
    """The host, then each parent domain: a.b.example.com, b.example.com, example.com, com (an IP: itself)."""
    if ":" in host or _IPV4.fullmatch(host):
        return [host]
    return [host] + [host[i + 1:] for i, c in enumerate(host) if c == "."]


def path_prefixes(path: str, query: str) -> list[str]:
    """'' and each path prefix that ends at a segment: /a/b/c.html -> '', /a, /a/b, /a/b/c.html, then the path
    with its query when there is one (in `canonical_path`'s form)."""
    out = [""]
    acc = ""
    full = canonical_path(path, query)
    for segment in full.partition("?")[0].split("/")[1:]:
        acc = f"{acc}/{segment}"
        out.append(acc)
    if query:
        out.append(full)
    return out


def hash_strings(items: list[str]) -> np.ndarray:
    """One stable 64-bit hash per string (xxh3 of its UTF-8 bytes), as a uint64 array."""
    return np.fromiter(map(xxh3_64_intdigest, map(str.encode, items)), dtype=np.uint64, count=len(items))


@dataclass(frozen=True)
class ListFile:
    """One list file: its path, its line format ("domains" or "urls"), the reason it blocks with, and the
    setting that named it (put in front of its errors)."""

    path: str
    kind: str
    category: str
    setting: str = ""


@dataclass
class HashIndex:
    """Sorted 64-bit hashes of entries, each with the code of its category (the first file listing it wins).

    Kept as `array`s (8 + 2 bytes an entry) and searched with `bisect`: a URL looks up 3 to 5 keys, where
    numpy's per-call overhead would cost more than the search itself (measured: 12.6 us against 4.6 us)."""

    keys: array = field(default_factory=lambda: array("Q"))
    codes: array = field(default_factory=lambda: array("H"))

    @classmethod
    def build(cls, parts: list[tuple[np.ndarray, int]]) -> "HashIndex":
        if not parts:
            return cls()
        keys = np.concatenate([k for k, _ in parts])
        codes = np.concatenate([np.full(len(k), c, dtype=np.uint16) for k, c in parts])
        order = np.argsort(keys, kind="stable")  # stable: among equal keys, the earliest file stays first
        keys, codes = keys[order], codes[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        out = cls()
        out.keys.frombytes(np.ascontiguousarray(keys[first], dtype=np.uint64).tobytes())
        out.codes.frombytes(np.ascontiguousarray(codes[first], dtype=np.uint16).tobytes())
        return out

    def codes_of(self, candidates: list[str]) -> list[int]:
        """The code of each candidate, -1 for one not in the index."""
        keys, codes, n = self.keys, self.codes, len(self.keys)
        out = []
        for c in candidates:
            h = xxh3_64_intdigest(c.encode("utf-8"))
            i = bisect_left(keys, h)
            out.append(codes[i] if i < n and keys[i] == h else -1)
        return out

    @property
    def nbytes(self) -> int:
        return self.keys.itemsize * len(self.keys) + self.codes.itemsize * len(self.codes)


@dataclass
class BlockRules:
    """Everything a URL is checked against; `match(url)` gives the reason a URL is blocked, or None."""

    reasons: list[str]  # category code -> reason
    index: HashIndex  # domains (host) and URL entries (host/path) alike, and the hosts of URL entries (HAS_PATHS)
    only_tlds: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    entries: dict[str, int] = field(default_factory=dict)  # lines loaded per reason

    def match(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
            raw = parts.hostname
        except ValueError:  # e.g. an unbalanced '[' in the host
            return None
        if not raw:
            return None
        try:
            host = canonical_host(raw)
        except UnicodeError:
            host = raw
        suffixes = host_suffixes(host)
        if self.only_tlds and not any(s in self.only_tlds for s in suffixes):
            return "tld_not_listed"
        codes = self.index.codes_of(suffixes)  # the most specific entry wins
        hit = next((c for c in codes if c >= 0 and c != HAS_PATHS), None)
        if hit is None and HAS_PATHS in codes:  # a URL entry lives under one of these hosts: look at the path
            prefixes = path_prefixes(parts.path, parts.query)[1:]
            hosts = [h for h, c in zip(suffixes, codes) if c == HAS_PATHS]
            hit = next((c for c in self.index.codes_of([h + p for h in hosts for p in prefixes]) if c >= 0), None)
        if hit is not None:
            return self.reasons[hit]
        if self.words and any(w in self.words for w in _WORD.findall(unquote(f"{host} {parts.path}").casefold())):
            return "word"
        return None

    @property
    def nbytes(self) -> int:
        return self.index.nbytes


def read_entries(f: ListFile, strict: bool = True) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """The hashes of one list file's entries, the hashes of the hosts of its URL entries (those with a
    path), the number of lines skipped as malformed (strict=False) and the first few of their messages.
    strict: ValueError naming the setting, the file and the line at the first malformed line; a file that
    is not UTF-8 text is an error either way."""
    check = check_domain if f.kind == "domains" else check_url
    fast = _CANONICAL.fullmatch if f.kind == "domains" else _CANONICAL_URL.fullmatch
    where = f"{f.setting}: " if f.setting else ""
    out = array("Q")  # 8 bytes an entry while reading (a list of Python ints would take 40)
    hosts = array("Q")
    bad: list[str] = []
    nbad = 0
    try:
        for no, line in text_lines(f.path, "block list"):
            s = line.strip()
            if not s or s[0] == "#":
                continue
            try:
                if fast(s) is None or s.startswith("www.") or len(s) > 253:  # else it is canonical already
                    s = check(s)
                out.append(xxh3_64_intdigest(s.encode("utf-8")))
                if "/" in s:
                    hosts.append(xxh3_64_intdigest(s.split("/", 1)[0].encode("utf-8")))
            except ValueError as e:
                if strict:
                    raise ValueError(f"{f.path}, line {no}: {e}") from None
                nbad += 1
                if len(bad) < 5:
                    bad.append(f"{f.path}, line {no}: {e}")
    except ValueError as e:
        raise ValueError(f"{where}{e}") from None
    return np.frombuffer(out, dtype=np.uint64), np.unique(np.frombuffer(hosts, dtype=np.uint64)), nbad, bad


def read_words(path: str) -> frozenset[str]:
    """A word list: one word a line (compared case-insensitively with the words of a URL)."""
    words = set()
    for no, line in text_lines(path, "word list"):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not _WORD.fullmatch(s):
            raise ValueError(f"{path}, line {no}: {s!r} is not one word (letters and digits only)")
        words.add(s.casefold())
    return frozenset(words)


def ut1_files(root: str | Path, categories: tuple[str, ...]) -> list[ListFile]:
    """The `domains` and `urls` files of the named categories of a folder in UT1's layout; ValueError
    naming the folder when it is missing, a category has neither file, or none is named."""
    r = Path(root)
    if not r.is_dir():
        raise ValueError(f"blocklist: {r}: folder not found (expected UT1's layout: <category>/domains)")
    if not categories:
        present = sorted(p.name for p in r.iterdir() if (p / "domains").is_file() or (p / "urls").is_file())
        raise ValueError(f"categories: {r}: name the categories to block (categories: [...]); the folder has "
                         f"{', '.join(present[:40]) or 'none'}")
    out = []
    for c in categories:
        files = [ListFile(str(r / c / kind), kind, c, "blocklist") for kind in ("domains", "urls")
                 if (r / c / kind).is_file()]
        if not files:
            raise ValueError(f"categories: {r / c}: no category {c!r} in the blocklist (no domains or urls file)")
        out += files
    return out


def load_rules(files: tuple[ListFile, ...], block_tlds: tuple[str, ...] = (), only_tlds: tuple[str, ...] = (),
               words: tuple[str, ...] = (), strict: bool = True) -> BlockRules:
    """The rules of these lists, loaded once per process while the files are unchanged (path, mtime, size)."""
    stamps = tuple(file_stamp(f.path) for f in files)
    word_stamps = tuple(file_stamp(w) for w in words)
    return _load(files, block_tlds, only_tlds, words, strict, stamps, word_stamps)


@lru_cache(maxsize=8)
def _load(files: tuple[ListFile, ...], block_tlds: tuple[str, ...], only_tlds: tuple[str, ...],
          words: tuple[str, ...], strict: bool, stamps: tuple, word_stamps: tuple) -> BlockRules:
    import logging

    reasons: list[str] = []
    parts: list[tuple[np.ndarray, int]] = []  # in file order: a key listed twice keeps its first category
    markers: list[np.ndarray] = []  # hosts with URL entries: last, so a host listed as a domain keeps its reason
    entries: dict[str, int] = {}
    for f in files:
        if f.category not in reasons:
            reasons.append(f.category)
        keys, hosts, nbad, bad = read_entries(f, strict)
        markers.append(hosts)
        if nbad:
            logging.getLogger("tamiz").warning("%s: %d malformed line(s) skipped, e.g. %s", f.path, nbad, "; ".join(bad))
        parts.append((keys, reasons.index(f.category)))
        entries[f.category] = entries.get(f.category, 0) + len(keys)
    if block_tlds:
        reasons.append("tld")
        parts.append((hash_strings(list(block_tlds)), len(reasons) - 1))
        entries["tld"] = len(block_tlds)
    try:
        word_set = frozenset().union(*(read_words(w) for w in words)) if words else frozenset()
    except ValueError as e:
        raise ValueError(f"words: {e}") from None
    if word_set:
        entries["word"] = len(word_set)
    parts += [(m, HAS_PATHS) for m in markers if len(m)]
    return BlockRules(reasons, HashIndex.build(parts), frozenset(only_tlds), word_set, entries)
