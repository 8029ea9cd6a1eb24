"""Two builds into one output folder: the second is refused at once with a clear message."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipeline.lock import FolderLocked, output_lock


def test_second_process_is_refused_and_lock_freed_on_kill(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from pipeline.lock import output_lock\n"
        "with output_lock(%r):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    ) % (str(__import__("pathlib").Path(__file__).resolve().parents[1]), str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLocked, match="another tamiz build is writing here.*pid"):
            with output_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL released the lock: no stale lock
    with output_lock(tmp_path):
        pass


def test_lock_is_reentrant_after_release(tmp_path):
    with output_lock(tmp_path):
        pass
    with output_lock(tmp_path):
        pass
