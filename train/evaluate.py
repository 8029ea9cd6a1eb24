"""Validation: the summed loss of one batch (`forward_loss`, shared with the training step in
train/loop.py) and `evaluate`, the mean loss per predicted token over the shard folder's validation
split, all ranks together. Rows are batched by train/batching.py with fixed masks (EVAL_SALT, epoch
0), so evaluations at different steps of a masked model are comparable.
"""

from __future__ import annotations

from typing import Callable, ContextManager

import torch

from tamiz.train.batching import EVAL_SALT, Batcher
from tamiz.train.config import TrainConfig
from tamiz.train.distributed import Dist, all_sum


def forward_loss(model, x: torch.Tensor, y: torch.Tensor, attn: torch.Tensor | None) -> torch.Tensor:
    """The loss of a batch summed over its predicted tokens (targets -100 are not predicted); the
    attention mask is passed only when there is one (the causal and LSTM models take none)."""
    if attn is None:
        return model(x, y, reduction="sum")[1]
    return model(x, y, reduction="sum", attention_mask=attn)[1]


@torch.no_grad()
def evaluate(model: torch.nn.Module, cfg: TrainConfig, batcher: Batcher, d: Dist,
             autocast: Callable[[], ContextManager]) -> tuple[float, int]:
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
            loss = forward_loss(model, x, y, attn)
        sums += torch.stack([loss.double(), (y != -100).sum().double()])
    model.train()
    all_sum(sums, d)
    n = int(sums[1].item())
    return (float(sums[0].item()) / n if n else float("nan")), n
