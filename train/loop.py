"""The training loop: one process per device, `torchrun` for several (DDP), the same code on a CPU.

Reads top to bottom: distributed setup, data, checkpoint, model and optimizer, the step, the
loop. One optimizer step sees `data.batch_size * run.grad_accum * world_size` rows; the loss of a
step is the mean over every predicted token of those rows (every next token for causal models,
the masked ones for masked models). Each micro-batch's summed loss is divided by the global
token count before backward, so the gradient is the same whether the rows are split across
micro-batches or processes: 2 processes of batch 4 give the result of 1 process of batch 8.

Checkpoints (`checkpoint.pt` in `run.out`, see `train/checkpoint.py`) are written atomically
every `run.checkpoint_interval` steps and at the end, with everything `--resume` needs to
continue exactly: on a CPU with `run.deterministic: true`, an interrupted-then-resumed run gives
the same losses, bit for bit, as an uninterrupted one. A loss or gradient that is not finite
stops the run before the optimizer applies it (so the last checkpoint stays good) with a message.

Outputs in `run.out`: checkpoint.pt and checkpoint.pt.json (its sha256, checked when it is loaded),
train.log (a line per `log_interval` steps and per evaluation), history.json (every step's loss and
learning rate, every evaluation), loss.png, config.yaml (the resolved run config).

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
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from tamiz.core.atomic import atomic_path, sha256_file, write_json
from tamiz.core.shardformat import SPECIAL_TOKENS
from tamiz.train.checkpoint import (CHECKPOINT_NAME, CheckpointError, diff_configs, load_checkpoint, rng_state,
                              save_checkpoint, set_rng_state)
from tamiz.train.config import TrainConfig, build_model, load_config



class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became NaN or infinite."""


PROGRESS_SECONDS = 5.0  # a progress report at least this often (and at the first and last step)


def _clock(seconds: float) -> str:
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
        eta = "?" if info["eta_s"] is None else _clock(info["eta_s"])
        pct = 100 * info["step"] / info["total"]
        return (f"train step {info['step']}/{info['total']} ({pct:.0f}%) loss {info['loss']:.4f} "
                f"{info['tokens_per_s']:,.0f} tok/s, {eta} left")

    def write(self, text: str) -> None:
        if self.tty:
            self.bar.write(text)
        elif self.lines:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def master(self) -> bool:
        return self.rank == 0


# ---- distributed setup -------------------------------------------------------------------

def setup(run_device: str) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun (RANK/WORLD_SIZE set): nccl on GPUs, gloo on CPUs."""
    want_cuda = run_device.startswith("cuda") or (run_device == "auto" and torch.cuda.is_available())
    if run_device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"run.device: {run_device} asked for, but no CUDA device is available")
    d = Dist()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        d = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)), True)
        if not dist.is_initialized():
            if want_cuda:
                torch.cuda.set_device(d.local_rank)
            dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    if want_cuda:
        device = torch.device(f"cuda:{d.local_rank}" if d.enabled or run_device in ("auto", "cuda") else run_device)
    else:
        device = torch.device("cpu")
    return d, device


def _all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _gather(obj: object, d: Dist) -> list:
    if not d.enabled:
        return [obj]
    out: list = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


# ---- data ---------------------------------------------------------------------------------

@dataclass
class DataInfo:
    folder: Path
    seq_len: int
    vocab_size: int
    tokenizer_json: str
    tokenizer_sha256: str
    special_ids: dict[str, int]
    pad_id: int | None  # rows are padded with it (row_start "document"): targets equal to it are ignored
    validation_rows: int


def inspect_data(folder: str | Path) -> DataInfo:
    """Read the shard folder's manifest and tokenizer copy, and check they agree."""
    from tamiz.tokenizer.load import tokenizer_from_str
    from tamiz.core.shardformat import read_shard_manifest

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise ValueError(f"data.folder: {folder} has no manifest.json "
                         "(expected a shard folder written by `tamiz shard`)")
    m = read_shard_manifest(folder)
    tok_entry = m.get("tokenizer") or {}
    tok_path = folder / tok_entry.get("path", "tokenizer.json")
    if not tok_path.is_file():
        raise ValueError(f"data.folder: {tok_path} is missing (a shard folder keeps a copy of its tokenizer)")
    sha = sha256_file(tok_path)
    expected = tok_entry.get("sha256") or m.get("tokenizer_sha256")
    if expected and expected != sha:
        raise ValueError(f"{tok_path}: sha256 {sha[:12]}... differs from the manifest's tokenizer "
                         f"{expected[:12]}...; the shards were tokenized with another tokenizer")
    try:
        text = tok_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{tok_path}: not a tokenizer (not UTF-8 text, invalid byte at offset {e.start})") from None
    tok = tokenizer_from_str(text, tok_path)  # tamiz.tokenizer.load's checks: a crafted copy must not abort the process
    special = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS if tok.token_to_id(t) is not None}
    pad_id = m.get("pad_id") if m.get("row_start") == "document" else None
    val = (m.get("splits") or {}).get("validation") or {}
    return DataInfo(folder, int(m["seq_len"]), int(m["vocab_size"]), text, sha, special, pad_id,
                    int(val.get("rows", 0)))


