"""One fine-tuning run: a model, a seed, a mode. Train for the task's epochs, keep the epoch with the best dev
score (the last one without a dev split), score the test split.

A plain loop rather than transformers' `Trainer` (which needs `accelerate`, one more dependency, for what is
AdamW, transformers' linear warmup/decay schedule and gradient clipping here); the heads, the losses and the
schedule are transformers'. Deterministic on a CPU: the seed fixes the head's initial weights, the batch order
and torch's deterministic kernels are asked for.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from tamiz.train.finetune.encode import IGNORE, Encoded, answer_text
from tamiz.train.finetune.metrics import REPORTED, classification_scores, entity_scores, qa_scores
from tamiz.train.finetune.tasks import Task, TrainingSettings

DEFAULT_LR = {"full": 1e-3, "feature": 1e-2}
MAX_ANSWER_TOKENS = 30


@dataclass
class Prepared:
    """A task's splits encoded once for one tokenizer (shared by every seed and model)."""
    task: Task
    encoded: dict[str, list[Encoded]]
    pad: int
    unplaced: dict[str, int] = field(default_factory=dict)  # qa: examples per split whose answer no window holds


def _batch(items: list[Encoded], kind: str, pad: int, device) -> dict[str, torch.Tensor]:
    n = max(len(e.ids) for e in items)
    ids = torch.full((len(items), n), pad, dtype=torch.long)
    mask = torch.zeros((len(items), n), dtype=torch.long)
    for i, e in enumerate(items):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        mask[i, :len(e.ids)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if kind == "classification":
        out["labels"] = torch.tensor([e.label for e in items])
    elif kind == "tokens":
        lab = torch.full((len(items), n), IGNORE, dtype=torch.long)
        for i, e in enumerate(items):
            lab[i, :len(e.label)] = torch.tensor(e.label)
        out["labels"] = lab
    else:
        out["start_positions"] = torch.tensor([e.label[0] for e in items])
        out["end_positions"] = torch.tensor([e.label[1] for e in items])
    return {k: v.to(device) for k, v in out.items()}


def run_once(prep: Prepared, model, *, mode: str, seed: int, settings: TrainingSettings, device: str = "cpu",
             log: Callable[[str], None] = lambda s: None) -> dict:
    """Fine-tune `model` (from `models.load_model`) on the train split; returns epochs, best epoch, test scores."""
    from transformers import get_linear_schedule_with_warmup

    kind = prep.task.kind
    t0 = time.perf_counter()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        model.to(device)
        gen = torch.Generator().manual_seed(seed)
        train = prep.encoded["train"]
        per_epoch = (len(train) + settings.batch_size - 1) // settings.batch_size
        total = per_epoch * settings.epochs
        lr = settings.lr or DEFAULT_LR[mode]
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)
        sched = get_linear_schedule_with_warmup(opt, int(settings.warmup * total), total)
        metric = REPORTED[kind][0]
        epochs, best, best_state = [], None, None
        for epoch in range(1, settings.epochs + 1):
            model.train()
            order = torch.randperm(len(train), generator=gen).tolist()
            losses = []
            for b in range(per_epoch):
                items = [train[i] for i in order[b * settings.batch_size:(b + 1) * settings.batch_size]]
                loss = model(**_batch(items, kind, prep.pad, device)).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                losses.append(loss.item())
            rec = {"epoch": epoch, "train_loss": sum(losses) / len(losses)}
            if "dev" in prep.encoded:
                rec["dev"] = evaluate(prep, model, "dev", device)
            epochs.append(rec)
            score = rec["dev"][metric] if "dev" in rec else epoch
            log(f"epoch {epoch}/{settings.epochs}: train loss {rec['train_loss']:.4f}"
                + (f", dev {metric} {rec['dev'][metric]:.4f}" if "dev" in rec else ""))
            if best is None or score > best[1]:
                best = (epoch, score)
                if epoch < settings.epochs:  # the last epoch's weights are in the model already
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    best_state = None
        if best_state is not None:
            model.load_state_dict(best_state)
        test = evaluate(prep, model, "test", device)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return {"seed": seed, "mode": mode, "lr": lr, "steps": total, "epochs": epochs, "best_epoch": best[0],
            "test": test, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def evaluate(prep: Prepared, model, split: str, device: str = "cpu", batch_size: int = 32) -> dict[str, float]:
    model.eval()
    kind, task, items = prep.task.kind, prep.task, prep.encoded[split]
    outs = []
    for b in range(0, len(items), batch_size):
        chunk = items[b:b + batch_size]
        batch = _batch(chunk, kind, prep.pad, device)
        batch = {k: batch[k] for k in ("input_ids", "attention_mask")}
        r = model(**batch)
        if kind == "qa":
            outs += list(zip(r.start_logits.float().cpu(), r.end_logits.float().cpu()))
        else:
            outs += list(r.logits.float().cpu())
    examples = task.splits[split]
    if kind == "classification":
        return classification_scores([e.label for e in items], [int(o.argmax()) for o in outs], len(task.labels))
    if kind == "tokens":
        gold, pred = [], []
        for ex, e, o in zip(examples, items, outs):
            tags = o.argmax(-1).tolist()
            gold.append(list(ex.tags))
            pred.append([task.labels[tags[p]] if p != -1 else "O" for p in e.positions])
        return entity_scores(gold, pred)
    best: dict[int, tuple[float, str]] = {}
    for e, (s, t) in zip(items, outs):
        ctx = [i for i, off in enumerate(e.offsets) if off is not None]
        if not ctx:
            continue
        lo, hi = ctx[0], ctx[-1] + 1
        s, t = s[lo:hi], t[lo:hi]
        # the best span: start <= end, at most MAX_ANSWER_TOKENS long, highest start + end logit
        score = s[:, None] + t[None, :]
        n = score.shape[0]
        allowed = torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(MAX_ANSWER_TOKENS)
        real = torch.tensor([e.offsets[k] is not None for k in range(lo, hi)])  # not a whitespace-only token
        allowed &= real[:, None] & real[None, :]
        score = score.masked_fill(~allowed, float("-inf"))
        k = int(score.argmax())
        i, j = divmod(k, n)
        val = float(score[i, j])
        if e.ref not in best or val > best[e.ref][0]:
            best[e.ref] = (val, answer_text(examples[e.ref].context, e.offsets, lo + i, lo + j))
    preds = [best.get(i, (0.0, ""))[1] for i in range(len(examples))]
    return qa_scores([[a for a, _ in ex.answers] for ex in examples], preds)
