"""A Common Crawl dump as a source: its path lists, its WET files, and Spanish-only reads through its
columnar index.

A source of the dataset table names a crawl instead of its files:

    - name: common_crawl
      kind: crawl
      crawl:
        id: CC-MAIN-2025-26          # the crawl (its folder under crawl-data/)
        files: warc                  # warc | wet (WET: Common Crawl's extracted text, no HTML extraction)
        select: first                # all | first | sample | segments
        count: 10                    # how many files for first / sample
        base: https://data.commoncrawl.org/   # or s3://commoncrawl/ (TAMIZ_S3_ANON=1), a mirror, a folder

`crawl_files` reads `<base>/crawl-data/<id>/<files>.paths.gz` (one request) and returns the chosen
files' URLs, one ingest task each; nothing else is fetched before the tasks run. With `index:` the
source reads only the records the columnar index labels Spanish:

        index:
          languages: [spa]           # ISO-639-3 labels of content_languages (CLD2)
          match: first               # first: the page's most likely language; anywhere: any of its labels
          parquet: auto              # auto: the crawl's cc-index-table.paths.gz; or a list of Parquet URLs/paths

`plan_index` reads the index's Parquet files (only the columns it needs, in batches), keeps HTML
responses with status 200 whose labels match, groups them by WARC file and writes one small
selection file per WARC file (`<stage>/_selection/<name>.ccsel.json`: the WARC's URL and its record
ranges). A selection file is an ingest input like any other (`read_selection`): its task fetches the
ranges (adjacent ones merged into one request) and reads them as WARC records, so completion records,
resume and counts work as for whole files.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from tamiz.core import remote
from tamiz.core.atomic import write_json
from tamiz.core.config import from_mapping
from tamiz.pipeline.document import Document
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.warc import read_warc_stream

DEFAULT_BASE = "https://data.commoncrawl.org/"
FILE_KINDS = ("warc", "wet")
SELECTS = ("all", "first", "sample", "segments")
MATCHES = ("first", "anywhere")
_CRAWL_ID = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
SELECTION_SUFFIX = ".ccsel.json"
# the index columns a selection needs (INDEX_COLUMNS must be there; SCAN_COLUMNS are read: the url is not)
INDEX_COLUMNS = ("url", "fetch_status", "content_mime_type", "content_mime_detected", "content_languages",
                 "warc_filename", "warc_record_offset", "warc_record_length")
SCAN_COLUMNS = INDEX_COLUMNS[1:]
HTML_MIMES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class IndexSpec:
    """Spanish-only reads through the columnar index (a crawl source's `index:` block)."""

    languages: tuple[str, ...] = ("spa",)  # ISO-639-3 labels as in content_languages
    match: str = "first"  # "first": the most likely language is one of `languages`; "anywhere": any label is
    parquet: Any = "auto"  # "auto" (the crawl's cc-index-table.paths.gz, subset=warc) or a list of Parquet files
    max_gap: int = 0  # merge two ranges of one WARC file into one request when at most this many bytes apart
    max_request_bytes: int = 32 << 20  # ... unless the merged request would exceed this

    def __post_init__(self) -> None:
        langs = self.languages
        if isinstance(langs, str):
            object.__setattr__(self, "languages", (langs,))
        elif isinstance(langs, (list, tuple)) and langs and all(isinstance(x, str) for x in langs):
            object.__setattr__(self, "languages", tuple(langs))
        else:
            raise ValueError(f"languages: {langs!r} is not a language label or a list of them (e.g. spa)")
        for x in self.languages:
            if not re.fullmatch(r"[a-z]{3}", x):
                raise ValueError(f"languages: {x!r} is not an ISO-639-3 code like 'spa' (the index's labels)")
        if self.match not in MATCHES:
            raise ValueError(f"match: {self.match!r} is not one of {', '.join(MATCHES)}")
        p = self.parquet
        if p != "auto":
            if isinstance(p, str):
                p = [p]
            if not isinstance(p, (list, tuple)) or not p or not all(isinstance(x, str) and x for x in p):
                raise ValueError(f"parquet: {self.parquet!r} is not 'auto' or a list of Parquet files")
            object.__setattr__(self, "parquet", tuple(p))
        for name in ("max_gap", "max_request_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: {v!r} is not a non-negative integer")


@dataclass(frozen=True)
class CrawlSpec:
    """A Common Crawl dump as a source (a table source's `crawl:` block)."""

    id: str  # e.g. CC-MAIN-2025-26
    files: str = "warc"  # "warc" or "wet"
    select: str = "all"  # all | first | sample | segments
    count: int | None = None  # files for `first` and `sample`
    seed: int = 0  # seeds `sample`
    segments: tuple[str, ...] = ()  # segment ids for `segments` (e.g. 1718198861000.0)
    base: str = DEFAULT_BASE  # https://data.commoncrawl.org/, s3://commoncrawl/, a mirror or a local folder
    index: IndexSpec | None = None  # Spanish-only reads through the columnar index (WARC files only)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _CRAWL_ID.match(self.id):
            raise ValueError(f"id: {self.id!r} is not a crawl id like CC-MAIN-2025-26")
        if self.files not in FILE_KINDS:
            raise ValueError(f"files: {self.files!r} is not one of {', '.join(FILE_KINDS)}")
        if self.select not in SELECTS:
            raise ValueError(f"select: {self.select!r} is not one of {', '.join(SELECTS)}")
        if self.select in ("first", "sample"):
            if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
                raise ValueError(f"count: {self.count!r}: select: {self.select} needs a positive number of files")
        elif self.count is not None:
            raise ValueError(f"count: only for select: first or sample (select is {self.select})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: {self.seed!r} is not an integer")
        segs = self.segments
        if isinstance(segs, str) or not isinstance(segs, (list, tuple)) or not all(isinstance(s, str) for s in segs):
            raise ValueError(f"segments: {segs!r} is not a list of segment ids")
        object.__setattr__(self, "segments", tuple(segs))
        if (self.select == "segments") != bool(self.segments):
            raise ValueError("segments: name the segments with select: segments (and only then)")
        if not isinstance(self.base, str) or not self.base:
            raise ValueError(f"base: {self.base!r} is not a URL or folder")
        remote.check_url(self.base)
        if isinstance(self.index, Mapping):
            object.__setattr__(self, "index", from_mapping(IndexSpec, dict(self.index), "index"))
        elif self.index is not None and not isinstance(self.index, IndexSpec):
            raise ValueError(f"index: {self.index!r} is not a mapping")
        if self.index is not None and self.files != "warc":
            raise ValueError("index: the columnar index gives byte ranges in WARC files: use it with files: warc")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "crawl", file: str | Path | None = None,
                  base: str | Path | None = None) -> "CrawlSpec":
        spec = from_mapping(cls, d, where, file=file)
        if base is None:
            return spec

        def near(p: str) -> str:  # a local path relative to the table's folder
            return p if remote.is_url(p) or Path(p).is_absolute() else str(Path(base) / p)

        changes: dict[str, Any] = {"base": near(spec.base)}
        if spec.index is not None and spec.index.parquet != "auto":
            changes["index"] = IndexSpec(**{**spec.index.__dict__, "parquet": tuple(near(p) for p in spec.index.parquet)})
        return CrawlSpec(**{**spec.__dict__, **changes})

    def url(self, rel: str) -> str:
        """A path of the crawl (relative to the base, as the path lists give them) as a URL or path."""
        if ".." in rel.split("/") or rel.startswith("/"):
            raise ValueError(f"{rel}: a path list entry must be relative to the crawl's base")
        return remote.join(self.base, rel)

    def paths_list(self, kind: str | None = None) -> str:
        return self.url(f"crawl-data/{self.id}/{kind or self.files}.paths.gz")


