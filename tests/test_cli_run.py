"""`tamiz run` as a user runs it: a real process on a small table, watched from outside.

- one Prefect server for the whole build (the parent's), however many Dask workers;
- Ctrl-C (SIGINT to the process group, as a terminal sends it) stops the build within seconds with
  one line and exit code 130, leaving no process behind.

No PREFECT_API_URL is given to the build: it starts its own server, as on a user's machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from test_build import make_table

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "120"
    return env


def _start(table: Path, out: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "tamiz.flows.cli", "run", str(table), "--out", str(out), "--workers", "2"],
                                cwd=table.parent, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)


def _is_server(p: psutil.Process) -> bool:
    try:
        return "uvicorn" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def _watch(proc: subprocess.Popen, seen: dict[int, psutil.Process], until=lambda: False, timeout: float = 600,
           commands: list[str] | None = None) -> int:
    """Poll the build's process tree until it exits or `until()`; returns the most servers seen at once.
    `seen` collects every descendant, `commands` their command lines."""
    most = 0
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            kids = me.children(recursive=True)
        except psutil.Error:
            break
        for k in kids:
            if k.pid not in seen:
                seen[k.pid] = k
                if commands is not None:
                    commands.append(" ".join(_safe_cmdline(k)))
        most = max(most, sum(_is_server(k) for k in kids))
        if until():
            break
        time.sleep(0.2)
    return most


def _alive(seen: dict[int, psutil.Process]) -> list[str]:
    out = []
    for p in seen.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(" ".join(p.cmdline())[:120])
        except psutil.Error:
            pass
    return out


def _wait_gone(seen: dict[int, psutil.Process], seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while _alive(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(seen)


@pytest.fixture(scope="module")
def table(tmp_path_factory, sample_dir) -> Path:
    return make_table(tmp_path_factory.mktemp("cli-run"), sample_dir, train_steps=8)


def _safe_cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def test_one_prefect_server_and_ctrl_c_stops_the_build_within_seconds(table):
    """While ingest tasks run on the two workers (each of which used to start a server of its own at its
    first task), the build has exactly one Prefect server; then Ctrl-C: one line, exit 130, no process
    left behind. (Training progress lines: tests/test_train_loop.py and, in Prefect's logs,
    tests/test_build.py.)"""
    out, log = table.parent / "out", table.parent / "run.log"
    proc = _start(table, out, log)
    seen: dict[int, psutil.Process] = {}
    commands: list[str] = []

    def a_shard_is_done() -> bool:  # a worker has run a whole ingest task
        return any((out / "ingest").glob("*/_shards/*.json"))

    try:
        most = _watch(proc, seen, until=a_shard_is_done, timeout=300, commands=commands)
        assert proc.poll() is None, "the build ended before it could be interrupted"
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
        rc = proc.wait(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert most == 1, f"{most} Prefect servers at once"
    assert sum("spawn_main" in c for c in commands) >= 2  # the two Dask workers were running
    assert rc == 130, text[-3000:]
    assert seconds < 20, f"took {seconds:.1f} s to stop"
    lines = [line for line in text.splitlines() if line.strip()]
    assert sum("interrupted" in line for line in lines) == 1
    assert "rerun the same command to resume" in text
    # Known, open (see the closing note of issue 19): a Dask worker's event-loop thread sometimes frees a
    # resiliparse HTMLTree made in its task thread and PyO3 prints that as a traceback while the build
    # runs, before any interrupt. Anything else is a failure.
    known = "HTMLTreePy is unsendable, but is being dropped on another thread"
    rest = "\n".join(b for b in text.split("Traceback (most recent call last):") if known not in b)
    assert "Traceback" not in rest and "Error" not in rest, text[-3000:]
    assert _wait_gone(seen) == [], "processes left behind"
