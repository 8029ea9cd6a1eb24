"""CPU training throughput: tamiz's causal model side by side with a nanoGPT-style reference of the
same shape, and the share of the training loop's step time spent waiting for data.

1. Model step (forward + backward + clipping + AdamW) in tokens/s, on the same real batches, for
   `tamiz.train.model.GPT` and for a reference written here in plain PyTorch after nanoGPT's model.py
   (learned positions, LayerNorm with bias, GELU MLP 4x, causal `scaled_dot_product_attention`,
   tied embeddings) with the same n_layer / n_head / n_embd / vocabulary / sequence length. The two
   are timed in alternation, several rounds, and the median is reported, so machine load hits both.
2. The whole loop (`tamiz.train.loop.train`: loader, batching, loss normalisation, clipping, schedule,
   logging) on real shards: tokens/s and the share of step time spent in `next(loader)` (goal < 5%).
   The loop's own figures exclude the first step (memory maps, allocator warm-up).

Data: the bundled sample's curated text (books + reference), a 2,048-id byte-level BPE trained here,
packed by `tamiz.shards` into rows of seq_len 128. fp32, batch 16, `--threads` intra-op threads
(default 1: tiny models gain nothing from more, and on a shared machine spinning threads distort
the comparison; the figure is per core).

    python benchmarks/bench_train.py [--quick] [--threads N]    # writes benchmarks/results/train.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from record import write_results  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench_pack import sample_documents, train_tokenizer  # noqa: E402

SEQ_LEN, BATCH, VOCAB = 128, 16, 2048


# ---- the reference: nanoGPT's model.py, reduced to what a training step uses ----------------

class RefAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head, self.n_embd = n_head, n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class RefBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(n_embd), RefAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc, self.c_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([RefBlock(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return None, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


# ---- measurements ---------------------------------------------------------------------------

def build_shards(tmp: Path, quick: bool) -> Path:
    from tamiz.shards.tokenize import tokenize_file
    from tamiz.shards.write import build_shards as pack
    from tamiz.pipeline.table import ShardConfig
    from tamiz.pipeline.writers import write_parquet

    docs = sample_documents(quick=True)
    if quick:
        docs = docs[::3]
    tok = train_tokenizer([d.text for d in docs], VOCAB, tmp / "tokenizer.json")
    write_parquet(tmp / "docs" / "sample.parquet", docs)
    cfg = ShardConfig(seq_len=SEQ_LEN, validation_fraction=0.01, batch_tokens=256 * (SEQ_LEN + 1))
    out = tmp / "shards"
    pack(out, [tokenize_file(tmp / "docs" / "sample.parquet", out, tok, cfg.validation_fraction)], tok, cfg)
    return out


def model_step_rate(model: nn.Module, batches: list[torch.Tensor], steps: int) -> tuple[float, float]:
    """(tokens per wall-clock second, tokens per CPU second of this process) of forward + backward +
    clip + AdamW over `steps` steps, after 3 untimed ones. With one thread, CPU time barely depends on
    what else runs on the machine; wall time does."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    model.train()

    def step(i):
        b = batches[i % len(batches)]
        _, loss = model(b[:, :-1], b[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for i in range(3):
        step(i)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(i)
    tokens = steps * BATCH * SEQ_LEN
    return tokens / (time.perf_counter() - t0), tokens / (time.process_time() - c0)


def compare(size: str, shards: Path, steps: int, rounds: int) -> dict:
    from tamiz.train.config import ModelConfig, build_model
    from tamiz.train.loader import PackedLoader

    loader = iter(PackedLoader(shards, batch_size=BATCH, seed=1))
    batches = [next(loader) for _ in range(8)]
    arch = ModelConfig(kind="causal", size=size).arch(VOCAB, SEQ_LEN)
    torch.manual_seed(0)
    ours = build_model("causal", arch)
    ref = RefGPT(VOCAB, SEQ_LEN, arch["n_layer"], arch["n_head"], arch["n_embd"])
    wall: dict[str, list[float]] = {"tamiz": [], "nanogpt_reference": []}
    cpu: dict[str, list[float]] = {"tamiz": [], "nanogpt_reference": []}
    for _ in range(rounds):  # alternate, so load on a shared machine hits both alike
        for name, m in (("tamiz", ours), ("nanogpt_reference", ref)):
            w, c = model_step_rate(m, batches, steps)
            wall[name].append(w)
            cpu[name].append(c)
    med = {k: {n: statistics.median(v) for n, v in d.items()} for k, d in (("wall", wall), ("cpu", cpu))}
    return {
        "shape": {k: arch[k] for k in ("n_layer", "n_head", "n_embd", "intermediate_size")},
        "parameters": {"tamiz": ours.num_params(), "nanogpt_reference": sum(p.numel() for p in ref.parameters())},
        "tokens_per_s": {n: round(v) for n, v in med["wall"].items()},
        "tokens_per_cpu_s": {n: round(v) for n, v in med["cpu"].items()},
        "tamiz_vs_reference": round(med["wall"]["tamiz"] / med["wall"]["nanogpt_reference"], 3),
        "tamiz_vs_reference_cpu_time": round(med["cpu"]["tamiz"] / med["cpu"]["nanogpt_reference"], 3),
        "rounds_tokens_per_s": {k: [round(v) for v in vs] for k, vs in wall.items()},
    }


def full_loop(size: str, shards: Path, out: Path, steps: int, num_workers: int) -> dict:
    from tamiz.train.config import config_from_dict
    from tamiz.train.loop import train

    cfg = config_from_dict({
        "model": {"kind": "causal", "size": size},
        "data": {"folder": str(shards), "batch_size": BATCH, "num_workers": num_workers},
        "run": {"out": str(out), "eval_interval": 0, "checkpoint_interval": 10 ** 6, "log_interval": 10 ** 6,
                "progress": False},
        "optimizer": {"lr": 1e-3}, "schedule": {"max_steps": steps, "warmup_steps": 5}})
    s = train(cfg)
    return {"tokens_per_s": round(s["tokens_per_s"]), "data_wait_share": round(s["data_wait_share"], 5),
            "num_workers": num_workers, "steps": steps, "final_loss": round(s["loss"], 4),
            "val_loss": round(s["val_loss"], 4) if s["val_loss"] is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny only, fewer steps (under a minute)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = ["tiny"] if args.quick else ["tiny", "mini"]
    steps, rounds, loop_steps = (15, 3, 40) if args.quick else (30, 5, 150)
    load_before = os.getloadavg()[0]
    t_start = time.time()
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "platform": platform.platform(),
                    "load_average_1min_at_start": round(load_before, 2)},
        "setup": {"seq_len": SEQ_LEN, "batch_size": BATCH, "vocab_size": VOCAB, "precision": "fp32",
                  "quick": args.quick},
        "model_step": {}, "loop": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        shards = build_shards(tmp, args.quick)
        for size in sizes:
            results["model_step"][size] = compare(size, shards, steps, rounds)
            results["loop"][size] = full_loop(size, shards, tmp / f"run-{size}", loop_steps, num_workers=0)
    results["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    results["seconds"] = round(time.time() - t_start, 1)
    tiny = results["model_step"]["tiny"]
    results["summary"] = {
        "tiny_tokens_per_s": tiny["tokens_per_s"]["tamiz"],
        "tiny_reference_tokens_per_s": tiny["tokens_per_s"]["nanogpt_reference"],
        "tiny_vs_reference": tiny["tamiz_vs_reference"],
        "tiny_tokens_per_cpu_s": tiny["tokens_per_cpu_s"]["tamiz"],
        "tiny_reference_tokens_per_cpu_s": tiny["tokens_per_cpu_s"]["nanogpt_reference"],
        "tiny_vs_reference_cpu_time": tiny["tamiz_vs_reference_cpu_time"],
        "loop_tokens_per_s": results["loop"]["tiny"]["tokens_per_s"],
        "loop_data_wait_share": results["loop"]["tiny"]["data_wait_share"],
        "data_wait_goal_met": results["loop"]["tiny"]["data_wait_share"] < 0.05,
    }
    assert all(math.isfinite(v["final_loss"]) for v in results["loop"].values())
    write_results("train", results, args.quick)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
