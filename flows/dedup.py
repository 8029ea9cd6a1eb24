"""The dedup flow: the stages of pipeline/dedup (in the order `tamiz.pipeline.dedup.run.run_dedup`
defines once) as Prefect tasks on the Dask cluster.

signatures (one task per input shard) -> layout -> exact (one task per key partition) ->
bands (one task per band, or per band and band-hash range with `band_partitions`) -> clusters (one task) -> removal (one task per input shard) -> manifest.
Tasks pass paths and small records, never documents or signatures.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from prefect import flow, task

from tamiz.flows.stage import map_tasks, publish_artifact, run_stage
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.run import run_dedup

# the Prefect task name of each stage's tasks
TASK_NAMES = {"signatures": "dedup-signatures", "exact": "dedup-exact", "bands": "dedup-band",
              "clusters": "dedup-clusters", "removal": "dedup-removal"}


def _as_tasks(stage: str, fn: Callable[..., dict[str, Any]], calls: Sequence[tuple],
              labels: Sequence[str]) -> list[dict[str, Any]]:
    """`run_dedup`'s way of mapping a stage: one Prefect task per call, on the flow's task runner."""
    t = task(fn, name=TASK_NAMES[stage], retries=1, retry_delay_seconds=1)
    return map_tasks(t, calls, labels, f"dedup {stage}", description=stage)


def dedup_flow(inputs: list[str], out: str, config: DedupConfig, priority: list[str],
               against: str | None = None, names: list[str] | None = None, dask_address: str | None = None,
               workers: int | None = None) -> dict[str, Any]:
    """Run every dedup stage on a Dask cluster; returns the run summary (see tamiz.pipeline.dedup.report).
    `names`: what the records call each input (default: `input_name`, relative to the current folder)."""
    return run_stage(_dedup_flow, out, inputs, out, config.as_dict(), list(priority), against, names,
                     dask_address=dask_address, workers=workers)


@flow(name="tamiz-dedup", log_prints=False)
def _dedup_flow(inputs: list[str], out: str, config: dict[str, Any], priority: list[str],
                against: str | None, names: list[str] | None = None) -> dict[str, Any]:
    cfg = DedupConfig.from_dict(config)
    summary = run_dedup(inputs, out, cfg, priority, against, _as_tasks, names)
    c = summary["counts"]
    publish_artifact(
        "dedup-summary", [{"source": s, **v} for s, v in c["by_source"].items()],
        f"dedup into {out}: {c['in']} documents, {c['kept']} kept, "
        f"{sum(c['removed'].values())} removed ({', '.join(f'{k} {v}' for k, v in c['removed'].items())})")
    summary["config"] = cfg.as_dict()
    return summary
