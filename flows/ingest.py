"""The ingest flow: one Prefect task per input file, on the Dask cluster, then the stage manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from tamiz.flows.runtime import StageFailed, collect, make_task_runner
from tamiz.core.atomic import clean_stale_temporaries
from tamiz.pipeline.ingest import IngestConfig, ingest_file, merge_counts
from tamiz.pipeline.stage import write_stage_manifest


@task(name="ingest-shard", retries=2, retry_delay_seconds=1)
def ingest_shard(path: str, out: str, source: str, config: dict[str, Any]) -> dict[str, Any]:
    """Ingest one file; returns its shard record (small: counts and checksums, never documents)."""
    return ingest_file(path, out, source, IngestConfig(**config))


def ingest_flow(inputs: list[tuple[str, str]], out: str, config: IngestConfig,
                dask_address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Run the ingest flow over (path, source) pairs on a Dask cluster; returns the stage summary."""
    from tamiz.core.lock import output_lock

    runner = make_task_runner(dask_address, workers)
    with output_lock(out):
        return _ingest_flow.with_options(task_runner=runner)(inputs, out, config.as_dict())


@flow(name="tamiz-ingest", log_prints=False)
def _ingest_flow(inputs: list[tuple[str, str]], out: str, config: dict[str, Any]) -> dict[str, Any]:
    cfg = IngestConfig(**config)
    Path(out).mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)  # a killed worker's half-written `.*.tmp-*` files
    futures = [ingest_shard.submit(p, out, s, config) for p, s in inputs]
    got = collect(futures, [p for p, _ in inputs], "ingest")
    if got.failures:
        raise StageFailed("ingest", got.failures)
    records = got.results
    counts = merge_counts(records)
    write_stage_manifest(out, "ingest", cfg.as_dict(), cfg.hash(), records, counts)
    create_table_artifact(
        key="ingest-summary",
        table=[{"source": s, **c} for s, c in counts["by_source"].items()],
        description=f"ingest into {out}: {counts['records']} records, {counts['kept']} kept",
    )
    return {"counts": counts, "resumed": sum(1 for r in records if r.get("resumed")), "shards": len(records)}
