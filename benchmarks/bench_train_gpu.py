"""GPU training throughput and model FLOPs utilization (MFU) of the ~124M causal model, bf16 + torch.compile.

1. Model step: `tamiz.train.model.GPT` at GPT-2 small's shape (12 layers, 12 heads, 768 wide, vocabulary
   50,304 as nanoGPT pads GPT-2's: 124M parameters), seq_len 1024, bf16 autocast, `torch.compile`,
   fused AdamW, gradient clipping, on random tokens already on the GPU. Timed after the compile
   warm-up, with a CUDA synchronize at both ends.
2. The whole loop (`tamiz.train.loop.train`, skipped with --quick): real shards from the bundled sample
   (a 32,768-id BPE trained here, rows of 1,024 tokens), the same model shape with that vocabulary,
   bf16 + compile; its tokens/s and the share of step time spent waiting for data.

MFU = achieved model FLOPs / the GPU's dense bf16 peak. Model FLOPs per token = 6 N (N parameters, the
tied embedding counted once as the output matmul) + 12 * n_layer * n_embd * seq_len (attention scores
and values; PaLM appendix B, nanoGPT's estimate_mfu). Peaks by device name in PEAK_BF16_TFLOPS (dense,
no sparsity), or --peak-tflops. Anchors: nanochat reports ~41% MFU for its d12 model on H100s;
nanoGPT ~135 ms/iter with compile on A100s. Goal: at least 45% on one H100.

Without a GPU it runs a CPU fallback (tiny model, fp32, no compile) so the script is known to work;
that result never overwrites a GPU measurement in benchmarks/results/train_gpu.json.

    python benchmarks/bench_train_gpu.py [--quick] [--batch 32] [--steps 30]   # JSON on the last line
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s; first match wins.
PEAK_BF16_TFLOPS = [
    ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H100", 989.4),  # "NVIDIA H100 80GB HBM3" is the SXM part
    ("H200 NVL", 835.0), ("H200", 989.4), ("GH200", 989.4),
    ("B200", 2250.0), ("B100", 1750.0),
    ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0),
    ("RTX 4090", 165.2), ("RTX 3090", 71.0),
]
RESULTS = ROOT / "benchmarks" / "results" / "train_gpu.json"


def peak_tflops(name: str) -> float | None:
    for key, peak in PEAK_BF16_TFLOPS:
        if key in name:
            return peak
    return None


def model_step(arch: dict, batch: int, steps: int, warmup: int, device: torch.device, compile_: bool,
               bf16: bool) -> dict:
    from tamiz.train.config import build_model

    torch.manual_seed(0)
    raw = build_model("causal", arch).to(device)
    model = torch.compile(raw) if compile_ else raw
    opt = raw.configure_optimizer(0.1, 6e-4, (0.9, 0.95), 1e-8, device.type)
    T, V = arch["max_seq_len"], arch["vocab_size"]
    data = torch.randint(0, V, (8, batch, T + 1), device=device)

    def step(i: int) -> torch.Tensor:
        b = data[i % len(data)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            _, loss = model(b[:, :-1], b[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for i in range(warmup):  # compile and autotune happen here
        step(i)
    _sync(device)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    loss_value = float(loss.detach())  # also a synchronize
    _sync(device)
    dt = time.perf_counter() - t0
    tokens_s = steps * batch * T / dt
    flops_tok = raw.flops_per_token(T)
    out = {"parameters": raw.num_params(), "batch": batch, "seq_len": T, "steps": steps,
           "ms_per_step": round(1000 * dt / steps, 2), "tokens_per_s": round(tokens_s),
           "model_tflops_per_s": round(flops_tok * tokens_s / 1e12, 2), "flops_per_token": flops_tok,
           "warmup_s": round(warm_s, 1), "final_loss": round(loss_value, 4)}
    if device.type == "cuda":
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2)
    return out


def whole_loop(tmp: Path, seq_len: int, size: str, batch: int, steps: int, compile_: bool, vocab: int,
               quick_data: bool) -> dict:
    from bench_pack import sample_documents, train_tokenizer
    from tamiz.shards.tokenize import tokenize_file
    from tamiz.shards.write import build_shards
    from tamiz.pipeline.table import ShardConfig
    from tamiz.pipeline.writers import write_parquet
    from tamiz.train.config import config_from_dict
    from tamiz.train.loop import train

    t0 = time.perf_counter()
    docs = sample_documents(quick=quick_data)
    tok = train_tokenizer([d.text for d in docs], vocab, tmp / "tokenizer.json")
    write_parquet(tmp / "docs" / "sample.parquet", docs)
    # no validation split: an evaluation would recompile the model for eval mode inside the timed run
    cfg = ShardConfig(seq_len=seq_len, validation_fraction=0.0)
    shards = tmp / "shards"
    build_shards(shards, [tokenize_file(tmp / "docs" / "sample.parquet", shards, tok, cfg.validation_fraction)],
                 tok, cfg)
    prep_s = time.perf_counter() - t0
    run = config_from_dict({
        "model": {"kind": "causal", "size": size},
        "data": {"folder": str(shards), "batch_size": batch, "num_workers": 2 if torch.cuda.is_available() else 0},
        "run": {"out": str(tmp / "run"), "eval_interval": 0, "checkpoint_interval": 10 ** 6,
                "log_interval": 10 ** 6, "progress": False, "compile": compile_},
        "optimizer": {"lr": 6e-4}, "schedule": {"max_steps": steps, "warmup_steps": 5}})
    t0 = time.perf_counter()
    s = train(run)
    return {"vocab_size": vocab, "parameters": s["parameters"], "batch": batch, "seq_len": seq_len, "steps": steps,
            "tokens_per_s": round(s["tokens_per_s"]), "data_wait_share": round(s["data_wait_share"], 5),
            "note": "first step (compile) excluded by the loop's own timing",
            "data_prep_s": round(prep_s, 1), "train_s": round(time.perf_counter() - t0, 1),
            "final_loss": round(s["loss"], 4)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="model step only, fewer steps (under a minute after compile)")
    ap.add_argument("--batch", type=int, default=32, help="rows of 1,024 tokens per step (GPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps")
    ap.add_argument("--no-compile", action="store_true", help="eager mode (to see what compile buys)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not in the table")
    args = ap.parse_args()
    t_start = time.time()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    result: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                "platform": platform.platform(), "cpus": os.cpu_count()}}
    if cuda:
        name = torch.cuda.get_device_name(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        peak = args.peak_tflops or peak_tflops(name)
        result["machine"].update({"gpu": name, "cuda": torch.version.cuda, "peak_bf16_tflops": peak})
        from tamiz.train.config import ModelConfig

        arch = ModelConfig(kind="causal", size="gpt2-small").arch(50304, 1024)
        steps = args.steps or (15 if args.quick else 30)
        m = model_step(arch, args.batch, steps, warmup=5, device=device, compile_=not args.no_compile, bf16=True)
        m["mfu"] = round(m["model_tflops_per_s"] / peak, 4) if peak else None
        result.update({"device": "cuda", "precision": "bf16", "compile": not args.no_compile, "model_step": m})
        if not args.quick:
            with tempfile.TemporaryDirectory(prefix="bench-train-gpu-") as tmp:
                loop = whole_loop(Path(tmp), 1024, "gpt2-small", args.batch, 40, not args.no_compile, 32768, False)
            loop["mfu"] = None
            result["loop"] = loop
        result["summary"] = {"gpu": name, "tokens_per_s": m["tokens_per_s"], "mfu": m["mfu"],
                             "ms_per_step": m["ms_per_step"], "goal_mfu": 0.45,
                             "loop_tokens_per_s": result.get("loop", {}).get("tokens_per_s"),
                             "loop_data_wait_share": result.get("loop", {}).get("data_wait_share")}
    else:  # the fallback: prove the script runs end to end; no MFU without a GPU peak
        from tamiz.train.config import ModelConfig

        arch = ModelConfig(kind="causal", size="tiny").arch(2048, 128)
        m = model_step(arch, 8, args.steps or 10, warmup=2, device=device, compile_=False, bf16=False)
        m["mfu"] = None
        result.update({"device": "cpu", "precision": "fp32", "compile": False, "cpu_fallback": True, "model_step": m})
        if not args.quick:
            with tempfile.TemporaryDirectory(prefix="bench-train-gpu-") as tmp:
                result["loop"] = whole_loop(Path(tmp), 128, "tiny", 8, 20, False, 2048, True)
        result["summary"] = {"gpu": None, "tokens_per_s": m["tokens_per_s"], "mfu": None,
                             "note": "CPU fallback (no GPU): tiny model, fp32; not an MFU measurement"}
    result["seconds"] = round(time.time() - t_start, 1)
    if cuda or not _has_gpu_record():
        record = result if cuda else {"status": "not measured yet: no GPU was available; run this script on one",
                                      "cpu_fallback": result}
        RESULTS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


def _has_gpu_record() -> bool:
    try:
        return json.loads(RESULTS.read_text(encoding="utf-8")).get("device") == "cuda"
    except (OSError, ValueError, AttributeError):
        return False


if __name__ == "__main__":
    main()
