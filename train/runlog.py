"""The files a training run writes into `run.out`, besides its checkpoint (train/checkpoint.py):
train.log (a timestamped line per report, appended), history.json (every step's loss, lr and
gradient norm, every evaluation) and loss.png (`plot_losses`), kept by `RunLog`; and config.yaml,
the resolved run config (`write_config`). Rank 0 writes them; the other ranks' RunLog is disabled.
What a person watching the run sees is train/progress.py's.
"""

from __future__ import annotations

import time
from pathlib import Path

from tamiz.core.atomic import atomic_path, write_json
from tamiz.train.config import TrainConfig


class RunLog:
    """train.log (appended), history.json and loss.png (rewritten atomically); rank 0 only."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.out, self.enabled = out, enabled
        self.history: dict[str, list] = {"train": [], "val": []}

    def line(self, text: str) -> None:
        if self.enabled:
            with open(self.out / "train.log", "a", encoding="utf-8") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")

    def flush(self) -> None:
        """Rewrite history.json and loss.png from `history` (at every checkpoint, and on divergence)."""
        if not self.enabled:
            return
        write_json(self.out / "history.json", self.history)
        plot_losses(self.history, self.out / "loss.png")


def plot_losses(history: dict, path: Path) -> None:
    """Per-step training loss, its moving average from 10 steps on, and the validation points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = history["train"]
    if not train:
        return
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    steps = [r["step"] for r in train]
    losses = [r["loss"] for r in train]
    ax.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="train (per step)")
    if len(losses) >= 10:  # exponential moving average, as loss curves are usually read
        ema, s = [], losses[0]
        for v in losses:
            s = 0.9 * s + 0.1 * v
            ema.append(s)
        ax.plot(steps, ema, color="tab:blue", linewidth=1.5, label="train (EMA 0.9)")
    if history["val"]:
        ax.plot([r["step"] for r in history["val"]], [r["loss"] for r in history["val"]], "o-", color="tab:orange",
                label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_config(cfg: TrainConfig | dict, path: Path) -> None:
    """The resolved run config (a TrainConfig, or its dict as the run records it) as YAML (config.yaml in run.out)."""
    import yaml

    d = cfg if isinstance(cfg, dict) else cfg.to_dict()
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
