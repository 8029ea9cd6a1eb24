"""`tamiz ablate` on the bundled sample with the CPU preset: 4 variants (full, no_language_id, no_filters,
no_dedup) x 3 seeds, what each curation step does to held-out bits per byte and cloze accuracy, and
what the ablation costs (wall time of the corpus stages, of each run's training and scoring).

Writes benchmarks/results/ablate.json (the verdicts, every variant's mean and standard deviation, the
times, the machine); the last line printed is the JSON. The ablation's own report is in OUT/report/.

    python benchmarks/bench_ablate.py [--out DIR] [--quick]   # --quick: 2 seeds of 20 steps (a smoke run)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402
os.environ.setdefault("TAMIZ_HOME", str(Path(tempfile.gettempdir()) / "tamiz-bench-home"))

import tamiz.flows  # noqa: E402,F401  (Prefect settings before prefect is imported)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="ablation folder (default: a new temporary one)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from tamiz.flows.ablate import plan_ablation, run_ablation

    out = args.out or Path(tempfile.mkdtemp(prefix="tamiz-bench-ablate-"))
    plan = plan_ablation(ROOT / "data" / "sample" / "table.yaml", out, preset="cpu",
                         seeds=2 if args.quick else None, max_steps=20 if args.quick else None)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    s = run_ablation(plan, workers=2)
    wall = time.perf_counter() - t0
    results = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "preset": "cpu", "quick": args.quick, "out": str(out), "wall_s": round(wall, 1), **figures(s)}
    path = write_results("ablate", results, args.quick)
    print(f"wrote {path}; report in {out / 'report' / 'report.md'}", file=sys.stderr)
    print(json.dumps(results))


def figures(s: dict) -> dict:
    """What the results file keeps of the ablation's summary: times, each run's figures, each variant's
    means, standard deviations, differences to full and verdict, and the epochs of every source."""
    def metric(m: dict) -> dict:
        out = {"mean": m["spread"]["mean"], "std": m["spread"]["std"]}
        if "compare" in m:
            c = m["compare"]
            out.update(diff=c["diff"], two_se=None if c["se"] is None else 2 * c["se"], differs=c["significant"])
        return out

    return {
        "seconds": s["seconds"], "tokens_per_run": s["tokens_per_run"], "model": s["model"],
        "runs": [{"variant": r["variant"], "seed": r["seed"], "tokens_per_s": r["train"].get("tokens_per_s"),
                  "seconds": r.get("seconds"),
                  "bits_per_byte": {k: v["bits_per_byte"] for k, v in r["eval"]["sets"].items()},
                  "cloze": (r["eval"].get("cloze") or {}).get("accuracy")} for r in s["runs"]],
        "variants": {name: {"verdict": a.get("verdict", "baseline"),
                            "metrics": {k: metric(m) for k, m in a["metrics"].items()}}
                     for name, a in s["analysis"].items()},
        "epochs": {v["name"]: {x["name"]: x["epochs"] for x in v["sources"]} for v in s["variants"]},
    }


if __name__ == "__main__":
    main()
