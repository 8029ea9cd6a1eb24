"""A decoder-only transformer language model (GPT), in the shape of nanoGPT's model file.

Architecture (Llama-style, so `train/export.py` maps it onto `transformers.LlamaForCausalLM`
weight for weight, with identical logits):

- token embedding, no learned positions: rotary position embeddings (RoPE) on queries and keys,
  in the "rotate half" convention (the first half of each head's dimensions pairs with the second
  half), base `rope_theta`;
- pre-norm blocks: x + attn(rmsnorm(x)), then x + mlp(rmsnorm(x)); a final RMSNorm;
- attention through `F.scaled_dot_product_attention(is_causal=True)`, so a GPU runs flash attention;
- SwiGLU MLP (silu(x W_gate) * x W_up) W_down, no biases anywhere;
- the output projection shares the token embedding matrix (tied embeddings).

Sizes run from "tiny" (tests on a CPU) to "gpt2-small" (12 layers, 12 heads, 768 wide: about
124M parameters with a 50k vocabulary), see `PRESETS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (n_layer, n_head, n_embd). "gpt2-small" is GPT-2 small's shape.
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 2, 64),
    "mini": (4, 4, 256),
    "small": (6, 8, 512),
    "gpt2-small": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
}


def swiglu_hidden(n_embd: int, multiple_of: int = 64) -> int:
    """Llama's SwiGLU width: 8/3 of the model width (same parameters as a 4x GELU MLP), rounded up."""
    h = int(8 * n_embd / 3)
    return multiple_of * ((h + multiple_of - 1) // multiple_of)


@dataclass
class GPTConfig:
    vocab_size: int
    max_seq_len: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    intermediate_size: int = 0  # 0: swiglu_hidden(n_embd)
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.intermediate_size == 0:
            self.intermediate_size = swiglu_hidden(self.n_embd)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError(f"head size n_embd/n_head = {self.n_embd // self.n_head} must be even (rotary positions)")


class RMSNorm(nn.Module):
    """RMSNorm with a learned scale, as Llama's (fp32 statistics)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.size(-1),), self.weight.float(), self.eps).type_as(x)


def rope_cache(head_dim: int, max_seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (max_seq_len, head_dim) in the rotate-half layout (transformers' Llama).

    The sin table comes with the rotation's sign folded in (its first half negated), so applying
    it takes a swap of the halves and no negation: x * cos + swap(x) * sin_signed equals Llama's
    x * cos + rotate_half(x) * sin exactly (a sign flip is exact in floating point)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)
    return torch.cat((freqs, freqs), dim=-1).cos(), torch.cat((-freqs.sin(), freqs.sin()), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """x: (B, heads, T, head_dim); cos/sin_signed: (T, head_dim). In fp32, returned in x's dtype."""
    xf = x.float()
    half = xf.size(-1) // 2
    swapped = torch.cat((xf[..., half:], xf[..., :half]), dim=-1)
    return (xf * cos + swapped * sin_signed).type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        # q, k, v in one matmul (split again on export)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        hs = C // self.n_head
        qk, v = self.c_attn(x).split((2 * C, C), dim=2)
        # rotary positions on queries and keys together: (B, 2 * nh, T, hs), one pass
        qk = apply_rope(qk.view(B, T, 2 * self.n_head, hs).transpose(1, 2), cos, sin)
        q, k = qk.split(self.n_head, dim=1)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        # gate and up projections in one matmul (split again on export)
        self.c_fc = nn.Linear(config.n_embd, 2 * config.intermediate_size, bias=False)
        self.c_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.c_fc(x).chunk(2, dim=-1)
        return self.dropout(self.c_proj(F.silu(gate) * up))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = RMSNorm(config.n_embd, config.norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = RMSNorm(config.n_embd, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cos, sin)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    objective = "causal"

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=RMSNorm(config.n_embd, config.norm_eps),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        # rotary tables are derived from the config, so they are not saved in checkpoints
        cos, sin = rope_cache(config.n_embd // config.n_head, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

        self.apply(self._init_weights)
        # GPT-2: scale the init of the projections into the residual stream by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6N for the matmuls (the tied embedding is the output matmul)
        plus 12 * n_layer * n_embd * seq_len for attention scores and values (PaLM appendix B)."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * seq_len

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                reduction: str = "mean") -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """idx (B, T) token ids; targets (B, T) next-token ids (-100: ignored).

        Returns (logits, loss). With targets the logits are not returned (None) to save memory;
        without targets the logits cover every position.
        """
        B, T = idx.size()
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} is above the model's max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.transformer.drop(self.transformer.wte(idx))
        for block in self.transformer.h:
            x = block(x, cos, sin)
        x = self.transformer.ln_f(x)
        return lm_output(self.lm_head(x), targets, reduction)

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], eps: float,
                            device_type: str) -> torch.optim.AdamW:
        return configure_adamw(self, weight_decay, lr, betas, eps, device_type)


def lm_output(logits: torch.Tensor, targets: torch.Tensor | None,
              reduction: str = "mean") -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """What every tamiz language model's forward returns: (logits, None) without targets, else (None, the
    cross-entropy in float32 over the positions whose target is not -100)."""
    if targets is None:
        return logits, None
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                           ignore_index=-100, reduction=reduction)
    return None, loss


def configure_adamw(model: nn.Module, weight_decay: float, lr: float, betas: tuple[float, float], eps: float,
                    device_type: str) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (and embeddings) only, never on norms and biases (nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused kernels on a GPU; on a CPU the default (foreach) path
    extra = {"fused": True} if device_type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, **extra)
