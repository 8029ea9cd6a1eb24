"""Run a short Python program in a fresh interpreter: the one place tamiz's packages start a process.

Used where a native library must not run in the calling process: fastText training, whose Python
module reads memory freed by an earlier model in the same process (pipeline/quality/classifier.py), and loading
files that could crash a native library before a worker process uses them; and for the one local
Prefect server of a build (flows/server.py), started in a session of its own. Always this interpreter
(`sys.executable`) with an argument list, never a shell; the program is a constant string of tamiz's.
"""

from __future__ import annotations

import subprocess
import sys


def run_python(program: str, args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """`python -c program args...` with captured text output; returns the finished process."""
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=timeout)


def start_python(program: str, args: list[str], env: dict[str, str], pipe_stderr: bool = False) -> subprocess.Popen:
    """Start `python -c program args...` in the background, in a new session: a Ctrl-C on the terminal
    reaches only the calling process, which stops this one itself (`Popen.terminate`). Its stderr goes
    to the caller's stderr, or with `pipe_stderr` to a pipe the caller reads (`Popen.stderr`); stdout
    is dropped and nothing is read from stdin."""
    return subprocess.Popen([sys.executable, "-c", program, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if pipe_stderr else None,
                            start_new_session=True)


TimeoutExpired = subprocess.TimeoutExpired  # what run_python raises when the program runs past its timeout
