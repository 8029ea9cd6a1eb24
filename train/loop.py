"""The training run: one process per device, `torchrun` for several (DDP), the same code on a CPU.

`train()` reads top to bottom (setup, data, model and optimizer, resume, the loop, evaluation,
checkpoints) around `train_step()`, one optimizer step; here too are the resume checks, the
checkpoint's contents (`save`) and `main()`, the entry point for `python -m` and torchrun.

One optimizer step sees `data.batch_size * run.grad_accum * world_size` rows; the loss of a step is
the mean over every predicted token of those rows (every next token for causal models, the masked
ones for masked models). Each micro-batch's summed loss is divided by the global token count before
backward, so the gradient is the same whether the rows are split across micro-batches or processes:
2 processes of batch 4 give the result of 1 process of batch 8.

Checkpoints (`checkpoint.pt` in `run.out`, see `train/checkpoint.py`) are written atomically
every `run.checkpoint_interval` steps and at the end, with everything `--resume` needs to
continue exactly: on a CPU with `run.deterministic: true`, an interrupted-then-resumed run gives
the same losses, bit for bit, as an uninterrupted one. A loss or gradient that is not finite
stops the run before the optimizer applies it (so the last checkpoint stays good) with a message.

Outputs in `run.out`: checkpoint.pt and checkpoint.pt.json (its sha256, checked when it is loaded),
train.log (a line per `log_interval` steps and per evaluation), history.json (every step's loss and
learning rate, every evaluation), loss.png, config.yaml (the resolved run config).

The loop's neighbours, one job each: train/distributed.py (process group, collectives),
train/batching.py (the shard folder, micro-batches, masking), train/evaluate.py (validation loss),
train/progress.py (what a person watching sees), train/runlog.py (train.log, history.json, loss.png,
config.yaml), train/checkpoint.py (the checkpoint file), train/config.py (the config, the models).

    python -m tamiz.train.loop CONFIG [--resume]                      # one process
    torchrun --nproc_per_node 8 -m tamiz.train.loop CONFIG [--resume] # one process per GPU
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

import torch

from tamiz.train.batching import TRAIN_SALT, Batcher, DataInfo, inspect_data, next_rows
from tamiz.train.checkpoint import (CHECKPOINT_NAME, CheckpointError, diff_configs, load_checkpoint, rng_state,
                                    save_checkpoint, set_rng_state)
from tamiz.train.config import TrainConfig, build_model, load_config
from tamiz.train.distributed import Dist, all_sum, barrier, gather, setup, teardown
from tamiz.train.evaluate import evaluate, forward_loss
from tamiz.train.progress import Progress
from tamiz.train.runlog import RunLog, write_config


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became NaN or infinite."""


# ---- one optimizer step ----------------------------------------------------------------------

@dataclass
class StepStats:
    """What one optimizer step reports to the loop."""

    loss: float  # mean over the step's predicted tokens, all ranks together
    grad_norm: float  # of the whole gradient, before clipping
    lr: float  # the learning rate the step applied


def train_step(model: torch.nn.Module, raw: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
               batcher: Batcher, micro: list[tuple[torch.Tensor, int, int]], d: Dist,
               autocast: Callable[[], ContextManager], grad_clip: float, step: int) -> StepStats:
    """One optimizer step over this rank's micro-batches `micro` (rows, epoch, first slot; see
    `next_rows`): forward and backward of each, every summed loss divided by the step's token count
    over all ranks, gradients all-reduced once (DDP syncs on the last micro-batch only), clipping,
    then the optimizer and scheduler step. `model` is what runs forward (possibly compiled, possibly
    DDP-wrapped), `raw` the bare model whose parameters are clipped. A loss or gradient norm that is
    not finite raises TrainingDiverged before the optimizer applies it; `step` (1-based) names it."""
    batches = [batcher(rows, TRAIN_SALT, epoch, first) for rows, epoch, first in micro]
    count = torch.zeros((), dtype=torch.float64, device=batcher.device)
    for _, y, _ in batches:
        count += (y != -100).sum()
    n_global = float(all_sum(count, d).item())
    loss_sum = torch.zeros((), dtype=torch.float64, device=batcher.device)
    for k, (x, y, attn) in enumerate(batches):
        sync = k == len(batches) - 1
        with (model.no_sync() if d.enabled and not sync else contextlib.nullcontext()):
            with autocast():
                loss = forward_loss(model, x, y, attn)
            # DDP averages gradients over ranks, hence * world_size: the result is sum / n_global
            (loss * (d.world_size / max(n_global, 1.0))).backward()
        loss_sum += loss.detach().double()
    loss_value = float(all_sum(loss_sum, d).item()) / max(n_global, 1.0)
    clip = grad_clip if grad_clip > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(raw.parameters(), clip))
    if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
        raise TrainingDiverged(f"loss {loss_value} / gradient norm {grad_norm} at step {step}: "
                               f"the run stopped before applying it.")
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return StepStats(loss_value, grad_norm, lr)


