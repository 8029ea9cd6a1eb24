"""Training checkpoints: one file that restores a run exactly, loaded with `weights_only=True`.

A checkpoint holds the model, optimizer and scheduler state, the random number generator states
(python, numpy, torch, cuda; one set per rank), the loader state of every rank, the step, the
loss history, the whole run config, the model's architecture, and the tokenizer (its JSON text
and sha256), so `tamiz predict CHECKPOINT` needs nothing else. Everything is plain tensors,
numbers, strings, lists and dicts, so `torch.load(..., weights_only=True)` (no pickle code
execution) reads it. The file is written under a temporary name and renamed (`tamiz.core.atomic`),
so a crash while saving leaves the previous checkpoint whole.

`torch.load` does not check the zip's CRCs (most byte-level damage loads as changed weights), so every
checkpoint gets a sidecar, `checkpoint.pt.json`, holding its sha256; `load_checkpoint` checks it before
`torch.load` opens the file, and refuses a checkpoint without one (copy the sidecar along with the
checkpoint; for a checkpoint of an older tamiz that you trust: `python -m tamiz.train.checkpoint --trust FILE`).
While a new checkpoint replaces the old one the sidecar accepts both, so a crash between the two
renames still leaves a pair that verifies. The tokenizer inside a checkpoint goes through
`tamiz.tokenizer.load`'s checks (`tokenizer_from_checkpoint`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tamiz.core.atomic import atomic_path, sha256_file, write_json

FORMAT = "tamiz-train-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
CHECKSUM_FORMAT = "tamiz-train-checkpoint-sha256/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, damaged, another format, or not matching the run."""


def checksum_path(path: str | Path) -> Path:
    """The sidecar holding a checkpoint's sha256: `checkpoint.pt.json` next to `checkpoint.pt`."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write `state` atomically, and its sha256 to the sidecar (see the module docstring)."""
    path = Path(path)
    state = dict(state, format=FORMAT)
    rec = _recorded(path) if path.is_file() else {}
    previous = rec.get("sha256")
    if "previous_sha256" in rec:  # an earlier save was interrupted between its renames: which file is there?
        previous = sha256_file(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        sha = sha256_file(tmp)
        # `path` is still the previous checkpoint until the rename that ends this block: a crash between
        # the two renames must leave a sidecar that accepts whichever file is there
        _write_checksum(path, sha, state.get("step"), previous if previous != sha else None)
    if previous is not None and previous != sha:
        _write_checksum(path, sha, state.get("step"), None)


def record_checksum(path: str | Path) -> str:
    """Write the sidecar of an existing checkpoint file (one you trust: an older tamiz wrote no sidecar)."""
    path = Path(path)
    sha = sha256_file(path)
    _write_checksum(path, sha, None, None)
    return sha


def _write_checksum(path: Path, sha: str, step: Any, previous: str | None) -> None:
    record: dict[str, Any] = {"format": CHECKSUM_FORMAT, "file": path.name, "sha256": sha}
    if isinstance(step, int):
        record["step"] = step
    if previous:
        record["previous_sha256"] = previous  # only while the previous file is being replaced
    write_json(checksum_path(path), record)


def _recorded(path: Path) -> dict[str, Any]:
    """The sidecar's content ({} when there is none, or it is not a sidecar)."""
    try:
        rec = json.loads(checksum_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    ok = isinstance(rec, dict) and rec.get("format") == CHECKSUM_FORMAT and isinstance(rec.get("sha256"), str)
    return rec if ok else {}


def verify_checksum(path: str | Path) -> str:
    """Check `path` against the sha256 in its sidecar (CheckpointError otherwise); returns the sha256."""
    path = Path(path)
    side = checksum_path(path)
    if not side.is_file():
        if not _looks_like_torch_file(path):  # advice to trust a file is only for something that could be one
            raise CheckpointError(f"{path}: not a tamiz checkpoint (tamiz writes checkpoint.pt, a torch zip archive, "
                                  f"in the run folder; give that file or the run folder)")
        raise CheckpointError(
            f"{path}: no {side.name} next to it, so its sha256 cannot be checked (tamiz writes one with every "
            f"checkpoint: copy it along with the checkpoint). A checkpoint written by an older tamiz: if you trust "
            f"the file, record its sha256 with `python -m tamiz.train.checkpoint --trust {path}`")
    rec = _recorded(path)
    if not rec:
        raise CheckpointError(f"{side}: not a checkpoint sha256 record (format {CHECKSUM_FORMAT!r}, a 'sha256' field)")
    accepted = [rec["sha256"]] + ([rec["previous_sha256"]] if isinstance(rec.get("previous_sha256"), str) else [])
    sha = sha256_file(path)
    if sha not in accepted:
        raise CheckpointError(f"{path}: sha256 {sha[:12]}... differs from the one recorded in {side.name} "
                              f"({rec['sha256'][:12]}...): the checkpoint was damaged or replaced")
    return sha


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (legacy files start with a pickle protocol byte, 0x80)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    verify_checksum(path)
    return _load(path, map_location)


def _load(path: Path, map_location: str | torch.device = "cpu") -> dict:
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
    from tamiz.train.config import build_model

    model = build_model(state["model_kind"], state["model_arch"])
    model.load_state_dict(state["model"])
    model.eval()
    return model


def tokenizer_from_checkpoint(state: dict, source: str | Path = "checkpoint"):
    """The checkpoint's tokenizer, through `tamiz.tokenizer.load`'s checks; `source` (the checkpoint's path) names it
    in errors."""
    from tamiz.tokenizer.load import tokenizer_from_str

    try:
        return tokenizer_from_str(state.get("tokenizer_json"), f"{source}: tokenizer_json")
    except ValueError as e:
        raise CheckpointError(str(e)) from None


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


def main(argv: list[str] | None = None) -> int:
    """`python -m tamiz.train.checkpoint --trust FILE`: record the sha256 of a checkpoint written without a sidecar."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m tamiz.train.checkpoint", description=main.__doc__)
    p.add_argument("--trust", metavar="FILE", required=True, type=Path,
                   help="a checkpoint.pt (or its run folder) you trust; writes FILE.json with its sha256")
    args = p.parse_args(argv)
    path = args.trust / CHECKPOINT_NAME if args.trust.is_dir() else args.trust
    try:
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        state = _load(path)  # weights_only: a tamiz checkpoint, and nothing runs
        sha = record_checksum(path)
    except (CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{checksum_path(path)}: sha256 {sha} (step {state.get('step')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
