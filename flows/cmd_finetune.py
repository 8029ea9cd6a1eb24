"""`tamiz finetune CHECKPOINT TASK --out DIR`: fine-tune a pretrained model on a downstream task and report its
test scores against a from-scratch model of the same architecture (`tamiz.train.finetune`)."""

from __future__ import annotations

from pathlib import Path

import typer

from tamiz.flows.console import console, fail, table


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune_cmd)


def finetune_cmd(
    checkpoint: Path = typer.Argument(..., help="A causal or masked checkpoint.pt (or its run folder), or a "
                                      "`tamiz export` folder."),
    task: Path = typer.Argument(..., help="A task file (task.yaml) or a folder holding one: kind "
                                "(classification | tokens | qa), train/dev/test files, fields "
                                "(docs/training.md, 'Fine-tuning'). Bundled: data/tasks/*/."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json, report.md, report.png and the "
                             "exported model."),
    mode: str = typer.Option("full", help="full: every weight trains; feature: the pretrained encoder is frozen "
                             "(a feature extractor) and only the task head trains."),
    seeds: int = typer.Option(3, min=1, help="Runs per model, seeds 0..N-1; the report gives mean and standard "
                              "deviation."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also train the same architecture from "
                                  "random weights, the same way, to show what pretraining bought."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, min=0, help="torch's CPU threads (0: torch's default, one per core). On a busy "
                                "machine 1 is several times faster for the tiny models a CPU trains."),
) -> None:
    """Fine-tune a pretrained tamiz model on a task and score it on the task's test split.

    Three kinds, read from their usual formats: sequence classification (single texts or sentence pairs,
    JSONL or TSV, as XNLI and PAWS-X ship), token classification (CoNLL-2002 columns, BIO or IOBES tags, as the
    CoNLL-2002 Spanish NER files and CAPITEL) and extractive QA (SQuAD v1 JSON, as SQAC and SQuAD-es).
    The heads are transformers' (the checkpoint is exported: masked -> RoBERTa, causal -> Llama; a causal
    model classifies from its last token and tags each word seeing only the words to its left).
    Metrics: accuracy and macro-F1; entity-level F1 (seqeval's default); exact match and F1.
    Every record of every split is checked before training; the first bad one stops the command with
    its file and line. Writes OUT/results.json, OUT/report.md (task, metric, pretrained and from-scratch
    mean ± std) and OUT/report.png.
    """
    from tamiz.core.lock import FolderLocked, output_lock
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.finetune.run import finetune
    from tamiz.train.finetune.report import rows

    if mode not in ("full", "feature"):
        fail(f"--mode: must be full or feature, got {mode!r}")
    import torch

    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        with output_lock(out):
            res = finetune(checkpoint, task, out, mode=mode, seeds=seeds, baseline=baseline, device=device,
                           log=lambda s: console.print(s, highlight=False, markup=False))
    except FolderLocked as e:
        fail(str(e))
    except (ValueError, CheckpointError, FileNotFoundError, RuntimeError) as e:
        fail(str(e))
    head = ["task", "metric", "pretrained"] + (["from scratch", "difference"] if baseline else [])
    table(f"fine-tuning ({res['mode']}, {res['seeds']} seeds; test split, %, mean ± std)", head,
          [r[:len(head)] for r in rows(res)])
    console.print(f"{res['seconds']:.0f} s; results.json, report.md and report.png in {out}", highlight=False)
