"""The dedup stages, in order, written once: `run_dedup` runs them with any way of mapping tasks.

    signatures (per input shard) -> layout -> exact (per key partition)
    -> bands (per band and band-hash range) -> clusters (one task) -> removal (per input shard) -> report

`dedup_local` maps each stage's tasks in this process, one after another (the reference, and what
the tests compare the flow with); flows/dedup.py maps them as Prefect tasks on the Dask cluster. Both
call `run_dedup`, so the order and the arguments of the stages cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from tamiz.core.atomic import clean_stale_temporaries
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.layout import build_layout, previous_run, priority_ranks, resolve_inputs
from tamiz.pipeline.dedup.report import finish_run
from tamiz.pipeline.dedup.stages import band_edges, band_tasks, cluster, exact_partition, remove_shard, sign_shard
from tamiz.pipeline.stage import input_name

# map_tasks(stage, function, calls, labels) -> [function(*call) for call in calls], in call order
MapTasks = Callable[[str, Callable[..., dict[str, Any]], Sequence[tuple], Sequence[str]], list[dict[str, Any]]]


def in_process(stage: str, fn: Callable[..., dict[str, Any]], calls: Sequence[tuple],
               labels: Sequence[str]) -> list[dict[str, Any]]:
    return [fn(*call) for call in calls]


def check_run(inputs: list[str | Path], config: DedupConfig, priority: list[str],
              against: str | Path | None) -> list[Path]:
    """Everything that can be checked before any work: inputs, priority, the previous run."""
    files = resolve_inputs(inputs)
    priority_ranks(priority)
    if against is not None:
        previous_run(against, config, priority)
    return files


def run_dedup(files: Sequence[str | Path], out: str | Path, config: DedupConfig, priority: Sequence[str],
              against: str | Path | None, map_tasks: MapTasks, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Every dedup stage over `files` (checked by `check_run`) into `out`; returns the run summary.
    `names`: what the records call each file (default: `input_name`, relative to the current folder)."""
    out = str(out)
    Path(out).mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    files = [str(f) for f in files]
    names = list(names) if names else [input_name(f) for f in files]
    signed = map_tasks("signatures", sign_shard, [(f, out, config, n) for f, n in zip(files, names)], files)
    path_of = {r["shard"]: f for r, f in zip(signed, files)}
    layout = build_layout(out, config, list(priority), signed, against)
    parts = range(config.exact_partitions)
    ex = map_tasks("exact", exact_partition, [(out, p) for p in parts], [f"partition {p}" for p in parts])
    tasks = band_tasks(layout)  # (band, hash range): bands x band_partitions
    bd = map_tasks("bands", band_edges, [(out, b, p) for b, p in tasks],
                   [f"band {b}" if layout.band_parts() == 1 else f"band {b} part {p}" for b, p in tasks])
    cl = map_tasks("clusters", cluster, [(out,)], ["clusters"])[0]
    shards = [s["name"] for s in layout.new_shards]
    removal = map_tasks("removal", remove_shard, [(out, n, path_of[n]) for n in shards], shards)
    return finish_run(out, removal, ex, bd, cl)


def dedup_local(inputs: list[str | Path], out: str | Path, config: DedupConfig, priority: Sequence[str] = (),
                against: str | Path | None = None) -> dict[str, Any]:
    """Every dedup stage in this process (no Prefect)."""
    files = check_run(inputs, config, list(priority), against)
    return run_dedup(files, out, config, priority, against, in_process)
