"""The whole build as one Prefect flow, from the dataset table: every stage is a subflow.

    ingest (per source) -> filter (per source) -> dedup (across sources) -> tokenizer
      -> shards (tokenize, pack, mix) -> a short training run -> report

Every stage writes into its own folder under OUT and skips the shards it already finished, so a
rerun after a crash (or with new input files) redoes only what is missing, and an interrupted
build ends byte-identical to an uninterrupted one. All stages share one Dask cluster: a local
cluster of worker processes (127.0.0.1) by default, or an existing one (`dask_address`).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.ingest import IngestConfig
from pipeline.table import DatasetTable, load_table

KIND_PRIORITY = {"books": 0, "reference": 1, "other": 2, "crawl": 3}  # who keeps a duplicate by default


@dataclass
class BuildPlan:
    """Everything the build will do, checked before any work starts."""

    table_path: Path
    table: DatasetTable
    out: Path
    ingest: dict[str, IngestConfig]
    filters: dict[str, Any]  # source -> FilterConfig (None: not filtered)
    dedup: Any  # DedupConfig
    priority: list[str]
    tokenizer: Any  # tokenizer.train.TrainConfig
    training: Any | None  # train config, or None when training is off
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        return [s.name for s in self.table.sources]


def _where(table: DatasetTable, i: int, block: str) -> str:
    return f"{table.path or 'table'}: sources[{i}].{block}"


def plan_build(table_path: str | Path, out: str | Path, train: bool | None = None,
               train_overrides: dict[str, Any] | None = None) -> BuildPlan:
    """Read the table and build every stage's config; raises ValueError/FileNotFoundError naming the field."""
    table = load_table(table_path)
    ingest: dict[str, IngestConfig] = {}
    filters: dict[str, Any] = {}
    for i, src in enumerate(table.sources):
        table.resolve_inputs(src.name)  # every pattern matches something
        try:
            ingest[src.name] = IngestConfig(**dict(src.ingest))
        except TypeError as e:
            raise ValueError(f"{_where(table, i, 'ingest')}: {e}") from None
        except ValueError as e:
            raise ValueError(f"{_where(table, i, 'ingest')}.{e}") from None
        filters[src.name] = _filter_config(table, i)
    if any(c.language_id for c in ingest.values()):
        from pipeline.langid import load_model

        load_model()  # checked here, before any work and before the workers start (a damaged file: ValueError)
    dedup, priority = _dedup_config(table)
    from tokenizer.train import config_from_table

    tok = config_from_table(table)
    training = _training_config(table, Path(out), train, train_overrides or {})
    return BuildPlan(Path(table_path), table, Path(out), ingest, filters, dedup, priority, tok, training)


def _filter_config(table: DatasetTable, i: int):
    """The source's `filters:` block: `enabled: false` skips filtering (GPT-3 quality-filtered only its
    crawl); the other keys override the heuristic thresholds for this source (see docs/filters.md)."""
    from pipeline.filters.config import FiltersConfig

    block = dict(table.sources[i].filters)
    if not block.pop("enabled", True):
        return None
    name = table.sources[i].name
    try:
        return FiltersConfig.from_dict({"sources": {name: block}} if block else {})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{_where(table, i, 'filters')}: {e}") from None


def _dedup_config(table: DatasetTable):
    """One dedup config for the whole corpus (dedup works across sources): the first source's
    `dedup:` block, which all sources must agree on; priority: books, reference, other, crawl."""
    from pipeline.dedup.config import DedupConfig

    blocks = [dict(s.dedup) for s in table.sources]
    settings = {k: v for b in blocks for k, v in b.items() if k != "priority"}
    for i, b in enumerate(blocks):
        for k, v in b.items():
            if k != "priority" and settings.get(k) != v:
                raise ValueError(f"{_where(table, i, 'dedup')}.{k}: differs between sources; dedup runs across "
                                 "sources with one setting")
    try:
        config = DedupConfig(**settings)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{table.path}: dedup: {e}") from None
    order = sorted(range(len(table.sources)), key=lambda i: (KIND_PRIORITY[table.sources[i].kind], i))
    return config, [table.sources[i].name for i in order]


