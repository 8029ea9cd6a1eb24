"""The ingest flow: one Prefect task per input file, on the Dask cluster, then the stage manifest."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from tamiz.flows.runtime import retry_unless_fetched_already
from tamiz.flows.stage import map_tasks, open_folder, publish, run_stage
from tamiz.pipeline.ingest import IngestConfig, ingest_file, merge_counts
from tamiz.pipeline.stage import input_name


@task(name="ingest-shard", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_unless_fetched_already)
def ingest_shard(path: str, out: str, source: str, config: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Ingest one file; returns its shard record (small: counts and checksums, never documents)."""
    return ingest_file(path, out, source, IngestConfig(**config), name)


def ingest_flow(inputs: list[tuple[str, str]], out: str, config: IngestConfig, names: list[str] | None = None,
                dask_address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Run the ingest flow over (path, source) pairs on a Dask cluster; returns the stage summary. `names`:
    what the records call each input (default: `input_name`, relative to the current folder)."""
    return run_stage(_ingest_flow, out, inputs, out, config.as_dict(), names, dask_address=dask_address,
                     workers=workers)


@flow(name="tamiz-ingest", log_prints=False)
def _ingest_flow(inputs: list[tuple[str, str]], out: str, config: dict[str, Any],
                 names: list[str] | None = None) -> dict[str, Any]:
    cfg = IngestConfig(**config)
    open_folder(out)
    names = names or [input_name(p) for p, _ in inputs]
    records = map_tasks(ingest_shard, [(p, out, s, config, n) for (p, s), n in zip(inputs, names)],
                        [p for p, _ in inputs], "ingest")
    counts = merge_counts(records)
    publish(out, "ingest", cfg.record(), cfg.hash(), records, counts, artifact=(
        "ingest-summary", [{"source": s, **c} for s, c in counts["by_source"].items()],
        f"ingest into {out}: {counts['records']} records, {counts['kept']} kept"))
    return {"counts": counts, "resumed": sum(1 for r in records if r.get("resumed")), "shards": len(records)}
