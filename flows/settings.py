"""Prefect settings for local runs, applied before `prefect` is imported; the user's values win.

- A persistent PREFECT_HOME (default ~/.cache/tamiz/prefect, or $TAMIZ_HOME/prefect) so the
  SQLite database of the on-demand local server is created once (the first creation takes ~30 s).
- A startup timeout of 180 s for that server (Prefect's default of 20 s is too short on 2 cores).
- Telemetry off (it tries the network), the UI off for the temporary server, quiet Dask logs.
An explicit PREFECT_API_URL points everything at a team's server instead; nothing here overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_API_HOST": "127.0.0.1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
    "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error",
    "DASK_DISTRIBUTED__WORKER__DAEMON": "false",
    # local workers ignore Ctrl-C: the parent stops them (flows/interrupt.py)
    "DASK_DISTRIBUTED__WORKER__PRELOAD": '["tamiz.flows.worker_setup"]',
    "TOKENIZERS_PARALLELISM": "false",
}


def tamiz_home() -> Path:
    return Path(os.environ.get("TAMIZ_HOME") or Path.home() / ".cache" / "tamiz")


def configure_prefect() -> None:
    import warnings

    # A local cluster's HTTP endpoint (127.0.0.1) takes another port when 8787 is taken: nothing to report.
    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
    for k, v in DEFAULTS.items():
        os.environ.setdefault(k, v)
    # multiprocessing's resource tracker (started by the local cluster, inheriting this environment)
    # cleans up the semaphores of workers that Ctrl-C killed, and would say so in two lines of warning
    # after the one line flows/interrupt.py prints
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    os.environ.setdefault("PREFECT_HOME", str(tamiz_home() / "prefect"))
    # Prefect creates PREFECT_HOME without its parents and then fails to open its database.
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
