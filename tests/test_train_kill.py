"""Training killed with SIGKILL at random steps, then resumed: the same losses as an uninterrupted run.

Runs `python -m tamiz.train.loop CONFIG` as a real process (the same entry point as torchrun), kills it
once its log shows a chosen step, resumes with --resume from the last checkpoint and compares every
step's loss with an uninterrupted run's (deterministic CPU settings: identical to the bit)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_train_common import build_shards, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
STEPS = 40


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return build_shards(tmp_path_factory.mktemp("kill") / "shards", tiny_tokenizer(), n_docs=300)


def _config(tmp: Path, shards: Path, out: Path) -> Path:
    cfg = {"model": {"kind": "causal"}, "data": {"folder": str(shards), "batch_size": 8},
           "run": {"out": str(out), "eval_interval": 0, "checkpoint_interval": 5, "log_interval": 1,
                   "progress": False, "deterministic": True, "device": "cpu"},
           "optimizer": {"lr": 3e-3}, "schedule": {"max_steps": STEPS, "warmup_steps": 5}}
    path = tmp / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in json.loads((out / "history.json").read_text())["train"]]


def _logged_step(out: Path) -> int:
    try:
        lines = (out / "train.log").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [int(line.split("step ")[1].split("/")[0]) for line in lines if " step " in line and "/" in line.split("step ")[1][:8]]
    return max(steps, default=0)


def test_sigkill_at_random_steps_then_resume_gives_identical_losses(shards, tmp_path):
    full = tmp_path / "full"
    r = subprocess.run([sys.executable, "-m", "tamiz.train.loop", str(_config(tmp_path, shards, full))], env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    reference = _losses(full)
    assert len(reference) == STEPS

    cut = tmp_path / "cut"
    cfg = _config(tmp_path, shards, cut)
    rng = random.Random(1234)
    kills = sorted(rng.sample(range(7, STEPS - 2), 2))  # random steps, fixed seed
    resume = False
    for kill_at in kills:
        proc = subprocess.Popen([sys.executable, "-m", "tamiz.train.loop", str(cfg)] + (["--resume"] if resume else []),
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while proc.poll() is None and _logged_step(cut) < kill_at and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"run ended before step {kill_at}: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        resume = True
    r = subprocess.run([sys.executable, "-m", "tamiz.train.loop", str(cfg), "--resume"], env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _losses(cut) == reference
