"""An exclusive lock on an output folder, so two builds never write into the same folder at once.

`with output_lock(folder):` takes an OS-level lock (fcntl.flock) on `folder/.tamiz.lock`; a second
process trying the same folder gets `FolderLocked` at once, with the holder's pid and command, and
writes nothing. The OS releases the lock when the holder exits, even on SIGKILL, so a crashed
build never leaves a stale lock behind. The holder empties the file when it is done (still holding
the lock), so a finished folder does not name the command, and the place, that last wrote it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import Iterator


class FolderLocked(RuntimeError):
    pass


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".tamiz.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise FolderLocked(f"{folder}: another tamiz build is writing here ({holder}); "
                               "wait for it to finish or use another --out folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv)[:300]}).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # while still holding the lock: the file is empty once we let go
    finally:
        os.close(fd)  # releases the flock
