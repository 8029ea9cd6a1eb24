"""What `tamiz run` costs around its work: Prefect servers, peak memory, Prefect's time per task, and
training speed inside the build against `tamiz train` alone, for this tree and (with --before) another
checkout of tamiz, side by side in one run.

    python benchmarks/bench_run_overhead.py [--before PATH] [--steps 150] [--quick]

For each tree: `tamiz run` on the bundled sample's table (training cut to --steps steps), as a user
runs it (no PREFECT_API_URL: the build starts its own server), while the process tree is sampled every
0.25 s: the most Prefect (uvicorn) servers at once, the peak summed RSS of the tree, and the CPU time
the other processes (workers, servers) use while the training stage runs. Then `tamiz train` alone on
the shards the build wrote, with the same training config. Both runs' tokens/s come from the
training summary. Prefect's time per task: a flow of 40 no-op tasks on a local Dask cluster of 2
workers, per task, after a warm-up flow. Results: benchmarks/results/run_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

NOOP_FLOW = """
import sys, time, json
import tamiz.flows  # settings first
from prefect import flow, task
from tamiz.flows.runtime import make_task_runner
@task
def noop(i):
    return i
@flow
def many(n):
    return sum(f.result() for f in [noop.submit(i) for i in range(n)])
runner = make_task_runner(None, 2)
many.with_options(task_runner=runner)(2)  # warm-up: server, cluster, imports
t0 = time.perf_counter()
many.with_options(task_runner=make_task_runner(None, 2))(40)
print(json.dumps({"seconds_40_tasks": time.perf_counter() - t0}))
"""


def _env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(tree), TAMIZ_HOME=str(home), COLUMNS="120")
    return env


def _table(folder: Path, steps: int) -> Path:
    table = yaml.safe_load((SAMPLE / "table.yaml").read_text(encoding="utf-8"))
    for src in table["sources"]:
        src["inputs"] = [str(SAMPLE / p) for p in src["inputs"]]
    table["training"]["schedule"]["max_steps"] = steps
    table["training"]["schedule"]["warmup_steps"] = min(steps // 10, 40)
    table["training"]["run"]["eval_interval"] = 0
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    return path


def _is_server(cmd: str) -> bool:
    return "uvicorn" in cmd


def watch_build(tree: Path, home: Path, folder: Path, steps: int) -> dict:
    table, out = _table(folder, steps), folder / "out"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tamiz.flows.cli", "run", str(table), "--out", str(out), "--workers", "2"],
                            cwd=folder, env=_env(tree, home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    me = psutil.Process(proc.pid)
    servers = peak_rss = 0
    other_cpu_in_train: dict[int, float] = {}  # pid -> CPU seconds at the start of training
    other_cpu_end: dict[int, float] = {}
    training_since = None
    while proc.poll() is None:
        try:
            kids = me.children(recursive=True)
            rss = me.memory_info().rss
        except psutil.Error:
            break
        now_servers = 0
        for k in kids:
            try:
                rss += k.memory_info().rss
                cmd = " ".join(k.cmdline())
                now_servers += _is_server(cmd)
                cpu = sum(k.cpu_times()[:2])
            except psutil.Error:
                continue
            if training_since is not None:
                other_cpu_in_train.setdefault(k.pid, cpu)
                other_cpu_end[k.pid] = cpu
        servers, peak_rss = max(servers, now_servers), max(peak_rss, rss)
        if training_since is None and (out / "train" / "train.log").exists():
            training_since = time.perf_counter()
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    train_s = time.perf_counter() - training_since if training_since else None
    assert proc.wait() == 0, f"tamiz run failed in {tree}"
    summary = json.loads((out / "train" / "summary.json").read_text())["result"]
    build = json.loads((out / "build.json").read_text()) if (out / "build.json").exists() else {}
    other = sum(other_cpu_end[p] - other_cpu_in_train[p] for p in other_cpu_end)
    return {
        "wall_s": round(wall, 1), "prefect_servers_at_once": servers, "peak_rss_mb_tree": round(peak_rss / 2**20),
        "stage_seconds": build.get("stage_seconds"),
        "train_tokens_per_s_in_build": round(summary["tokens_per_s"]),
        "other_processes_cpu_share_while_training": round(other / train_s, 3) if train_s else None,
    }


def train_alone(tree: Path, home: Path, folder: Path) -> dict:
    out = folder / "out"
    cfg = yaml.safe_load((out / "train" / "config.yaml").read_text(encoding="utf-8"))
    cfg["run"]["out"] = str(folder / "alone")
    path = folder / "alone.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tamiz.flows.cli", "train", str(path)], cwd=folder, env=_env(tree, home),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    tok_s = next(line for line in run.stdout.splitlines() if "tokens/s" in line)
    return {"train_tokens_per_s_alone": int(tok_s.split("tokens/s")[1].strip(" │|").replace(",", ""))}


def prefect_per_task(tree: Path, home: Path) -> float:
    run = subprocess.run([sys.executable, "-c", NOOP_FLOW], env=_env(tree, home), capture_output=True, text=True,
                         cwd=tree)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])["seconds_40_tasks"] / 40


def measure(tree: Path, label: str, steps: int, home: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"run-overhead-{label}-"))
    try:
        print(f"[{label}] tamiz run ({tree})", flush=True)
        r = watch_build(tree, home, folder, steps)
        print(f"[{label}] tamiz train alone", flush=True)
        r.update(train_alone(tree, home, folder))
        print(f"[{label}] Prefect time per task", flush=True)
        r["prefect_seconds_per_task"] = round(prefect_per_task(tree, home), 3)
        print(f"[{label}] {json.dumps(r)}", flush=True)
        return r
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="another checkout of tamiz (e.g. a git worktree of an older commit)")
    ap.add_argument("--steps", type=int, default=150, help="training steps of the build (default 150)")
    ap.add_argument("--quick", action="store_true", help="40 training steps")
    args = ap.parse_args()
    steps = 40 if args.quick else args.steps
    home = Path(tempfile.mkdtemp(prefix="run-overhead-home-"))
    # create Prefect's database once, so that neither tree pays for it in its figures
    subprocess.run([sys.executable, "-c", "import tamiz.flows; from tamiz.flows.server import ensure_prefect_api; "
                    "ensure_prefect_api()"], env=_env(ROOT, home), check=True)
    results = {"machine": f"{os.cpu_count()} cores", "steps": steps, "trees": {}}
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
    for label, tree in trees:
        results["trees"][label] = {"tree": str(tree), **measure(tree, label, steps, home)}
    path = write_results("run_overhead", results, args.quick)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