def read_paths_list(url: str, what: str) -> list[str]:
    """The lines of a gzipped path list (local or remote), or a clear error naming it."""
    try:
        with remote.open_input(url) as raw, gzip.GzipFile(fileobj=raw) as gz:
            data = gz.read(1 << 30)
    except FileNotFoundError:
        raise FileNotFoundError(f"{url}: no such path list ({what})") from None
    except remote.RemoteError as e:
        raise FileNotFoundError(f"{e} ({what})") from None
    except (OSError, EOFError) as e:
        raise ValueError(f"{url}: not a gzipped path list ({what}): {e}") from None
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{url}: the path list is empty ({what})")
    return lines


def crawl_files(spec: CrawlSpec) -> list[str]:
    """The URLs (or paths) of the files a crawl source reads, in path-list order (sampled: sorted).
    FileNotFoundError naming the path list when the crawl is unknown there."""
    paths = read_paths_list(spec.paths_list(), f"crawl {spec.id}: unknown crawl id, or not at this base?")
    if spec.select == "first":
        paths = paths[:spec.count]
    elif spec.select == "sample":
        rng = random.Random(f"{spec.id}\0{spec.files}\0{spec.seed}")
        paths = sorted(rng.sample(paths, min(spec.count or 0, len(paths))))
    elif spec.select == "segments":
        wanted = set(spec.segments)
        missing = sorted(wanted - {_segment(p) for p in paths})
        if missing:
            raise ValueError(f"segments: {', '.join(missing)} not in crawl {spec.id}'s {spec.files}.paths.gz")
        paths = [p for p in paths if _segment(p) in wanted]
    return [spec.url(p) for p in paths]


