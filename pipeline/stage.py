"""Per-shard completion records and the stage manifest: what makes a stage resumable and checkable.

Each finished shard writes `_shards/<name>.json` (atomically, last) with the input checksum, the
config hash and the checksums of everything it wrote. On rerun a shard whose record matches its
input and config, and whose outputs still have their checksums, is skipped. The stage manifest
aggregates the shard records in input order, so it does not depend on which worker finished first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from tamiz.core import remote
from tamiz.core.atomic import sha256_file, write_json
from tamiz.core.manifest import write_manifest

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def shard_name(path: str | Path, input_sha256: str) -> str:
    """A file-system-safe, unique, content-addressed name for the shard made from `path` (a path or URL:
    only its file name is used, never a folder or host, so no path is built from a URL)."""
    stem = remote.basename(path)
    for suffix in (".gz", ".warc", ".wet", ".jsonl", ".parquet", ".txt", ".ndjson", ".json"):
        stem = stem.removesuffix(suffix)
    stem = _SAFE.sub("_", stem)[:80].strip("._") or "input"
    return f"{stem}-{input_sha256[:12]}"


def input_name(path: str | Path, *bases: str | Path) -> str:
    """How records name an input, so that they do not depend on where a build or its inputs sit: a URL
    as given; a local path relative to the first of `bases` it lies under (a build passes its output
    root and the dataset table's folder; no base: the current folder), else absolute. POSIX separators.
    Only names: a task is always given the path it reads as well."""
    if remote.is_url(str(path)):
        return str(path)
    p = os.path.abspath(path)
    for base in bases or (os.getcwd(),):
        rel = os.path.relpath(p, os.path.abspath(base))
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return Path(rel).as_posix()
    return Path(p).as_posix()


def input_checksum(path: str | Path) -> str:
    """sha256 of a file, or of the sorted (relative path, sha256) list of a folder's files; for a remote
    input (URL), the sha256 of its URL, size and ETag (one HEAD request: reading a remote file twice
    to checksum it would double the transfer; the ETag changes when the object does)."""
    if remote.is_url(str(path)):
        return remote.input_info(str(path)).identity()
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    import hashlib

    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
        h.update(f.relative_to(p).as_posix().encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def shard_record_path(out_dir: str | Path, name: str) -> Path:
    return Path(out_dir) / "_shards" / f"{name}.json"


def load_done_shard(out_dir: str | Path, name: str, key: dict[str, Any],
                    check_outputs: bool = True) -> dict[str, Any] | None:
    """The stored result of a finished shard if its key matches and its outputs are intact, else None.
    `check_outputs` False: the key only (a build on object storage checks its outputs there instead:
    core/mirror.py `done_in_store`)."""
    rec_path = shard_record_path(out_dir, name)
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if rec.get("key") != key:
        return None
    for out in rec.get("outputs", []) if check_outputs else []:
        p = Path(out_dir) / out["path"]
        if not p.is_file() or p.stat().st_size != out["bytes"] or sha256_file(p) != out["sha256"]:
            return None
    return rec


def mark_shard_done(out_dir: str | Path, name: str, key: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    rec = {**record, "key": key, "name": name}
    write_json(shard_record_path(out_dir, name), rec)
    return rec


def write_stage_manifest(out_dir: str | Path, stage: str, config: dict[str, Any], config_hash: str,
                         shard_records: list[dict[str, Any]], counts: dict[str, Any]) -> Path:
    """The stage manifest: config, inputs with checksums, outputs with checksums, counts (no timestamps,
    so an interrupted-then-resumed build writes the same bytes as an uninterrupted one)."""
    from tamiz.core import __version__

    records = sorted(shard_records, key=lambda r: r["name"])
    manifest = {
        "stage": stage,
        "tamiz_version": __version__,
        "config": config,
        "config_hash": config_hash,
        "inputs": [r["input"] for r in records],
        "outputs": [o for r in records for o in r["outputs"]],
        "shards": [{k: v for k, v in r.items() if k not in ("outputs", "key", "resumed")} for r in records],
        "counts": counts,
    }
    return write_manifest(out_dir, manifest)
