"""Typed configuration of a training run: model, optimizer, schedule, data and run settings.

A run is one YAML file with the five sections below (every field has a visible default except
`data.folder` and `run.out`); `load_config(path)` reads it with `yaml.safe_load` (through
`tamiz.core.yamlsafe`: size, depth and alias-bomb checks) and checks every field before any work
starts (`tamiz.core.config.from_mapping`): an unknown field, a wrong type or a bad value raises
`ValueError` naming the field, e.g. "optimizer.lr: must be > 0, got -1". Each section's
`__post_init__` names its fields without the section (`lr: ...`); the loader puts the section in
front. Relative paths are relative to the current directory. Field documentation is the comment at
the end of the field's line (`tamiz.core.config.describe` renders it).

    model:     {kind: causal, size: tiny}          # causal (GPT) | masked (RoBERTa) | lstm
    optimizer: {lr: 6.0e-4, weight_decay: 0.1}
    schedule:  {warmup_steps: 100, max_steps: 2000}
    data:      {folder: out/shards, batch_size: 16}
    run:       {out: out/run, grad_accum: 4, eval_interval: 200}

Batch sizes: `data.batch_size` rows per micro-batch per process; one optimizer step sees
batch_size * run.grad_accum * world_size rows of seq_len tokens (the global batch).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tamiz.core.config import from_mapping

KINDS = ("causal", "masked", "lstm")


def _err(name: str, msg: str) -> ValueError:
    return ValueError(f"{name}: {msg}")


@dataclass
class ModelConfig:
    """The model. `size` picks a preset (n_layer, n_head, n_embd); explicit fields override it."""

    kind: str = "causal"  # causal: decoder-only transformer (GPT, exported as Llama); masked: RoBERTa encoder; lstm:
    #                       LSTM baseline.
    size: str = "tiny"  # Preset: tiny, mini, small, gpt2-small (~124M causal), gpt2-medium (causal), roberta-base
    #                     (masked).
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    intermediate_size: int = 0  # MLP width; 0: 8/3 * n_embd rounded up to 64 (causal, SwiGLU) or 4 * n_embd (masked,
    #                             GELU).
    max_seq_len: int | None = None  # Longest input the model accepts; None: the shard folder's seq_len.
    vocab_size: int | None = None  # None: the shard folder's vocabulary (the usual choice); else it must equal it.
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    dropout: float = 0.0
    mlm_probability: float = 0.15  # Masked models: share of non-special tokens chosen per batch (then 80% mask / 10%
    #                                random / 10% kept).

    def __post_init__(self) -> None:
        from tamiz.train import encoder, lstm, model

        if self.kind not in KINDS:
            raise _err("kind", f"must be one of {', '.join(KINDS)}, got {self.kind!r}")
        presets = {"causal": model.PRESETS, "masked": encoder.PRESETS, "lstm": lstm.PRESETS}[self.kind]
        if self.size not in presets:
            raise _err("size", f"unknown size {self.size!r} for kind {self.kind}; one of {', '.join(presets)}")
        preset = presets[self.size]
        if self.kind == "lstm":
            self.n_layer = self.n_layer or preset[0]
            self.n_embd = self.n_embd or preset[1]
            self.n_head = self.n_head or 1
        else:
            self.n_layer = self.n_layer or preset[0]
            self.n_head = self.n_head or preset[1]
            self.n_embd = self.n_embd or preset[2]
        for name in ("n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise _err(name, f"must be > 0, got {getattr(self, name)}")
        if self.kind != "lstm" and self.n_embd % self.n_head:
            raise _err("n_embd", f"must be a multiple of n_head ({self.n_head}), got {self.n_embd}")
        if self.kind == "causal" and (self.n_embd // self.n_head) % 2:
            raise _err("n_head", f"head size n_embd/n_head = {self.n_embd // self.n_head} must be even (rotary)")
        if self.intermediate_size < 0:
            raise _err("intermediate_size", f"must be >= 0, got {self.intermediate_size}")
        for name in ("max_seq_len", "vocab_size"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise _err(name, f"must be > 0, got {v}")
        if not (self.norm_eps > 0 and math.isfinite(self.norm_eps)):
            raise _err("norm_eps", f"must be a positive number, got {self.norm_eps}")
        if not self.rope_theta > 0:
            raise _err("rope_theta", f"must be > 0, got {self.rope_theta}")
        if not 0.0 <= self.dropout < 1.0:
            raise _err("dropout", f"must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.mlm_probability < 1.0:
            raise _err("mlm_probability", f"must be in (0, 1), got {self.mlm_probability}")

    def arch(self, vocab_size: int, seq_len: int) -> dict:
        """The architecture as the model class's config dict, given the shard folder's vocabulary and seq_len."""
        if self.vocab_size is not None and self.vocab_size != vocab_size:
            raise _err("model.vocab_size", f"{self.vocab_size} differs from the shard folder's vocabulary {vocab_size}")
        max_seq_len = self.max_seq_len or seq_len
        if seq_len > max_seq_len:
            raise _err("model.max_seq_len", f"the shards' seq_len {seq_len} is above the model's max_seq_len {max_seq_len}")
        common = dict(vocab_size=vocab_size, max_seq_len=max_seq_len, n_layer=self.n_layer, n_embd=self.n_embd,
                      dropout=self.dropout)
        if self.kind == "lstm":
            return common
        common.update(n_head=self.n_head, intermediate_size=self.intermediate_size, norm_eps=self.norm_eps)
        if self.kind == "causal":
            common["rope_theta"] = self.rope_theta
        return dataclasses.asdict(_arch_class(self.kind)(**common))


def _arch_class(kind: str) -> type:
    from tamiz.train.encoder import EncoderConfig
    from tamiz.train.lstm import LSTMConfig
    from tamiz.train.model import GPTConfig

    return {"causal": GPTConfig, "masked": EncoderConfig, "lstm": LSTMConfig}[kind]


def build_model(kind: str, arch: dict):
    """The model for `kind` ('causal', 'masked', 'lstm') from its architecture dict (as in checkpoints)."""
    from tamiz.train.encoder import MaskedLM
    from tamiz.train.lstm import LSTMLM
    from tamiz.train.model import GPT

    cls = {"causal": GPT, "masked": MaskedLM, "lstm": LSTMLM}[kind]
    return cls(_arch_class(kind)(**arch))


@dataclass
class OptimizerConfig:
    """AdamW (decoupled weight decay on matrices and embeddings only) and gradient clipping."""

    lr: float = 6e-4  # Peak learning rate (after warmup).
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    eps: float = 1e-8
    grad_clip: float = 1.0  # Clip the global gradient norm to this; 0 turns clipping off.

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise _err("lr", f"must be > 0, got {self.lr}")
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise _err("betas", f"must be two numbers in [0, 1), got {list(self.betas)}")
        if not self.weight_decay >= 0:
            raise _err("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if not self.eps > 0:
            raise _err("eps", f"must be > 0, got {self.eps}")
        if not (self.grad_clip >= 0 and math.isfinite(self.grad_clip)):
            raise _err("grad_clip", f"must be >= 0 (0: off), got {self.grad_clip}")


@dataclass
class ScheduleConfig:
    """Learning rate: linear warmup from 0 to optimizer.lr, then cosine decay to min_lr_ratio * lr at max_steps."""

    max_steps: int = 1000  # Optimizer steps of the whole run (a resumed run continues to the same max_steps).
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.max_steps <= 0:
            raise _err("max_steps", f"must be > 0, got {self.max_steps}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise _err("warmup_steps", f"must be in [0, max_steps={self.max_steps}], got {self.warmup_steps}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise _err("min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")

    def lr_factor(self, step: int) -> float:
        """Multiplier of the peak lr for optimizer step `step` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.max_steps == self.warmup_steps:
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / (self.max_steps - self.warmup_steps))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class DataConfig:
    """The packed Arrow shards (a folder written by `tamiz shard`, with manifest.json and tokenizer.json)."""

    folder: str = ""
    batch_size: int = 8  # Rows per micro-batch per process.
    num_workers: int = 0  # DataLoader worker processes per rank that read the shards.
    shuffle: bool = True
    seed: int = 0  # Seed of the loader's row order.
    eval_batches: int = 20  # Validation batches per evaluation (per process); 0: the whole validation split.

    def __post_init__(self) -> None:
        if not self.folder:
            raise _err("folder", "is required (a shard folder with manifest.json)")
        if self.batch_size <= 0:
            raise _err("batch_size", f"must be > 0, got {self.batch_size}")
        if self.num_workers < 0:
            raise _err("num_workers", f"must be >= 0, got {self.num_workers}")
        if self.eval_batches < 0:
            raise _err("eval_batches", f"must be >= 0 (0: all), got {self.eval_batches}")


