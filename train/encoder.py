"""A bidirectional transformer encoder trained by masked-language modelling (RoBERTa).

The architecture is RoBERTa's, on purpose, so `train/export.py` maps it weight for weight onto
`transformers.RobertaForMaskedLM` (the model family of BETO, BERTIN, MarIA) with identical logits:

- token + learned position embeddings, LayerNorm, dropout;
- post-norm blocks: x = LN(x + attn(x)), x = LN(x + mlp(x)); GELU (erf) MLP 4x wide; biases;
- attention through `F.scaled_dot_product_attention` (flash attention on a GPU), no causal mask,
  an optional padding mask;
- the LM head: dense, GELU, LayerNorm, then the tied token embedding plus an output bias.

Dynamic masking as in RoBERTa (`mask_tokens`): for every batch a fresh 15% of the non-special
tokens is chosen; of those 80% become the mask token, 10% a random token, 10% stay as they are.
The loss counts the chosen positions only. The draw comes from a `torch.Generator` the caller
seeds (the loop seeds it from the run seed, step and rank), so masking is reproducible and a
resumed run masks exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (n_layer, n_head, n_embd). "roberta-base" is RoBERTa base's shape.
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 2, 64),
    "mini": (4, 4, 256),
    "small": (6, 8, 512),
    "roberta-base": (12, 12, 768),
    "gpt2-small": (12, 12, 768),
}


@dataclass
class EncoderConfig:
    vocab_size: int
    max_seq_len: int = 512
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    intermediate_size: int = 0  # 0: 4 * n_embd
    norm_eps: float = 1e-5
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.intermediate_size == 0:
            self.intermediate_size = 4 * self.n_embd
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class EncoderBlock(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(config)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.norm_eps)
        self.c_fc = nn.Linear(config.n_embd, config.intermediate_size)
        self.c_proj = nn.Linear(config.intermediate_size, config.n_embd)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.ln_1(x + self.drop(self.attn(x, attn_mask)))
        x = self.ln_2(x + self.drop(self.c_proj(F.gelu(self.c_fc(x)))))
        return x


class MaskedLM(nn.Module):
    objective = "masked"

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.max_seq_len, config.n_embd)
        self.ln_emb = nn.LayerNorm(config.n_embd, eps=config.norm_eps)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([EncoderBlock(config) for _ in range(config.n_layer)])
        # LM head: dense -> gelu -> layernorm -> tied embedding + bias
        self.head_dense = nn.Linear(config.n_embd, config.n_embd)
        self.head_ln = nn.LayerNorm(config.n_embd, eps=config.norm_eps)
        self.head_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # BERT/RoBERTa initialisation: N(0, 0.02) for matrices and embeddings, zero biases
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """6N (position embeddings excluded: a lookup) plus attention; the head runs on every token
        here, the loop runs it on the masked ones only, so this is an upper bound."""
        c = self.config
        n = self.num_params() - self.wpe.weight.numel()
        return 6 * n + 12 * c.n_layer * c.n_embd * seq_len

    def encode(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T = idx.size()
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} is above the model's max_seq_len {self.config.max_seq_len}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.ln_emb(self.wte(idx) + self.wpe(pos)))
        attn_mask = None
        if attention_mask is not None:  # (B, T) 1 = token, 0 = padding; broadcast over heads and queries
            attn_mask = attention_mask.bool()[:, None, None, :]
        for block in self.h:
            x = block(x, attn_mask)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_ln(F.gelu(self.head_dense(x)))
        return F.linear(x, self.wte.weight, self.head_bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean",
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """idx (B, T) masked input; targets (B, T) original ids at the masked positions, -100 elsewhere.

        With targets, the LM head runs on the masked positions only (a 15% share of the
        vocabulary projection) and (None, loss) is returned; without, (logits for every position, None).
        """
        x = self.encode(idx, attention_mask)
        if targets is None:
            return self.head(x), None
        sel = targets != -100
        logits = self.head(x[sel])
        loss = F.cross_entropy(logits.float(), targets[sel], reduction=reduction)
        if reduction == "mean" and not sel.any():
            loss = logits.sum() * 0.0
        return None, loss

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], eps: float,
                            device_type: str) -> torch.optim.AdamW:
        from tamiz.train.model import configure_adamw

        return configure_adamw(self, weight_decay, lr, betas, eps, device_type)


def mask_tokens(idx: torch.Tensor, generator: torch.Generator | list[torch.Generator], mask_id: int,
                vocab_size: int, special_ids: list[int], probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """RoBERTa's dynamic masking of idx (B, T): returns (inputs, labels); labels are -100 where nothing was masked.

    `special_ids` (end of text, padding, mask, beginning of sequence) are never chosen. The random
    replacement draws from the whole vocabulary except the special tokens. All draws come from
    `generator` (on the CPU), or from one generator per row when given a list (the loop keys each
    row's generator by the row's place in the epoch, so the masks do not depend on how rows are
    split across processes and micro-batches); the same generator states give the same masks on any device.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1), got {probability}")
    cpu = idx.detach().to("cpu")
    special = torch.zeros(vocab_size, dtype=torch.bool)
    special[torch.tensor(sorted(set(special_ids)), dtype=torch.long)] = True
    normal_ids = (~special).nonzero().squeeze(1)
    gens = generator if isinstance(generator, list) else None
    if gens is not None and len(gens) != cpu.size(0):
        raise ValueError(f"{len(gens)} generators for {cpu.size(0)} rows")

    def draw(fn):  # the same draws, per row or for the whole batch
        if gens is None:
            return fn(cpu.shape, generator)
        return torch.stack([fn(cpu.shape[1:], g) for g in gens])

    u = draw(lambda shape, g: torch.rand(shape, generator=g))
    r = draw(lambda shape, g: torch.rand(shape, generator=g))
    pick = draw(lambda shape, g: torch.randint(len(normal_ids), shape, generator=g))
    chosen = (u < probability) & ~special[cpu]
    labels = torch.where(chosen, cpu, torch.full_like(cpu, -100))
    to_mask = chosen & (r < 0.8)
    to_random = chosen & (r >= 0.8) & (r < 0.9)
    rand_tok = normal_ids[pick]  # random replacements from the non-special vocabulary
    inputs = torch.where(to_mask, torch.full_like(cpu, mask_id), cpu)
    inputs = torch.where(to_random, rand_tok, inputs)
    return inputs.to(idx.device), labels.to(idx.device)
