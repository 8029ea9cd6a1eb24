"""Atomic file output: write to a temporary name in the same folder, fsync, then rename.

A crash leaves either the old file, no file, or a `*.tmp-*` file that no reader looks at;
never a half file under the final name.

`TAMIZ_FSYNC=0` skips the two fsyncs (the file's and its folder's, about 1.5 ms per file here). The
rename alone still protects against a killed process; only a power loss or a kernel crash could then
leave a renamed file whose bytes never reached the disk, and every completion record holds its
files' sizes and sha256, so a rerun finds such a file and redoes its shard. Worth it for builds of
very many tiny files (docs/scale.md); the default keeps the fsyncs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


WRITTEN_HOOKS: list = []  # called with each file put in place (core/mirror.py: what to upload to the store)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `final`; on success fsync it and rename it over `final`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        sync = _fsync_on()
        if sync:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
        _fault_point()
        os.replace(tmp_path, final)
        if sync:
            _fsync_dir(final.parent)
        for hook in WRITTEN_HOOKS:
            hook(final)
    except OSError as e:
        if e.filename is None:  # a failed write (a full disk) says nothing about which file it was writing
            raise OSError(e.errno, e.strerror or str(e), str(final)) from e
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(final: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing that replaces `final` only when the block succeeds."""
    with atomic_path(final) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_json(final: str | os.PathLike, obj: Any) -> None:
    """Atomically write `obj` as indented, key-sorted JSON (stable bytes for stable input)."""
    with atomic_open(final, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fault_point() -> None:
    """Fault injection for tests (tests/test_fault_injection.py): with TAMIZ_FAULT_FILE set, every
    atomic write appends one byte to that file, so its size numbers the writes of the whole build
    across processes; the write numbered TAMIZ_FAULT_AT kills the build's whole process group
    (SIGKILL) after the temporary file is written and before it is renamed: a crash mid-write."""
    path = os.environ.get("TAMIZ_FAULT_FILE")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
        n = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if n == int(os.environ.get("TAMIZ_FAULT_AT", "0") or 0):
        import signal

        os.killpg(os.getpgid(0), signal.SIGKILL)


def follow_umask(path: str | os.PathLike) -> None:
    """Give a file another library wrote the usual permissions (0666 less the umask): some write 0600."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_on() -> bool:
    """False when TAMIZ_FSYNC is 0/false/no/off (see the module's docstring)."""
    return os.environ.get("TAMIZ_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def clean_stale_temporaries(folder: str | os.PathLike) -> int:
    """Remove `.*.tmp-*` files left by a crash; returns how many were removed."""
    n = 0
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.rglob(".*.tmp-*"):
            if p.is_file():
                p.unlink()
                n += 1
    return n