# ---- the run ---------------------------------------------------------------------------------

def train(cfg: TrainConfig, resume: bool = False, on_step: Callable[[int, float], None] | None = None,
          on_progress: Callable[[dict], None] | None = None, root: str | Path | None = None) -> dict:
    """Train (or, with resume, continue) the run `cfg`; returns a summary. `on_step(step, loss)`
    is called after every finished step (after its checkpoint, if one was due); `on_progress(info)`
    at least every PROGRESS_SECONDS with step, total, loss, lr, tokens_per_s and eta_s (see Progress).
    `root`: the folder that config.yaml and the checkpoint name `data.folder` and `run.out` relative to
    (a build's output root, so that a moved build's run does not name where it was); default: as given."""
    # ---- setup: determinism, process group, device, precision ----
    if cfg.run.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
        torch.use_deterministic_algorithms(True)
    d, device = setup(cfg.run.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bf16 = cfg.run.precision == "bf16" or (cfg.run.precision == "auto" and cuda and torch.cuda.is_bf16_supported())

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    out = Path(cfg.run.out)
    ckpt_path = out / CHECKPOINT_NAME

    # ---- data and checkpoint checks (before any work) ----
    info = inspect_data(cfg.data.folder)
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise ValueError(f"--resume: no checkpoint to resume at {ckpt_path}")
        state = load_checkpoint(ckpt_path)
        check_resume(state, cfg, info)
    elif ckpt_path.is_file():
        raise ValueError(f"run.out: {out} already holds a checkpoint; pass --resume to continue it, "
                         f"or choose another run.out")
    if state is not None and cfg.model.max_seq_len is None:
        cfg.model.max_seq_len = state["model_arch"]["max_seq_len"]
    arch = cfg.model.arch(info.vocab_size, info.seq_len)
    if state is not None and state["model_arch"] != arch:
        raise CheckpointError(f"{ckpt_path} was trained with another model config: "
                              + "; ".join(diff_configs(state["model_arch"], arch)))

    # ---- model and optimizer, restored on resume ----
    torch.manual_seed(cfg.run.seed)  # the same initial weights on every rank
    raw = build_model(cfg.model.kind, arch).to(device)
    opt = cfg.optimizer
    optimizer = raw.configure_optimizer(opt.weight_decay, opt.lr, opt.betas, opt.eps, device.type)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cfg.schedule.lr_factor)
    start_step = 0
    log = RunLog(out, d.master)
    if state is not None:
        raw.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step = int(state["step"])
        log.history = state["history"]
        for change in apply_optimizer_config(optimizer, scheduler, cfg, start_step):
            log.line(f"warning: resumed with a changed setting, {change} (the run is no longer exactly reproducible)")

    # ---- data: loader and batcher ----
    from tamiz.train.loader import PackedLoader

    loader = PackedLoader(cfg.data.folder, split="train", batch_size=cfg.data.batch_size, rank=d.rank,
                          world_size=d.world_size, num_workers=cfg.data.num_workers, seed=cfg.data.seed,
                          shuffle=cfg.data.shuffle)
    if state is not None:
        loader.load_state_dict(state["loader"])  # the same on every rank; any world size continues from it
    batcher = Batcher(raw.objective, info, cfg.model.mlm_probability, cfg.run.seed, device)

    # ---- wrap: compile, DDP; the RNG for dropout ----
    model = raw
    if cfg.run.compile:
        model = torch.compile(model)
    fwd = model
    if d.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        fwd = DDP(model, device_ids=[device.index] if cuda else None)
    if state is not None and len(state["rng"]) == d.world_size:
        set_rng_state(state["rng"][d.rank])
    else:
        if state is not None:
            log.line(f"warning: the checkpoint was written by {len(state['rng'])} process(es), this run has "
                     f"{d.world_size}: the data continues from the same position, but dropout draws are not "
                     f"those of an uninterrupted run")
        torch.manual_seed(cfg.run.seed + d.rank)  # dropout differs across ranks, like the data

    if d.master:
        out.mkdir(parents=True, exist_ok=True)
        write_config(recorded_config(cfg, root), out / "config.yaml")
    tokens_per_step = cfg.data.batch_size * cfg.run.grad_accum * d.world_size * info.seq_len
    log.line(("resumed at step %d" % start_step if state else "started")
             + f": {cfg.model.kind} {raw.num_params():,} parameters, {d.world_size} process(es) on {device.type}, "
             + f"{tokens_per_step:,} tokens per step, {'bf16' if bf16 else 'fp32'}")

    # ---- the loop ----
    bar = Progress(cfg.schedule.max_steps, start_step, tokens_per_step, d.master and cfg.run.progress,
                   on_progress if d.master else None)
    it = iter(loader)
    data_time = step_time = 0.0  # over the timed steps: all but the first of this process (warm-up, compile)
    steps_done = timed = 0
    last_ckpt = start_step if state else None
    val_loss = state.get("val_loss") if state else None
    loss_value = float("nan")
    for step in range(start_step, cfg.schedule.max_steps):
        done = step + 1
        t0 = time.perf_counter()
        micro = next_rows(loader, it, cfg.run.grad_accum, d.rank, cfg.data.batch_size)
        t1 = time.perf_counter()
        try:
            s = train_step(fwd, raw, optimizer, scheduler, batcher, micro, d, autocast, cfg.optimizer.grad_clip, done)
        except TrainingDiverged as e:
            bar.close()
            msg = f"{e} " + (f"The last good checkpoint is {ckpt_path} (step {last_ckpt}); lower "
                             f"optimizer.lr or set optimizer.grad_clip and continue with --resume."
                             if last_ckpt is not None else
                             "No checkpoint was written yet; lower optimizer.lr and start again.")
            log.line("DIVERGED: " + msg)
            log.flush()
            teardown(d)
            raise TrainingDiverged(msg) from None
        t2 = time.perf_counter()
        if steps_done:
            data_time += t1 - t0
            step_time += t2 - t0
            timed += 1
        steps_done += 1
        loss_value = s.loss

        # ---- log the step ----
        log.history["train"].append({"step": done, "loss": s.loss, "lr": s.lr, "grad_norm": s.grad_norm})
        tok_s = tokens_per_step / (t2 - t0)
        bar.step(done, s.loss, s.lr, tok_s)
        if done % cfg.run.log_interval == 0:
            log.line(f"step {done}/{cfg.schedule.max_steps} loss {s.loss:.4f} lr {s.lr:.3e} "
                     f"grad_norm {s.grad_norm:.3f} tok/s {tok_s:,.0f} data_wait {100 * (t1 - t0) / (t2 - t0):.1f}%")

        # ---- evaluation ----
        last = done == cfg.schedule.max_steps
        if info.validation_rows and ((cfg.run.eval_interval and done % cfg.run.eval_interval == 0) or last):
            val_loss, n_val = evaluate(model, cfg, batcher, d, autocast)
            ppl = math.exp(min(val_loss, 700))
            log.history["val"].append({"step": done, "loss": val_loss, "perplexity": ppl, "tokens": n_val})
            log.line(f"eval step {done}: validation loss {val_loss:.4f} perplexity {ppl:.2f} ({n_val:,} tokens)")
            if d.master and cfg.run.progress:
                bar.write(f"step {done}: validation loss {val_loss:.4f}, perplexity {ppl:.2f}")

        # ---- checkpoint ----
        if done % cfg.run.checkpoint_interval == 0 or last:
            save(ckpt_path, raw, optimizer, scheduler, loader, cfg, arch, info, log.history, done, val_loss, d, root)
            last_ckpt = done
            log.flush()
        if on_step is not None:
            on_step(done, s.loss)
    bar.close()

    # ---- summary ----
    if not info.validation_rows:
        log.line("no validation split in the shard folder: no validation loss")
    summary = {
        "steps": cfg.schedule.max_steps, "start_step": start_step, "steps_run": steps_done,
        "loss": loss_value, "val_loss": val_loss,
        "val_perplexity": math.exp(val_loss) if val_loss is not None and math.isfinite(val_loss) else None,
        "parameters": raw.num_params(), "world_size": d.world_size, "device": str(device),
        "tokens_per_step": tokens_per_step,
        "tokens_per_s": tokens_per_step * timed / step_time if step_time else None,
        "data_wait_share": data_time / step_time if step_time else None,
        "checkpoint": str(ckpt_path), "out": str(out),
        "losses": [r["loss"] for r in log.history["train"]],
    }
    log.line(f"finished at step {cfg.schedule.max_steps}: loss {loss_value:.4f}"
             + (f", validation loss {val_loss:.4f}" if val_loss is not None else ""))
    teardown(d)
    return summary