def row_generators(seed: int, salt: int, epoch: int, first_slot: int, n: int) -> list[torch.Generator]:
    """One generator per row, keyed by (seed, salt, epoch, the row's slot in the epoch): a row is masked
    the same way whichever process or micro-batch reads it, and whenever the run is resumed."""
    out = []
    for slot in range(first_slot, first_slot + n):
        s = int(np.random.SeedSequence([seed, salt, epoch, slot]).generate_state(1, dtype=np.uint64)[0] >> 1)
        out.append(torch.Generator().manual_seed(s))
    return out


TRAIN_SALT, EVAL_SALT = 0, 1


class Batcher:
    """Turns loader rows (B, seq_len + 1) into (inputs, targets, attention mask) for the model's objective."""

    def __init__(self, objective: str, info: DataInfo, mlm_probability: float, seed: int, device: torch.device):
        self.objective, self.info, self.p, self.seed, self.device = objective, info, mlm_probability, seed, device
        if objective == "masked" and "<mask>" not in info.special_ids:
            raise ValueError(f"{info.folder}/tokenizer.json has no <mask> token, which masked-LM training needs")

    def __call__(self, rows: torch.Tensor, salt: int, epoch: int, first_slot: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`first_slot`: the place in the epoch of rows[0] (rows are consecutive slots)."""
        pad, attn = self.info.pad_id, None
        if self.objective == "causal":
            x, y = rows[:, :-1], rows[:, 1:].clone()
            if pad is not None:
                y[y == pad] = -100
        else:
            from tamiz.train.encoder import mask_tokens

            x = rows[:, :-1]
            gens = row_generators(self.seed, salt, epoch, first_slot, x.size(0))
            x, y = mask_tokens(x, gens, self.info.special_ids["<mask>"], self.info.vocab_size,
                               list(self.info.special_ids.values()), self.p)
            if pad is not None and bool((x == pad).any()):
                attn = (x != pad).to(self.device)
        nb = self.device.type == "cuda"
        return x.to(self.device, non_blocking=nb), y.to(self.device, non_blocking=nb), attn


def _forward(model, x: torch.Tensor, y: torch.Tensor, attn: torch.Tensor | None) -> torch.Tensor:
    if attn is None:
        return model(x, y, reduction="sum")[1]
    return model(x, y, reduction="sum", attention_mask=attn)[1]


@torch.no_grad()
def evaluate(model: torch.nn.Module, cfg: TrainConfig, batcher: Batcher, d: Dist, autocast) -> tuple[float, int]:
    """Mean validation loss over predicted tokens (all ranks together, one pass over the validation
    split, or its first data.eval_batches batches per rank) and the token count."""
    from tamiz.train.loader import PackedLoader

    loader = PackedLoader(cfg.data.folder, split="validation", batch_size=cfg.data.batch_size, rank=d.rank,
                          world_size=d.world_size, num_workers=0, seed=cfg.data.seed, shuffle=False)
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=batcher.device)
    pos = loader.state_dict()["position"]
    for i, rows in enumerate(loader):
        if cfg.data.eval_batches and i >= cfg.data.eval_batches:
            break
        x, y, attn = batcher(rows, EVAL_SALT, 0, pos + d.rank * cfg.data.batch_size)  # fixed masks: comparable evals
        pos = loader.state_dict()["position"]
        with autocast():
            loss = _forward(model, x, y, attn)
        sums += torch.stack([loss.double(), (y != -100).sum().double()])
    model.train()
    _all_sum(sums, d)
    n = int(sums[1].item())
    return (float(sums[0].item()) / n if n else float("nan")), n


# ---- outputs ------------------------------------------------------------------------------

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
        if not self.enabled:
            return
        write_json(self.out / "history.json", self.history)
        plot_losses(self.history, self.out / "loss.png")


def plot_losses(history: dict, path: Path) -> None:
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


# ---- the run ------------------------------------------------------------------------------

def train(cfg: TrainConfig, resume: bool = False, on_step: Callable[[int, float], None] | None = None,
          on_progress: Callable[[dict], None] | None = None) -> dict:
    """Train (or, with resume, continue) the run `cfg`; returns a summary. `on_step(step, loss)`
    is called after every finished step (after its checkpoint, if one was due); `on_progress(info)`
    at least every PROGRESS_SECONDS with step, total, loss, lr, tokens_per_s and eta_s (see Progress)."""
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
        _check_resume(state, cfg, info)
    elif ckpt_path.is_file():
        raise ValueError(f"run.out: {out} already holds a checkpoint; pass --resume to continue it, "
                         f"or choose another run.out")
    if state is not None and cfg.model.max_seq_len is None:
        cfg.model.max_seq_len = state["model_arch"]["max_seq_len"]
    arch = cfg.model.arch(info.vocab_size, info.seq_len)
    if state is not None and state["model_arch"] != arch:
        raise CheckpointError(f"{ckpt_path} was trained with another model config: "
                              + "; ".join(diff_configs(state["model_arch"], arch)))

    # ---- model and optimizer ----
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
        for change in _apply_optimizer_config(optimizer, scheduler, cfg, start_step):
            log.line(f"warning: resumed with a changed setting, {change} (the run is no longer exactly reproducible)")

    # ---- loader ----
    from tamiz.train.loader import PackedLoader

    loader = PackedLoader(cfg.data.folder, split="train", batch_size=cfg.data.batch_size, rank=d.rank,
                          world_size=d.world_size, num_workers=cfg.data.num_workers, seed=cfg.data.seed,
                          shuffle=cfg.data.shuffle)
    if state is not None:
        loader.load_state_dict(state["loader"])  # the same on every rank; any world size continues from it
    batcher = Batcher(raw.objective, info, cfg.model.mlm_probability, cfg.run.seed, device)

    # ---- wrap: compile, DDP ----
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
        _write_config(cfg, out / "config.yaml")
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
        t0 = time.perf_counter()
        rows, slots = [], []
        for _ in range(cfg.run.grad_accum):
            where = loader.state_dict()  # (epoch, position) of the global batch about to be read
            rows.append(next(it))
            slots.append((where["epoch"], where["position"] + d.rank * cfg.data.batch_size))
        t1 = time.perf_counter()
        batches = [batcher(r, TRAIN_SALT, e, first) for r, (e, first) in zip(rows, slots)]
        count = torch.zeros((), dtype=torch.float64, device=device)
        for _, y, _ in batches:
            count += (y != -100).sum()
        n_global = float(_all_sum(count, d).item())
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for k, (x, y, attn) in enumerate(batches):
            sync = k == len(batches) - 1
            with (fwd.no_sync() if d.enabled and not sync else contextlib.nullcontext()):
                with autocast():
                    loss = _forward(fwd, x, y, attn)
                # DDP averages gradients over ranks, hence * world_size: the result is sum / n_global
                (loss * (d.world_size / max(n_global, 1.0))).backward()
            loss_sum += loss.detach().double()
        loss_value = float(_all_sum(loss_sum, d).item()) / max(n_global, 1.0)
        clip = cfg.optimizer.grad_clip if cfg.optimizer.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(raw.parameters(), clip))
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            bar.close()
            msg = (f"loss {loss_value} / gradient norm {grad_norm} at step {step + 1}: the run stopped before "
                   f"applying it. " + (f"The last good checkpoint is {ckpt_path} (step {last_ckpt}); lower "
                   f"optimizer.lr or set optimizer.grad_clip and continue with --resume."
                   if last_ckpt is not None else "No checkpoint was written yet; lower optimizer.lr and start again."))
            log.line("DIVERGED: " + msg)
            log.flush()
            _teardown(d)
            raise TrainingDiverged(msg)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if steps_done:
            data_time += t1 - t0
            step_time += t2 - t0
            timed += 1
        steps_done += 1
        done = step + 1
        log.history["train"].append({"step": done, "loss": loss_value, "lr": lr, "grad_norm": grad_norm})
        tok_s = tokens_per_step / (t2 - t0)
        bar.step(done, loss_value, lr, tok_s)
        if done % cfg.run.log_interval == 0:
            log.line(f"step {done}/{cfg.schedule.max_steps} loss {loss_value:.4f} lr {lr:.3e} "
                     f"grad_norm {grad_norm:.3f} tok/s {tok_s:,.0f} data_wait {100 * (t1 - t0) / (t2 - t0):.1f}%")
        last = done == cfg.schedule.max_steps
        if info.validation_rows and ((cfg.run.eval_interval and done % cfg.run.eval_interval == 0) or last):
            val_loss, n_val = evaluate(model, cfg, batcher, d, autocast)
            log.history["val"].append({"step": done, "loss": val_loss, "perplexity": math.exp(min(val_loss, 700)),
                                       "tokens": n_val})
            log.line(f"eval step {done}: validation loss {val_loss:.4f} perplexity {math.exp(min(val_loss, 700)):.2f} "
                     f"({n_val:,} tokens)")
            if d.master and cfg.run.progress:
                bar.write(f"step {done}: validation loss {val_loss:.4f}, perplexity {math.exp(min(val_loss, 700)):.2f}")
        if done % cfg.run.checkpoint_interval == 0 or last:
            _save(ckpt_path, raw, optimizer, scheduler, loader, cfg, arch, info, log.history, done, val_loss, d)
            last_ckpt = done
            log.flush()
        if on_step is not None:
            on_step(done, loss_value)
    bar.close()
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
    _teardown(d)
    return summary


def _apply_optimizer_config(optimizer, scheduler, cfg: TrainConfig, step: int) -> list[str]:
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


def _check_resume(state: dict, cfg: TrainConfig, info: DataInfo) -> None:
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


def _save(path: Path, raw, optimizer, scheduler, loader, cfg: TrainConfig, arch: dict, info: DataInfo,
          history: dict, step: int, val_loss: float | None, d: Dist) -> None:
    rngs = _gather(rng_state(), d)
    if d.master:
        save_checkpoint(path, {
            "step": step, "model_kind": cfg.model.kind, "model_arch": arch, "model": raw.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs,
            "loader": loader.state_dict(), "history": history, "config": cfg.to_dict(), "val_loss": val_loss,
            "tokenizer_json": info.tokenizer_json, "tokenizer_sha256": info.tokenizer_sha256,
            "world_size": d.world_size, "torch_version": str(torch.__version__),
        })
    if d.enabled:
        dist.barrier()


def _write_config(cfg: TrainConfig, path: Path) -> None:
    import yaml

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")


def _teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


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
