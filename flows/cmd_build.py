"""`tamiz run` (the whole build from a dataset table), `tamiz report` and `tamiz serve` (on a schedule)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table

SAMPLE_TABLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "table.yaml"


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("report")(report)
    app.command("serve")(serve)
    app.command("fields")(fields)


def _plan(config: Optional[Path], out: Path, no_train: bool, max_steps: Optional[int]):
    from tamiz.flows.build import plan_build

    overrides = {"schedule.max_steps": max_steps} if max_steps else {}
    try:
        return plan_build(config or SAMPLE_TABLE, out, train=False if no_train else None, train_overrides=overrides)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))


def _local_folder(out: str) -> Path:
    """`--out` itself, or the working folder of a store URL (one line and exit 2 for a URL tamiz cannot use)."""
    from tamiz.flows.outputs import local_folder

    try:
        return local_folder(out)
    except (ValueError, OSError) as e:
        fail(f"--out: {e}")


def run(
    table_path: Optional[Path] = typer.Argument(None, metavar="TABLE",
                                                help="Dataset table (YAML): sources, inputs, weights and per-stage "
                                                "settings (default: the bundled sample's data/sample/table.yaml)."),
    out: str = typer.Option("out", "--out", "-o", help="Output folder; each stage writes its own subfolder. Or "
                            "s3://bucket/prefix (gs://...): the build runs in a local working folder "
                            "($TAMIZ_WORK_DIR, default ~/.cache/tamiz/work) and each stage is published to the "
                            "store when it is done, its manifest last (docs/remote.md)."),
    no_train: bool = typer.Option(False, "--no-train", help="Stop after the shards (no training run)."),
    max_steps: Optional[int] = typer.Option(None, min=1, help="Override the training steps of the table."),
    dask_address: Optional[str] = typer.Option(None, help="Run every stage on an existing Dask cluster, e.g. "
                                               "tcp://10.0.0.5:8786 (default: a local cluster of worker processes)."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster (default: cores)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the table and print the plan (sources, inputs "
                                 "found, stages to run or skip, outputs), then exit without doing any work."),
    finetune: bool = typer.Option(False, "--finetune", help="After training, fine-tune the model on the tasks of the "
                                  "table's `evaluation:` block (OUT/finetune/; docs/training.md, 'Fine-tuning')."),
    force: List[str] = typer.Option([], "--force", help="Redo a stage from scratch (its output folder is removed "
                                    "first): ingest, filter, dedup, tokenizer, shards, train, or all; repeatable."),
) -> None:
    """Build the corpus end to end from a dataset table, as one Prefect flow with a subflow per stage:

    ingest -> language ID -> quality filters -> dedup across sources -> tokenizer -> Arrow shards
    (mixed by the table's weights) -> a short training run -> report (OUT/report/report.md).

    Every stage skips the input shards it already finished, so rerunning after a crash (or after
    adding input files) redoes only what is missing and ends byte-identical to an uninterrupted
    build. Failed shards are listed at the end and the exit code is 1.
    """
    from tamiz.flows.build import STAGES

    bad = [f for f in force if f not in (*STAGES, "all")]
    if bad:
        fail(f"--force: {bad[0]!r} is not a stage (one of {', '.join(STAGES)}, or all)")
    plan = _plan(table_path, _local_folder(out), no_train, max_steps)
    evaluation = _evaluation(plan, finetune)  # checked before any work, like the rest of the table
    if dry_run:
        from tamiz.flows.build import describe_plan

        table(f"plan of {plan.table_path} -> {plan.out} (dry run: nothing was done)", ["stage", "what", "output"],
              describe_plan(plan) + ([("--force", ", ".join(force) + ": removed before the build", "")] if force else [])
              + ([("finetune", f"{len(evaluation[1])} task(s), {evaluation[0].mode} mode, {evaluation[0].seeds} seed(s)",
                   str(plan.out / "finetune"))] if evaluation else []))
        return
    from tamiz.flows.build import SourceEmptied, run_build
    from tamiz.flows.mix import ShardsRefused
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    from tamiz.core.remote import RemoteError
    from tamiz.flows.outputs import build_output

    try:
        with build_output(out) as (local, on_stage_done):
            plan.on_stage_done = on_stage_done
            summary = run_build(plan, dask_address=dask_address, workers=workers, force=force)
    except FolderLocked as e:
        fail(str(e))
    except (StageFailed, SourceEmptied, ShardsRefused) as e:
        fail(str(e), code=1)
    except RemoteError as e:  # the store could not be read or written (after the retries)
        fail(f"--out {out}: {e}")
    print_summary(summary, plan.out)
    if evaluation:
        _finetune(plan, summary, *evaluation)


def _evaluation(plan, finetune: bool):
    """The `evaluation:` block's settings, always checked; with --finetune, every task's records too."""
    from tamiz.train.finetune.evaluation import check_tasks, evaluation_config

    try:
        cfg = evaluation_config(plan.table)
        if not finetune:
            return None
        if plan.training is None:
            fail("--finetune: the build trains no model (--no-train, or training.enabled: false)")
        return cfg, check_tasks(plan.table, cfg)
    except ValueError as e:
        fail(str(e))


def _finetune(plan, summary: dict, cfg, tasks) -> None:
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.finetune.evaluation import run_evaluation
    from tamiz.train.finetune.report import rows

    try:
        results = run_evaluation(plan.out / summary["train"]["checkpoint"], tasks, cfg, plan.out / "finetune",
                                 log=lambda s: console.print(s, highlight=False, markup=False))
    except (ValueError, CheckpointError, RuntimeError) as e:
        fail(str(e), code=1)
    head = ["task", "metric", "pretrained"] + (["from scratch", "difference"] if cfg.baseline else [])
    table(f"fine-tuned ({cfg.mode}, {cfg.seeds} seed(s); test split, %, mean ± std)", head,
          [r[:len(head)] for res in results for r in rows(res)])
    console.print(f"Fine-tuning reports in {plan.out / 'finetune'}/", highlight=False)


def print_summary(s: dict, out: Path) -> None:
    rows = []
    filt = (s.get("filter") or {}).get("funnel", {})
    ded = s["dedup"]["counts"]["by_source"]
    for src in s["sources"]:
        ing = s["ingest"][src]
        f = filt.get(src)
        rows.append((src, ing["records"], ing["kept"], f["docs_out"] if f else "-", ded.get(src, {}).get("kept", 0)))
    table("documents per source", ["source", "read", "Spanish", "filtered", "deduplicated"], rows)
    table("mix (GPT-3 style)", ["source", "weight", "own train tokens", "epochs"],
          [(x["name"], f"{x['weight']:.3f}", x["tokens"]["train"], f"{x['epochs']:.2f}") for x in s["shards"]["sources"]])
    tr = s.get("train")
    if tr:
        ppl = tr.get("val_perplexity")
        console.print(f"model: {tr['parameters']:,} parameters, {tr['steps']} steps, validation perplexity "
                      f"[bold]{ppl:.2f}[/]" if ppl else "model: no validation split")
        table(f'next token after "{tr["prompt"]}"', ["token", "probability"],
              [(t, f"{p:.4f}") for t, p in tr["next_tokens"]] + [(f"P({w})", f"{p:.2e}") for w, p, _ in tr["words"]])
    table("time per stage", ["stage", "seconds"], list(s["stage_seconds"].items()))
    console.print(f"Output in {out}/: ingest/, filter/, dedup/, tokenizer/tokenizer.json, shards/ (Arrow + manifest.json)"
                  + (", train/checkpoint.pt" if tr else "") + f"; report: {out / s['report']}")


def report(out: Path = typer.Argument(Path("out"), help="A `tamiz run` output folder.")) -> None:
    """Print the report of a finished build (OUT/report/report.md) again."""
    path = out / "report" / "report.md"
    if not path.is_file():
        fail(f"{path}: no report (has `tamiz run --out {out}` finished?)")
    from rich.markdown import Markdown

    console.print(Markdown(path.read_text(encoding="utf-8")))
    console.print(f"(plots next to it in {path.parent})")


def serve(
    config: Optional[Path] = typer.Argument(None, metavar="TABLE", help="Dataset table (default: the bundled sample)."),
    out: str = typer.Option("out", "--out", "-o", help="Output folder of every scheduled build, or s3://bucket/prefix "
                            "(each build is published there stage by stage, as `tamiz run --out s3://...`)."),
    cron: str = typer.Option("0 3 * * 1", help="When to build, as a cron expression (default: Mondays at 03:00)."),
    name: str = typer.Option("tamiz-build", help="Name of the Prefect deployment."),
    no_train: bool = typer.Option(False, "--no-train", help="Scheduled builds stop after the shards."),
    dask_address: Optional[str] = typer.Option(None, help="Run scheduled builds on an existing Dask cluster."),
    register_only: bool = typer.Option(False, "--register-only", help="Register the deployment and its schedule, "
                                       "then exit (runs then need a worker: `prefect worker` or `tamiz serve`)."),
) -> None:
    """Serve the build as a Prefect deployment with a cron schedule.

    Each scheduled run rebuilds from the table: input files already processed are skipped (their
    shards are finished), new files are processed and deduplicated against the corpus already built.
    Schedules need a real Prefect server: set PREFECT_API_URL, or run `prefect server start` (this
    command says so when there is none). Stop with Ctrl-C.
    """
    from prefect.client.schemas.schedules import construct_schedule

    try:
        construct_schedule(cron=cron)
    except Exception as e:
        fail(f"--cron: {cron!r} is not a cron expression ({e})")
    from tamiz.flows.outputs import out_url

    store = out_url(out)
    plan = _plan(config, _local_folder(out), no_train, None)
    if not os.environ.get("PREFECT_API_URL"):
        fail("schedules need a running Prefect server: start one with `prefect server start` (it listens on "
             "127.0.0.1:4200) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or point PREFECT_API_URL at your "
             "team's server")
    from tamiz.flows.build import scheduled_build

    deployment = scheduled_build.to_deployment(
        name=name, cron=cron,
        parameters={"table": str(plan.table_path.resolve()), "out": store or str(Path(out).resolve()), "train": False if no_train else None,
                    "dask_address": dask_address},
    )
    if register_only:
        deployment_id = deployment.apply()
        console.print(f"registered deployment {scheduled_build.name}/{name} ({deployment_id}) with schedule {cron!r}")
        return
    from prefect import serve as prefect_serve

    console.print(f"serving {scheduled_build.name}/{name} on {cron!r}; Ctrl-C stops")
    prefect_serve(deployment)


def _blocks() -> dict[str, tuple[str, list[tuple[str, type]]]]:
    """The dataset table's blocks: (what the block is, [(path prefix, settings dataclass)])."""
    from tamiz.pipeline.ablation import AblateConfig, VariantSpec
    from tamiz.pipeline.dedup.config import DedupConfig
    from tamiz.pipeline.filters.config import HeuristicsConfig
    from tamiz.pipeline.ingest import IngestConfig
    from tamiz.pipeline.rehydrate import RehydrateConfig
    from tamiz.pipeline.table import ShardConfig, Source
    from tamiz.tokenizer.train import TrainConfig as TokenizerConfig
    from tamiz.train.config import TrainConfig
    from tamiz.train.finetune.evaluation import EvaluationConfig

    return {
        "source": ("one entry of `sources:`", [("", Source)]),
        "ingest": ("a source's `ingest:` block", [("ingest", IngestConfig)]),
        "filters": ("a source's `filters:` block (plus `enabled: false` to skip filtering)",
                    [("filters", HeuristicsConfig)]),
        "dedup": ("a source's `dedup:` block (every source must agree)", [("dedup", DedupConfig)]),
        "rehydrate": ("a source's `rehydrate:` block (repeat documents by their duplicate-cluster size)",
                      [("rehydrate", RehydrateConfig)]),
        "shards": ("the table's `shards:` block", [("shards", ShardConfig)]),
        "tokenizer": ("the table's `tokenizer:` block (weights come from the sources)", [("tokenizer", TokenizerConfig)]),
        "training": ("the table's `training:` block (data.folder and run.out are the build's own; "
                     "`enabled: false` skips training)", [("training", TrainConfig)]),
        "evaluation": ("the table's `evaluation:` block (fine-tuning tasks for `tamiz run --finetune`)",
                       [("evaluation", EvaluationConfig)]),
        "ablate": ("the table's `ablate:` block (`tamiz ablate`, docs/ablate.md), and a variant of your own in its "
                   "`variants:` list", [("ablate", AblateConfig), ("ablate.variants[]", VariantSpec)]),
    }


def fields(
    block: Optional[str] = typer.Argument(None, help="One block: source, ingest, filters, dedup, rehydrate, shards, "
                                          "tokenizer, training, evaluation or ablate (default: all of them)."),
) -> None:
    """The settings a dataset table accepts: every field of every block with its type, default and what
    it does (the same checks run when a table is loaded: an unknown field or a wrong type is refused
    with the file and the field named). See docs/data-format.md for the table itself."""
    from tamiz.core.config import describe

    blocks = _blocks()
    if block is not None and block not in blocks:
        fail(f"{block}: not a block of the dataset table (blocks: {', '.join(blocks)})", code=2)
    for name in [block] if block else list(blocks):
        what, classes = blocks[name]
        console.print(f"[bold]{name}[/]: {what}", highlight=False)
        for prefix, cls in classes:
            for line in describe(cls, prefix).splitlines():
                console.print("  " + line, highlight=False, soft_wrap=True, markup=False)  # [str, Any] is no style
        console.print()
