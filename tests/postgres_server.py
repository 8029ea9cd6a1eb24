"""A real PostgreSQL and a real `prefect server start` on it, on 127.0.0.1, for tests and benchmarks.

* `PostgresServer`: `initdb` + `pg_ctl` in a temporary folder (its unix socket there too), TCP on
  127.0.0.1 only, trust authentication, fsync off (a throwaway test database). PostgreSQL refuses
  to run as root, and CI runs as root: then every PostgreSQL command runs as the `postgres` user
  (`runuser -u postgres --`) in a folder that user owns.
* `PrefectServer`: Prefect's own CLI, `prefect server start`, on a free port of 127.0.0.1, UI and
  analytics off, with a PREFECT_HOME of its own and no PREFECT_* setting inherited from the caller;
  its database is the URL given (a `PostgresServer.database_url`), or SQLite in its home when none.
  `start()` returns once /api/health answers; a server that does not is stopped and reported with
  the tail of its log.
* `use_prefect_api(url)`: this process (its flows, its Prefect clients) and the processes it starts
  (local Dask workers inherit the environment) report to the server at `url` while inside.
* Fixtures (registered for every test module by conftest.py's `pytest_plugins`, so each session
  starts at most one of each): `postgres_db` (session), `prefect_postgres` (session: the
  `PrefectServer` on `postgres_db`), `prefect_postgres_url` (session: its API URL,
  http://127.0.0.1:PORT/api), and `use_prefect_postgres` (per test: `use_prefect_api` on it).

A test that runs a tamiz build on PostgreSQL asks for `use_prefect_postgres` (in-process build), or
passes `prefect_postgres.env()` to a `tamiz run` subprocess; tamiz honours an explicit PREFECT_API_URL
(flows/server.py starts no server of its own then). Where no `initdb` is installed the fixtures skip,
saying how to install it; .ci/run installs it. See docs/prefect-postgres.md.

Teardown runs when a test fails or on Ctrl-C. After a SIGKILL of the test run the Prefect server
exits by itself (it watches its parent); a PostgreSQL stays: `pg_ctl -D /tmp/tamiz-pg-*/db stop`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Self

import pytest

from tamiz.flows.server import PARENT_WATCH

__all__ = ["INSTALL_HINT", "PostgresNotInstalled", "PostgresServer", "PrefectServer", "count_task_runs",
           "find_pg_bin", "postgres_db", "prefect_postgres", "prefect_postgres_url", "use_prefect_api",
           "use_prefect_postgres"]

INSTALL_HINT = ("PostgreSQL's `initdb` was not found (looked on the PATH and in /usr/lib/postgresql/*/bin). "
                "Install PostgreSQL 14.9 or newer with its contrib extensions (Prefect needs pg_trgm): "
                "`apt-get install -y postgresql` on Debian or Ubuntu (.ci/run does this), "
                "`brew install postgresql@16` on macOS.")
PG_USER = "postgres"  # the database superuser that initdb creates, and the OS user that runs it under root


class PostgresNotInstalled(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _tree(pid: int | None) -> list:
    import psutil

    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_memory(pid: int | None, proportional: bool = False) -> int:
    """Resident bytes of a process and all its descendants (0 when it is gone). `proportional`: each
    shared page counted once in all (Linux's PSS), for process families that share memory."""
    import psutil

    total = 0
    for p in _tree(pid):
        try:
            total += p.memory_full_info().pss if proportional else p.memory_info().rss
        except (psutil.Error, AttributeError):  # AttributeError: no PSS outside Linux
            pass
    return total


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants."""
    import psutil

    total = 0.0
    for p in _tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: the PATH's, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1:`port`, database `postgres`, user `postgres`, no password."""

    def __init__(self, startup_timeout: float = 60.0, settings: dict[str, str] | None = None):
        self.startup_timeout = startup_timeout
        # fsync and friends off: a crash loses a test database, nothing else
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", **(settings or {})}
        self.folder: Path | None = None
        self.port = 0
        self._bin: Path | None = None
        self._as: list[str] = []  # the runuser prefix under root

    # -- addresses ------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL Prefect takes (PREFECT_API_DATABASE_CONNECTION_URL)."""
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        """The libpq URL (psql, asyncpg)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    # -- life -----------------------------------------------------------------------------

    def start(self) -> Self:
        self._bin = find_pg_bin()
        if self._bin is None:
            raise PostgresNotInstalled(INSTALL_HINT)
        self.folder = Path(tempfile.mkdtemp(prefix="tamiz-pg-"))
        try:
            self._as = self._run_as_prefix(self.folder)
            self._pg("initdb", "-D", str(self.folder / "db"), "-A", "trust", "-U", PG_USER, "-E", "UTF8",
                     "--locale=C", "--no-sync", timeout=self.startup_timeout)
            self._start_cluster()
        except BaseException:
            self.stop()
            raise
        return self

    def _run_as_prefix(self, folder: Path) -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            user = pwd.getpwnam(PG_USER)
        except KeyError:
            raise RuntimeError(f"PostgreSQL refuses to run as root and there is no `{PG_USER}` user to run it as "
                               f"(Debian's postgresql package creates it; or: useradd --system {PG_USER})") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("PostgreSQL refuses to run as root, and `runuser` (util-linux) is not installed "
                               f"to run it as the `{PG_USER}` user")
        os.chown(folder, user.pw_uid, user.pw_gid)
        return [runuser, "-u", PG_USER, "--"]

    def _pg(self, tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
        assert self._bin is not None and self.folder is not None
        cmd = [*self._as, str(self._bin / tool), *args]
        # cwd: runuser keeps root's working directory, which the postgres user may not be allowed to read
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.folder, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed (exit {run.returncode}):\n{(run.stdout + run.stderr)[-3000:]}"
                               + (f"\nthe end of the server's log:\n{_tail(self.folder / 'log')}"
                                  if (self.folder / "log").exists() else ""))
        return run

    def _start_cluster(self) -> None:
        assert self.folder is not None
        for attempt in range(3):  # a free port can be taken between choosing it and binding it
            self.port = _free_port()
            opts = [f"-p {self.port}", f"-k {shlex.quote(str(self.folder))}", "-c listen_addresses=127.0.0.1",
                    *(f"-c {k}={v}" for k, v in self.settings.items())]
            try:
                self._pg("pg_ctl", "-D", str(self.folder / "db"), "-l", str(self.folder / "log"), "-w",
                         "-t", str(int(self.startup_timeout)), "-o", " ".join(opts), "start",
                         timeout=self.startup_timeout + 10)
                return
            except RuntimeError as e:
                if attempt == 2 or "could not bind" not in _tail(self.folder / "log", 20):
                    raise RuntimeError(f"PostgreSQL did not start: {e}") from None

    def stop(self) -> None:
        """`pg_ctl stop -m fast` (SIGQUIT to the postmaster if that fails), then remove the folder."""
        folder, self.folder = self.folder, None
        if folder is None:
            return
        pidfile = folder / "db" / "postmaster.pid"
        if pidfile.exists() and self._bin is not None:
            self.folder = folder
            try:
                self._pg("pg_ctl", "-D", str(folder / "db"), "stop", "-m", "fast", "-w", "-t", "30", timeout=40)
            except (RuntimeError, subprocess.TimeoutExpired):
                try:
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)  # immediate shutdown
                except (OSError, ValueError, IndexError):
                    pass
            finally:
                self.folder = None
        shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- looking inside -------------------------------------------------------------------

    def query(self, sql: str, *args: Any) -> list[tuple]:
        """Rows of one SQL statement, over TCP with asyncpg (Prefect's own PostgreSQL driver)."""
        import asyncio

        import asyncpg

        async def go() -> list[tuple]:
            conn = await asyncpg.connect(self.dsn, timeout=30)
            try:
                return [tuple(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        return asyncio.run(go())

    def postmaster_pid(self) -> int | None:
        try:
            assert self.folder is not None
            return int((self.folder / "db" / "postmaster.pid").read_text().split()[0])
        except (AssertionError, OSError, ValueError, IndexError):
            return None

    def memory_bytes(self) -> int:
        """Resident bytes of the postmaster and its backends, each shared page (the shared buffers)
        counted once (PSS; 0 outside Linux)."""
        return _tree_memory(self.postmaster_pid(), proportional=True)

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the postmaster and its living backends."""
        return _tree_cpu(self.postmaster_pid())


# ---------------------------------------------------------------------------------------------
# Prefect

# Prefect's CLI (`prefect server start ...`, the arguments after -c), plus a thread that ends the
# server when the process that started it is gone, even after a SIGKILL (as flows/server.py does).
_LAUNCH = PARENT_WATCH + """
import runpy
runpy.run_module("prefect", run_name="__main__", alter_sys=True)
"""


class PrefectServer:
    """`prefect server start` on 127.0.0.1:`port` with its own PREFECT_HOME; database: `database_url`
    (PREFECT_API_DATABASE_CONNECTION_URL) or, when None, Prefect's default SQLite file in that home.
    `settings`: more PREFECT_* variables for the server (e.g. a pool size)."""

    def __init__(self, database_url: str | None = None, startup_timeout: float = 180.0,
                 settings: dict[str, str] | None = None):
        self.database_url = database_url
        self.database = "sqlite" if database_url is None else database_url.split(":", 1)[0].split("+", 1)[0]
        self.startup_timeout = startup_timeout
        self.settings = dict(settings or {})
        self.folder: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def api_url(self) -> str:
        """http://127.0.0.1:PORT/api: what PREFECT_API_URL is set to for a client of this server."""
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def env(self) -> dict[str, str]:
        """What a client process adds to its environment to report here (e.g. a `tamiz run` subprocess)."""
        return {"PREFECT_API_URL": self.api_url}

    def start(self) -> Self:
        self.folder = Path(tempfile.mkdtemp(prefix="tamiz-prefect-"))
        (self.folder / "home").mkdir()
        try:
            for attempt in range(3):  # a free port can be taken between choosing it and binding it
                self.port = _free_port()
                self._spawn()
                if self._wait_healthy():
                    return self
                if attempt == 2 or "already in use" not in _tail(self.log_path, 20):
                    raise RuntimeError(f"prefect server start exited with code {self.proc.returncode} while starting "
                                       f"(database {self.database}); the end of its log:\n"
                                       f"{_tail(self.log_path)}")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        assert self.folder is not None
        # Hermetic: none of the caller's PREFECT_* settings (its API URL, its database, its profile)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(self.folder / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_SERVER_UI_ENABLED="false", PREFECT_SERVER_API_HOST="127.0.0.1",
                   PREFECT_SERVER_API_PORT=str(self.port), **self.settings)
        if self.database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (the server's stdout: open while it runs)
        cmd = [sys.executable, "-c", _LAUNCH, "server", "start", "--host", "127.0.0.1", "--port", str(self.port),
               "--no-ui", "--analytics-off"]
        # its own session: a terminal's Ctrl-C reaches only the test run, which stops the server's group;
        # cwd: no prefect.toml or .env of the caller's folder is read
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.folder, start_new_session=True)

    def _wait_healthy(self) -> bool:
        """True once /api/health answers 200; False when the process exited; TimeoutError after startup_timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                tail = _tail(self.log_path)
                self._terminate()
                raise TimeoutError(f"prefect server start ({self.database}) did not answer {self.api_url}/health "
                                   f"within {self.startup_timeout:.0f} s; the end of its log:\n{tail}")
            time.sleep(0.25)

    def _terminate(self, grace: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        try:  # anything left in its group (it was the group's leader)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """SIGTERM to the server's process group (SIGKILL after 15 s), then remove its folder."""
        self._terminate()
        if self._log is not None:
            self._log.close()
            self._log = None
        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines) if self.folder else ""

    def memory_bytes(self) -> int:
        """Resident bytes (RSS) of the server process and any children."""
        return _tree_memory(self.proc.pid if self.proc else None)

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the server process and any children."""
        return _tree_cpu(self.proc.pid if self.proc else None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drain_prefect_workers() -> None:
    """Send what Prefect's background senders hold (events, which record task runs in Prefect 3, and
    logs) and end them, so that the next ones are created for the current API URL: their instances are
    per process, not per URL (prefect_test_harness does the same around its server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=30, at_exit=False)


@contextmanager
def use_prefect_api(url: str) -> Iterator[str]:
    """Inside: this process's flows and clients report to `url`, and so do processes started inside
    (PREFECT_API_URL in the environment). Usable at any fixture scope."""
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _drain_prefect_workers()
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            # threads that start with an empty context (Prefect's event loop thread) read the
            # process-wide settings: point those here too, as prefect_test_harness does
            swap = getattr(prefect.context, "_temporary_global_settings_context", None)
            with swap(prefect.context.get_settings_context()) if swap else nullcontext():
                try:
                    yield url
                finally:
                    _drain_prefect_workers()  # still pointed here: the last events reach this server
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


def count_task_runs(flow_run_id: Any, state: str | None = "COMPLETED") -> int:
    """Task runs of one flow run (in `state`; any state when None) that the current API (see
    `use_prefect_api`) has recorded. Prefect 3 records them from the events its clients send, so the
    count can trail the flow's end by a few seconds."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (TaskRunFilter, TaskRunFilterFlowRunId, TaskRunFilterState,
                                                TaskRunFilterStateType)

    flt = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[UUID(str(flow_run_id))]),
                        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[state])) if state else None)
    with get_client(sync_client=True) as client:  # Prefect 3.9's clients have no count_task_runs: the route
        response = client.request("POST", "/task_runs/count", json={"task_runs": flt.model_dump(mode="json")})
    response.raise_for_status()
    return int(response.json())


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[PostgresServer]:
    """A PostgreSQL for the whole session (skips, saying how to install it, where there is none)."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresNotInstalled as e:
        pytest.skip(str(e))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_postgres(postgres_db: PostgresServer) -> Iterator[PrefectServer]:
    """`prefect server start` on `postgres_db`, for the whole session."""
    with PrefectServer(postgres_db.database_url) as server:
        yield server


@pytest.fixture(scope="session")
def prefect_postgres_url(prefect_postgres: PrefectServer) -> str:
    """http://127.0.0.1:PORT/api of the session's Prefect server on PostgreSQL."""
    return prefect_postgres.api_url


@pytest.fixture
def use_prefect_postgres(prefect_postgres: PrefectServer) -> Iterator[str]:
    """This test's flows (and the local workers they start) report to the Prefect server on PostgreSQL."""
    import tamiz.flows  # noqa: F401  (tamiz's Prefect settings before Prefect's import, as the CLI does)

    with use_prefect_api(prefect_postgres.api_url) as url:
        yield url
