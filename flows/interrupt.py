"""Ctrl-C: one line, a non-zero exit within seconds, and no process left behind.

A Ctrl-C on a terminal sends SIGINT to the whole foreground process group. Left to Python and
Prefect, a build took minutes to stop and printed hundreds of tracebacks: the local Prefect server
died first and every worker's state report failed against it. Here:

- the parent handles SIGINT (and SIGTERM) itself: it prints one line, kills its worker processes
  (SIGKILL: nothing of theirs is lost, see below), then stops the Prefect server, and exits with 130
  (143 for SIGTERM) without running Prefect's shutdown, which would report to a server that is gone;
- Dask worker processes ignore SIGINT (`tamiz.flows.worker_setup`, a Dask preload), so they never print a
  KeyboardInterrupt of their own; the parent stops them;
- the server runs in a session of its own (flows/server.py), so the terminal's SIGINT never reaches it,
  and what it prints from the moment the handler starts is dropped (it logs the killed workers'
  cancelled database sessions as errors while it shuts down).

Stopping hard is safe: every output appears by atomic rename and every stage resumes from its
finished shards (tests/test_fault_injection.py kills builds with SIGKILL mid-write), so a rerun of
the same command resumes and ends byte-identical to an uninterrupted build.
"""

from __future__ import annotations

import os
import signal
import sys

MESSAGE = "interrupted: stopped the workers; finished work is kept, rerun the same command to resume"


def _is_resource_tracker(proc) -> bool:
    """multiprocessing's resource tracker: it exits by itself with this process (killing it first
    makes multiprocessing start another one and print its complaints)."""
    try:
        return "multiprocessing.resource_tracker" in " ".join(proc.cmdline())
    except Exception:
        return False


def _stop_children(grace: float = 5.0) -> None:
    """SIGKILL every worker process at once (a worker shutting down gracefully mid-task prints
    tracebacks of its own, e.g. native objects freed on another thread), then stop the server."""
    import psutil

    from tamiz.flows.server import quiet, server_process, stop_server

    quiet()  # the server's complaints about the clients killed below are not news to the user
    server = server_process()
    me = psutil.Process()
    children = [c for c in me.children(recursive=True)
                if (server is None or c.pid != server.pid) and not _is_resource_tracker(c)]
    for c in children:
        try:
            c.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=grace)
    stop_server(timeout=grace)  # last: workers may still be reporting to it until they stop


def _handler(signum, frame) -> None:  # noqa: ARG001
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not interrupt the clean-up
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        sys.stdout.flush()
    except Exception:
        pass
    print(f"\n{MESSAGE}", file=sys.stderr, flush=True)
    try:
        _stop_children()
    finally:
        os._exit(130 if signum == signal.SIGINT else 143)


def install() -> None:
    """Handle SIGINT and SIGTERM as above (main thread only; a no-op elsewhere)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
