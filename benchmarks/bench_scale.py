"""The whole build (`tamiz run --no-train`) on synthetic Common Crawl-shaped crawls of 1 to 10+ GB.

For each size, one build as a user runs it (a process, its local Dask cluster, its own Prefect server),
watched from outside every half second:

- wall time per stage (the build's own `build.json`) and documents per second per core;
- peak RSS (resident memory) per stage of the parent process, of the largest Dask worker and of the
  Prefect server, from /proc via psutil, attributed to the stage running at the time;
- disk used per stage folder at the end;
- Prefect's share of each stage: the stage's Prefect tasks times Prefect's overhead per task (a flow of
  no-op tasks on the same kind of cluster, measured in the same run: bench_build.prefect_overhead),
  over the stage's worker time.

Then a least-squares line per stage through the sizes: seconds per GB, disk bytes per GB, and whether
peak memory grows with the input. The crawl comes from scripts/make_synthetic_crawl.py (real pages
and real Spanish text, known rates of copies, junk, other languages and broken records), generated
once per size into --work and reused. Writes benchmarks/results/scale.json (with --quick,
scale.quick.json) and prints a table; docs/scale.md is written from these figures.

    python benchmarks/bench_scale.py --gb 1 2 4 8 10.5   # `make bench-scale` (the generator writes ~1% under
                                                         # its target: 10 gives 9.88 GB, 10.5 over 10)
    python benchmarks/bench_scale.py --quick             # 0.05 GB: checks the harness in a few minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

STAGES = ("ingest", "filter", "dedup", "tokenizer", "shards")


def crawl_for(work: Path, gb: float, seed: int, jobs: int) -> tuple[Path, dict, float]:
    """The synthetic crawl of `gb` GB (generated once, then reused): its folder, ground truth, seconds."""
    from make_synthetic_crawl import SynthConfig, make_synthetic_crawl

    folder = work / f"crawl-{gb:g}gb-seed{seed}"
    truth_path = folder / "synthetic-crawl.json"
    if truth_path.is_file():
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if truth["arguments"]["gb"] == gb and truth["arguments"]["seed"] == seed:
            return folder, truth, 0.0
    t0 = time.perf_counter()
    truth = make_synthetic_crawl(folder, SynthConfig(gb=gb, seed=seed), jobs=jobs,
                                 progress=lambda line: print(f"  generate: {line}", flush=True))
    return folder, truth, time.perf_counter() - t0


def write_table(folder: Path, crawl: Path) -> Path:
    """One crawl source with the defaults of the sample's crawl source (language ID, the heuristic
    filters, dedup), the sample's shard settings and a 32k tokenizer; no training."""
    raw = {
        "name": "scale",
        "sources": [{"name": "crawl", "kind": "crawl", "weight": 1.0,
                     "inputs": [str(crawl / "crawl-data") + "/*/segments/*/warc/*.warc.gz"],
                     "ingest": {"extractor": "resiliparse", "language": "es"}, "filters": {}, "dedup": {}}],
        "shards": {"seq_len": 1024, "seed": 1234, "validation_fraction": 0.005, "row_start": "any"},
        "tokenizer": {"vocab_size": 32768},
        "training": {"enabled": False},
    }
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class Watcher:
    """Samples the RSS of a process tree every `every` seconds: (t, parent, largest worker, server, total,
    largest worker's anonymous RSS). RSS counts the file pages a process has mapped too (clean, the
    kernel can take them back); the anonymous part (RssAnon in /proc) is the memory only the process holds."""

    def __init__(self, pid: int, every: float = 0.5):
        self.root = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, int, int, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                parent = self.root.memory_info().rss
                workers, anon, server, total = [], [], 0, parent
                for child in self.root.children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                        cmd = " ".join(child.cmdline())
                    except psutil.Error:
                        continue
                    total += rss
                    if "uvicorn" in cmd or "prefect.server" in cmd:
                        server += rss
                    elif "spawn_main" in cmd or "distributed" in cmd:
                        workers.append(rss)
                        anon.append(anon_rss(child.pid))
                self.samples.append((time.monotonic(), parent, max(workers, default=0), server, total,
                                     max(anon, default=0)))
            except psutil.Error:
                pass
            self._stop.wait(self.every)


