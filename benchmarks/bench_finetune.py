"""`tamiz finetune` on the bundled tasks with the sample's checkpoint: pretrained against from scratch, full and
feature mode, several seeds each, and what a fine-tuning run costs on this CPU.

Writes benchmarks/results/finetune.json (each task's and mode's summary, seconds per run, the checkpoint's step
and kind, the machine); the last line printed is the JSON. The sample's checkpoint is OUT/train of
`tamiz run data/sample/table.yaml --out OUT` (`make run`).

    python benchmarks/bench_finetune.py CHECKPOINT [--seeds 3] [--name finetune] [--tasks T ...] [--quick]
    # --quick: the classification task, full mode, 1 seed; --tasks: only these bundled tasks
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

TASKS = ["fortunes_offensive", "fortunes_authors_ner", "fortunes_authors_qa"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path, help="the sample's checkpoint (OUT/train of `make run`)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=TASKS, help="only these bundled tasks")
    ap.add_argument("--name", default="finetune", help="results file: benchmarks/results/NAME.json")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier on a shared machine)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    from tamiz.train.finetune.run import finetune

    runs = [(t, m) for t in args.tasks for m in ("full", "feature")]
    if args.quick:
        runs, args.seeds = runs[:1], 1
    out = Path(tempfile.mkdtemp(prefix="tamiz-bench-finetune-"))
    results = {"checkpoint": None, "seeds": args.seeds, "tasks": {}, "machine": {
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "torch": torch.__version__, "load_average_start": os.getloadavg()[0]}}
    for task, mode in runs:
        res = finetune(args.checkpoint, ROOT / "data" / "tasks" / task, out / f"{task}-{mode}", mode=mode,
                       seeds=args.seeds, log=lambda s: print(s, file=sys.stderr))
        results["checkpoint"] = res["checkpoint"]
        secs = [r["seconds"] for v in res["runs"].values() for r in v]
        results["tasks"][f"{task}/{mode}"] = {
            "task": res["task"], "kind": res["kind"], "mode": mode, "splits": res["splits"],
            "summary": res["summary"], "seconds_per_run_median": statistics.median(secs),
            "trainable_parameters": res["runs"]["pretrained"][0]["trainable_parameters"],
            "steps_per_run": res["runs"]["pretrained"][0]["steps"], "lr": res["runs"]["pretrained"][0]["lr"]}
    results["machine"]["load_average_end"] = os.getloadavg()[0]
    path = write_results(args.name, results, args.quick)
    print(f"wrote {path}; reports in {out}", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
