"""Prefect's cost per task on SQLite against PostgreSQL, side by side in one run.

    python benchmarks/bench_prefect_db.py [--n 1000 [2000 4000 ...]] [--runners dask threads] [--reps 2] [--quick]

Starts three servers on 127.0.0.1 for the whole run (tests/postgres_server.py): a PostgreSQL, a
`prefect server start` on it, and a `prefect server start` on SQLite (Prefect's default database),
each with a fresh database and a home of its own. Then, for each repetition, task runner and N, runs
the same flow of N trivial mapped tasks (`noop.map(range(N))`) once against each server, the order of
the two databases alternating from one measurement to the next (and flipped between repetitions).
Each flow runs in a fresh process that reports to one server (PREFECT_API_URL), with tamiz's settings:

* `dask`: tamiz's task runner (flows/runtime.make_task_runner: a DaskTaskRunner on a LocalCluster of
  2 processes, 1 thread each, host 127.0.0.1, dashboard off), as `tamiz run` uses it;
* `threads`: Prefect's ThreadPoolTaskRunner with --threads threads (its default is unbounded).

Per measurement: seconds per task in the flow (submitting the N tasks until the last result, / N) and
for the whole flow call (with the Dask cluster's start and stop); how many COMPLETED task runs the API
has recorded when the flow returns and how long after it all N are there (Prefect 3 records task runs
from the events clients send; waited for up to --record-wait s); the peak resident memory (RSS) of
the Prefect server, and of PostgreSQL's processes (PSS: their shared buffers counted once), while the
flow ran and its records were written, and the CPU time they used meanwhile, per task (Prefect server,
plus PostgreSQL's processes on PostgreSQL: on 2 cores, the server's CPU is taken from the workers'). Both servers run
throughout, so each measurement shares the machine with the other, idle, server.

Results: benchmarks/results/prefect_db.json (prefect_db.quick.json with --quick); a table on stdout,
then the summary as JSON on the last line (benchmarks/run_all.py reads it). See docs/prefect-postgres.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from postgres_server import PostgresServer, PrefectServer  # noqa: E402
from record import write_results  # noqa: E402

DATABASES = ("sqlite", "postgresql")

# One measurement, in a fresh process that reports to one server (PREFECT_API_URL in its environment).
FLOW = r"""
import json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["tests"])
import tamiz.flows  # tamiz's Prefect settings first, as the CLI does
from prefect import flow, task
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from postgres_server import count_task_runs

@task
def noop(i):
    return i

@flow
def many(n):
    t0 = time.perf_counter()
    total = sum(noop.map(range(n)).result())
    return flow_run.id, time.perf_counter() - t0, total

n = args["n"]
if args["runner"] == "dask":
    from tamiz.flows.runtime import make_task_runner
    runner = make_task_runner(None, 2)
else:
    runner = ThreadPoolTaskRunner(max_workers=args["threads"])
t0 = time.perf_counter()
run_id, tasks_s, total = many.with_options(task_runner=runner)(n)
flow_s = time.perf_counter() - t0
assert total == n * (n - 1) // 2, total
ended = time.monotonic()
at_end = recorded = count_task_runs(run_id)
while recorded < n and time.monotonic() - ended < args["record_wait"]:
    time.sleep(0.5)
    recorded = count_task_runs(run_id)
lag = time.monotonic() - ended if recorded >= n else None
print(json.dumps({"tasks_s": tasks_s, "flow_s": flow_s, "recorded_at_flow_end": at_end, "recorded": recorded,
                  "recorded_after_s": lag}))
