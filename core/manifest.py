"""The one reader and writer of `manifest.json`: every stage folder and shard folder ends with one.

A manifest is written last and atomically, so its presence means the folder is finished; reading
one names the file in every error (missing, not JSON, not UTF-8, not an object).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tamiz.core.atomic import write_json

MANIFEST = "manifest.json"


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write `manifest.json` atomically into `folder` (last, so its presence means the stage finished)."""
    path = Path(folder) / MANIFEST
    write_json(path, manifest)
    return path


def read_manifest(folder: str | os.PathLike, missing: str | None = None) -> dict[str, Any]:
    """The manifest of a finished folder. `missing` says what its absence means (default: the stage
    has not finished in `folder`)."""
    path = Path(folder) / MANIFEST
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no manifest ({missing or f'the stage has not finished in {folder}'})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None
    if not isinstance(m, dict):
        raise ValueError(f"{path}: not a JSON object (a damaged manifest?)")
    return m