def _segment(path: str) -> str | None:
    """The segment id of a path-list entry (`crawl-data/<crawl>/segments/<segment>/...`), or None."""
    return path.split("/segments/", 1)[1].split("/", 1)[0] if "/segments/" in path else None


# ------------------------------------------------------------------------------- the columnar index


def index_files(spec: CrawlSpec) -> list[str]:
    """The Parquet files of the crawl's columnar index (subset=warc), or those the table names."""
    assert spec.index is not None
    if spec.index.parquet != "auto":
        return list(spec.index.parquet)
    paths = read_paths_list(spec.paths_list("cc-index-table"), f"crawl {spec.id}: its columnar index path list")
    return [spec.url(p) for p in paths if "/subset=warc/" in p]


@dataclass
class Selection:
    """What the index selected, per WARC file (paths relative to the crawl's base)."""

    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    rows: int = 0  # index rows read
    html_ok: int = 0  # of which HTML responses with status 200
    selected: int = 0  # of which labelled with the wanted languages
    selected_bytes: int = 0  # the selected records' own bytes (gzip members)


def select_from_index(files: list[str], index: IndexSpec) -> Selection:
    """Read the index files' needed columns in batches and keep the matching HTML 200 responses.
    ValueError naming the file when a column is missing."""
    sel = Selection()
    for f in files:
        with _index_file(f) as pf:
            for batch in pf.iter_batches(batch_size=65536, columns=list(SCAN_COLUMNS)):
                _select_batch(batch, index, sel)
    return sel


