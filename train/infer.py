"""Use a trained model: next-token predictions, word probabilities, sampling, and perplexity.

Causal models (GPT, LSTM) read a prompt as the start of a document: the end-of-text token the
shards put between documents comes first. A word's probability is the product of the
probabilities of its tokens, each given the prompt and the word's earlier tokens, with the
word's leading space (" fajitas", the way it follows a prompt in running text).

Masked models fill a `<mask>` in the text (one is appended when the text has none); a word of n
tokens is scored by the chain rule over n mask slots, left to right (each step sees the word's
earlier tokens filled in and the rest still masked). Their "perplexity" is the pseudo-perplexity
of Salazar et al. (2020): every token masked in turn.

Perplexity = exp(mean negative log-likelihood per token) of the text's tokens (the leading
end-of-text token is context, not scored). Bits per byte (the total negative log-likelihood
in bits over the UTF-8 bytes of the text) compares models with different tokenizers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tamiz.core.shardformat import EOT, MASK
from tamiz.train.checkpoint import load_checkpoint, model_from_checkpoint, tokenizer_from_checkpoint


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object  # tokenizers.Tokenizer
    kind: str  # causal | masked | lstm
    step: int
    device: torch.device
    val_loss: float | None = None

    @property
    def objective(self) -> str:
        return self.model.objective

    @property
    def max_seq_len(self) -> int:
        return self.model.config.max_seq_len

    def token_id(self, token: str) -> int:
        i = self.tokenizer.token_to_id(token)
        if i is None:
            raise ValueError(f"the model's tokenizer has no {token} token")
        return i

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def show(self, token_id: int) -> str:
        """A token as text, with its spaces and newlines visible."""
        return repr(self.tokenizer.decode([token_id], skip_special_tokens=False))


def load(checkpoint: str | Path, device: str = "auto") -> LoadedModel:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state).to(dev)
    return LoadedModel(model=model, tokenizer=tokenizer_from_checkpoint(state, checkpoint), kind=state["model_kind"],
                       step=state["step"], device=dev, val_loss=state.get("val_loss"))


def _check_len(lm: LoadedModel, n: int, what: str) -> None:
    if n > lm.max_seq_len:
        raise ValueError(f"{what} is {n} tokens, above the model's max_seq_len {lm.max_seq_len}")


@torch.no_grad()
def _logits(lm: LoadedModel, ids: list[int]) -> torch.Tensor:
    x = torch.tensor([ids], dtype=torch.long, device=lm.device)
    return lm.model(x)[0][0].float()


# ---- next-token prediction ----------------------------------------------------------------

@dataclass
class Prediction:
    context_tokens: int
    top: list[tuple[str, int, float]]  # (shown token, id, probability)
    words: list[tuple[str, float, int]] = field(default_factory=list)  # (word, probability, tokens)


def predict(lm: LoadedModel, text: str, top_k: int = 10, words: list[str] | tuple[str, ...] = ()) -> Prediction:
    """The top-k next tokens after `text` (causal) or at its `<mask>` (masked), and P(word) for `words`."""
    if top_k <= 0:
        raise ValueError(f"top_k must be > 0, got {top_k}")
    words = [w.strip() for w in words if w.strip()]
    if lm.objective == "masked":
        return _predict_masked(lm, text, top_k, words)
    ids = [lm.token_id(EOT)] + lm.encode(text.rstrip())
    _check_len(lm, len(ids), "the prompt")
    probs = torch.softmax(_logits(lm, ids)[-1], dim=-1)
    p, i = probs.topk(min(top_k, probs.numel()))
    top = [(lm.show(int(t)), int(t), float(q)) for q, t in zip(p, i)]
    out = []
    for w in words:
        wids = lm.encode(" " + w if text.strip() else w)
        _check_len(lm, len(ids) + len(wids), f"the prompt plus {w!r}")
        logp = torch.log_softmax(_logits(lm, ids + wids), dim=-1)
        lp = sum(float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(wids))
        out.append((w, math.exp(lp), len(wids)))
    return Prediction(len(ids), top, out)


def _predict_masked(lm: LoadedModel, text: str, top_k: int, words: list[str]) -> Prediction:
    if text.count(MASK) > 1:
        raise ValueError(f"put at most one {MASK} in the text (found {text.count(MASK)})")
    left, _, right = (text if MASK in text else text.rstrip() + " " + MASK).partition(MASK)
    eot, mask = lm.token_id(EOT), lm.token_id(MASK)
    lids, rids = [eot] + lm.encode(left.rstrip()), lm.encode(right) + [eot]
    _check_len(lm, len(lids) + 1 + len(rids), "the text")
    probs = torch.softmax(_logits(lm, lids + [mask] + rids)[len(lids)], dim=-1)
    p, i = probs.topk(min(top_k, probs.numel()))
    top = [(lm.show(int(t)), int(t), float(q)) for q, t in zip(p, i)]
    out = []
    for w in words:
        wids = lm.encode(" " + w if left.strip() else w)
        _check_len(lm, len(lids) + len(wids) + len(rids), f"the text with {w!r}")
        lp = 0.0
        for k, t in enumerate(wids):  # chain rule over the word's slots, left to right
            seq = lids + wids[:k] + [mask] * (len(wids) - k) + rids
            lp += float(torch.log_softmax(_logits(lm, seq)[len(lids) + k], dim=-1)[t])
        out.append((w, math.exp(lp), len(wids)))
    return Prediction(len(lids) + 1 + len(rids), top, out)


# ---- sampling -----------------------------------------------------------------------------

@torch.no_grad()
def generate(lm: LoadedModel, prompt: str, max_new_tokens: int = 50, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             info: dict | None = None) -> str:
    """Sample a continuation of `prompt` (causal models); stops at the end-of-text token. `info`, if
    given, receives `new_tokens` and `stopped_at_eot` (why the text ended).

    temperature 0 is greedy decoding; top_k keeps the k most likely tokens; top_p keeps the smallest
    set of tokens whose probabilities sum to at least p (nucleus sampling)."""
    if lm.objective != "causal":
        raise ValueError("generate needs a causal model (this checkpoint is a masked model)")
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be > 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be > 0, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    eot = lm.token_id(EOT)
    ids = [eot] + lm.encode(prompt)
    _check_len(lm, len(ids), "the prompt")
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    new: list[int] = []
    for _ in range(max_new_tokens):
        logits = _logits(lm, (ids + new)[-lm.max_seq_len:])[-1]  # crop to the model's context
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k is not None:
                v, _ = logits.topk(min(top_k, logits.numel()))
                logits[logits < v[-1]] = -float("inf")
            if top_p is not None and top_p < 1.0:
                sorted_logits, order = logits.sort(descending=True)
                cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
                drop = cum - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the first token past p
                logits[order[drop]] = -float("inf")
            nxt = int(torch.multinomial(torch.softmax(logits, dim=-1).cpu(), 1, generator=g))
        if nxt == eot:
            break
        new.append(nxt)
    if info is not None:
        info.update(new_tokens=len(new), stopped_at_eot=len(new) < max_new_tokens)
    return prompt + lm.tokenizer.decode(new)


# ---- perplexity ---------------------------------------------------------------------------

@dataclass
class Score:
    text: str
    tokens: int
    nll: float  # total negative log-likelihood, nats
    bytes: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.tokens) if self.tokens else float("nan")

    @property
    def bits_per_byte(self) -> float:
        return self.nll / math.log(2) / self.bytes if self.bytes else float("nan")


@torch.no_grad()
def _causal_nll(lm: LoadedModel, ids: list[int]) -> float:
    """Sum of -log p(ids[i] | ids[:i]) for i >= 1 (ids[0] is the end-of-text context token).

    Texts longer than the model's context are scored in windows of max_seq_len that advance by
    half a window, so every token after the first window sees at least max_seq_len/2 tokens of context.
    """
    T = lm.max_seq_len
    stride = max(1, T // 2)
    total, scored, begin = 0.0, 1, 0
    while scored < len(ids):
        end = min(begin + T, len(ids))
        logp = torch.log_softmax(_logits(lm, ids[begin:end]), dim=-1)
        for pos in range(scored, end):  # ids[pos] is predicted at window position pos - begin - 1
            total -= float(logp[pos - begin - 1, ids[pos]])
        scored = end
        begin = end - T + stride
    return total


@torch.no_grad()
def _masked_pll(lm: LoadedModel, ids: list[int]) -> float:
    """Pseudo-log-likelihood: each of ids[1:-1] masked in turn (in chunks that fit the model)."""
    mask = lm.token_id(MASK)
    body = ids[1:-1]
    chunk = lm.max_seq_len - 2
    total = 0.0
    for s in range(0, len(body), chunk):
        part = [ids[0]] + body[s:s + chunk] + [ids[-1]]
        n = len(part) - 2
        batch = torch.tensor([part] * n, dtype=torch.long, device=lm.device)
        pos = torch.arange(1, n + 1, device=lm.device)
        batch[torch.arange(n), pos] = mask
        logits = lm.model(batch)[0].float()
        logp = torch.log_softmax(logits[torch.arange(n), pos], dim=-1)
        total -= float(logp[torch.arange(n), batch.new_tensor(part[1:-1])].sum())
    return total


def score(lm: LoadedModel, texts: list[str]) -> list[Score]:
    """Perplexity (pseudo-perplexity for masked models) of each text, any length."""
    eot = lm.token_id(EOT)
    out = []
    for t in texts:
        body = lm.encode(t)
        if lm.objective == "masked":
            nll = _masked_pll(lm, [eot] + body + [eot]) if body else 0.0
        else:
            nll = _causal_nll(lm, [eot] + body) if body else 0.0
        out.append(Score(t, len(body), nll, len(t.encode("utf-8"))))
    return out


def total(scores: list[Score]) -> Score:
    return Score("(all)", sum(s.tokens for s in scores), sum(s.nll for s in scores), sum(s.bytes for s in scores))