# ---- resume and checkpoints ------------------------------------------------------------------

def apply_optimizer_config(optimizer, scheduler, cfg: TrainConfig, step: int) -> list[str]:
    """A checkpoint restores the optimizer's hyperparameters; the config's win (e.g. a lower lr after a
    divergence). Returns what changed. Group 0 holds the decayed matrices, group 1 the rest."""
    o, changes = cfg.optimizer, []
    for i, g in enumerate(optimizer.param_groups):
        want = {"weight_decay": o.weight_decay if i == 0 else 0.0, "betas": tuple(o.betas), "eps": o.eps}
        for k, v in want.items():
            if (tuple(g[k]) if k == "betas" else g[k]) != v:
                if i == 0:
                    changes.append(f"optimizer.{k}: {g[k]} -> {v}")
                g[k] = v
    if scheduler.base_lrs != [o.lr] * len(scheduler.base_lrs):
        changes.append(f"optimizer.lr: {scheduler.base_lrs[0]} -> {o.lr}")
        scheduler.base_lrs = [o.lr] * len(scheduler.base_lrs)
    for g in optimizer.param_groups:  # the schedule of this config at this step
        g["initial_lr"] = o.lr
        g["lr"] = o.lr * cfg.schedule.lr_factor(step)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
    return changes


