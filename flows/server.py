"""The one local Prefect server of a command: started once in the parent, shared by every worker.

Prefect starts a temporary server in any process that has no API URL. Left alone, every Dask worker
process of a build starts its own (three uvicorn servers of ~230 MB for a 2-worker build, all on
one SQLite file). So the parent starts one before any worker exists, puts its URL in the
environment (local worker processes inherit it) and in Prefect's settings context (Prefect sends
that context with every task, so the workers of an existing cluster report to it too, as long as
they can reach it). A user's PREFECT_API_URL (a team's server) wins: then nothing is started.

The server runs Prefect's own app (the same uvicorn command Prefect's temporary server runs) in a
session of its own, so a Ctrl-C on the terminal reaches only the parent, which stops the server
after its workers (flows/interrupt.py); the server also exits by itself when its parent dies.

Its stderr reaches the terminal through the parent (a thread copies it line by line) until the parent
starts stopping it: from then on (`quiet()`, called by the interrupt handler before it kills the workers,
and by `stop_server`) the server's lines are dropped. A server whose clients were just killed and which
is being shut down logs database sessions cancelled mid-rollback as ERROR with a traceback; that is
the expected end of a stop the user asked for, not an error of the build.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
import time
from typing import Any

_server: Any = None  # the Popen of the server this process started
_settings: Any = None  # the settings context pointing this process at it
_quiet = threading.Event()  # set once this process starts stopping the server: its lines are dropped
_relay: threading.Thread | None = None  # copies the server's stderr to this process's stderr

# The start of a server's program: exit when the process that started it is gone (even after a SIGKILL).
PARENT_WATCH = """
import os, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
"""

# Runs in the server process: the parent watch, then Prefect's app.
SERVER_PROGRAM = PARENT_WATCH + """
import uvicorn
uvicorn.run("prefect.server.api.server:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
            log_level="error", lifespan="on")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_lines(stream) -> None:
    """Copy the server's stderr to ours, line by line, until it closes; drop lines once `_quiet` is set."""
    for raw in iter(stream.readline, b""):
        if _quiet.is_set():
            continue
        try:
            sys.stderr.write(raw.decode("utf-8", errors="replace"))
            sys.stderr.flush()
        except (OSError, ValueError):  # our stderr is closed (interpreter shutdown): keep draining the pipe
            pass
    stream.close()


def quiet() -> None:
    """From now on, drop what the server prints (this process is stopping it)."""
    _quiet.set()


def ensure_prefect_api() -> str:
    """The API URL every flow of this process (and its workers) reports to; starts the local server
    on the first call when no PREFECT_API_URL is set. Raises RuntimeError when it cannot start."""
    global _server, _settings, _relay
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    url = get_current_settings().api.url
    if url:
        os.environ.setdefault("PREFECT_API_URL", url)  # local workers inherit it
        return url
    import httpx

    from tamiz.core.child import start_python

    timeout = float(get_current_settings().server.ephemeral.startup_timeout_seconds)
    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
           "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    print("starting the local Prefect server (the first run also creates its database, about 30 s)...",
          file=sys.stderr, flush=True)
    port = _free_port()
    _quiet.clear()
    _server = start_python(SERVER_PROGRAM, [str(port)], env, pipe_stderr=True)
    _relay = threading.Thread(target=_copy_lines, args=(_server.stderr,), name="prefect-server-stderr", daemon=True)
    _relay.start()
    atexit.register(stop_server)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while True:
            if _server.poll() is not None:
                _relay.join(timeout=5)  # its last lines (the error) are printed before ours
                raise RuntimeError(f"the local Prefect server exited with code {_server.returncode} while starting "
                                   f"(PREFECT_HOME={os.environ.get('PREFECT_HOME')}); its error is above")
            try:
                if client.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                stop_server()
                raise RuntimeError(f"the local Prefect server did not answer within {timeout:.0f} s "
                                   "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
            time.sleep(0.2)
    os.environ["PREFECT_API_URL"] = url
    _settings = temporary_settings(updates={PREFECT_API_URL: url})
    _settings.__enter__()  # for the rest of this process
    return url


def server_process() -> Any:
    """The Popen of the server this process started, or None."""
    return _server


def stop_server(timeout: float = 5.0) -> None:
    """Stop the server this process started (if any): SIGTERM, then SIGKILL after `timeout` seconds."""
    global _server
    proc, _server = _server, None
    if proc is None or proc.poll() is not None:
        return
    quiet()
    proc.terminate()
    try:
        proc.wait(timeout)
    except Exception:  # still running after the grace period
        proc.kill()
        proc.wait()
    if _relay is not None:
        _relay.join(timeout=2)  # the pipe is closed: the copier ends (before the interpreter does)
