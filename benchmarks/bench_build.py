"""The whole build (`tamiz run --no-train`) on the bundled sample at 1x, 2x and 4x its size.

For each scale: wall time per stage, documents read per second per core, and the build's total;
and Prefect's own overhead per task, measured as the time of a flow of no-op tasks on the same
kind of Dask cluster, compared with the mean duration of a build task. Larger scales copy the
sample's input files under new names (the dedup stage then removes the copies, which is real work).
Writes benchmarks/results/build.json; the last line printed is the JSON.

    python benchmarks/bench_build.py [--quick]     # --quick: 1x only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402
os.environ.setdefault("TAMIZ_HOME", str(Path(tempfile.gettempdir()) / "tamiz-bench-home"))

import tamiz.flows  # noqa: E402,F401  (Prefect settings before prefect is imported)


def scaled_table(folder: Path, scale: int) -> Path:
    sample = ROOT / "data" / "sample"
    raw = yaml.safe_load((sample / "table.yaml").read_text())
    for src in raw["sources"]:
        files = []
        for pattern in src["inputs"]:
            files += sorted(sample.glob(pattern))
        dest = folder / src["name"]
        dest.mkdir(parents=True)
        for k in range(scale):
            for f in files:
                shutil.copy(f, dest / f"copy{k}-{f.name}")
        src["inputs"] = [f"{src['name']}/*"]
    raw["training"] = {"enabled": False}
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def prefect_overhead(n: int = 40) -> float:
    """Seconds per no-op task on a 2-worker local Dask cluster (includes Prefect's task bookkeeping)."""
    from prefect import flow, task

    from tamiz.flows.runtime import make_task_runner

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def many(k: int) -> int:
        return sum(f.result() for f in [noop.submit(i) for i in range(k)])

    runner = make_task_runner(workers=2)
    many.with_options(task_runner=runner)(2)  # start-up, not per task
    t0 = time.perf_counter()
    many.with_options(task_runner=runner)(n)
    t1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    many.with_options(task_runner=runner)(1)
    t2 = time.perf_counter() - t0
    return max(0.0, (t1 - t2) / (n - 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from tamiz.flows.build import plan_build, run_build

    scales = [1] if args.quick else [1, 2, 4]
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "scales": {}}
    for scale in scales:
        with tempfile.TemporaryDirectory() as tmp:
            table = scaled_table(Path(tmp), scale)
            t0 = time.perf_counter()
            s = run_build(plan_build(table, Path(tmp) / "out"))
            wall = time.perf_counter() - t0
            records = sum(c["records"] for c in s["ingest"].values())
            tasks = (sum(len(list((Path(tmp) / "out" / "ingest" / src / "_shards").glob("*.json"))) for src in s["sources"])
                     + len(list((Path(tmp) / "out" / "filter" / "_shards").glob("*.json"))))
            results["scales"][f"{scale}x"] = {
                "records_read": records,
                "wall_s": round(wall, 2),
                "stage_s": s["stage_seconds"],
                "records_per_s_per_core": round(records / wall / (os.cpu_count() or 1), 1),
                "ingest_and_filter_tasks": tasks,
            }
            print(f"{scale}x: {results['scales'][f'{scale}x']}", flush=True)
    per_task = prefect_overhead()
    results["prefect_overhead_s_per_task"] = round(per_task, 4)
    one = results["scales"]["1x"]
    mean_task = (one["stage_s"]["ingest"] + one["stage_s"]["filter"]) / max(1, one["ingest_and_filter_tasks"])
    results["mean_ingest_filter_task_s_1x"] = round(mean_task, 3)
    results["prefect_share_of_task_time_1x"] = round(per_task / mean_task, 3) if mean_task else None
    write_results("build", results, args.quick)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