"""


class Watch:
    """While inside: each server's peak memory (sampled every 0.5 s in a thread) and the CPU seconds it used."""

    def __init__(self, **servers):
        self.servers, self.peak = servers, dict.fromkeys(servers, 0)
        self.cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, server in self.servers.items():
                self.peak[name] = max(self.peak[name], server.memory_bytes())
            self._stop.wait(0.5)

    def __enter__(self) -> Self:
        self.cpu = {name: -server.cpu_seconds() for name, server in self.servers.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for name, server in self.servers.items():
            self.cpu[name] += server.cpu_seconds()


def measure(server: PrefectServer, pg: PostgresServer, runner: str, n: int, args, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TAMIZ_"))}
    env.update(server.env(), TAMIZ_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    spec = {"n": n, "runner": runner, "threads": args.threads, "record_wait": args.record_wait,
            "tests": str(ROOT / "tests")}
    watched = {"server": server, **({"postgres": pg} if server.database == "postgresql" else {})}
    with Watch(**watched) as watch:
        run = subprocess.run([sys.executable, "-c", FLOW, json.dumps(spec)], env=env, cwd=home, check=False,
                             capture_output=True, text=True, timeout=args.record_wait + 60 + n * 2)
    if run.returncode != 0:
        raise RuntimeError(f"{runner} flow of {n} tasks on {server.database} failed:\n{run.stderr[-3000:]}\n"
                           f"server log:\n{server.log_tail()}")
    r = json.loads(run.stdout.strip().splitlines()[-1])
    return {
        "s_per_task": round(r["tasks_s"] / n, 4),
        "flow_call_s_per_task": round(r["flow_s"] / n, 4),
        "tasks_s": round(r["tasks_s"], 2),
        "flow_s": round(r["flow_s"], 2),
        "recorded_at_flow_end": r["recorded_at_flow_end"],
        "recorded": r["recorded"],
        "all_recorded": r["recorded"] >= n,
        "recorded_after_s": None if r["recorded_after_s"] is None else round(r["recorded_after_s"], 1),
        # CPU of the Prefect server (+ PostgreSQL) from the flow's start until all its task runs were recorded
        "server_cpu_ms_per_task": round(1000 * sum(watch.cpu.values()) / n, 2),
        "server_rss_peak_mb": round(watch.peak["server"] / 2**20),
        **({"postgres_pss_peak_mb": round(watch.peak["postgres"] / 2**20)} if "postgres" in watch.peak else {}),
    }


def summarize(runs: list[dict], runners: list[str], ns: list[int]) -> dict:
    """Per runner and N: each database's median s/task over the repetitions, the worst recording, and
    PostgreSQL's time per task over SQLite's."""
    out: dict = {}
    for runner in runners:
        for n in ns:
            cell = {}
            for db in DATABASES:
                rs = [r for r in runs if (r["runner"], r["n"], r["database"]) == (runner, n, db)]
                if not rs:
                    continue
                lags = [r["recorded_after_s"] for r in rs]
                cell[db] = {
                    "s_per_task": round(statistics.median(r["s_per_task"] for r in rs), 4),
                    "flow_call_s_per_task": round(statistics.median(r["flow_call_s_per_task"] for r in rs), 4),
                    "all_recorded": all(r["all_recorded"] for r in rs),
                    "min_recorded_at_flow_end": min(r["recorded_at_flow_end"] for r in rs),
                    "max_recorded_after_s": None if None in lags else max(lags),
                    "server_cpu_ms_per_task": round(statistics.median(r["server_cpu_ms_per_task"] for r in rs), 2),
                    "server_rss_peak_mb": max(r["server_rss_peak_mb"] for r in rs),
                    **({"postgres_pss_peak_mb": max(r["postgres_pss_peak_mb"] for r in rs)}
                       if db == "postgresql" else {}),
                }
            if len(cell) == 2:
                ratio = cell["postgresql"]["s_per_task"] / cell["sqlite"]["s_per_task"]
                cell["postgresql_over_sqlite"] = round(ratio, 3)
            out.setdefault(runner, {})[str(n)] = cell
    return out


def table(runs: list[dict]) -> str:
    head = ("runner", "N", "rep", "database", "s/task", "s/task flow call", "recorded at end", "all recorded after",
            "server CPU ms/task", "server RSS MB", "postgres PSS MB")
    rows = [head]
    for r in sorted(runs, key=lambda r: (r["runner"], r["n"], r["rep"], r["database"])):
        rows.append((r["runner"], str(r["n"]), str(r["rep"]), r["database"], f"{r['s_per_task']:.4f}",
                     f"{r['flow_call_s_per_task']:.4f}", f"{r['recorded_at_flow_end']}/{r['n']}",
                     f"{r['recorded_after_s']} s" if r["all_recorded"] else f"NO ({r['recorded']}/{r['n']})",
                     f"{r.get('server_cpu_ms_per_task', '-')}", str(r["server_rss_peak_mb"]),
                     str(r.get("postgres_pss_peak_mb", "-"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000], help="tasks per flow, one or more (default 1000; "
                    "e.g. --n 1000 2000 4000)")
    ap.add_argument("--runners", nargs="+", choices=["dask", "threads"], default=["dask", "threads"])
    ap.add_argument("--reps", type=int, default=2, help="repetitions of every measurement (default 2)")
    ap.add_argument("--threads", type=int, default=8, help="ThreadPoolTaskRunner threads (default 8)")
    ap.add_argument("--record-wait", type=float, default=180.0,
                    help="seconds to wait after a flow for all its task runs to be recorded (default 180)")
    ap.add_argument("--quick", action="store_true", help="--n 100 --reps 1")
    args = ap.parse_args()
    if args.quick:
        args.n, args.reps = [100], 1
    if min(args.n) < 1 or args.reps < 1 or args.threads < 1:
        raise ValueError(f"--n {args.n}, --reps {args.reps}, --threads {args.threads}: each must be at least 1")

    import importlib.metadata as md

    work = Path(tempfile.mkdtemp(prefix="bench-prefect-db-"))
    pg = PostgresServer()
    servers: dict[str, PrefectServer] = {}
    try:
        pg.start()
        starts = {}
        for db in DATABASES:
            t0 = time.perf_counter()
            servers[db] = PrefectServer(pg.database_url if db == "postgresql" else None).start()
            starts[db] = round(time.perf_counter() - t0, 1)
            print(f"prefect server start on {db}: answering after {starts[db]} s (fresh database)", flush=True)
        results = {
            "machine": f"{os.cpu_count()} cores",
            "prefect": md.version("prefect"), "prefect_dask": md.version("prefect-dask"),
            "postgresql": pg.query("show server_version")[0][0],
            "runners": {"dask": "tamiz make_task_runner: DaskTaskRunner, LocalCluster 2 processes x 1 thread",
                        "threads": f"ThreadPoolTaskRunner(max_workers={args.threads})"},
            "n": args.n, "reps": args.reps, "record_wait_s": args.record_wait,
            "server_start_s": starts, "runs": [],
        }
        cells = [(runner, n) for runner in args.runners for n in args.n]
        for rep in range(args.reps):
            for i, (runner, n) in enumerate(cells):
                order = DATABASES if (rep + i) % 2 == 0 else DATABASES[::-1]
                for pos, db in enumerate(order):
                    home = work / f"client-{rep}-{runner}-{n}-{db}"
                    home.mkdir()
                    r = measure(servers[db], pg, runner, n, args, home)
                    r = {"rep": rep, "runner": runner, "n": n, "database": db, "order": pos, **r}
                    results["runs"].append(r)
                    print(json.dumps(r), flush=True)
        results["summary"] = summarize(results["runs"], args.runners, args.n)
    finally:
        for server in servers.values():
            server.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    path = write_results("prefect_db", results, args.quick)
    print(table(results["runs"]))
    print(f"wrote {path}")
    print(json.dumps({"machine": results["machine"], "summary": results["summary"]}))


if __name__ == "__main__":
    main()
