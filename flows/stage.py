"""The one stage runner: what every stage's flow does around its own steps.

A stage flow (flows/ingest.py, filter.py, dedup.py, mix.py) is written as its steps only:

    def ingest_flow(inputs, out, config, dask_address=None, workers=None):
        return run_stage(_ingest_flow, out, inputs, out, config.as_dict(),
                         dask_address=dask_address, workers=workers)

    @flow(name="tamiz-ingest")
    def _ingest_flow(inputs, out, config):
        open_folder(out)
        records = map_tasks(ingest_shard, [(p, out, s, config) for p, s in inputs], labels, "ingest")
        ...
        publish(out, "ingest", config, config_hash, records, counts, artifact=...)

`run_stage` holds the output folder's lock and runs the flow on the Dask task runner; `map_tasks`
submits one Prefect task per shard, waits with a progress bar and raises `StageFailed` naming every
shard that failed (the others finish and are kept for the rerun); `publish` writes the stage manifest
(last: its presence means the stage finished) and the Prefect artifact. The per-shard work itself
runs in `tamiz.pipeline.shard_task.ShardTask` inside each task. `run_once` is the same idea one level
up: `tamiz run` skips a whole stage (no subflow, no task) whose completion record matches its config,
its inputs' checksums and its files.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from tamiz.core import mirror
from tamiz.core.remote import is_url as remote_path
from tamiz.core.atomic import clean_stale_temporaries, sha256_file, write_json
from tamiz.flows.runtime import (Calls, StageFailed, batch_task, batches, collect, make_task_runner, max_tasks,
                                 mirrored_task)
from tamiz.pipeline.stage import input_checksum, input_name, write_stage_manifest
from tamiz.pipeline.writers import config_hash


def run_stage(flow: Any, out: str | Path | None, *args: Any, dask_address: str | None = None,
              workers: int | None = None) -> Any:
    """Run `flow(*args)` on a Dask cluster (an existing one at `dask_address`, else a local one),
    holding `out`'s lock: two builds into one folder are refused, not interleaved. `out` None: a
    flow that writes no folder (counting tokens).

    The flow's arguments stay in this process: the flow run Prefect records is a flow of the same name
    whose parameters are only the output folder and the number of inputs. Prefect refuses flow-run
    parameters over 512 KB, and a stage's input list is more than that beyond ~10,000 files (a Common
    Crawl dump has 90,000); each task still gets its own calls."""
    from prefect import flow as make_flow

    from tamiz.core.lock import output_lock

    runner = make_task_runner(dask_address, workers)
    body = flow.fn

    def stage(out: str | None, inputs: int) -> Any:
        return body(*args)

    recorded = make_flow(stage, name=flow.name, log_prints=False, task_runner=runner)
    inputs = len(args[0]) if args and isinstance(args[0], (list, tuple)) else 0
    with output_lock(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            mirror.unpublish(out)  # a build on object storage: the old manifest leaves before new outputs arrive
        return recorded(None if out is None else str(out), inputs)


def open_folder(out: str | Path) -> Path:
    """The stage folder, created; a killed worker's half-written `.*.tmp-*` files removed."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    return out


def map_tasks(task: Any, calls: Sequence[tuple], labels: Sequence[str], stage: str,
              description: str | None = None, on_result: Callable[[Any], None] | None = None,
              budget: int | None = None) -> list[Any]:
    """One task per call (`task.submit(*call)`), results in call order; `StageFailed` names every
    failed call by its label once all have finished.

    More calls than the task budget (`budget`, default `max_tasks()`, TAMIZ_MAX_TASKS) run in batches:
    at most `budget` tasks, each running its calls one after another on one worker with the task's
    own retries per call. Every call still writes its own completion record, so a rerun after a kill
    redoes only the calls that had not finished, whichever batch they were in."""
    groups = batches(len(calls), budget or max_tasks())
    spec = mirror.spec()
    if spec is None and all(len(g) == 1 for g in groups):
        futures = [task.submit(*call) for call in calls]
        got = collect(futures, labels, description or stage, on_result=on_result)
    else:
        if spec is not None:
            # the build lives on object storage: what this process wrote (a layout, cutoffs, a tokenizer) goes
            # there before the tasks that read it start, and each call runs in its worker's own mirror
            mirror.upload_changes()
        runner = batch_task(task)
        futures = [runner.submit(task, Calls([calls[i] for i in g]), task.retries or 0, spec) for g in groups]
        got = collect(futures, labels, description or stage, on_result=on_result, groups=groups, batched=True)
    if got.failures:
        raise StageFailed(stage, got.failures)
    return got.results


