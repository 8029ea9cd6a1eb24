"""Safe reading of the YAML and JSON files people write for tamiz: the dataset table and the configs.

`read_config(path, what)` is the one reader for all of them (`table.load_table`, `tamiz.train.config.load_config`,
`filters.config.FiltersConfig.load`, `flows/cmd_filter.py`). Every failure is a `ValueError` that names the
file (a missing file: `FileNotFoundError`), raised before any work starts:

- only plain data: `yaml.safe_load` (no `!!python/...` tags); a name ending in `.json` is read as JSON;
- a file larger than `MAX_BYTES`, a folder, a pipe or a device is refused before it is read (a pipe
  would block for ever);
- text that is not UTF-8 (the offset of the first bad byte), YAML or JSON that does not parse;
- nesting deeper than `MAX_DEPTH` levels (PyYAML and `json` recurse: a deeper file raised a bare
  `RecursionError`), aliases that point at the block holding them (an endless structure) or that expand
  to more than `MAX_VALUES` values ("billion laughs": a 380-byte table expanded to 10^8 values when an
  error message or a config hash walked it).

PyYAML's pure-Python scanner is quadratic in the nesting depth until Python's recursion limit stops it
(about 600 levels: ~1 s), so a deep file takes at most a few seconds to refuse.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

MAX_VALUES = 1_000_000  # values once YAML aliases are expanded (real tables: hundreds; a long inputs list: 10^5)
MAX_DEPTH = 64  # nesting levels (real configs: under 10)
MAX_BYTES = 32 << 20  # a config or table of more than 32 MiB is not something a person wrote
_MAX_MESSAGE = 500  # characters of a parser's message kept in ours


def read_config(path: str | os.PathLike, what: str = "config file") -> Any:
    """The parsed content of a YAML (or `.json`) file, checked as above; `what` names the file in errors
    ("dataset table", "training config", ...). Returns whatever the file holds (None for an empty YAML)."""
    path = Path(path)
    text = _read_text(path, what)
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        if kind == "JSON":
            import json

            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except RecursionError:
        raise ValueError(f"{path}: not valid {kind} (nested too deeply)") from None
    except MemoryError:
        raise
    except Exception as e:  # YAMLError, JSONDecodeError, and ValueError for an int of > 4300 digits or a bad date
        raise ValueError(f"{path}: not valid {kind} ({_short(e)})") from None
    check_expanded_size(raw, f"{path}: ")
    return raw


def read_mapping(path: str | os.PathLike, what: str = "config file", expected: str = "a mapping") -> dict[str, Any]:
    """`read_config` for files that must hold a mapping (an empty file is an empty mapping)."""
    raw = read_config(path, what)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected {expected}, got {type(raw).__name__}")
    return raw


def _read_text(path: Path, what: str) -> str:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):  # a folder fails in open() below
            raise ValueError(f"{path}: cannot read the {what} (not a regular file)")
        if stat.S_ISREG(st.st_mode) and st.st_size > MAX_BYTES:
            raise ValueError(f"{path}: {st.st_size:,} bytes is too large for a {what} (at most {MAX_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except OSError as e:  # a folder, a permission problem
        raise ValueError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    if len(data) > MAX_BYTES:  # it grew while we read it
        raise ValueError(f"{path}: too large for a {what} (more than {MAX_BYTES:,} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None


def check_expanded_size(raw: Any, where: str = "") -> None:
    """Refuse YAML whose aliases make an endless or huge structure ("billion laughs": it would hang or exhaust
    memory later, when an error message, a config hash or a copy expands it), or that is nested too deeply
    for the code that walks it. Linear in the number of distinct blocks (an alias is counted, not walked twice)."""
    seen: dict[int, tuple[int, int]] = {}  # id of a list or dict -> (values, levels) once expanded
    active: set[int] = set()
    too_deep = f"{where}nested too deeply (more than {MAX_DEPTH} levels)"

    def walk(node: Any, depth: int) -> tuple[int, int]:
        if not isinstance(node, (list, dict)):
            return 1, 0
        if depth > MAX_DEPTH:
            raise ValueError(too_deep)
        key = id(node)
        if key in active:
            raise ValueError(f"{where}a YAML alias refers to the block that holds it (an endless structure)")
        if key not in seen:
            active.add(key)
            values, levels = 1, 0
            for v in (node.values() if isinstance(node, dict) else node):
                n, h = walk(v, depth + 1)
                values, levels = values + n, max(levels, h)
            seen[key] = (values, levels + 1)
            active.discard(key)
        values, levels = seen[key]
        if depth - 1 + levels > MAX_DEPTH:  # a block met again through an alias, deeper than where it was first
            raise ValueError(too_deep)
        return values, levels

    try:
        n = walk(raw, 1)[0]
    except RecursionError:
        raise ValueError(f"{where}not valid YAML (nested too deeply)") from None
    if n > MAX_VALUES:
        raise ValueError(f"{where}the YAML expands to {n:,} values through its aliases (more than {MAX_VALUES:,}); "
                         "is it an alias bomb?")


def _short(e: BaseException) -> str:
    s = str(e)
    return s if len(s) <= _MAX_MESSAGE else s[:_MAX_MESSAGE] + "..."
