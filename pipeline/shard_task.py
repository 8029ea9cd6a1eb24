"""The one shard runner: what every per-shard task of every stage does around its own work.

A stage's task (ingest one file, filter one shard, sign one shard, tokenize one file, ...) writes
only its own work; `ShardTask` gives it the rest:

    task = ShardTask.for_input(path, out_dir, config_hash=..., ...)  # input sha256, name, key
    if (done := task.done()) is not None:                           # finished before: skip
        return done
    with task.parquet("docs") as kept, task.parquet("rejects") as rejects:
        ...                                                         # stream documents into sinks
    task.quarantine(report)                                         # records that could not be read
    return task.finish({"input": ..., "counts": ...})               # outputs + completion record

- **skip**: a task whose completion record (`_shards/<name>.json`) matches its key (input checksum,
  config hash, whatever else decides its output) and whose files still have their checksums is
  not run again;
- **outputs**: every file a task opens through it (`parquet`, `path`, `quarantine`) is listed in the
  record with its size, sha256 and rows, in the order the task opened them;
- **atomicity**: sinks appear by rename when closed, and the record is written last, so a killed
  task leaves either nothing or a finished shard;
- **names, not places**: output paths in the record are relative to the stage folder, and the input
  is named by `input_name` (a URL, or a path relative to the build's output root, the dataset table's
  folder or the current folder: `tamiz.pipeline.stage.input_name`), so a copied or moved folder is
  still done. The key holds the input's sha256, never its path: an input renamed or moved keeps its
  work, and its record takes the new name.

Steps never see any of this (they map and filter documents, pipeline/runner.py); flows never see it
either (they submit tasks and collect records, flows/stage.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tamiz.core import mirror
from tamiz.pipeline.report import ReadReport, write_quarantine
from tamiz.pipeline.stage import (input_checksum, input_name, load_done_shard, mark_shard_done, shard_name,
                                  shard_record_path)
from tamiz.pipeline.writers import ParquetSink, file_entry


class ShardTask:
    """One task's work on one shard of one stage folder.

    `name` names its completion record; `stem` names its output files (the same, unless several
    tasks write files for one shard: dedup's `sign-<shard>` and `remove-<shard>`). `input_name` is
    what the record calls its input (`record["input"]["path"]`), None for a task without one input.
    """

    def __init__(self, out_dir: str | Path, name: str, key: dict[str, Any], stem: str | None = None,
                 input_sha256: str | None = None, input_name: str | None = None):
        self.out_dir = Path(out_dir)
        self.name = name
        self.key = key
        self.stem = stem or name
        self.input_sha256 = input_sha256
        self.input_name = input_name
        # (file, its rows) in the order the task opened them; rows are read when the task finishes
        self._outputs: list[tuple[Path, Callable[[], int | None]]] = []
        self._rows: dict[Path, int] = {}

    @classmethod
    def for_input(cls, path: str | Path, out_dir: str | Path, prefix: str = "", name: str | None = None,
                  **key: Any) -> "ShardTask":
        """The task for one input file (or text folder): named after it and its sha256, keyed by the
        sha256 and `key` (config hash, source, ...). `name`: what records call the input (default:
        `input_name(path)`, relative to the current folder)."""
        sha = input_checksum(path)
        stem = shard_name(path, sha)
        return cls(out_dir, prefix + stem, {**key, "input_sha256": sha}, stem=stem, input_sha256=sha,
                   input_name=name if name is not None else input_name(path))

    def done(self, rename: bool = True) -> dict[str, Any] | None:
        """The stored record of this task if it finished with the same key and its files are intact. An
        input that now has another name (the same bytes, moved, or named from another folder) keeps its
        work: the record is rewritten with the new name (`rename` False: only look, write nothing)."""
        m = mirror.active()
        if m is not None and m.rel(self.out_dir) is not None:
            # the build lives on object storage: the store says whether it is done (outputs there, whole),
            # whatever this disk holds (core/mirror.py)
            rec = load_done_shard(self.out_dir, self.name, self.key, check_outputs=False) \
                if m.done_in_store(shard_record_path(self.out_dir, self.name)) else None
        else:
            rec = load_done_shard(self.out_dir, self.name, self.key)
        if rec is None:
            return None
        old = rec.get("input")
        if rename and self.input_name is not None and isinstance(old, dict) and old.get("path") != self.input_name:
            rec = mark_shard_done(self.out_dir, self.name, self.key, {**rec, "input": {**old, "path": self.input_name}})
        return {**rec, "resumed": True}

    def parquet(self, folder: str, suffix: str = "") -> ParquetSink:
        """A Parquet document sink at `<folder>/<stem><suffix>.parquet`, listed as an output."""
        sink = ParquetSink(self.out_dir / folder / f"{self.stem}{suffix}.parquet")
        self._outputs.append((sink.path, lambda: sink.rows))
        return sink

    def path(self, folder: str, suffix: str, rows: int | None = None) -> Path:
        """Another output file, `<folder>/<stem><suffix>`, that the task writes itself (atomically)
        before `finish`; its rows are given here or later with `set_rows`."""
        p = self.out_dir / folder / f"{self.stem}{suffix}"
        if rows is not None:
            self._rows[p] = rows
        self._outputs.append((p, lambda: self._rows.get(p)))
        return p

    def set_rows(self, path: Path, rows: int) -> None:
        self._rows[path] = rows

    def quarantine(self, report: ReadReport, always: bool = True) -> None:
        """Write the records that could not be read to `quarantine/<stem>.jsonl` and list it as an
        output (when there are none: an empty file, or nothing if `always` is False)."""
        if report.quarantine or always:
            write_quarantine(self.path("quarantine", ".jsonl", rows=len(report.quarantine)), report.quarantine)

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write the completion record (the task's fields, its outputs, its key) last, and return it.
        Outputs the task listed itself (`record["outputs"]`, file entries of files written by other
        writers, such as dedup's Arrow files) follow the ones opened here. Output paths are relative
        to the stage folder."""
        outputs = [file_entry(p, rows(), self.out_dir) for p, rows in self._outputs] + record.get("outputs", [])
        rec = mark_shard_done(self.out_dir, self.name, self.key, {**record, "outputs": outputs})
        return {**rec, "resumed": False}


def read_counts(report: ReadReport) -> dict[str, Any]:
    """What reading one input gave, as every stage's shard record counts it."""
    return {
        "records": report.records,
        "skipped": dict(sorted(report.skipped.items())),
        "quarantined": sum(1 for b in report.quarantine if b.where != "file"),
        "file_errors": [b.reason for b in report.quarantine if b.where == "file"],
    }
