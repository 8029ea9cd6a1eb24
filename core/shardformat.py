"""The packed-shard folder, as written by `tamiz.shards` and read by `tamiz.train` (docs/data-format.md).

    manifest.json                       FORMAT, row_tokens = seq_len + 1, dtype, tokenizer, splits
    tokenizer.json                      the tokenizer the rows were made with
    <split>-00000-of-00004.arrow        Arrow IPC record batches, one column of fixed-size token lists

Both sides take the format name, the special tokens and the file names from here, and read the
manifest through `read_shard_manifest`, which checks every field the reader relies on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tamiz.core.manifest import read_manifest

FORMAT = "tamiz.shards/1"
# The tokenizer's special tokens, in id order (0..3): document separator, padding, mask, start.
SPECIAL_TOKENS = ("<|endoftext|>", "<pad>", "<mask>", "<s>")
EOT, PAD, MASK, BOS = SPECIAL_TOKENS


def shard_file(split: str, index: int, count: int) -> str:
    """The name of shard `index` of `count` of a split: train-00000-of-00004.arrow."""
    return f"{split}-{index:05d}-of-{count:05d}.arrow"


def read_shard_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a shard folder, with every field the loader reads checked; errors name the file."""
    m = read_manifest(folder, "not a tamiz shard folder, or `tamiz shard` did not finish")
    path = Path(folder) / "manifest.json"
    if m.get("format") != FORMAT:
        raise ValueError(f"{path}: format {m.get('format')!r} is not {FORMAT!r}")
    _check_manifest(m, path)
    return m


def _check_manifest(m: dict[str, Any], path: Path) -> None:
    """The fields the loader reads, with their types; file names must be plain names inside the folder."""
    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: {what} (a damaged manifest? `tamiz verify` checks the folder)")

    def plain(name: Any) -> bool:
        return isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..")

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    for key in ("row_tokens", "seq_len", "vocab_size", "eot_id"):
        if not count(m.get(key)) or (key == "row_tokens" and m[key] < 2):
            raise bad(f"{key}: {m.get(key)!r} is not a valid count")
    if m["row_tokens"] != m["seq_len"] + 1 or m["row_tokens"] >= 1 << 31:
        raise bad(f"row_tokens: {m['row_tokens']!r} is not seq_len + 1 ({m['seq_len']!r} + 1)")
    if m.get("dtype") not in ("uint16", "uint32"):
        raise bad(f"dtype: {m.get('dtype')!r} is not uint16 or uint32")
    tok = m.get("tokenizer")
    if not isinstance(tok, dict) or not plain(tok.get("path")) or not isinstance(tok.get("sha256"), str) \
            or not count(tok.get("bytes")):
        raise bad("tokenizer: needs a file name, its sha256 and its size")
    splits = m.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise bad("splits: missing")
    for name, sp in splits.items():
        if not isinstance(sp, dict) or not count(sp.get("rows")) or not isinstance(sp.get("files"), list):
            raise bad(f"splits.{name}: needs rows and files")
        for f in sp["files"]:
            if not isinstance(f, dict) or not plain(f.get("path")) or not count(f.get("bytes")) \
                    or not count(f.get("rows")):
                raise bad(f"splits.{name}.files: {str(f)[:80]} needs a file name in the folder, bytes and rows")
        if sum(f["rows"] for f in sp["files"]) != sp["rows"]:
            raise bad(f"splits.{name}: rows {sp['rows']} is not the sum of its files' rows")
