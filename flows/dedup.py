"""The dedup flow: the stages of pipeline/dedup as Prefect tasks on the Dask cluster.

signatures (one task per input shard) -> layout -> exact (one task per key partition) ->
bands (one task per band) -> clusters (one task) -> removal (one task per input shard) -> manifest.
Tasks pass paths and small records, never documents or signatures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from tamiz.flows.runtime import StageFailed, collect, make_task_runner
from tamiz.core.atomic import clean_stale_temporaries
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.layout import build_layout
from tamiz.pipeline.dedup.report import finish_run
from tamiz.pipeline.dedup.stages import band_edges, cluster, exact_partition, remove_shard, sign_shard


@task(name="dedup-signatures", retries=1, retry_delay_seconds=1)
def signatures_task(path: str, out: str, config: dict[str, Any]) -> dict[str, Any]:
    return sign_shard(path, out, DedupConfig.from_dict(config))


@task(name="dedup-exact", retries=1, retry_delay_seconds=1)
def exact_task(out: str, part: int) -> dict[str, Any]:
    return exact_partition(out, part)


@task(name="dedup-band", retries=1, retry_delay_seconds=1)
def band_task(out: str, band: int) -> dict[str, Any]:
    return band_edges(out, band)


@task(name="dedup-clusters", retries=1, retry_delay_seconds=1)
def cluster_task(out: str) -> dict[str, Any]:
    return cluster(out)


@task(name="dedup-removal", retries=1, retry_delay_seconds=1)
def removal_task(out: str, name: str) -> dict[str, Any]:
    return remove_shard(out, name)


def dedup_flow(inputs: list[str], out: str, config: DedupConfig, priority: list[str],
               against: str | None = None, dask_address: str | None = None,
               workers: int | None = None) -> dict[str, Any]:
    """Run every dedup stage on a Dask cluster; returns the run summary (see tamiz.pipeline.dedup.report)."""
    runner = make_task_runner(dask_address, workers)
    from tamiz.core.lock import output_lock

    with output_lock(out):  # two builds into one folder are refused, not interleaved
        return _dedup_flow.with_options(task_runner=runner)(inputs, out, config.as_dict(), list(priority), against)


def _stage(name: str, futures: list, labels: list[str]) -> list[dict[str, Any]]:
    got = collect(futures, labels, name)
    if got.failures:
        raise StageFailed(f"dedup {name}", got.failures)
    return got.results


@flow(name="tamiz-dedup", log_prints=False)
def _dedup_flow(inputs: list[str], out: str, config: dict[str, Any], priority: list[str],
                against: str | None) -> dict[str, Any]:
    cfg = DedupConfig.from_dict(config)
    Path(out).mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    signed = _stage("signatures", [signatures_task.submit(p, out, config) for p in inputs], inputs)
    layout = build_layout(out, cfg, priority, signed, against)
    parts = list(range(cfg.exact_partitions))
    ex = _stage("exact", [exact_task.submit(out, p) for p in parts], [f"partition {p}" for p in parts])
    bands = list(range(cfg.bands))
    bd = _stage("bands", [band_task.submit(out, b) for b in bands], [f"band {b}" for b in bands])
    cl = _stage("clusters", [cluster_task.submit(out)], ["clusters"])[0]
    names = [s["name"] for s in layout.new_shards]
    removal = _stage("removal", [removal_task.submit(out, n) for n in names], names)
    summary = finish_run(out, removal, ex, bd, cl)
    c = summary["counts"]
    create_table_artifact(
        key="dedup-summary",
        table=[{"source": s, **v} for s, v in c["by_source"].items()],
        description=f"dedup into {out}: {c['in']} documents, {c['kept']} kept, "
                    f"{sum(c['removed'].values())} removed ({', '.join(f'{k} {v}' for k, v in c['removed'].items())})",
    )
    summary["config"] = cfg.as_dict()
    return summary
