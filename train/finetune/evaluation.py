"""The dataset table's `evaluation:` block: fine-tuning tasks that score the model a build trains.

    evaluation:
      tasks: [../tasks/fortunes_offensive]   # task files or folders, relative to the table
      mode: full                             # full | feature
      seeds: 1
      baseline: false                        # also the same model from scratch (twice the time)

`tamiz run TABLE --finetune` fine-tunes the build's checkpoint (OUT/train) on every task once training is
done, into OUT/finetune/<task name>/, and ends with the scores. The block and every record of every task are
checked before the build starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tamiz.core.config import from_mapping


@dataclass(frozen=True)
class EvaluationConfig:
    tasks: tuple[str, ...] = ()  # task files (task.yaml) or folders holding one, relative to the table
    mode: str = "full"  # full: every weight trains | feature: frozen encoder, trained head
    seeds: int = 1  # fine-tuning runs per task (seeds 0..N-1)
    baseline: bool = False  # also train the same architecture from scratch on each task (twice the time)

    def __post_init__(self):
        if self.mode not in ("full", "feature"):
            raise ValueError(f"mode: must be full or feature, got {self.mode!r}")
        if self.seeds < 1:
            raise ValueError(f"seeds: must be >= 1, got {self.seeds}")


def evaluation_config(table) -> EvaluationConfig:
    """The table's block, checked (ValueError naming the table and the field)."""
    return from_mapping(EvaluationConfig, table.evaluation or None, "evaluation", file=table.path or "table")


def check_tasks(table, cfg: EvaluationConfig) -> list[Path]:
    """Every task's file, its records loaded and checked (ValueError naming the file and line on the first bad one)."""
    from tamiz.train.finetune.tasks import load_task, task_file

    if not cfg.tasks:
        raise ValueError(f"{table.path or 'table'}: evaluation.tasks: no task to fine-tune on (list task files)")
    paths, folders = [], {}
    for i, t in enumerate(cfg.tasks):
        where = f"{table.path or 'table'}: evaluation.tasks[{i}]"
        p = task_file(Path(table.root) / t)
        try:
            task = load_task(p)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        name, folder = task.config.name, task_folder(task.config.name)
        if folder in (".", ".."):
            raise ValueError(f"{where}: task name {name!r} cannot name its output folder (finetune/{folder} is not "
                             "a folder of its own): rename the task")
        if folder in folders:
            j, other = folders[folder]
            if other == name:
                raise ValueError(f"{where}: task name {name!r} is already evaluation.tasks[{j}]")
            raise ValueError(f"{where}: task name {name!r} and evaluation.tasks[{j}]'s {other!r} both write to "
                             f"finetune/{folder}/ (a folder name keeps letters, digits, '.', '-' and '_'): rename one")
        folders[folder] = (i, name)
        paths.append(p)
    return paths


def task_folder(name: str) -> str:
    """The folder a task's results go to, under OUT/finetune/: its name, which is free text, made a file name."""
    return re.sub(r"[^\w.-]", "_", name)


def run_evaluation(checkpoint: Path, tasks: list[Path], cfg: EvaluationConfig, out: Path,
                   log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Fine-tune `checkpoint` on each task into OUT/<task name>/; returns each task's results."""
    from tamiz.train.finetune.run import finetune
    from tamiz.train.finetune.tasks import load_task_config

    results = []
    for p in tasks:
        folder = task_folder(load_task_config(p).name)  # distinct and not '.' or '..': check_tasks
        results.append(finetune(checkpoint, p, Path(out) / folder, mode=cfg.mode, seeds=cfg.seeds,
                                baseline=cfg.baseline, log=log))
    return results
