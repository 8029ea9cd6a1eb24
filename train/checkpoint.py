"""Training checkpoints: one file that restores a run exactly, loaded with `weights_only=True`.

A checkpoint holds the model, optimizer and scheduler state, the random number generator states
(python, numpy, torch, cuda; one set per rank), the loader state of every rank, the step, the
loss history, the whole run config, the model's architecture, and the tokenizer (its JSON text
and sha256), so `tamiz predict CHECKPOINT` needs nothing else. Everything is plain tensors,
numbers, strings, lists and dicts, so `torch.load(..., weights_only=True)` (no pickle code
execution) reads it. The file is written under a temporary name and renamed (`pipeline.atomic`),
so a crash while saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.atomic import atomic_path

FORMAT = "tamiz-train-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, another format, or not matching the run."""


def save_checkpoint(path: str | Path, state: dict) -> None:
    state = dict(state, format=FORMAT)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated file, a pickle with code in it, not a torch file at all
        raise CheckpointError(f"{path}: not a readable tamiz checkpoint ({type(e).__name__}: {e})") from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if fmt != FORMAT:
        raise CheckpointError(f"{path}: not a tamiz training checkpoint (format {fmt!r}, expected {FORMAT!r})")
    return state


def model_from_checkpoint(state: dict) -> torch.nn.Module:
    """Rebuild the model of a checkpoint (eval mode, on the CPU)."""
    from train.config import build_model

    model = build_model(state["model_kind"], state["model_arch"])
    model.load_state_dict(state["model"])
    model.eval()
    return model


def tokenizer_from_checkpoint(state: dict):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(state["tokenizer_json"])


def diff_configs(a: dict, b: dict) -> list[str]:
    """Fields whose values differ, as 'name: a -> b' lines."""
    keys = sorted(set(a) | set(b))
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


# ---- random number generators -------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    """The states of every generator the loop draws from, as weights_only-loadable values."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
