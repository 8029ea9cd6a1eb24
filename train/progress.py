"""What a person watching a training run sees: `Progress` reports step/total, loss, tokens/s and
time left at least every PROGRESS_SECONDS, as a tqdm bar on a terminal and as plain lines elsewhere,
and hands the same figures to a callback (the build's Prefect log, flows/build.py, formats them with
`Progress.line`). The run's files (train.log, history.json, loss.png) are train/runlog.py's.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

PROGRESS_SECONDS = 5.0  # a progress report at least this often (and at the first and last step)


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """What a person watching a run sees: step/total, loss, tokens/s and time left, refreshed at least
    every PROGRESS_SECONDS. On a terminal a tqdm bar; elsewhere (a log file, CI, a pipe) a plain line
    per report, since a bar redrawn with carriage returns is unreadable there. `on_progress` (the
    build's Prefect log, for instance) gets the same figures at the same pace."""

    def __init__(self, total: int, start: int, tokens_per_step: int, show: bool,
                 on_progress: Callable[[dict], None] | None) -> None:
        from tqdm import tqdm

        self.total, self.start, self.tokens_per_step = total, start, tokens_per_step
        self.on_progress = on_progress
        self.tty = show and sys.stderr.isatty()
        self.lines = show and not self.tty
        self.bar = tqdm(total=total, initial=start, disable=not self.tty, desc="train", unit="step",
                        dynamic_ncols=True, mininterval=0.5)
        self.t_first: float | None = None  # after the first step (its warm-up would skew tokens/s)
        self.last_report = 0.0
        self.step_first = start

    def step(self, done: int, loss: float, lr: float, tok_s_step: float) -> dict | None:
        """Record finished step `done`; returns the report's figures when one is due, else None."""
        now = time.perf_counter()
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tok_s_step:,.0f}", refresh=False)
        if self.t_first is None:
            self.t_first, self.step_first = now, done
        if not (done == self.start + 1 or done == self.total or now - self.last_report >= PROGRESS_SECONDS):
            return None
        self.last_report = now
        steps = done - self.step_first
        rate = steps / (now - self.t_first) if steps and now > self.t_first else None  # steps/s
        info = {"step": done, "total": self.total, "loss": loss, "lr": lr,
                "tokens_per_s": rate * self.tokens_per_step if rate else tok_s_step,
                "eta_s": (self.total - done) / rate if rate else None}
        if self.lines:
            self.write(self.line(info))
        if self.on_progress is not None:
            self.on_progress(info)
        return info

    @staticmethod
    def line(info: dict) -> str:
        """One report as a line of text."""
        eta = "?" if info["eta_s"] is None else clock(info["eta_s"])
        pct = 100 * info["step"] / info["total"]
        return (f"train step {info['step']}/{info['total']} ({pct:.0f}%) loss {info['loss']:.4f} "
                f"{info['tokens_per_s']:,.0f} tok/s, {eta} left")

    def write(self, text: str) -> None:
        """A message between reports (above the bar on a terminal)."""
        if self.tty:
            self.bar.write(text)
        elif self.lines:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
