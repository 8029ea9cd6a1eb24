"""One loader for every settings dataclass: `from_mapping(cls, data, where)`, and `describe(cls)`.

Each stage owns a small frozen (or plain) dataclass of settings with visible defaults and its checks
in `__post_init__` (pipeline/ingest.py IngestConfig, pipeline/filters/config.py, pipeline/dedup/config.py,
pipeline/table.py ShardConfig and Source, tokenizer/train.py TrainConfig, train/config.py). A YAML
block or a JSON record becomes one of them here, checked the same way everywhere:

- an unknown key is refused with the allowed names: `shards.seqlen: unknown field (allowed: ...)`;
- a field without a default must be given: `sources[0].weight: missing (required)`;
- every value is checked against the field's annotation: bool, int, float, str, tuples (fixed length
  or `tuple[X, ...]`), `X | None`, unions, mappings, and nested settings dataclasses (a mapping,
  loaded by this same function; null is the section with its defaults; an instance is kept):
  `optimizer.lr: must be a number, got 'fast'`. Lists become tuples, and a string holding a number in
  exponent notation becomes a float for a float field (PyYAML reads YAML 1.1, where `lr: 3e-5`, with no
  dot, is a string); nothing else is converted, unless `int_as_float` (an integer for a float field becomes
  a float);
- a ValueError from `__post_init__` names the field relative to its class (`lr: must be > 0`); it
  is re-raised with the path of the block in front: `optimizer.lr: must be > 0, got -1`.

Why integers stay integers by default: stage configs are hashed as written into every completion
record (`config_hash`), and `threshold: 1` and `threshold: 1.0` hash differently.

Field documentation is the comment at the end of the field's line, continued by comment-only lines
right below it (the convention of every settings class here); `describe(cls)` renders the fields
with their types, defaults and those comments, for --help texts and error messages.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def join(where: str, name: str) -> str:
    """The path of `name` inside the block at `where`: join("sources[0]", "weight") == "sources[0].weight"."""
    if not where:
        return name
    return f"{where}{name}" if name.startswith("[") else f"{where}.{name}"


def check_keys(data: Mapping, allowed: typing.Iterable[str], where: str = "", what: str = "field") -> None:
    """Refuse the first key of `data` (in sorted order) that is not in `allowed`, naming the allowed ones."""
    allowed = list(allowed)
    unknown = sorted((k for k in data if k not in allowed), key=str)
    if unknown:
        raise ValueError(f"{join(where, str(unknown[0]))}: unknown {what} (allowed: {', '.join(allowed)})")


def from_mapping(cls: type[T], data: Any, where: str = "", *, base: T | None = None,
                 file: str | Path | None = None, int_as_float: bool = False) -> T:
    """An instance of the settings dataclass `cls` from a mapping of its fields; ValueError names the field.

    `where` is the path of the block (`"tokenizer"`, `"sources[2]"`), put in front of every field name;
    `file`, when given, is put in front of the whole message. `base`: an instance whose values are
    kept for the fields `data` does not set (overrides); otherwise those fields take their defaults.
    `int_as_float`: an integer given for a float field becomes a float (else it is kept as written)."""
    try:
        return _load(cls, data, where, base, int_as_float)
    except ValueError as e:
        if file is None:
            raise
        raise ValueError(f"{file}: {e}") from None


def _load(cls: type, data: Any, where: str, base: Any, int_as_float: bool) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where or cls.__name__}: must be a mapping of fields, got {type(data).__name__}")
    flds = [f for f in dataclasses.fields(cls) if f.init]
    sections = all(_is_settings(t) for t in _hints(cls).values())
    check_keys(data, [f.name for f in flds], where, "section" if sections else "field")
    hints = _hints(cls)
    values = {}
    for f in flds:
        path = join(where, f.name)
        if f.name in data:
            inner_base = getattr(base, f.name) if base is not None else None
            values[f.name] = _coerce(path, data[f.name], hints[f.name], inner_base, int_as_float)
        elif base is not None:
            values[f.name] = getattr(base, f.name)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ValueError(f"{path}: " + ("section is required" if _is_settings(hints[f.name])
                                            else "missing (required)"))
    try:
        return cls(**values)
    except ValueError as e:
        if not where:
            raise
        raise ValueError(join(where, str(e))) from None


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_settings(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


# A number in exponent notation: what a float field also takes as a string. PyYAML follows YAML 1.1, whose
# floats need a dot and a signed exponent, so `lr: 3e-5`, `1e3` or `1.5e3` arrive as strings (YAML 1.2 and JSON
# read numbers). Only those: a number YAML 1.1 reads ('0.5', '3') is a string because it was quoted, and
# stays refused; so are 'nan', 'inf', '1_000' or ' 3e-5', which Python's float() would also take.
_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}


def _coerce(path: str, value: Any, tp: Any, base: Any, int_as_float: bool) -> Any:
    """Check (and convert only list -> tuple, and int -> float where asked) one value against a field type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(path, value, inner[0], base, int_as_float)
        if isinstance(value, str) and str in inner:  # a string is kept as one (not read as a number)
            return value
        for a in inner:
            try:
                return _coerce(path, value, a, base, int_as_float)
            except ValueError:
                continue
        raise ValueError(f"{path}: must be {' or '.join(_describe_type(a) for a in inner)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{path}: must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(f"{path}[{i}]", v, args[0], None, int_as_float) for i, v in enumerate(value))
        if len(value) != len(args):
            noun = _PLURALS.get(args[0], "values") if len(set(args)) == 1 else "values"
            raise ValueError(f"{path}: must be a list of {len(args)} {noun}, got {value!r}")
        return tuple(_coerce(f"{path}[{i}]", v, a, None, int_as_float) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{path}: must be a mapping, got {type(value).__name__}")
        if not args:
            return dict(value)
        return {_coerce(f"{path}", k, args[0], None, int_as_float):
                _coerce(f"{path}.{k}", v, args[1], None, int_as_float) for k, v in value.items()}
    if _is_settings(tp):
        if isinstance(value, tp):  # already loaded (e.g. FiltersConfig, whose file shape is its own)
            return value
        return _load(tp, value, path, base, int_as_float)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value):  # YAML 1.1 reads 3e-5 as a string
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: must be a number, got {value!r}")
        return float(value) if int_as_float else value
    if tp is str:
        if not isinstance(value, (str, Path)):
            raise ValueError(f"{path}: must be a string, got {value!r}")
        return str(value)
    return value  # a type this loader does not know: the class's __post_init__ checks it


def _describe_type(tp: Any) -> str:
    return _NAMES.get(tp) or getattr(tp, "__name__", None) or str(tp)


# ------------------------------------------------------------------------------------------- describe

def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation: the comment at the end of its line, with the comment-only lines below it."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(src).readline) if tok.type == tokenize.COMMENT}
    names = {f.name for f in dataclasses.fields(cls)}
    field_line = re.compile(r"^    (\w+)\s*:")
    docs: dict[str, str] = {}
    current = None
    for i, line in enumerate(src.splitlines(), 1):
        m = field_line.match(line)
        if m and m.group(1) in names:
            current = m.group(1) if i in comments else None
            if current:
                docs[current] = comments[i]
        elif current and line.strip().startswith("#"):
            docs[current] = f"{docs[current]} {comments[i]}".strip()
        else:
            current = None
    return docs


def describe(cls: type, where: str = "") -> str:
    """The fields of a settings dataclass, one per line: `path (type, default: value): documentation`;
    nested settings dataclasses are described below their field, indented."""
    docs = field_docs(cls)
    lines = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = join(where, f.name)
        tp = f.type if isinstance(f.type, str) else _describe_type(f.type)
        if f.default is not _MISSING:
            default = f"default: {f.default!r}"
        elif f.default_factory is not _MISSING:
            default = "default: " + ("its defaults" if _is_settings(_hints(cls)[f.name]) else repr(f.default_factory()))
        else:
            default = "required"
        doc = docs.get(f.name, "")
        lines.append(f"{path} ({tp}, {default})" + (f": {doc}" if doc else ""))
        inner = _settings_in(_hints(cls)[f.name])
        if inner is not None:
            lines += ["  " + line for line in describe(inner, path).splitlines()]
    return "\n".join(lines)


def _settings_in(tp: Any) -> type | None:
    """The settings dataclass of a field typed with one, or with one `| None` (an optional section)."""
    if _is_settings(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1 and _is_settings(inner[0]):
            return inner[0]
    return None
