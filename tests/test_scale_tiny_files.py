"""20,000 tiny files: the ingest stage plans them, runs them in a bounded number of Prefect tasks on a real
Prefect server on PostgreSQL, and resumes per file after the build is killed (SIGKILL) in the middle."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

N_FILES = 20_000
BUDGET = 16  # tasks per mapped step: 1,250 files per task


def _make_tiny_files(folder: Path, n: int) -> None:
    """n JSONL files of one short Spanish document each, from real text (the sample's fortunes)."""
    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "reference" / "fortunes_es.jsonl"
    texts = [json.loads(line)["text"] for line in sample.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i in range(n):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        doc = {"id": f"tiny-{i:05d}", "text": texts[i % len(texts)]}
        (sub / f"part-{i:05d}.jsonl").write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def _ingest_command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tamiz.flows.cli", "ingest", str(src), "--out", str(out), "--workers", "2",
            "--no-langid"]


def _task_runs(api_url: str, flow_name: str, since: datetime) -> list[tuple[str, int]]:
    """(state, task runs of any state) of every flow run named `flow_name` created on the server since
    `since`, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    from postgres_server import count_task_runs, use_prefect_api

    with use_prefect_api(api_url), get_client(sync_client=True) as client:
        runs = sorted((r for r in client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
                       if r.created >= since), key=lambda r: r.created)
        return [(r.state_type.value if r.state_type else "?", count_task_runs(r.id, state=None)) for r in runs]


def test_twenty_thousand_tiny_files_run_in_bounded_tasks_on_postgres_and_resume_after_a_kill(
        prefect_postgres_url, tmp_path):
    src, out = tmp_path / "tiny", tmp_path / "out"
    started = datetime.now(UTC)
    _make_tiny_files(src, N_FILES)
    env = {**os.environ, "PREFECT_API_URL": prefect_postgres_url, "TAMIZ_MAX_TASKS": str(BUDGET),
           "TAMIZ_FSYNC": "0"}  # tiny files: fsync would be most of the time (core/atomic.py)

    # the first build, killed once a quarter of the files are done
    proc = subprocess.Popen(_ingest_command(src, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    records = out / "_shards"
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if records.is_dir() and len(os.listdir(records)) >= N_FILES // 4:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the build finished (or failed) before it could be killed:\n" + \
            proc.stdout.read().decode(errors="replace")[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    done_before = sum(1 for p in records.iterdir() if p.suffix == ".json")
    assert N_FILES // 4 <= done_before < N_FILES
    assert not (out / "manifest.json").exists()

    # the rerun does only the rest, within the budget, and the stage reconciles
    rerun = subprocess.run(_ingest_command(src, out), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    m = re.search(r"([\d,]+) input file\(s\), ([\d,]+) already done", rerun.stdout)
    assert m, rerun.stdout[-2000:]
    assert int(m[1].replace(",", "")) == N_FILES and int(m[2].replace(",", "")) >= done_before
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["inputs"]) == len(manifest["shards"]) == N_FILES
    assert manifest["counts"]["records"] == manifest["counts"]["kept"] == N_FILES

    runs = _task_runs(prefect_postgres_url, "tamiz-ingest", started)
    assert len(runs) == 2 and runs[-1][0] == "COMPLETED", runs
    # 20,000 files, never more than BUDGET tasks (the killed run's last events may not have been sent)
    assert all(n <= BUDGET for _, n in runs) and runs[-1][1] > 0, runs
