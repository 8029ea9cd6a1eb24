"""Readers for every input kind: WARC, JSONL (optionally gzipped), Parquet and folders of text.

`read_documents(path, report)` picks the reader from the file name. Each reader yields good
documents and records every other record in the `ReadReport` (skipped by reason, or quarantined).
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from tamiz.core import remote
from tamiz.pipeline.document import Document
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.commoncrawl import SELECTION_SUFFIX, read_selection
from tamiz.pipeline.warc import read_warc

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz", ".wet", ".wet.gz")  # WET: Common Crawl's extracted text
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".txt.gz")


def as_input(raw: str | Path) -> str | Path:
    """An input argument as tamiz keeps it: a URL stays a string (Path would fold its //), a path is a Path."""
    text = str(raw)
    if remote.is_url(text):
        text = remote.unfold(text) if isinstance(raw, Path) else text
        remote.check_url(text)
        return text
    return remote.local_path(raw)


def input_kind(path: str | Path) -> str:
    """'warc' (WARC and WET), 'ccselection', 'jsonl', 'parquet', 'text' or 'textdir'; raises ValueError naming the file otherwise."""
    if str(path).endswith(SELECTION_SUFFIX):
        return "ccselection"  # byte ranges of a Common Crawl WARC file chosen through its index
    if remote.is_url(str(path)):
        name = remote.basename(str(path)).lower()
    else:
        p = Path(path)
        if p.is_dir():
            return "textdir"
        if p.exists() and not p.is_file():  # reading a FIFO blocks forever (pyarrow), and inputs are read twice
            raise ValueError(f"{path}: not a regular file or folder (a pipe, socket or device cannot be an input)")
        name = p.name.lower()
    for kind, suffixes in (("warc", WARC_SUFFIXES), ("jsonl", JSONL_SUFFIXES),
                           ("parquet", PARQUET_SUFFIXES), ("text", TEXT_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    raise ValueError(f"{path}: unknown input type (expected one of "
                     f"{', '.join(WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES)} or a folder)")


DATA_SUFFIXES = WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES


def expand_inputs(paths: list[str | Path]) -> list[str | Path]:
    """Files to read, sorted: folders (and s3:// / gs:// prefixes and globs) of WARC/JSONL/Parquet are
    expanded; a local folder of .txt is one input. URLs stay strings (tamiz.core.remote reads them).

    Raises FileNotFoundError / ValueError naming the path (a missing object or bucket, no credentials,
    an unknown scheme: tamiz.core.remote.RemoteError) before any work starts.
    """
    out: list[str | Path] = []
    for raw in paths:
        item = as_input(raw)
        if isinstance(item, str):
            out += _expand_url(item)
            continue
        p = item
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            data = [f for f in files if f.name.lower().endswith(DATA_SUFFIXES)]
            if data:
                out += data
            elif any(f.name.lower().endswith(TEXT_SUFFIXES) for f in files):
                out.append(p)
            else:
                raise ValueError(f"{p}: folder holds no WARC, JSONL, Parquet or .txt files")
        else:
            input_kind(p)
            out.append(p)
    return sorted(dict.fromkeys(out), key=str)


def default_source(path: str | Path) -> str:
    """The source name of an input given without one: its folder's name (for a URL, the last folder of
    its path; for a folder of .txt files, the folder itself)."""
    if isinstance(path, str) and remote.is_url(path):
        parts = path.split("?", 1)[0].split("://", 1)[1].rstrip("/").split("/")
        return parts[-2] if len(parts) > 2 else (parts[0] or "remote")
    p = Path(path)
    return p.parent.name if p.is_file() else p.name


def _expand_url(url: str) -> list[str]:
    """A remote file (checked to exist with one HEAD), or the data files of a prefix or glob."""
    scheme = remote.url_scheme(url)
    listable = scheme not in ("http", "https")
    if listable and (any(c in url.split("://", 1)[1] for c in "*?[") or url.endswith("/") or remote.is_folder(url)):
        files = [u for u in remote.list_files(url) if remote.basename(u).lower().endswith(DATA_SUFFIXES)]
        if not files:
            raise FileNotFoundError(f"{url}: no WARC, JSONL or Parquet files there")
        return files
    input_kind(url)
    remote.input_info(url)  # RemoteError naming the URL: missing, no bucket, refused, no credentials
    return [url]


# How plain text becomes documents (docs/data-format.md, "Plain text"):
#   paragraph: blank lines separate documents (a book, a dump, a corpus held as one big .txt);
#   line:      every non-blank line is a document (one sentence or one record per line);
#   file:      the whole file is one document (a folder of articles, one per file);
#   auto:      `paragraph` for a .txt(.gz) file named as an input, `file` for the files of a folder.
TEXT_UNITS = ("auto", "paragraph", "line", "file")


def check_text_unit(unit: str) -> str:
    if unit not in TEXT_UNITS:
        raise ValueError(f"text_unit: {unit!r} is not one of {', '.join(TEXT_UNITS)}")
    return unit


def read_documents(path: str | Path, report: ReadReport, source: str, text_unit: str = "auto") -> Iterator[Document]:
    kind = input_kind(path)
    if kind == "warc":
        yield from read_warc(path, report, source=source)
    elif kind == "ccselection":
        yield from read_selection(path, report, source=source)
    elif kind == "jsonl":
        yield from read_jsonl(path, report, source=source)
    elif kind == "parquet":
        yield from read_parquet(path, report, source=source)
    elif kind == "text":
        unit = "paragraph" if text_unit == "auto" else check_text_unit(text_unit)
        item = as_input(path)
        root = None if isinstance(item, str) else item.parent
        yield from read_text_file(item, report, source=source, root=root, unit=unit)
    else:
        unit = "file" if text_unit == "auto" else check_text_unit(text_unit)
        yield from read_text_folder(path, report, source=source, unit=unit)


def _open_text(path: str | Path) -> io.TextIOBase:
    return io.TextIOWrapper(_closing(path), encoding="utf-8", errors="strict", newline="\n")


def _closing(path: str | Path) -> io.BufferedIOBase:
    """An input's bytes (local or remote), gunzipped when its name ends in .gz; closing it closes the
    underlying file too (GzipFile(fileobj=...) alone leaves that open)."""
    raw = remote.open_input(path)
    if not remote.basename(path).endswith(".gz"):
        return raw  # type: ignore[return-value]
    gz = gzip.GzipFile(fileobj=raw, mode="rb")
    close = gz.close

    def close_both() -> None:
        try:
            close()
        finally:
            raw.close()

    gz.close = close_both  # type: ignore[method-assign]
    return gz  # type: ignore[return-value]


MAX_LINE_BYTES = 64 << 20  # a JSONL record longer than this is quarantined unread (a 1 MB .gz can hold a 1 GB line)
MAX_TEXT_CHARS = 64 << 20  # a .txt(.gz) file (one document) longer than this is quarantined, read no further
PARQUET_BATCH_ROWS = 1024  # Parquet is read in batches of rows, never a whole (possibly huge) row group


def read_jsonl(path: str | Path, report: ReadReport, source: str, text_field: str = "text",
               max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Document]:
    """One JSON object per line with a string `text`; optional id, url, source, metadata; others go to metadata."""
    path = as_input(path)
    raw = _closing(path)
    with raw:
        if remote.input_size(getattr(raw, "fileobj", None) or raw) == 0:
            report.bad("file", "empty file", count_record=False)
            return
        lineno = 0
        while True:
            try:
                line = raw.readline(max_line_bytes + 1)
                too_long = len(line) > max_line_bytes and not line.endswith(b"\n")
                if too_long:  # skip the rest of the line in bounded pieces
                    excerpt, rest = line[:256], line
                    while rest and not rest.endswith(b"\n"):
                        rest = raw.readline(1 << 20)
                    line = excerpt
            except remote.RemoteError:
                raise  # not fetched (after retries): the task fails, a rerun reads the file again
            except (OSError, EOFError) as e:
                report.bad(f"line {lineno + 1}", f"unreadable (truncated or corrupt compressed file?): {e}")
                return
            if not line:
                break
            lineno += 1
            if too_long:
                report.bad(f"line {lineno}", f"line longer than {max_line_bytes} bytes (not read)", line)
                continue
            if not line.strip():
                continue  # blank lines are not records
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                report.bad(f"line {lineno}", f"invalid UTF-8 at byte {e.start}", line[:256])
                continue
            except json.JSONDecodeError as e:
                report.bad(f"line {lineno}", f"invalid JSON: {e.msg} at column {e.colno}", line[:256])
                continue
            if not isinstance(obj, dict):
                report.bad(f"line {lineno}", f"expected a JSON object, got {type(obj).__name__}", line[:256])
                continue
            if _SURROGATE_ESCAPE.search(line) and not _utf8_safe(obj):
                # valid JSON, but "\ud800" alone is no character: the UTF-8 Parquet writer would fail the shard
                report.bad(f"line {lineno}", "invalid Unicode: an unpaired surrogate escape (\\ud800-\\udfff)", line[:256])
                continue
            text = obj.get(text_field)
            if not isinstance(text, str):
                report.bad(f"line {lineno}", f"field '{text_field}' missing or not a string", line[:256])
                continue
            report.good()
            yield _doc_from_mapping(obj, text, path, f"{lineno}", source, text_field)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _utf8_safe(obj: dict) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_parquet(path: str | Path, report: ReadReport, source: str, text_field: str = "text") -> Iterator[Document]:
    path = as_input(path)
    try:
        pf = pq.ParquetFile(remote.open_input(path) if isinstance(path, str) else path)
    except remote.RemoteError:
        raise  # the file could not be fetched: the task fails and a rerun reads it again
    except Exception as e:
        report.bad("file", f"not a readable Parquet file: {e}", count_record=False)
        return
    if text_field not in pf.schema_arrow.names:
        report.bad("file", f"no '{text_field}' column (columns: {pf.schema_arrow.names})", count_record=False)
        return
    # tamiz's own shards (earlier stages) keep their ids, sources and metadata as they are
    own = pf.schema_arrow.names == ["id", "text", "source", "url", "metadata"]
    row = 0
    for i in range(pf.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        done = 0  # rows of this row group accounted for
        # in batches: a row group can declare any size (pyarrow reads a row group whole), a batch is bounded
        batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[i])
        while True:
            try:
                batch = next(batches, None)
                rows = [] if batch is None else batch.to_pylist()  # to_pylist raises on strings that are not UTF-8
            except remote.RemoteError:
                raise
            except Exception as e:  # the rest of the row group cannot be read: each remaining row is quarantined
                for _ in range(n - done):
                    report.bad(f"row group {i}", f"unreadable row group: {e}")
                row += n - done
                break
            if batch is None:
                break
            for obj in rows:
                row += 1
                done += 1
                text = obj.get(text_field)
                if not isinstance(text, str):
                    report.bad(f"row {row}", f"'{text_field}' is not a string")
                    continue
                if len(text) > MAX_TEXT_CHARS:
                    report.bad(f"row {row}", f"'{text_field}' longer than {MAX_TEXT_CHARS} characters")
                    continue
                report.good()
                yield Document.from_row(obj) if own else _doc_from_mapping(obj, text, path, str(row), source, text_field)


def read_text_file(path: str | Path, report: ReadReport, source: str, root: Path | None,
                   max_chars: int | None = None, unit: str = "file") -> Iterator[Document]:
    """A .txt(.gz) file as documents: the whole file (`unit="file"`, id: its path relative to `root`),
    or its blank-line-separated paragraphs / non-blank lines (`"paragraph"`, `"line"`; id: path and the
    document's first line number). Streams line by line; a document longer than `max_chars`
    (MAX_TEXT_CHARS) characters is quarantined after reading one character past the limit."""
    max_chars = MAX_TEXT_CHARS if max_chars is None else max_chars
    rel = remote.basename(path) if root is None else Path(path).relative_to(root).as_posix()
    if unit == "file":
        yield from _read_whole_text(path, rel, report, source, max_chars)
        return
    check_text_unit(unit)
    lines: list[str] = []
    size, first, lineno, too_long = 0, 0, 0, False

    def flush() -> Iterator[Document]:
        if too_long:
            report.bad(f"{rel}:{first}", f"{unit} longer than {max_chars} characters (not read)")
        elif lines:
            report.good()
            yield Document(id=f"{source}/{rel}:{first}", text="\n".join(lines), source=source,
                           metadata={"file": rel, "line": first})

    try:
        with _open_text(path) as f:
            while True:
                line = f.readline(max_chars + 2)
                if not line:
                    break
                lineno += 1
                cut = len(line) == max_chars + 2 and not line.endswith("\n")
                rest = line
                while cut and rest and not rest.endswith("\n"):  # the rest of a huge line, in bounded pieces
                    rest = f.readline(1 << 20)
                line = line.rstrip("\r\n")
                long_line = cut or len(line) > max_chars
                if not line.strip():
                    yield from flush()
                    lines, size, too_long = [], 0, False
                    continue
                if not lines and not too_long:
                    first = lineno
                too_long = too_long or long_line or size + len(line) > max_chars
                if not too_long:
                    lines.append(line)
                    size += len(line) + 1
                else:
                    lines, size = [], 0
                if unit == "line":
                    yield from flush()
                    lines, size, too_long = [], 0, False
            yield from flush()
    except UnicodeDecodeError as e:
        report.bad(f"{rel}:{lineno + 1}", f"invalid UTF-8 (byte {e.start} of the line); the rest of the file is not read")
    except remote.RemoteError:
        raise  # not fetched (after retries): the task fails, a rerun reads the file again
    except (OSError, EOFError) as e:
        report.bad(f"{rel}:{lineno + 1}", f"unreadable: {e}; the rest of the file is not read")


def _read_whole_text(path: Path, rel: str, report: ReadReport, source: str, max_chars: int) -> Iterator[Document]:
    try:
        with _open_text(path) as f:
            text = f.read(max_chars + 1)
    except UnicodeDecodeError as e:
        report.bad(rel, f"invalid UTF-8 at byte {e.start}")
        return
    except remote.RemoteError:
        raise  # not fetched (after retries): the task fails, a rerun reads the file again
    except (OSError, EOFError) as e:
        report.bad(rel, f"unreadable: {e}")
        return
    if len(text) > max_chars:
        report.bad(rel, f"longer than {max_chars} characters (one file is one document here: read it by "
                        f"paragraph or line, text_unit)")
        return
    report.good()
    yield Document(id=f"{source}/{rel}", text=text, source=source, metadata={"file": rel})


def read_text_folder(path: str | Path, report: ReadReport, source: str, unit: str = "file") -> Iterator[Document]:
    root = Path(path)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES)):
        yield from read_text_file(f, report, source, root, unit=unit)


def _doc_from_mapping(obj: dict, text: str, path: str | Path, where: str, source: str, text_field: str) -> Document:
    doc_id = obj.get("id")
    doc_id = f"{source}/{doc_id}" if doc_id not in (None, "") else f"{source}/{remote.basename(path)}:{where}"
    meta = obj.get("metadata")
    if isinstance(meta, str):  # tamiz's own Parquet stores metadata as a JSON string
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            meta = {"metadata": meta}
    if not isinstance(meta, dict):
        meta = {}
    extra = {k: v for k, v in obj.items() if k not in ("id", text_field, "url", "metadata", "source")}
    meta = {**extra, **meta}
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    return Document(id=str(doc_id), text=text, source=obj.get("source") or source, url=url, metadata=meta)