def check_resume(state: dict, cfg: TrainConfig, info: DataInfo) -> None:
    """Refuse a checkpoint that this config and shard folder cannot continue: another model kind,
    another tokenizer, or rows longer than the checkpoint model takes."""
    if state["model_kind"] != cfg.model.kind:
        raise CheckpointError(f"the checkpoint holds a {state['model_kind']} model, the config asks for model.kind "
                              f"{cfg.model.kind}")
    if state["tokenizer_sha256"] != info.tokenizer_sha256:
        raise CheckpointError(f"data.folder: {info.folder} was tokenized with another tokenizer (sha256 "
                              f"{info.tokenizer_sha256[:12]}...) than the checkpoint's model (sha256 "
                              f"{state['tokenizer_sha256'][:12]}...)")
    ck_len = state["model_arch"]["max_seq_len"]
    if info.seq_len > ck_len:
        raise CheckpointError(f"data.folder: the shards' seq_len {info.seq_len} is above the checkpoint model's "
                              f"max_seq_len {ck_len}")


def recorded_config(cfg: TrainConfig, root: str | Path | None) -> dict:
    """The run config as config.yaml and the checkpoint record it: `data.folder` and `run.out` relative
    to `root` when given (`tamiz.pipeline.stage.input_name`)."""
    d = cfg.to_dict()
    if root is not None:
        from tamiz.pipeline.stage import input_name

        d["data"]["folder"], d["run"]["out"] = input_name(cfg.data.folder, root), input_name(cfg.run.out, root)
    return d


def save(path: Path, raw, optimizer, scheduler, loader, cfg: TrainConfig, arch: dict, info: DataInfo,
         history: dict, step: int, val_loss: float | None, d: Dist, root: str | Path | None = None) -> None:
    """Write the checkpoint (rank 0), with every rank's RNG state: all `--resume` needs to continue.
    `root`: see `train`."""
    rngs = gather(rng_state(), d)
    if d.master:
        save_checkpoint(path, {
            "step": step, "model_kind": cfg.model.kind, "model_arch": arch, "model": raw.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs,
            "loader": loader.state_dict(), "history": history, "config": recorded_config(cfg, root), "val_loss": val_loss,
            "tokenizer_json": info.tokenizer_json, "tokenizer_sha256": info.tokenizer_sha256,
            "world_size": d.world_size, "torch_version": str(torch.__version__),
        })
    barrier(d)


# ---- entry point -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """`python -m tamiz.train.loop CONFIG [--resume]`, the entry point for torchrun."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m tamiz.train.loop", description=__doc__.split("\n")[0])
    p.add_argument("config", help="YAML training config (see train/config.py)")
    p.add_argument("--resume", action="store_true", help="continue from run.out/checkpoint.pt")
    args = p.parse_args(argv)
    try:
        summary = train(load_config(args.config), resume=args.resume)
    except (ValueError, TrainingDiverged) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps({k: v for k, v in summary.items() if k != "losses"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