def submit_one(task: Any, *call: Any) -> Any:
    """`task.submit(*call)` for a task outside `map_tasks` (one call): with a build on object storage, run in
    its worker's own mirror of the build (core/mirror.py), like every mapped call."""
    spec = mirror.spec()
    if spec is None:
        return task.submit(*call)
    mirror.upload_changes()
    return mirrored_task(task).submit(task, Calls([call]), spec)


def publish(out: str | Path, stage: str, config: dict[str, Any], config_hash: str, records: list[dict[str, Any]],
            counts: dict[str, Any], artifact: tuple[str, list[dict[str, Any]], str] | None = None) -> Path:
    """Write the stage manifest (config, inputs and outputs with checksums, counts: last, so its
    presence means the stage finished) and the stage's Prefect table artifact `(key, rows, description)`."""
    path = write_stage_manifest(out, stage, config, config_hash, records, counts)
    if artifact is not None:
        publish_artifact(*artifact)
    return path


def publish_artifact(key: str, rows: list[dict[str, Any]], description: str) -> None:
    """A table artifact on the flow run (what the Prefect UI shows for the stage)."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(key=key, table=rows, description=description)


# ------------------------------------------------------------------- a whole stage skipped when done

def _checksum(path: str | Path) -> str:
    """An input's checksum for a stage's record: its sha256, or, for a file of a build on object storage
    (whether or not this disk holds a copy), its identity in the store (core/mirror.py `identity`): the parent never
    downloads a stage's outputs only to name them."""
    m = mirror.active()
    if m is not None and not remote_path(path) and m.rel(path) is not None:
        found = m.identity(Path(path))
        if found is not None:
            return found
    return input_checksum(path)


STAGE_DONE = ".stage-done.json"  # a stage's completion record, beside its manifest


def _stage_files(folder: Path) -> list[list[Any]]:
    """Every file of a stage folder (its dot files aside) with its size, and the manifest's sha256 (a build
    on object storage: the files the store holds there, core/mirror.py)."""
    manifest = folder / "manifest.json"
    m = mirror.active()
    if m is not None and m.rel(folder) is not None:
        m.fetch(manifest)
        files = [[rel, size] for rel, size in m.tree(folder)]
        return files + [["manifest.json sha256", sha256_file(manifest) if manifest.is_file() else None]]
    files = [[p.relative_to(folder).as_posix(), p.stat().st_size]
             for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return files + [["manifest.json sha256", sha256_file(manifest) if manifest.is_file() else None]]


def run_once(folder: Path, config: Any, inputs: list[str | Path], run, names: list[str] | None = None) -> dict[str, Any]:
    """Run a stage's subflow, or skip it when it finished before with the same config on inputs with the
    same names and sha256, and its files are as it left them (names, sizes, the manifest's sha256). The
    stage as a whole gets the completion record each of its shards has; a no-op rerun then starts no
    subflow and no task. Returns the stage's summary (marked resumed when skipped).

    `names`: what the record calls each input (the build's: relative to its output root or the table's
    folder, `input_name`; default: relative to the current folder). Nothing in the record depends on
    where `folder` is, so a build copied or moved elsewhere is still done. A record that does not match
    (another key, damaged, of an older format) only makes the stage run again."""
    names = names if names is not None else [input_name(p) for p in inputs]
    key = config_hash({"config": config, "inputs": [[n, _checksum(p)] for n, p in zip(names, inputs, strict=True)]})
    record = folder / STAGE_DONE
    m = mirror.active()
    if m is not None and m.rel(folder) is not None and not m.fetch(record):
        record.unlink(missing_ok=True)  # the store is the build: a record it does not hold does not count
    try:
        done = json.loads(record.read_text(encoding="utf-8"))
        if done.get("key") == key and done.get("files") == _stage_files(folder):
            summary = done["summary"]
            return {**summary, "resumed": summary["shards"] if isinstance(summary.get("shards"), int) else True}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    record.unlink(missing_ok=True)
    mirror.unpublish(folder)
    summary = run()
    mirror.upload_changes()  # a build on object storage: the stage's files as the store holds them, manifest included
    write_json(record, {"key": key, "files": _stage_files(folder), "summary": summary})
    return summary