def anon_rss(pid: int) -> int:
    """RssAnon of a process, bytes (0 where /proc cannot tell)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


STAGE_LINE = re.compile(r"^(ingest \S+|filter|dedup|tokenizer|shards):")


def run_build(table: Path, out: Path, workers: int, env: dict[str, str]) -> dict:
    """`tamiz run TABLE --out OUT --no-train` as a process, watched; returns timings and memory per stage."""
    cmd = [sys.executable, "-m", "tamiz.flows.cli", "run", str(table), "--out", str(out), "--no-train",
           "--workers", str(workers)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    watcher = Watcher(proc.pid).start()
    ends: dict[str, float] = {}
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line])[-40:]
        m = STAGE_LINE.match(line.strip())
        if m:
            ends[m[1].split()[0]] = time.monotonic()
            print(f"    {time.monotonic() - t0:7.1f} s  {line.strip()}", flush=True)
    code = proc.wait()
    watcher.stop()
    wall = time.monotonic() - t0
    if code != 0:
        raise RuntimeError(f"the build failed ({code}):\n{''.join(tail)}")
    build = json.loads((out / "build.json").read_text(encoding="utf-8"))
    seconds = build["stage_seconds"]
    stages = {}
    for stage in STAGES:
        end = ends.get(stage)
        start = end - seconds[stage] if end is not None else None
        window = [s for s in watcher.samples if start is not None and start - 0.5 <= s[0] <= end + 0.5]
        stages[stage] = {
            "seconds": seconds[stage],
            "peak_rss_parent": max((s[1] for s in window), default=None),
            "peak_rss_worker": max((s[2] for s in window), default=None),
            "peak_anon_worker": max((s[5] for s in window), default=None),
            "peak_rss_server": max((s[3] for s in window), default=None),
            "peak_rss_total": max((s[4] for s in window), default=None),
            "disk_bytes": folder_bytes(out / stage),
        }
    return {"wall_s": round(wall, 1), "setup_s": round(wall - sum(seconds[s] for s in STAGES), 1), "stages": stages,
            "build": build, "peak_rss_total": max((s[4] for s in watcher.samples), default=None)}


def task_counts(out: Path) -> dict[str, int]:
    """Prefect tasks each stage submitted (after batching): its per-call records, capped by the budget."""
    from tamiz.flows.runtime import max_tasks

    def tasks(calls: int) -> int:
        return min(calls, max_tasks())

    n_ingest = len(list((out / "ingest" / "crawl" / "_shards").glob("*.json")))
    n_filter = len(list((out / "filter" / "_shards").glob("*.json")))
    two_pass = (out / "filter" / "cutoffs.json").is_file()
    dedup = [p.name for p in (out / "dedup" / "_shards").glob("*.json")]
    phases = [sum(n.startswith(prefix) for n in dedup) for prefix in ("sign-", "exact-", "band-", "clusters", "remove-")]
    n_tok = len(list((out / "shards" / "_shards").glob("*.json")))
    return {"ingest": tasks(n_ingest), "filter": tasks(n_filter) * (2 if two_pass else 1),
            "dedup": sum(tasks(n) for n in phases),
            "tokenizer": 0, "shards": tasks(n_tok)}


def docs_in(build: dict) -> dict[str, int]:
    ingest = sum(c["records"] for c in build["ingest"].values())
    filt = build.get("filter", {}).get("counts", {}).get("docs_in", 0)
    dedup = build["dedup"]["counts"]["in"]
    kept = build["dedup"]["counts"]["kept"]
    return {"ingest": ingest, "filter": filt, "dedup": dedup, "tokenizer": kept, "shards": kept}


def fit(xs: list[float], ys: list[float]) -> dict[str, float] | None:
    """Least-squares line y = a + b x (b per GB) and the largest relative miss of the line."""
    if len(xs) < 2:
        return None
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    miss = max((abs(a + b * x - y) / y for x, y in zip(xs, ys) if y), default=0.0)
    return {"per_gb": round(b, 3), "intercept": round(a, 3), "max_relative_miss": round(miss, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, nargs="+", default=[1, 2, 4, 8, 10.5], help="crawl sizes, GB of WARC.gz")
    ap.add_argument("--quick", action="store_true", help="one 0.05 GB build (checks the harness)")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tamiz-bench-scale",
                    help="where crawls are generated (kept and reused) and builds run")
    ap.add_argument("--keep", action="store_true", help="keep each build's output folder")
    args = ap.parse_args()
    sizes = [0.05] if args.quick else list(args.gb)  # in the order given: repeats run in alternating order
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TAMIZ_HOME": str(args.work / "home")}
    env.pop("PREFECT_API_URL", None)

    os.environ["TAMIZ_HOME"] = env["TAMIZ_HOME"]
    import tamiz.flows  # noqa: F401  (Prefect settings before prefect is imported)
    from bench_build import prefect_overhead

    print("Prefect overhead per task (no-op tasks on a 2-worker cluster)...", flush=True)
    overhead = prefect_overhead(60)
    print(f"  {overhead * 1000:.0f} ms per task", flush=True)

    results: dict = {"host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "memory_gb": round(psutil.virtual_memory().total / 1e9, 1)},
                     "workers": args.workers, "prefect_overhead_s_per_task": round(overhead, 4), "sizes": {}}
    for gb in sizes:
        print(f"== {gb:g} GB", flush=True)
        crawl, truth, gen_s = crawl_for(args.work, gb, args.seed, jobs=args.workers)
        run_dir = args.work / f"build-{gb:g}gb"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        table = write_table(run_dir, crawl)
        got = run_build(table, run_dir / "out", args.workers, env)
        counts = task_counts(run_dir / "out")
        docs = docs_in(got["build"])
        row = {"warc_bytes": truth["totals"]["bytes"], "warc_files": truth["totals"]["files"],
               "captures": truth["totals"]["captures"], "generate_s": round(gen_s, 1),
               "wall_s": got["wall_s"], "setup_s": got["setup_s"], "peak_rss_total": got["peak_rss_total"],
               "kept_after_dedup": got["build"]["dedup"]["counts"]["kept"], "stages": {}}
        for stage in STAGES:
            s = got["stages"][stage]
            cores = 1 if stage == "tokenizer" else args.workers
            row["stages"][stage] = {
                **s, "docs_in": docs[stage], "tasks": counts[stage],
                "docs_per_s_per_core": round(docs[stage] / s["seconds"] / cores, 1) if s["seconds"] else None,
                "prefect_share": round(counts[stage] * overhead / (s["seconds"] * cores), 4) if s["seconds"] else None,
            }
        key = f"{gb:g}"
        while key in results["sizes"]:  # a size run twice in one run: "1", "1 (2)"
            key = f"{gb:g} ({sum(k.split(' ')[0] == f'{gb:g}' for k in results['sizes']) + 1})"
        results["sizes"][key] = row
        line = "  ".join(f"{st} {row['stages'][st]['seconds']:.0f}s" for st in STAGES)
        print(f"  {gb:g} GB: {row['wall_s']:.0f} s ({line}); peak RSS {row['peak_rss_total'] / 1e9:.2f} GB", flush=True)
        if not args.keep:
            shutil.rmtree(run_dir / "out", ignore_errors=True)

    gbs = [results["sizes"][k]["warc_bytes"] / 1e9 for k in results["sizes"]]
    slopes = {}
    for stage in STAGES:
        rows = [results["sizes"][k]["stages"][stage] for k in results["sizes"]]
        slopes[stage] = {"seconds": fit(gbs, [r["seconds"] for r in rows]),
                         "disk_bytes": fit(gbs, [r["disk_bytes"] for r in rows]),
                         "peak_rss_worker": fit(gbs, [r["peak_rss_worker"] or 0 for r in rows]),
                         "peak_anon_worker": fit(gbs, [r.get("peak_anon_worker") or 0 for r in rows]),
                         "peak_rss_parent": fit(gbs, [r["peak_rss_parent"] or 0 for r in rows])}
    results["slopes"] = slopes
    if len(gbs) >= 2:
        per_gb = {st: (slopes[st]["seconds"] or {}).get("per_gb", 0) for st in STAGES}
        results["bottleneck"] = max(per_gb, key=per_gb.get)
    if not args.quick:  # earlier runs are kept: each run's sizes were measured side by side, runs are not
        try:
            before = json.loads((Path(__file__).parent / "results" / "scale.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = None
        if before:
            earlier = before.pop("earlier_runs", [])
            results["earlier_runs"] = earlier + [before]
    path = write_results("scale", results, args.quick)
    print(f"\n{'GB':>6} {'stage':>10} {'s':>8} {'docs/s/core':>12} {'worker RSS MB':>14} {'anon MB':>8} {'parent RSS MB':>14} "
          f"{'disk MB':>9} {'tasks':>6} {'Prefect':>8}")
    for k, row in results["sizes"].items():
        for st in STAGES:
            s = row["stages"][st]
            print(f"{k:>6} {st:>10} {s['seconds']:8.1f} {s['docs_per_s_per_core'] or 0:12.1f} "
                  f"{(s['peak_rss_worker'] or 0) / 1e6:14.0f} {(s.get('peak_anon_worker') or 0) / 1e6:8.0f} "
                  f"{(s['peak_rss_parent'] or 0) / 1e6:14.0f} "
                  f"{s['disk_bytes'] / 1e6:9.1f} {s['tasks']:6d} {(s['prefect_share'] or 0) * 100:7.1f}%")
    print(f"wrote {path}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
