"""DDP: 2 processes on the gloo backend (started by torchrun) give the result of 1 process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_train_common import build_shards, one_thread, tiny_tokenizer
from tamiz.train.checkpoint import load_checkpoint
from tamiz.train.config import config_from_dict
from tamiz.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def run_config(folder, out, kind, batch_size):
    return {"model": {"kind": kind}, "data": {"folder": str(folder), "batch_size": batch_size},
            "run": {"out": str(out), "eval_interval": 10, "checkpoint_interval": 10, "progress": False,
                    "deterministic": True},
            "optimizer": {"lr": 3e-3}, "schedule": {"max_steps": 20, "warmup_steps": 5}}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return build_shards(tmp_path_factory.mktemp("ddp") / "shards", tiny_tokenizer(), n_docs=300)


@pytest.mark.parametrize("kind", ["causal", "masked"])
def test_two_gloo_processes_match_one_process(tmp_path, shards, kind):
    one = train(config_from_dict(run_config(shards, tmp_path / "one", kind, 8)))

    cfg = tmp_path / "two.yaml"
    cfg.write_text(yaml.safe_dump(run_config(shards, tmp_path / "two", kind, 4)))  # 2 x 4 rows = 8 rows a step
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "tamiz.train.loop", str(cfg)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"world_size": 2' in r.stdout

    two = load_checkpoint(tmp_path / "two")
    assert two["world_size"] == 2 and two["step"] == 20
    losses_two = [h["loss"] for h in two["history"]["train"]]
    assert len(losses_two) == len(one["losses"]) == 20
    # the same rows and (for masked models) the same masks each step; only float summation order differs
    assert max(abs(a - b) for a, b in zip(one["losses"], losses_two)) < 1e-5
    assert abs(two["val_loss"] - one["val_loss"]) < 1e-5
    a, b = load_checkpoint(tmp_path / "one")["model"], two["model"]
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
