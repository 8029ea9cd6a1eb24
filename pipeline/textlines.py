"""The line-based text files a user hands tamiz (block lists, word lists, evaluation sets): read line by
line, and identified by content.

UTF-8 only (a leading byte-order mark is dropped), optionally gzip-compressed (`.gz`). Every error is
a ValueError that names the file and the line, so a list in another encoding, or a binary file given
by mistake, stops a run before any work starts with a message that says where to look.
"""

from __future__ import annotations

import gzip
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Iterator


def text_lines(path: str | Path, what: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, line without its end) for every line of a UTF-8 text file.

    `what` names the kind of file in messages ("block list", "evaluation set"). Raises ValueError for a
    missing file, a NUL byte (a binary file), bytes that are not UTF-8, or a damaged gzip stream."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: {what} not found")
    opener = gzip.open if p.name.endswith(".gz") else open
    no = 0
    try:
        with opener(p, "rb") as f:
            head = f.read(8192)  # a binary file given by mistake: say so, rather than "not UTF-8"
            if b"\x00" in head:
                line_no = head.count(b"\n", 0, head.index(b"\x00")) + 1
                raise ValueError(f"{p}, line {line_no}: a NUL byte; this is not a text file ({what}s are UTF-8 text)")
            f.seek(0)
            for no, raw in enumerate(f, 1):
                if b"\x00" in raw:
                    raise ValueError(f"{p}, line {no}: a NUL byte; this is not a text file ({what}s are UTF-8 text)")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(
                        f"{p}, line {no}: not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); {what}s are "
                        "UTF-8 text: convert the file first (e.g. iconv -f latin1 -t utf-8)") from None
                if no == 1:
                    line = line.removeprefix("\ufeff")
                yield no, line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{p}, line {no + 1}: cannot be read ({type(e).__name__}: {e})") from None


def file_stamp(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size): what a per-process cache of a file's contents is keyed by
    ((path, 0, 0) for a missing file, so that loading it reports it)."""
    p = Path(path)
    if not p.is_file():
        return (str(path), 0, 0)
    st = p.stat()
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, computed once per process while it is unchanged (path, mtime, size)."""
    return _sha256(*file_stamp(path))


@lru_cache(maxsize=64)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    from tamiz.core.atomic import sha256_file

    return sha256_file(path)