@contextlib.contextmanager
def _index_file(f: str) -> Iterator[Any]:
    """One Parquet file of the columnar index (local or remote), checked to have the columns a selection
    needs: FileNotFoundError / ValueError naming it otherwise."""
    import pyarrow.parquet as pq

    try:
        handle = remote.open_input(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{f}: no such index file") from None
    with handle:
        try:
            pf = pq.ParquetFile(handle)
        except remote.RemoteError:
            raise
        except Exception as e:
            raise ValueError(f"{f}: not a readable Parquet file of the columnar index: {e}") from None
        missing = [c for c in INDEX_COLUMNS if c not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{f}: the index lacks the column(s) {', '.join(missing)} (is it Common Crawl's "
                             f"columnar index, subset=warc?)")
        yield pf


def _select_batch(batch: Any, index: IndexSpec, sel: Selection) -> None:
    """One batch of index rows, filtered with pyarrow.compute (no Python loop over rows)."""
    import pyarrow.compute as pc

    sel.rows += batch.num_rows
    col = {name: batch.column(name) for name in SCAN_COLUMNS}
    detected = pc.utf8_lower(pc.coalesce(col["content_mime_detected"], col["content_mime_type"], ""))
    declared = pc.utf8_lower(pc.coalesce(col["content_mime_type"], ""))
    html = pc.and_(pc.equal(col["fetch_status"], 200),
                   pc.or_(pc.is_in(detected, value_set=_pa_strings(HTML_MIMES)),
                          pc.is_in(declared, value_set=_pa_strings(HTML_MIMES))))
    html = pc.fill_null(html, False)
    sel.html_ok += pc.sum(html).as_py() or 0
    langs = "|".join(re.escape(x) for x in index.languages)
    pattern = f"^({langs})(,|$)" if index.match == "first" else f"(^|,)\\s*({langs})\\s*(,|$)"
    labelled = pc.fill_null(pc.match_substring_regex(pc.coalesce(col["content_languages"], ""), pattern), False)
    placed = pc.and_(pc.and_(pc.is_valid(col["warc_filename"]), pc.greater_equal(col["warc_record_offset"], 0)),
                     pc.greater(col["warc_record_length"], 0))
    keep = pc.and_(pc.and_(html, labelled), pc.fill_null(placed, False))
    chosen = batch.filter(keep)
    if chosen.num_rows == 0:
        return
    files = chosen.column("warc_filename").to_pylist()
    offsets = chosen.column("warc_record_offset").to_pylist()
    lengths = chosen.column("warc_record_length").to_pylist()
    for wf, off, length in zip(files, offsets, lengths):
        sel.ranges[wf].append((int(off), int(length)))
    sel.selected += chosen.num_rows
    sel.selected_bytes += int(pc.sum(chosen.column("warc_record_length")).as_py() or 0)


def _pa_strings(values: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())


def merge_ranges(ranges: list[tuple[int, int]], max_gap: int = 0, max_bytes: int = 32 << 20) -> list[tuple[int, int]]:
    """Sorted (offset, length) ranges merged into requests: neighbours at most `max_gap` bytes apart
    become one request unless it would exceed `max_bytes` (a single record larger than that stays whole)."""
    out: list[list[int]] = []
    for off, length in sorted(set(ranges)):
        if out and off - (out[-1][0] + out[-1][1]) <= max_gap and off + length - out[-1][0] <= max_bytes \
                and off >= out[-1][0] + out[-1][1]:
            out[-1][1] = off + length - out[-1][0]
        else:
            out.append([off, length])
    return [(a, b) for a, b in out]


def plan_index(spec: CrawlSpec, folder: str | Path) -> tuple[list[Path], dict[str, Any]]:
    """Select the crawl's Spanish records through its index and write one selection file per WARC file
    into `<folder>/_selection/` (atomically; files of an earlier plan that the index no longer selects are
    removed). Returns the selection files (sorted) and the selection's counts."""
    assert spec.index is not None
    files = index_files(spec)
    sel = select_from_index(files, spec.index)
    wanted_warcs = None
    if spec.select != "all":  # the same file choice as whole-file reads: the chosen WARC files' records only
        wanted_warcs = set(crawl_files(spec))
    target = Path(folder) / "_selection"
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    chosen = chosen_bytes = 0  # of the selected records, those of the chosen WARC files
    for wf in sorted(sel.ranges):
        url = spec.url(wf)
        if wanted_warcs is not None and url not in wanted_warcs:
            continue
        rows = sorted(set(sel.ranges[wf]))
        chosen += len(rows)
        chosen_bytes += sum(n for _, n in rows)
        merged = merge_ranges(rows, spec.index.max_gap, spec.index.max_request_bytes)
        body = {"format": "tamiz-cc-selection-1", "crawl": spec.id, "warc": wf, "base": _absolute_base(spec.base),
                "languages": list(spec.index.languages), "match": spec.index.match,
                "records": [[o, n] for o, n in rows], "requests": [[o, n] for o, n in merged]}
        name = _selection_name(wf)
        path = target / name
        write_json(path, body)
        written.append(path)
    keep = {p.name for p in written}
    for old in target.glob(f"*{SELECTION_SUFFIX}"):
        if old.name not in keep:
            old.unlink()
    counts = {"index_files": len(files), "index_rows": sel.rows, "html_200": sel.html_ok, "selected": chosen,
              "selected_bytes": chosen_bytes, "warc_files": len(written),
              "requests": sum(len(json.loads(p.read_text())["requests"]) for p in written)}
    write_json(target / PLAN_FILE, {"crawl": spec.id, "languages": list(spec.index.languages),
                                    "match": spec.index.match, **counts})
    return sorted(written), counts


PLAN_FILE = "plan.json"  # what the last index selection found, beside its selection files


def plan_summary(folder: str | Path) -> dict[str, Any] | None:
    """The counts of the last index selection planned into the stage folder `folder`, if any."""
    try:
        return json.loads((Path(folder) / "_selection" / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _absolute_base(base: str) -> str:
    return base if remote.is_url(base) else str(Path(base).resolve())


def _selection_name(warc_filename: str) -> str:
    stem = remote.basename(warc_filename)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).removesuffix(".gz").removesuffix(".warc")[:80] or "warc"
    digest = hashlib.sha256(warc_filename.encode()).hexdigest()[:8]
    return f"{stem}-{digest}{SELECTION_SUFFIX}"


FETCH_AHEAD = 8  # range requests of one selection file in flight at once (each waits for its round trip)


def read_selection(path: str | Path, report: ReadReport, source: str,
                   fetch_ahead: int = FETCH_AHEAD) -> Iterator[Document]:
    """The documents of one selection file: its WARC file's ranges fetched (one request per merged range,
    retried, up to `fetch_ahead` requests in flight, read in order), and each selected record read as
    WARC with its real offset in the WARC file. Records in the gaps of a merged range are not read."""
    try:
        sel = json.loads(Path(path).read_text(encoding="utf-8"))
        warc, base, requests = sel["warc"], sel["base"], sel["requests"]
        records = sorted((int(o), int(n)) for o, n in sel["records"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.bad("file", f"not a tamiz selection file: {e}", count_record=False)
        return
    url = remote.join(base, warc)
    name = remote.basename(warc)

    def fetch(start: int, length: int) -> bytes:
        if remote.is_url(url):
            return remote.read_range(url, start, length)
        with open(url, "rb") as f:
            f.seek(start)
            return f.read(length)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, fetch_ahead), thread_name_prefix="tamiz-range") as pool:
        pending: list = []
        queue = iter((int(s), int(n)) for s, n in requests)

        def top_up() -> None:
            while len(pending) < max(1, fetch_ahead):
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending.append((nxt, pool.submit(fetch, *nxt)))

        top_up()
        i = 0  # the next selected record
        while pending:
            (start, length), future = pending.pop(0)
            try:
                data = future.result()
            except BaseException:
                for _, f in pending:
                    f.cancel()
                raise
            top_up()
            while i < len(records) and records[i][0] < start:
                i += 1  # a record outside every request (not possible for a selection tamiz wrote)
            while i < len(records) and records[i][0] < start + length:
                off, n = records[i]
                i += 1
                piece = data[off - start:off - start + n]
                if len(piece) < n:
                    report.bad(f"offset {off}", f"{url}: the record {off}+{n} runs past the end of the file "
                                                f"({len(piece)} bytes there)")
                    continue
                yield from read_warc_stream(io.BytesIO(piece), name, report, source, base_offset=off)


def check_index(spec: CrawlSpec) -> None:
    """Before any work: the crawl's path list and its index files exist, and the index has the columns a
    selection needs (reads the path lists and each file's Parquet footer only)."""
    crawl_files(spec)
    files = index_files(spec)
    if not files:
        raise FileNotFoundError(f"crawl {spec.id}: its columnar index lists no subset=warc Parquet file")
    for f in files:
        with _index_file(f):
            pass
