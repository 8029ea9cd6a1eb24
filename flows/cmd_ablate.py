"""`tamiz ablate`: train the same small model on corpus variants and report what each curation step does."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table


def register(app: typer.Typer) -> None:
    app.command("ablate")(ablate)


def ablate(
    table_path: Optional[Path] = typer.Argument(None, metavar="TABLE", help="Dataset table (YAML); its `ablate:` "
                                                "block names variants, seeds and evaluation files (docs/ablate.md). "
                                                "Default: the bundled sample's table."),
    out: Path = typer.Option(Path("out-ablate"), "--out", "-o", help="Output folder: stages/ (shared by the "
                             "variants), runs/, variants/, eval/, report/report.md, ablate.json."),
    variant: List[str] = typer.Option([], "--variant", "-v", help="A variant to run (repeatable): full, no_<step> "
                                      "(steps: language_id, filters, gopher_quality, gopher_repetition, c4, fineweb, "
                                      "close_language, offensive, decontamination, pii, dedup; a step the table does "
                                      "not run is refused) or the name of one of the table's own; default: the "
                                      "table's list, else full, no_language_id, no_filters, no_dedup. full always "
                                      "runs."),
    seeds: Optional[int] = typer.Option(None, min=1, help="Training seeds per variant (default: the preset's, else "
                                        "the table's ablate.seeds, else 3)."),
    preset: Optional[str] = typer.Option(None, help="cpu: the sample's tiny model, 200 steps (4 variants x 3 seeds "
                                         "in about 25 minutes on 2 cores); gpu: a ~110M causal model, 1B tokens per "
                                         "run on one GPU. Wins over the table's training settings."),
    max_steps: Optional[int] = typer.Option(None, min=1, help="Override the runs' training steps (and so their "
                                            "token budget)."),
    eval_files: List[Path] = typer.Option([], "--eval", help="A held-out evaluation file (.jsonl with a \"text\" per "
                                          "line, or .txt); repeatable; default: the table's ablate.eval, else the "
                                          "bundled data/eval sets."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything and print the plan (variants, their "
                                 "stage folders and which they share, runs, tokens), then exit."),
    dask_address: Optional[str] = typer.Option(None, help="Run the stages on an existing Dask cluster."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster."),
) -> None:
    """Train the same small model on corpus variants (the full build, and the build with a curation step
    switched off or other weights), several seeds each, and report held-out bits per byte and cloze
    accuracy with their spread, and a verdict per step ("helps", "hurts", "no measurable difference").

    Every variant uses the build's own stages; stages the variants share are computed once, and a rerun
    redoes nothing that is done.
    """
    from tamiz.flows.ablate import describe_ablation, plan_ablation
    from tamiz.flows.cmd_build import SAMPLE_TABLE

    try:
        plan = plan_ablation(table_path or SAMPLE_TABLE, out, variants=variant or None, seeds=seeds, preset=preset,
                             eval_files=eval_files, max_steps=max_steps)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    if dry_run:
        table(f"plan of {plan.table_path} -> {plan.out} (dry run: nothing was done)", ["variant", "changes", "stages"],
              describe_ablation(plan))
        cfg = plan.runs[0].config
        console.print(f"{len(plan.runs)} runs ({len(plan.variants)} variants x {plan.config.seeds} seeds), each "
                      f"{cfg.model.kind} {cfg.model.size}, {cfg.schedule.max_steps:,} steps, "
                      f"{plan.tokens_per_run:,} tokens on {cfg.run.device}; evaluation: "
                      f"{', '.join(plan.eval_sets)}, {plan.config.cloze.pairs} cloze pairs"
                      + (f", fine-tuning on {', '.join(p.parent.name for p in plan.tasks)} ({plan.finetune_mode} mode)"
                         if plan.tasks else ""), highlight=False)
        return
    from tamiz.core.lock import FolderLocked
    from tamiz.flows.build import SourceEmptied
    from tamiz.flows.mix import ShardsRefused
    from tamiz.flows.runtime import StageFailed
    from tamiz.flows.ablate import run_ablation

    try:
        summary = run_ablation(plan, dask_address=dask_address, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except (StageFailed, SourceEmptied, ShardsRefused) as e:
        fail(str(e), code=1)
    print_results(summary, plan.out)


def print_results(summary: dict, out: Path) -> None:
    """The results table (mean ± std over seeds, the verdict) and one line per step."""
    from tamiz.flows.ablate_report import metrics, percent, verdict_label, verdict_lines

    stats = summary["analysis"]
    ms = metrics(summary)
    rows = []
    for v in summary["variants"]:
        st = stats[v["name"]]
        cells = [v["name"]]
        for key, _, _ in ms:
            s = st["metrics"][key]["spread"]
            scale = 100.0 if percent(key) else 1.0
            cells.append("-" if s["mean"] is None else f"{s['mean'] * scale:.3f} ± {s['std'] * scale:.3f}")
        cells.append(verdict_label(v, stats))
        rows.append(cells)
    table("ablation (mean ± std over seeds)", ["variant", *(label for _, label, _ in ms), "verdict"], rows)
    for line in verdict_lines(summary, stats):
        console.print(line.replace("**", ""), highlight=False)
    console.print(f"Report: {out / summary['report']}; results: {out / 'ablate.json'}", highlight=False)
