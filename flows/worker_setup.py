"""Dask preload for the workers of tamiz's local clusters (DASK_DISTRIBUTED__WORKER__PRELOAD, set in
flows/settings.py): a worker process ignores SIGINT. A Ctrl-C on the terminal reaches every process
of the foreground group; the parent stops its workers itself (flows/interrupt.py), so a worker
must not die on its own first, printing a KeyboardInterrupt traceback and failing its task."""

from __future__ import annotations

import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_setup(worker) -> None:  # noqa: ARG001  (Dask calls it; the work is done at import)
    pass
