"""The URL filter: drop documents by the URL they were crawled from, before their HTML is extracted.

Configured per source in the dataset table's `ingest:` block (or `tamiz ingest --url-filter FILE`):

    ingest:
      url_filter:
        blocklist: blocklists/ut1          # a folder in UT1's layout (pipeline/blocklists.py), relative to the table
        categories: [adult, phishing, malware]   # which of its categories block
        domains: [lists/my_domains.txt]    # your own lists: one domain a line (blocks its subdomains too)
        urls: [lists/my_urls.txt]          #   one URL a line without scheme (blocks the pages below it)
        block_tlds: [xxx, adult, porn, sex]
        only_tlds: []                      # when given, only hosts under these pass (e.g. [es, mx, ar])
        words: [lists/url_words.txt]       # a URL with one of these words in its host or path

Reasons (the rejects' `drop_reason` is `url_filter:<reason>`, and the ingest record and manifest count
each one under `dropped`): the UT1 category that listed the host or URL (`adult`, `phishing`, ...), the
name of your own list file without its extension (`my_domains`), `tld` (a blocked TLD), `tld_not_listed`
(a host outside `only_tlds`), `word` (a listed word in the URL). A document without a URL (a curated
JSONL source) passes. Lists are read and checked when the configuration is made (when the table is
loaded: a malformed line stops the build before any work, naming the file and the line) and kept once
per process (`blocklists.load_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tamiz.pipeline.blocklists import PATH_FORM, BlockRules, ListFile, check_domain, load_rules, ut1_files
from tamiz.pipeline.document import Document
from tamiz.pipeline.textlines import file_sha256

RESERVED = ("tld", "tld_not_listed", "word", "error")  # reasons a list's name may not take


def list_name(path: str) -> str:
    """The reason a user's own list blocks with: its file name without extensions (my_domains.txt.gz -> my_domains)."""
    return Path(path).name.split(".", 1)[0]


@dataclass(frozen=True)
class UrlFilterConfig:
    """Which URLs to block (UT1-style lists, your own lists, TLD rules); paths are relative to the table's folder."""

    blocklist: str | None = None  # a folder in UT1's layout: <category>/domains and <category>/urls files
    categories: tuple[str, ...] = ()  # the blocklist's categories to block (required with blocklist): adult, phishing, ...
    domains: tuple[str, ...] = ()  # your own lists of domains, one a line; each blocks under its file name
    urls: tuple[str, ...] = ()  # your own lists of URLs without scheme (host/path), one a line
    block_tlds: tuple[str, ...] = ()  # top-level domains (or suffixes like com.ar) whose hosts are blocked
    only_tlds: tuple[str, ...] = ()  # when given, only hosts under these suffixes pass
    words: tuple[str, ...] = ()  # word lists: a URL whose host or path holds one of these words is blocked
    strict: bool = True  # a malformed list line is an error; false: skip it, count it and warn

    def __post_init__(self) -> None:
        if self.categories and self.blocklist is None:
            raise ValueError("categories: given without a blocklist folder")
        for name in ("block_tlds", "only_tlds"):
            try:
                object.__setattr__(self, name, tuple(check_domain(t.lstrip(".")) for t in getattr(self, name)))
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        if not (self.blocklist or self.domains or self.urls or self.block_tlds or self.only_tlds or self.words):
            raise ValueError("nothing to block: give a blocklist, domains, urls, block_tlds, only_tlds or words")
        seen: dict[str, str] = {c: "categories" for c in self.categories}
        for field_name in ("domains", "urls"):
            for p in getattr(self, field_name):
                n = list_name(p)
                if n in RESERVED or seen.get(n, field_name) != field_name:
                    raise ValueError(f"{field_name}: {p}: its name {n!r} is already a reason "
                                     f"({'reserved' if n in RESERVED else seen[n]}); rename the file")
                seen[n] = field_name
        self.rules()  # read and check every list now, before any work (kept once per process)

    def files(self) -> tuple[ListFile, ...]:
        out: list[ListFile] = []
        if self.blocklist is not None:
            out += ut1_files(self.blocklist, self.categories)
        out += [ListFile(p, "domains", list_name(p), "domains") for p in self.domains]
        out += [ListFile(p, "urls", list_name(p), "urls") for p in self.urls]
        return tuple(out)

    def rules(self) -> BlockRules:
        """The loaded lists (once per process while the files are unchanged); ValueError names the file and line."""
        files = self.files()
        for f in files:
            if f.category in RESERVED:
                raise ValueError(f"categories: {f.category!r} is a reserved reason name")
        return load_rules(files, self.block_tlds, self.only_tlds, self.words, self.strict)

    def record(self) -> dict[str, Any]:
        """What the configuration means, without where its files are: each list by name, sha256 and the
        entries loaded (shard keys, stage records and manifests use this, so a build that moves stays done)."""
        root = Path(self.blocklist) if self.blocklist is not None else None

        def name(f: ListFile) -> str:
            return f"{f.category}/{f.kind}" if root is not None and Path(f.path).parent.parent == root else Path(f.path).name

        files = self.files()
        d = {"categories": list(self.categories), "block_tlds": list(self.block_tlds),
             "only_tlds": list(self.only_tlds), "strict": self.strict,
             "files": [{"list": name(f), "sha256": file_sha256(f.path)} for f in files],
             "words": [{"list": Path(w).name, "sha256": file_sha256(w)} for w in self.words],
             "entries": self.rules().entries}
        if any(f.kind == "urls" for f in files):  # how their paths are compared decides what they block
            d["path_form"] = PATH_FORM
        return d


PATH_FIELDS = ("blocklist", "domains", "urls", "words")


def resolve_paths(block: Any, base: str | Path) -> Any:
    """The table's `url_filter:` mapping with its relative paths taken from `base` (the table's folder);
    anything that is not a path string is left for the config's own checks to refuse."""
    if not isinstance(block, dict):
        return block
    out = dict(block)
    for k in PATH_FIELDS:
        v = out.get(k)
        if isinstance(v, str):
            out[k] = str(Path(base) / v)  # an absolute v stays itself
        elif isinstance(v, list):
            out[k] = [str(Path(base) / p) if isinstance(p, str) else p for p in v]
    return out


class UrlFilter:
    """Drops a document whose URL a list blocks (reason: the list's category or name); no URL: kept."""

    name = "url_filter"

    def __init__(self, config: UrlFilterConfig):
        self.config = config
        self.rules = config.rules()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.url:
            return True
        reason = self.rules.match(doc.url)
        return True if reason is None else (False, reason)