def _training_config(table: DatasetTable, out: Path, train: bool | None, overrides: dict[str, Any]):
    """The table's `training:` block (sections model/optimizer/schedule/run, see docs/training.md); the
    data folder and the run folder are the build's own. `enabled: false` (or --no-train) skips it."""
    from train.config import config_from_dict

    block = {k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(table.training).items()}
    enabled = block.pop("enabled", True)
    if train is not None:
        enabled = train
    if not enabled:
        return None
    for k, v in overrides.items():  # "schedule.max_steps" -> block["schedule"]["max_steps"]
        section, _, name = k.partition(".")
        block.setdefault(section, {})[name] = v
    block.setdefault("data", {})["folder"] = str(out / "shards")
    block.setdefault("run", {})["out"] = str(out / "train")
    try:
        return config_from_dict(block)
    except ValueError as e:
        raise ValueError(f"{table.path}: training.{e}") from None


# ------------------------------------------------------------------------------------------ the flow

def run_build(plan: BuildPlan, dask_address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Run the whole build under the output lock, on one Dask cluster shared by every stage."""
    from pipeline.lock import output_lock

    with output_lock(plan.out):
        if dask_address:
            return _build_flow(plan, dask_address)
        from distributed import LocalCluster

        from flows.runtime import default_workers

        with LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster:
            return _build_flow(plan, cluster.scheduler_address)


def _build_flow(plan: BuildPlan, address: str) -> dict[str, Any]:
    from prefect import flow

    @flow(name="tamiz-build", log_prints=False)
    def tamiz_build(table: str, out: str) -> dict[str, Any]:
        return build_stages(plan, address)

    return tamiz_build(str(plan.table_path), str(plan.out))


@contextlib.contextmanager
def _timed(plan: BuildPlan, stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    plan.stage_seconds[stage] = round(time.perf_counter() - t0, 2)


def build_stages(plan: BuildPlan, address: str) -> dict[str, Any]:
    """The stages in order (each a subflow); returns the build summary, also written to build.json."""
    from flows.dedup import dedup_flow
    from flows.filter import filter_flow
    from flows.ingest import ingest_flow
    from flows.mix import shard_flow
    from pipeline.filter_stage import FilterStageConfig
    from pipeline.filters.config import FiltersConfig

    out = plan.out
    summary: dict[str, Any] = {"table": str(plan.table_path), "out": str(out), "sources": plan.sources}

    # ---- ingest: one subflow per source (each source has its own settings)
    with _timed(plan, "ingest"):
        summary["ingest"] = {}
        for src in plan.sources:
            pairs = [(str(p), src) for p in plan.table.resolve_inputs(src)]
            summary["ingest"][src] = ingest_flow(pairs, str(out / "ingest" / src), plan.ingest[src],
                                                 dask_address=address)["counts"]

    # ---- filter: the sources with filters on, in one subflow (per-source thresholds)
    with _timed(plan, "filter"):
        filtered = [s for s in plan.sources if plan.filters[s] is not None]
        dedup_inputs: list[str] = []
        if filtered:
            # the per-source thresholds checked by plan_build, in one config for the stage
            config = FilterStageConfig(filters=FiltersConfig(
                sources=tuple((s, plan.filters[s].for_source(s)) for s in filtered)))
            pairs = [(str(p), s) for s in filtered for p in sorted((out / "ingest" / s / "docs").glob("*.parquet"))]
            fsum = filter_flow(pairs, str(out / "filter"), config, dask_address=address)
            summary["filter"] = {"counts": fsum["counts"], "funnel": fsum["funnel"]}
            dedup_inputs += [str(p) for p in sorted((out / "filter" / "docs").glob("*.parquet"))]
        for s in plan.sources:
            if plan.filters[s] is None:
                dedup_inputs += [str(p) for p in sorted((out / "ingest" / s / "docs").glob("*.parquet"))]

    # ---- dedup across sources (books and reference keep their copies; the crawl loses them)
    with _timed(plan, "dedup"):
        dsum = dedup_flow(sorted(dedup_inputs), str(out / "dedup"), plan.dedup, plan.priority, dask_address=address)
        summary["dedup"] = {"counts": dsum["counts"], "priority": plan.priority}
    corpus = sorted((out / "dedup" / "docs").glob("*.parquet"))

    # ---- tokenizer on the deduplicated corpus, sources mixed by the table's weights
    with _timed(plan, "tokenizer"):
        summary["tokenizer"] = _tokenizer_stage(plan, corpus)

    # ---- tokenize, pack and mix into Arrow shards
    with _timed(plan, "shards"):
        manifest = shard_flow([(str(p), None) for p in corpus], str(out / "shards"), str(out / "tokenizer" / "tokenizer.json"),
                              plan.table.shards, str(plan.table_path), dask_address=address)
        summary["shards"] = {k: manifest[k] for k in ("sources", "splits", "seq_len", "row_tokens", "dtype") if k in manifest}

    # ---- a short training run (a tiny causal model on a CPU; a real one on a GPU)
    if plan.training is not None:
        with _timed(plan, "train"):
            summary["train"] = _train_stage(plan)
    summary["stage_seconds"] = dict(plan.stage_seconds)
    from flows.report import write_report

    summary["report"] = str(write_report(out, summary))
    return summary


def _tokenizer_stage(plan: BuildPlan, corpus: list[Path]) -> dict[str, Any]:
    from pipeline.lock import output_lock
    from tokenizer.train import save, train, up_to_date

    tdir = plan.out / "tokenizer"
    with output_lock(tdir):  # like every stage folder (not the build's own: a second lock on it is refused)
        if not up_to_date(tdir, corpus, plan.tokenizer):
            save(train(corpus, plan.tokenizer), tdir)
        meta = json.loads((tdir / "tokenizer_meta.json").read_text(encoding="utf-8"))
    return {"vocab_size": plan.tokenizer.vocab_size, "eval": meta.get("eval"), "sha256": meta.get("tokenizer_sha256")}


PROMPT = "Para cenar voy a hacer"
PROMPT_WORDS = ("fajitas", "cemento")


def _train_stage(plan: BuildPlan) -> dict[str, Any]:
    """Train, or skip when the run folder already holds the finished checkpoint of this config;
    resume an interrupted run from its last checkpoint."""
    from pipeline.lock import output_lock
    from train import infer
    from train.loop import train

    cfg = plan.training
    ckpt = Path(cfg.run.out) / "checkpoint.pt"
    done_path = Path(cfg.run.out) / "summary.json"
    key = json.loads(json.dumps(cfg.to_dict(), default=str))
    with output_lock(cfg.run.out):  # like every stage folder (not the build's own: a second lock on it is refused)
        previous = json.loads(done_path.read_text()) if done_path.is_file() else None
        if previous is not None and previous.get("config") == key and ckpt.is_file():
            result = previous["result"]
        else:
            import torch

            cfg.run.progress = False  # the build prints its own progress
            if cfg.run.device == "cpu" or (cfg.run.device == "auto" and not torch.cuda.is_available()):
                # small models on a CPU run several times faster on one thread than with OpenMP threads
                # spinning against the Dask workers (measured on 2 cores: ~10x; docs/training.md)
                torch.set_num_threads(1)
            result = train(cfg, resume=ckpt.is_file())
            result = {k: v for k, v in result.items() if k != "losses"}
            from pipeline.atomic import write_json

            write_json(done_path, {"config": key, "result": result})
    lm = infer.load(ckpt, device="cpu")
    pred = infer.predict(lm, PROMPT, top_k=10, words=list(PROMPT_WORDS))
    return {
        "steps": result.get("steps"), "parameters": result.get("parameters"), "val_loss": result.get("val_loss"),
        "val_perplexity": result.get("val_perplexity"), "tokens_per_s": result.get("tokens_per_s"),
        "checkpoint": str(ckpt), "loss_png": str(Path(cfg.run.out) / "loss.png"),
        "prompt": PROMPT,
        "next_tokens": [[tok, round(p, 5)] for tok, _id, p in pred.top],
        "words": [[w, p, n] for w, p, n in pred.words],
    }


def _scheduled_build_fn(table: str, out: str, train: bool | None = None, dask_address: str | None = None) -> dict[str, Any]:
    """What a scheduled run executes: plan (checks first), then the build as a subflow."""
    plan = plan_build(table, out, train=train)
    return run_build(plan, dask_address=dask_address)


def _make_scheduled():
    from prefect import flow

    return flow(name="tamiz-scheduled-build", log_prints=False)(_scheduled_build_fn)


scheduled_build = _make_scheduled()
