"""All dedup stages in one process, in order (no Prefect): the reference the flow must match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tamiz.core.atomic import clean_stale_temporaries
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.layout import build_layout, previous_run, priority_ranks, resolve_inputs
from tamiz.pipeline.dedup.report import finish_run
from tamiz.pipeline.dedup.stages import band_edges, cluster, exact_partition, remove_shard, sign_shard


def check_run(inputs: list[str | Path], config: DedupConfig, priority: list[str],
              against: str | Path | None) -> list[Path]:
    """Everything that can be checked before any work: inputs, priority, the previous run."""
    files = resolve_inputs(inputs)
    priority_ranks(priority)
    if against is not None:
        previous_run(against, config, priority)
    return files


def dedup_local(inputs: list[str | Path], out: str | Path, config: DedupConfig, priority: list[str] = (),
                against: str | Path | None = None) -> dict[str, Any]:
    files = check_run(inputs, config, list(priority), against)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    signed = [sign_shard(f, out, config) for f in files]
    layout = build_layout(out, config, list(priority), signed, against)
    ex = [exact_partition(out, p) for p in range(config.exact_partitions)]
    bands = [band_edges(out, b) for b in range(config.bands)]
    cl = cluster(out)
    removal = [remove_shard(out, s["name"]) for s in layout.new_shards]
    return finish_run(out, removal, ex, bands, cl)