@dataclass
class RunConfig:
    """Where the run writes and how it runs."""

    out: str = ""  # Output folder: checkpoint.pt, train.log, metrics.jsonl, loss.png, config.yaml.
    grad_accum: int = 1  # Micro-batches per optimizer step.
    seed: int = 0  # Seed of the model's initialisation, dropout and masking.
    eval_interval: int = 100  # Evaluate on the validation split every this many steps (and at the end); 0: only at
    #                           the end.
    checkpoint_interval: int = 100  # Write checkpoint.pt every this many steps (and at the end).
    log_interval: int = 10  # Write a line to train.log every this many steps.
    device: str = "auto"  # auto (cuda when available), cpu, cuda, cuda:N.
    precision: str = "auto"  # auto (bf16 autocast on a GPU that supports it, else fp32), bf16, fp32.
    compile: bool = False  # torch.compile the model (GPU runs).
    deterministic: bool = False  # torch.use_deterministic_algorithms(True): bit-exact resume on a CPU; slower on a
    #                              GPU.
    progress: bool = True  # Show a progress bar (rank 0).

    def __post_init__(self) -> None:
        if not self.out:
            raise _err("out", "is required (the output folder)")
        for name in ("grad_accum", "log_interval", "checkpoint_interval"):
            if getattr(self, name) <= 0:
                raise _err(name, f"must be > 0, got {getattr(self, name)}")
        if self.eval_interval < 0:
            raise _err("eval_interval", f"must be >= 0, got {self.eval_interval}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise _err("device", f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise _err("precision", f"must be auto, bf16 or fp32, got {self.precision!r}")


@dataclass
class TrainConfig:
    """The whole run: the five sections (data and run have required fields; the others have defaults)."""

    data: DataConfig
    run: RunConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["optimizer"]["betas"] = list(d["optimizer"]["betas"])
        return d


SECTIONS = {"model": ModelConfig, "optimizer": OptimizerConfig, "schedule": ScheduleConfig,
            "data": DataConfig, "run": RunConfig}


def config_from_dict(d: Any) -> TrainConfig:
    """A TrainConfig from its five sections (tamiz.core.config.from_mapping: unknown fields, types, and
    each section's own checks; an integer given for a float field becomes a float)."""
    if not isinstance(d, dict):
        raise ValueError(f"config: must be a mapping with sections {', '.join(SECTIONS)}, got {type(d).__name__}")
    return from_mapping(TrainConfig, d, int_as_float=True)


def load_config(path: str | Path) -> TrainConfig:
    """Read and check a YAML training config; ValueError names the file or the bad field.

    The file is read by `tamiz.core.yamlsafe.read_mapping`: safe_load, size, UTF-8, nesting depth and YAML
    alias bombs are checked before any field."""
    from tamiz.core.yamlsafe import read_mapping

    path = Path(path)
    try:
        d = read_mapping(path, "training config", expected=f"a mapping with sections {', '.join(SECTIONS)}")
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None
    return config_from_dict(d)


def config_from_table(table: Any, out: str | Path, enabled: bool | None = None,
                      overrides: dict[str, Any] | None = None) -> TrainConfig | None:
    """The dataset table's `training:` block (sections model/optimizer/schedule/run, docs/training.md)
    for a build into `out`: the data folder and the run folder are the build's own (OUT/shards,
    OUT/train). `enabled: false` in the block, or `enabled=False` (--no-train), gives None.
    `overrides` are dotted fields ("schedule.max_steps": 150) that win over the block."""
    block = {k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(table.training).items()}
    on = block.pop("enabled", True)
    if enabled is not None:
        on = enabled
    if not on:
        return None
    for k, v in (overrides or {}).items():
        section, _, name = k.partition(".")
        block.setdefault(section, {})[name] = v
    block.setdefault("data", {})["folder"] = str(Path(out) / "shards")
    block.setdefault("run", {})["out"] = str(Path(out) / "train")
    try:
        return config_from_dict(block)
    except ValueError as e:
        raise ValueError(f"{table.path}: training.{e}") from None
