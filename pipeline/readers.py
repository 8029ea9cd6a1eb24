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

from pipeline.document import Document
from pipeline.report import ReadReport
from pipeline.warc import read_warc

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".txt.gz")


def input_kind(path: str | Path) -> str:
    """'warc', 'jsonl', 'parquet', 'text' or 'textdir'; raises ValueError naming the file otherwise."""
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


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files to read, sorted: folders of WARC/JSONL/Parquet are expanded; a folder of .txt is one input.

    Raises FileNotFoundError / ValueError naming the path, before any work starts.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            data = [f for f in files if f.name.lower().endswith(WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)]
            if data:
                out += data
            elif any(f.name.lower().endswith(TEXT_SUFFIXES) for f in files):
                out.append(p)
            else:
                raise ValueError(f"{p}: folder holds no WARC, JSONL, Parquet or .txt files")
        else:
            input_kind(p)
            out.append(p)
    return sorted(dict.fromkeys(out))


def read_documents(path: str | Path, report: ReadReport, source: str) -> Iterator[Document]:
    kind = input_kind(path)
    if kind == "warc":
        yield from read_warc(path, report, source=source)
    elif kind == "jsonl":
        yield from read_jsonl(path, report, source=source)
    elif kind == "parquet":
        yield from read_parquet(path, report, source=source)
    elif kind == "text":
        yield from read_text_file(Path(path), report, source=source, root=Path(path).parent)
    else:
        yield from read_text_folder(path, report, source=source)


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n")


MAX_LINE_BYTES = 64 << 20  # a JSONL record longer than this is quarantined unread (a 1 MB .gz can hold a 1 GB line)
MAX_TEXT_CHARS = 64 << 20  # a .txt(.gz) file (one document) longer than this is quarantined, read no further
PARQUET_BATCH_ROWS = 1024  # Parquet is read in batches of rows, never a whole (possibly huge) row group


def read_jsonl(path: str | Path, report: ReadReport, source: str, text_field: str = "text",
               max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Document]:
    """One JSON object per line with a string `text`; optional id, url, source, metadata; others go to metadata."""
    path = Path(path)
    if path.stat().st_size == 0:
        report.bad("file", "empty file", count_record=False)
        return
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    with raw:
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
    path = Path(path)
    try:
        pf = pq.ParquetFile(path)
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


def read_text_file(path: Path, report: ReadReport, source: str, root: Path,
                   max_chars: int | None = None) -> Iterator[Document]:
    """A whole .txt file is one document; its id is its path relative to `root`. A file longer than
    `max_chars` (MAX_TEXT_CHARS) characters is quarantined after reading one character past the limit."""
    max_chars = MAX_TEXT_CHARS if max_chars is None else max_chars
    rel = path.relative_to(root).as_posix()
    try:
        with _open_text(path) as f:
            text = f.read(max_chars + 1)
    except UnicodeDecodeError as e:
        report.bad(rel, f"invalid UTF-8 at byte {e.start}")
        return
    except (OSError, EOFError) as e:
        report.bad(rel, f"unreadable: {e}")
        return
    if len(text) > max_chars:
        report.bad(rel, f"longer than {max_chars} characters (one .txt file is one document: split it)")
        return
    report.good()
    yield Document(id=f"{source}/{rel}", text=text, source=source, metadata={"file": rel})


def read_text_folder(path: str | Path, report: ReadReport, source: str) -> Iterator[Document]:
    root = Path(path)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES)):
        yield from read_text_file(f, report, source, root)


def _doc_from_mapping(obj: dict, text: str, path: Path, where: str, source: str, text_field: str) -> Document:
    doc_id = obj.get("id")
    doc_id = f"{source}/{doc_id}" if doc_id not in (None, "") else f"{source}/{path.name}:{where}"
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
