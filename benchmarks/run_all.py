"""`make bench`: run every benchmark of the project and write one results table, BENCHMARKS.md.

Runs each `benchmarks/bench_*.py` (and `langid_threshold.py`) in its own process, takes the JSON
object each prints on its last line, and writes BENCHMARKS.md with the machine, the library
versions, and each benchmark's figures (flattened) next to its side-by-side baseline where the
benchmark reports one. `--quick` passes --quick to every benchmark (each a minute or two).

    python benchmarks/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"bench_train_gpu.py",  # needs a GPU; run it by hand on one (see docs/training.md)
        "bench_scale.py"}  # builds of 1-10 GB, hours on 2 cores: `make bench-scale` (docs/scale.md)
LIBS = ("torch", "tokenizers", "datasets", "pyarrow", "datasketch", "numba", "fasttext-numpy2-wheel", "prefect",
        "prefect-dask", "dask", "resiliparse", "fastwarc", "trafilatura", "numpy")


# The headline figures, each beside its side-by-side baseline: (script, what, key, baseline, key, goal)
HEADLINES = [
    ("bench_ingest.py", "ingest, WARC records/s per core (resiliparse)", "extractors.resiliparse.ingest_records_per_s",
     "trafilatura", "extractors.trafilatura.ingest_records_per_s", "choose the default"),
    ("bench_filters.py", "heuristic filters, docs/s per core", "heuristics.tamiz.docs_per_s",
     "datatrove (same filters and thresholds)", "heuristics.datatrove.docs_per_s", ">= 10x datatrove"),
    ("bench_filters.py", "keep/drop agreement with datatrove", "heuristics.datatrove.agreement", "", "", "explain every disagreement"),
    ("bench_dedup.py", "MinHash signatures from raw text, docs/s per core (tamiz: full normalization)",
     "throughput.docs_per_s_from_raw_text.tamiz (xxh3), full normalization",
     "datasketch update_batch, lower().split() shingles",
     "throughput.docs_per_s_from_raw_text.datasketch update_batch, lower().split() shingles", ">= 10x datasketch, >= rensa"),
    ("bench_dedup.py", "MinHash signatures from raw text, docs/s per core (tamiz: full normalization)",
     "throughput.docs_per_s_from_raw_text.tamiz (xxh3), full normalization",
     "rensa RMinHash.update, lower().split() shingles",
     "throughput.docs_per_s_from_raw_text.rensa RMinHash.update, lower().split() shingles", ">= rensa"),
    ("bench_dedup.py", "near-duplicate pairs: precision", "accuracy.linked_pairs.precision", "", "", ">= 0.95"),
    ("bench_dedup.py", "near-duplicate pairs: recall", "accuracy.linked_pairs.recall", "", "", ">= 0.95"),
    ("bench_tokenizer.py", "bytes/token on held-out handbook text (32,768 vocab)", "compression.handbook.tamiz.bytes_per_token",
     "Tekken (131k vocab)", "compression.handbook.tekken.bytes_per_token", ">= Tekken"),
    ("bench_tokenizer.py", "bytes/token on held-out fortunes-off", "compression.fortunes-off.tamiz.bytes_per_token",
     "Tekken (131k vocab)", "compression.fortunes-off.tekken.bytes_per_token", ">= Tekken"),
    ("bench_pack.py", "tokenize+pack tokens/s", "tamiz_tokenize_and_pack_tokens_per_s",
     "plain tokenizers encode_batch", "baseline_encode_batch_tokens_per_s", ">= 0.8x"),
    ("bench_loader.py", "loader tokens/s", "loader_tokens_per_s", "raw numpy.memmap", "raw_memmap_tokens_per_s", ">= 0.5x"),
    ("bench_train.py", "tiny model training step, tokens/s (CPU)", "model_step.tiny.tokens_per_s.tamiz",
     "same-shape nanoGPT-style model", "model_step.tiny.tokens_per_s.nanogpt_reference", ""),
    ("bench_train.py", "time waiting for data, share of step", "loop.tiny.data_wait_share", "", "", "< 0.05"),
    ("bench_run_overhead.py", "training tokens/s inside `tamiz run` (CPU)", "trees.after.train_tokens_per_s_in_build",
     "`tamiz train` alone", "trees.after.train_tokens_per_s_alone", ">= 0.9x"),
    ("bench_build.py", "Prefect overhead per task, s", "prefect_overhead_s_per_task", "mean sample task, s",
     "mean_ingest_filter_task_s_1x", "small share"),
]


def lookup(obj, key: str):
    """A value by dotted path; keys may themselves hold dots and spaces, so match greedily."""
    if key in obj if isinstance(obj, dict) else False:
        return obj[key]
    if not isinstance(obj, dict):
        return None
    for k in sorted(obj, key=len, reverse=True):
        if key.startswith(k + "."):
            return lookup(obj[k], key[len(k) + 1:])
    return None


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e3 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "-" if v is None else str(v)


def flatten(obj, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list) and len(obj) <= 8 and all(not isinstance(v, (dict, list)) for v in obj):
        out.append((prefix, ", ".join(map(str, obj))))
    elif not isinstance(obj, list):
        out.append((prefix, obj))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", default=None, help="benchmark names, e.g. ingest dedup")
    ap.add_argument("--render", type=Path, default=None, help=argparse.SUPPRESS)  # re-render from a saved run
    args = ap.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        write_markdown([tuple(x) for x in saved["sections"]], saved["quick"])
        return
    scripts = sorted(p for p in (ROOT / "benchmarks").glob("bench_*.py") if p.name not in SKIP)
    scripts.append(ROOT / "benchmarks" / "langid_threshold.py")
    if args.only:
        scripts = [s for s in scripts if any(o in s.stem for o in args.only)]
    sections = []
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick and script.stem.startswith("bench_") else [])
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        try:
            figures = json.loads(lines[-1]) if proc.returncode == 0 else None
        except (IndexError, json.JSONDecodeError):
            figures = None
        if figures is None:
            err = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            print(f"   FAILED (exit {proc.returncode}): {' | '.join(err)}", flush=True)
        sections.append((script.name, wall, figures, proc.returncode))
    (ROOT / "benchmarks" / "results" / "all.json").write_text(json.dumps({"quick": args.quick, "sections": sections}) + "\n")
    write_markdown(sections, args.quick)


def write_markdown(sections, quick: bool) -> None:
    versions = {}
    for lib in LIBS:
        try:
            versions[lib] = md.version(lib)
        except md.PackageNotFoundError:
            pass
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python benchmarks/run_all.py{' --quick' if quick else ''}`) on "
        f"{time.strftime('%Y-%m-%d')}. Each section is one script in `benchmarks/`; its figures are the",
        "JSON it prints last (per-benchmark details and the reasoning are in docs/ and benchmarks/results/).",
        "Each ratio is measured side by side in one run; absolute figures move with the machine's load",
        "(the run recorded here shared its 2 cores with a test suite for part of the time; bench_dedup.py was rerun alone later).",
        "",
        "## Machine",
        "",
        f"- {os.cpu_count()} CPU cores, {platform.machine()}, {platform.platform()}",
        f"- Python {platform.python_version()}",
        "- " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
    ]
    by_name = {name: figures for name, _, figures, _ in sections}
    lines += ["## Headline figures", "", "| figure | tamiz | baseline | baseline value | ratio | goal |",
              "|---|---:|---|---:|---:|---|"]
    for script, what, key, base, bkey, goal in HEADLINES:
        fig = by_name.get(script)
        if fig is None:
            continue
        v = lookup(fig, key)
        b = lookup(fig, bkey) if bkey else None
        ratio = f"{v / b:.2f}x" if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b else ""
        lines.append(f"| {what} | {fmt(v)} | {base} | {fmt(b) if bkey else ''} | {ratio} | {goal} |")
    lines.append("")
    for name, wall, figures, rc in sections:
        lines += [f"## {name}", "", f"Wall time {wall:.1f} s." if wall is not None else "Figures from its results file."]
        if figures is None:
            lines += ["", f"**Failed** (exit code {rc}); rerun it alone to see why.", ""]
            continue
        lines += ["", "| figure | value |", "|---|---:|"]
        for key, value in flatten(figures):
            if key.startswith("machine"):
                continue
            if isinstance(value, float):
                value = fmt(value)
            lines.append(f"| {key} | {value} |")
        lines.append("")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
