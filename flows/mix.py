"""The mix flows: count tokens per source (`tamiz mix`) and tokenize, pack and mix into shards (`tamiz shard`).

Both map one Prefect task per input file on the Dask cluster (passing paths and small dicts, never
documents). `tamiz shard` then runs one deterministic task that packs every source in input order,
mixes by the table's weights and writes the shards and the manifest (see shards/write.py).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from tamiz.flows.runtime import StageFailed
from tamiz.flows.stage import map_tasks, open_folder, publish_artifact, run_stage, submit_one
from tamiz.pipeline.stage import input_name
from tamiz.pipeline.table import ShardConfig, load_table
from tamiz.shards.tokenize import count_tokens_file, tokenize_file
from tamiz.shards.write import build_shards, prune_intermediates


@task(name="tokenize-shard", retries=2, retry_delay_seconds=1)
def tokenize_shard(path: str, out: str, tokenizer: str, validation_fraction: float, source: str | None,
                   name: str | None = None) -> dict[str, Any]:
    """Tokenize one input; returns its shard record (counts and checksums, never tokens)."""
    return tokenize_file(path, out, tokenizer, validation_fraction, source=source, name=name)


@task(name="pack-and-mix")
def pack_and_mix(out: str, records: list[dict[str, Any]], tokenizer: str, config: dict[str, Any],
                 table: str | None) -> dict[str, Any]:
    """Pack every source, mix by weight, write shards and manifest (one task: its output order is fixed)."""
    return build_shards(out, records, tokenizer, ShardConfig(**config), load_table(table) if table else None)


@task(name="count-tokens", retries=1, retry_delay_seconds=1)
def count_shard(path: str, tokenizer: str | None, source: str | None,
                rehydrate: dict[str, list[list[float]]] | None = None) -> dict[str, dict[str, int]]:
    """Documents, bytes and tokens per source in one input; `rehydrate`: {source: its buckets as
    [smallest cluster size, copies] pairs} (RehydrateConfig.as_dict)."""
    from tamiz.pipeline.rehydrate import RehydrateConfig

    configs = {name: RehydrateConfig(buckets={int(low): c for low, c in pairs})
               for name, pairs in (rehydrate or {}).items()}
    return count_tokens_file(path, tokenizer, source=source, rehydrate=configs)


def shard_flow(inputs: list[tuple[str, str | None]], out: str, tokenizer: str, config: ShardConfig,
               table: str | None = None, names: list[str] | None = None, dask_address: str | None = None,
               workers: int | None = None) -> dict[str, Any]:
    """Tokenize (path, source-or-None) inputs in parallel, then pack and mix; returns the manifest.
    `names`: what the records call each input (default: `input_name`, relative to the current folder)."""
    return run_stage(_shard_flow, out, inputs, out, tokenizer, config.as_dict(), table, names,
                     dask_address=dask_address, workers=workers)


class ShardsRefused(ValueError):
    """Packing refused its input (e.g. a weighted source with no documents): a rerun cannot fix it."""


@flow(name="tamiz-shard", log_prints=False)
def _shard_flow(inputs: list[tuple[str, str | None]], out: str, tokenizer: str, config: dict[str, Any],
                table: str | None, names: list[str] | None = None) -> dict[str, Any]:
    open_folder(out)
    fraction = ShardConfig(**config).validation_fraction
    names = names or [input_name(p) for p, _ in inputs]
    records = map_tasks(tokenize_shard, [(p, out, tokenizer, fraction, s, n) for (p, s), n in zip(inputs, names)],
                        [p for p, _ in inputs], "tokenize")
    prune_intermediates(out, records)
    try:
        manifest = submit_one(pack_and_mix, out, records, tokenizer, config, table).result()
    except ValueError as e:  # the data and the table disagree: a rerun would fail the same way
        raise ShardsRefused(f"shards: {e}") from None
    except Exception as e:
        raise StageFailed("pack-and-mix", [(out, f"{type(e).__name__}: {e}")]) from e
    manifest["tokenized_resumed"] = sum(1 for r in records if r.get("resumed"))
    publish_artifact(
        "shard-summary",
        [{"source": s["name"], "weight": round(s["weight"], 4), "train_tokens": s["tokens"]["train"],
          "unique_rows": s["rows"]["unique"], "rows_in_mix": s["rows"]["train"], "epochs": s["epochs"],
          "validation_rows": s["rows"]["validation"]} for s in manifest["sources"]],
        f"shards in {out}: {manifest['splits']['train']['rows']} train rows of {manifest['row_tokens']} tokens")
    return manifest


def mix_flow(inputs: list[tuple[str, str | None]], tokenizer: str | None, dask_address: str | None = None,
             workers: int | None = None, rehydrate: dict[str, list[list[float]]] | None = None
             ) -> dict[str, dict[str, int]]:
    """Documents, bytes and tokens per source over (path, source-or-None) inputs, and the documents and
    tokens with rehydration's copies (`rehydrate`: {source: its buckets, as `count_shard` takes them})."""
    return run_stage(_mix_flow, None, inputs, tokenizer, rehydrate, dask_address=dask_address, workers=workers)


@flow(name="tamiz-mix", log_prints=False)
def _mix_flow(inputs: list[tuple[str, str | None]], tokenizer: str | None,
              rehydrate: dict[str, list[list[float]]] | None = None) -> dict[str, dict[str, int]]:
    results = map_tasks(count_shard, [(p, tokenizer, s, rehydrate) for p, s in inputs], [p for p, _ in inputs],
                        "count tokens")
    total: dict[str, dict[str, int]] = {}
    for res in results:
        for source, c in res.items():
            t = total.setdefault(source, {})
            for k, v in c.items():
                t[k] = t.get(k, 0) + v
    return dict(sorted(total.items()))
