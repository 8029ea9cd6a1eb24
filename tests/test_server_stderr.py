"""The local Prefect server's stderr reaches the terminal through the parent until the parent starts
stopping it (flows/server.py): a server being shut down after its clients were killed logs their
cancelled database sessions as ERROR with a traceback, which a Ctrl-C must not show
(tests/test_cli_run.py runs the whole Ctrl-C)."""

from __future__ import annotations

import os
import threading
import time

from tamiz.flows import server


def test_server_lines_reach_stderr_until_quiet_then_are_dropped(capsys):
    read_end, write_end = os.pipe()
    server._quiet.clear()
    relay = threading.Thread(target=server._copy_lines, args=(os.fdopen(read_end, "rb"),), daemon=True)
    relay.start()
    err = ""
    try:
        os.write(write_end, "ERROR | la base de datos no responde\n".encode())
        deadline = time.monotonic() + 30
        while "no responde" not in err and time.monotonic() < deadline:  # until the relay has copied it
            time.sleep(0.01)
            err += capsys.readouterr().err
        server.quiet()
        os.write(write_end, b"Traceback (most recent call last):\n  asyncio.exceptions.CancelledError\n")
    finally:
        os.close(write_end)
        relay.join(timeout=30)
        server._quiet.clear()
    err += capsys.readouterr().err
    assert not relay.is_alive()  # it ends when the server's stderr closes
    assert "ERROR | la base de datos no responde\n" in err
    assert "Traceback" not in err and "CancelledError" not in err
