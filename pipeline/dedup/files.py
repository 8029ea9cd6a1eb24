"""The dedup stages' intermediate files: Arrow IPC (uncompressed, memory-mapped on read).

Every file carries its kind and the DedupConfig hash in its schema metadata. A reader names the
kind and the hash it expects and gets `DedupFileError` (naming the file) for a truncated or
corrupt file, a file of another kind, or a file written under another configuration: signatures
of two configurations must never meet in one band bucket. Files appear by atomic rename only.

Arrow IPC rather than Parquet here because the band stage gathers signature rows of candidate
pairs at random: a memory-mapped IPC column is a plain array, so only the touched pages are read.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from tamiz.core import mirror
from tamiz.core.atomic import atomic_path
from tamiz.pipeline.writers import file_entry

KIND = b"tamiz.dedup.kind"
HASH = b"tamiz.dedup.config_hash"
FORMAT = b"tamiz.dedup.format"
FORMAT_VERSION = b"1"


class DedupFileError(ValueError):
    """A dedup file that cannot be used: truncated, corrupt, of another kind or another configuration."""


def write_batches(path: str | os.PathLike, schema: pa.Schema, batches: Iterable[pa.RecordBatch], kind: str,
                  config_hash: str, root: str | os.PathLike | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Write record batches as one Arrow IPC file (atomically); returns its file entry (rows, sha256)."""
    meta = {KIND: kind.encode(), HASH: config_hash.encode(), FORMAT: FORMAT_VERSION}
    for k, v in (extra or {}).items():
        meta[f"tamiz.dedup.{k}".encode()] = v.encode()
    schema = schema.with_metadata(meta)
    rows = 0
    path = Path(path)
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for b in batches:
                writer.write_batch(b)
                rows += b.num_rows
    return file_entry(path, rows=rows, root=root)


def write_table(path: str | os.PathLike, table: pa.Table, kind: str, config_hash: str,
                root: str | os.PathLike | None = None, extra: dict[str, str] | None = None) -> dict[str, Any]:
    batches = table.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    return write_batches(path, table.schema, batches, kind, config_hash, root, extra)


def open_file(path: str | os.PathLike, kind: str, config_hash: str,
              random_access: bool = False) -> pa.ipc.RecordBatchFileReader:
    """A memory-mapped reader of a dedup file, after checking that it is whole, of `kind` and of this
    config. `random_access`: the caller reads scattered rows, so the kernel is told not to read ahead
    (each row then costs one page, not a read-ahead window)."""
    return _open(Path(path), kind, config_hash, random_access)[0]


def open_random(path: str | os.PathLike, kind: str, config_hash: str) -> tuple[pa.ipc.RecordBatchFileReader, mmap.mmap]:
    """`open_file(..., random_access=True)` and its mapping, for `drop_pages`."""
    reader, mm = _open(Path(path), kind, config_hash, True)
    assert mm is not None
    return reader, mm


def drop_pages(mm: mmap.mmap) -> None:
    """Unmap the pages of `mm` read so far from this process (they stay in the page cache, and a later
    read maps them again): a task reading rows all over large files keeps its resident memory, which a
    worker's memory monitor counts, bounded by what it reads between two calls."""
    if hasattr(mm, "madvise"):
        mm.madvise(mmap.MADV_DONTNEED)


def _open(path: Path, kind: str, config_hash: str,
          random_access: bool) -> tuple[pa.ipc.RecordBatchFileReader, mmap.mmap | None]:
    mirror.ensure(path)  # a build on object storage: another worker's file is fetched first (core/mirror.py)
    mm = None
    try:
        if random_access:
            with open(path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_RANDOM)
            reader = pa.ipc.open_file(pa.py_buffer(mm))
        else:
            reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
    except FileNotFoundError:
        raise DedupFileError(f"{path}: missing (the stage that writes it has not finished; rerun)") from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, ValueError) as e:
        raise DedupFileError(f"{path}: not a complete Arrow IPC file (truncated or corrupt: {e}); "
                             "delete it and rerun the stage") from None
    meta = reader.schema.metadata or {}
    got_kind = meta.get(KIND, b"?").decode()
    if got_kind != kind:
        raise DedupFileError(f"{path}: holds {got_kind!r} data, expected {kind!r}")
    got = meta.get(HASH, b"").decode()
    if got != config_hash:
        raise DedupFileError(f"{path}: written under dedup config {got[:12] or '(none)'}, this run uses "
                             f"{config_hash[:12]}; refusing to mix configurations (rerun with the same "
                             "settings, or start a fresh output folder)")
    return reader, mm


def read_table(path: str | os.PathLike, kind: str, config_hash: str, columns: list[str] | None = None) -> pa.Table:
    reader = open_file(path, kind, config_hash)
    try:
        table = reader.read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise DedupFileError(f"{path}: unreadable ({e}); delete it and rerun the stage") from None
    return table.select(columns) if columns else table


def metadata(path: str | os.PathLike, kind: str, config_hash: str) -> dict[str, str]:
    reader = open_file(path, kind, config_hash)
    return {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}


def fixed_binary(values: np.ndarray, valid: np.ndarray | None = None) -> pa.FixedSizeBinaryArray:
    """A fixed-size binary array whose rows are the rows of the 2-D array `values` (no copy per row)."""
    values = np.ascontiguousarray(values)
    width = values.shape[1] * values.dtype.itemsize
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little"))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(values),
                                                [validity, pa.py_buffer(values.tobytes())])


def as_matrix(column: pa.Array | pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """A fixed-size binary column as a 2-D array (zero copy for one chunk of a memory-mapped file)."""
    if isinstance(column, pa.ChunkedArray):
        chunks = column.chunks
        if len(chunks) != 1:
            return np.concatenate([as_matrix(c, dtype) for c in chunks]) if chunks else np.zeros((0, 0), dtype)
        column = chunks[0]
    width = column.type.byte_width
    itemsize = np.dtype(dtype).itemsize
    data = column.buffers()[1]
    arr = np.frombuffer(data, dtype=dtype, count=(len(column) + column.offset) * width // itemsize)
    return arr.reshape(-1, width // itemsize)[column.offset:]
