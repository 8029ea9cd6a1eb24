"""Check a packed-shard folder against its manifest: every file present, same size and sha256, the
schema and row count it claims, the tokenizer copy, no unlisted shard file.

`shard_schema` is the Arrow schema of every shard file (shards/write.py writes it); the folder layout,
file names and special tokens are in core/shardformat.py; `tamiz verify` (flows/cmd_mix.py) runs
`verify_shards`. See docs/data-format.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tamiz.core.atomic import sha256_file
from tamiz.core.manifest import read_manifest
from tamiz.core.shardformat import FORMAT


class ShardError(ValueError):
    """A shard folder does not match its manifest (the message names every bad file)."""


def shard_schema(dtype: str, row_tokens: int) -> pa.Schema:
    """`input_ids` (fixed_size_list<uint16 or uint32>[row_tokens]) and `source_id` (uint16, the index
    into the manifest's `sources`)."""
    return pa.schema([pa.field("input_ids", pa.list_(pa.from_numpy_dtype(np.dtype(dtype)), row_tokens), nullable=False),
                      pa.field("source_id", pa.uint16(), nullable=False)])


def verify_shards(folder: str | Path) -> dict[str, Any]:
    """Check every file of a shard folder against its manifest: present, same size and sha256, the
    schema and row count it claims, the tokenizer copy; and no unlisted train-/validation- file that
    `load_dataset(folder)` would pick up. Raises ShardError naming each bad file; returns a summary."""
    folder = Path(folder)
    m = read_manifest(folder)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ShardError(f"{folder / 'manifest.json'}: format {m.get('format') if isinstance(m, dict) else None!r} "
                         f"is not {FORMAT!r}")
    try:
        return _verify(folder, m)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError, pa.ArrowException) as e:
        if isinstance(e, ShardError):
            raise
        raise ShardError(f"{folder / 'manifest.json'}: malformed manifest ({type(e).__name__}: {e})") from None


def _verify(folder: Path, m: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    names = [m["tokenizer"]["path"]] + [f["path"] for sp in m["splits"].values() for f in sp["files"]]
    outside = [n for n in names if not isinstance(n, str) or Path(n).name != n or n in ("", ".", "..")]
    if outside:  # the manifest names files of this folder only: never a path that leads elsewhere
        raise ShardError(f"{folder / 'manifest.json'}: {outside[0]!r} is not a file name in {folder}")
    if m["dtype"] not in ("uint16", "uint32") or not isinstance(m["row_tokens"], int) or not 2 <= m["row_tokens"] < 1 << 31:
        raise ShardError(f"{folder / 'manifest.json'}: dtype {m['dtype']!r} / row_tokens {m['row_tokens']!r} are not valid")
    if m["row_tokens"] != m["seq_len"] + 1:
        problems.append(f"{folder / 'manifest.json'}: row_tokens {m['row_tokens']!r} is not seq_len + 1 ({m['seq_len']!r} + 1)")
    for split, info in m["splits"].items():
        if info["rows"] != sum(f["rows"] for f in info["files"]):
            problems.append(f"{folder / 'manifest.json'}: splits.{split}.rows {info['rows']!r} is not the sum of its files' rows")
    tok = folder / m["tokenizer"]["path"]
    if not tok.is_file():
        problems.append(f"{tok}: missing (the manifest lists the tokenizer copy)")
    elif sha256_file(tok) != m["tokenizer"]["sha256"]:
        problems.append(f"{tok}: sha256 differs from the manifest's tokenizer ({m['tokenizer']['sha256'][:12]}...)")
    elif tok.stat().st_size != m["tokenizer"]["bytes"]:
        problems.append(f"{tok}: {tok.stat().st_size} bytes, the manifest says {m['tokenizer']['bytes']!r}")
    schema = shard_schema(m["dtype"], m["row_tokens"])
    files = rows = 0
    for split, info in m["splits"].items():
        for f in info["files"]:
            files += 1
            path = folder / f["path"]
            problem = _check_file(path, f, schema)
            if problem:
                problems.append(f"{path}: {problem}")
            else:
                rows += f["rows"]
    listed = {f["path"] for sp in m["splits"].values() for f in sp["files"]}
    for p in sorted(folder.glob("*.arrow")):
        if p.name not in listed:
            problems.append(f"{p}: not listed in the manifest (a stale shard? `load_dataset` would read it)")
    if problems:
        raise ShardError(f"{folder}: {len(problems)} problem(s):\n" + "\n".join(f"  {x}" for x in problems))
    return {"folder": str(folder), "files": files, "rows": rows, "tokens": rows * m["row_tokens"],
            "splits": {k: v["rows"] for k, v in m["splits"].items()}}


def _check_file(path: Path, entry: dict[str, Any], schema: pa.Schema) -> str | None:
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"{size} bytes, the manifest says {entry['bytes']} (truncated or rewritten)"
    if sha256_file(path) != entry["sha256"]:
        return "sha256 differs from the manifest (the file was altered)"
    try:
        n = 0
        with pa.memory_map(str(path)) as src:
            reader = pa.ipc.open_stream(src)
            if not reader.schema.equals(schema):
                return f"schema {reader.schema} is not {schema}"
            for batch in reader:
                n += batch.num_rows
    except (pa.ArrowException, OSError) as e:  # a damaged stream raises ArrowInvalid, OSError or ArrowNotImplementedError
        return f"not a readable Arrow stream ({e})"
    if n != entry["rows"]:
        return f"{n} rows, the manifest says {entry['rows']}"
    return None
