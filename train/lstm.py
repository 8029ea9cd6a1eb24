"""An LSTM language model: the classic baseline (Merity et al.'s AWD-LSTM family, without the tricks).

embedding -> dropout -> n_layer LSTM -> dropout -> output projection tied to the embedding.
It predicts the next token like `tamiz.train.model.GPT` and is trained by the same loop, so the two are
compared on the same shards by validation perplexity. Each training row is an independent
sequence (the state starts at zero), as for the transformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

# name -> (n_layer, n_embd); the hidden size equals n_embd so the output can tie to the embedding
PRESETS: dict[str, tuple[int, int]] = {
    "tiny": (1, 64),
    "mini": (2, 256),
    "small": (2, 512),
    "gpt2-small": (3, 1024),
}


@dataclass
class LSTMConfig:
    vocab_size: int
    max_seq_len: int = 1024  # not a limit of the architecture; kept so every model has one
    n_layer: int = 2
    n_embd: int = 512
    dropout: float = 0.0


class LSTMLM(nn.Module):
    objective = "causal"

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.n_embd, config.n_embd, num_layers=config.n_layer, batch_first=True,
                            dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        torch.nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        return 6 * self.num_params()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                reduction: str = "mean") -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x = self.drop(self.wte(idx))
        x, _ = self.lstm(x)
        from tamiz.train.model import lm_output

        return lm_output(self.lm_head(self.drop(x)), targets, reduction)

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], eps: float,
                            device_type: str) -> torch.optim.AdamW:
        from tamiz.train.model import configure_adamw

        return configure_adamw(self, weight_decay, lr, betas, eps, device_type)
