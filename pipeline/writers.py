"""Parquet document shards (zstd, atomic rename), file entries with their checksums, and config hashes.

Documents are written in the order they arrive; a shard file appears under its final name only
once it is complete. Row-group size is fixed so the bytes depend only on the documents.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from tamiz.core.atomic import atomic_path, sha256_file
from tamiz.pipeline.document import Document

DOC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("metadata", pa.string(), nullable=False),  # JSON object, sorted keys
    ]
)
ROWS_PER_GROUP = 2048


class ParquetSink:
    """Streaming, atomic Parquet writer: `add()` documents, then `close()` renames the file into place.

    Used as a context manager; on an exception the temporary file is removed and nothing appears.
    """

    def __init__(self, path: str | os.PathLike, batch_rows: int = ROWS_PER_GROUP):
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.rows = 0
        self._batch: list[dict[str, Any]] = []
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, DOC_SCHEMA, compression="zstd", compression_level=3,
                                        write_statistics=False)

    def add(self, doc: Document) -> None:
        self._batch.append(doc.to_row())
        if len(self._batch) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        table = pa.Table.from_pylist(self._batch, schema=DOC_SCHEMA)
        try:
            self._writer.write_table(table, row_group_size=self.batch_rows)
        except OSError as e:  # pyarrow's message (e.g. a full disk) does not name the file
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
        self.rows += len(self._batch)
        self._batch = []

    def close(self) -> dict[str, Any]:
        try:
            if self._batch or self.rows == 0:
                self._flush()
            self._writer.close()
        except BaseException as e:  # remove the temporary file: nothing half-written stays behind
            try:
                self.abort(e)
            except BaseException:
                pass
            if isinstance(e, OSError) and e.filename is None:
                raise OSError(e.errno, e.strerror or str(e), str(self.path)) from None
            raise
        self._ctx.__exit__(None, None, None)
        return file_entry(self.path, rows=self.rows)

    def abort(self, exc: BaseException | None = None) -> None:
        try:
            self._writer.close()
        finally:
            self._ctx.__exit__(type(exc) if exc else RuntimeError, exc or RuntimeError("aborted"), None)

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if et is None:
            self.result = self.close()
        else:
            try:
                self.abort(ev)
            except BaseException:
                pass
        return False


def write_parquet(path: str | os.PathLike, docs: Iterable[Document], batch_rows: int = ROWS_PER_GROUP) -> dict[str, Any]:
    """Write documents to one zstd Parquet file atomically; returns {path, rows, bytes, sha256}."""
    with ParquetSink(path, batch_rows) as sink:
        for doc in docs:
            sink.add(doc)
    return sink.result


def file_entry(path: str | os.PathLike, rows: int | None = None, root: str | os.PathLike | None = None) -> dict[str, Any]:
    p = Path(path)
    entry: dict[str, Any] = {
        "path": p.relative_to(root).as_posix() if root else p.name,
        "bytes": p.stat().st_size,
        "sha256": sha256_file(p),
    }
    if rows is not None:
        entry["rows"] = rows
    return entry


def config_hash(config: Any) -> str:
    """sha256 of the canonical JSON of a config (dataclass-as-dict or plain dict)."""
    blob = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def read_parquet_documents(path: str | os.PathLike) -> Iterable[Document]:
    """Documents of a tamiz Parquet shard, in order."""
    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        for row in pf.read_row_group(i).to_pylist():
            yield Document.from_row(row)
