"""`tamiz finetune`: the task checked, the checkpoint exported, then seeds x (pretrained, from scratch) runs and
their report.

Everything that can be wrong with the input (the task file, every record of every split, the checkpoint's
kind) fails before the first training step. The from-scratch baseline is the same architecture and config
with transformers' random initialisation, trained the same way (same mode, settings and seeds): the gap
between the two is what pretraining bought on this task.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from tamiz.train.finetune.encode import Encoder, qa_split
from tamiz.train.finetune.loop import Prepared, run_once
from tamiz.train.finetune.metrics import REPORTED
from tamiz.train.finetune.models import MODES, head_parameters, load_model, prepare_model
from tamiz.train.finetune.tasks import Task, load_task, task_mapping

FORMAT = "tamiz-finetune/1"


def prepare(task: Task, folder: Path, model_kind: str) -> Prepared:
    """Encode every split with the exported model's tokenizer."""
    import json

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    context = cfg["max_position_embeddings"] - (cfg.get("pad_token_id", 0) + 1 if model_kind == "masked" else 0)
    max_length = min(task.config.training.max_length or context, context)
    enc = Encoder(tok, model_kind, max_length, task.config.training.stride)
    encoded, unplaced = {}, {}
    for split, examples in task.splits.items():
        if task.kind == "classification":
            encoded[split] = [enc.text(ex, task.labels.index(ex.label)) for ex in examples]
        elif task.kind == "tokens":
            encoded[split] = [enc.words(ex, [task.labels.index(t) for t in ex.tags]) for ex in examples]
        else:
            encoded[split], unplaced[split] = qa_split(enc, examples)
    return Prepared(task, encoded, enc.pad, unplaced)


def summarize(runs: list[dict], metrics: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out = {}
    for m in metrics:
        xs = [r["test"][m] for r in runs]
        out[m] = {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}
    return out


def finetune(checkpoint: str | Path, task_path: str | Path, out: str | Path, *, mode: str = "full", seeds: int = 3,
             baseline: bool = True, device: str = "cpu", log: Callable[[str], None] = lambda s: None) -> dict:
    """Fine-tune `checkpoint` on the task `seeds` times (and a from-scratch twin as often when `baseline`);
    writes OUT/results.json and OUT/report.md and returns the results."""
    from tamiz.core.atomic import write_json
    from tamiz.train.finetune.report import write_report

    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {seeds}")
    task = load_task(task_path)  # every record checked before anything else
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = prepare_model(checkpoint, out / "model")
    prep = prepare(task, model["folder"], model["model_kind"])
    sizes = {s: len(v) for s, v in task.splits.items()}
    log(f"task {task.config.name} ({task.kind}): " + ", ".join(f"{s} {n}" for s, n in sizes.items())
        + f"; {model['model_kind']} model, step {model['step']}, mode {mode}")
    if prep.unplaced.get("train"):  # never a silent loss: these train as "no answer" in every window
        log(f"qa: {prep.unplaced['train']} of {sizes['train']} train answers lie whole in no context window (longer "
            f"than the windows' overlap, training.stride {task.config.training.stride}): they train as no answer")
    variants = ["pretrained"] + (["scratch"] if baseline else [])
    results: dict[str, list[dict]] = {v: [] for v in variants}
    t0 = time.perf_counter()
    for seed in range(seeds):
        for v in variants:
            m = load_model(model["folder"], task.kind, len(task.labels), pretrained=v == "pretrained", mode=mode,
                           seed=seed)
            log(f"{v}, seed {seed} ({head_parameters(m):,} trainable parameters)")
            r = run_once(prep, m, mode=mode, seed=seed, settings=task.config.training, device=device,
                         log=lambda s: log("  " + s))
            r["trainable_parameters"] = head_parameters(m)
            results[v].append(r)
            log("  test: " + ", ".join(f"{k} {x:.4f}" for k, x in r["test"].items()))
    metrics = REPORTED[task.kind]
    res = {
        "format": FORMAT,
        "task": task.config.name, "kind": task.kind, "mode": mode, "seeds": seeds,
        "checkpoint": {"model_kind": model["model_kind"], "step": model["step"]},
        "splits": sizes, "labels": list(task.labels), "task_config": task_mapping(task.config),
        **({"answers_in_no_window": prep.unplaced} if task.kind == "qa" else {}),
        "metrics": list(metrics),
        "summary": {v: summarize(results[v], metrics) for v in variants},
        "runs": results,
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "results.json", res)
    write_report(res, out)
    return res
