"""The one input resolver: what files a list of input arguments stands for.

Every stage that reads documents takes the same kinds of arguments, and `input_files` turns them
into files the same way:

- a **stage folder** written by tamiz (`manifest.json` + `docs/`): its `docs/*.parquet`, sorted. The
  kept documents only: `rejects/`, `removed/` and `quarantine/` are never inputs of the next stage;
- **another folder**: expanded by `tamiz.pipeline.readers.expand_inputs` (WARC, JSONL and Parquet files
  anywhere below it, sorted; a folder of .txt files is one input);
- **a file**: itself, once its kind is known;
- **a URL** (`s3://`, `gs://`, `https://`, tamiz.core.remote): a remote file (checked with one HEAD
  request), or the data files under an `s3://` / `gs://` prefix or glob. It stays a string.

Callers keep their own order and duplicate rules: the tokenizer corpus (tokenizer/corpus.py) names
sources by the argument, dedup (pipeline/dedup/layout.py) numbers shards in argument order and refuses
a file given twice, `tamiz mix` / `tamiz shard` (flows/cmd_mix.py) read the files sorted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tamiz.core import remote
from tamiz.pipeline.readers import DATA_SUFFIXES, TEXT_SUFFIXES, as_input, expand_inputs


@dataclass(frozen=True)
class InputFile:
    """One file to read (or a folder of .txt files, one input) and the stage folder it is the output of."""

    path: Path | str  # a URL (s3://, gs://, https://) stays a string
    stage: Path | None = None  # the stage folder whose docs/ holds `path`; None for other inputs


def input_files(paths: Iterable[str | Path], parquet_only: bool = False) -> list[InputFile]:
    """The files behind `paths`, argument by argument (see the module docstring). Raises
    FileNotFoundError / ValueError naming the path before any work starts.

    `parquet_only` (dedup, which reads tamiz document shards only): a folder gives its own `*.parquet`
    (not those of subfolders), or those of its `docs/` when it has one (whether or not its stage wrote
    `manifest.json` yet); any other file is an error.
    """
    out: list[InputFile] = []
    for raw in paths:
        item = as_input(raw)
        if isinstance(item, str):  # a URL: a stage published to object storage, a remote file, a prefix or glob
            files = _published_stage(item) or expand_inputs([item])
            if parquet_only and not all(str(f).endswith(".parquet") for f in files):
                raise ValueError(f"{item}: not Parquet document shards (expected the Parquet output of ingest or "
                                 "filters)")
            out += [InputFile(f) for f in files]
            continue
        p = item
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        docs = p / "docs"
        if p.is_dir() and docs.is_dir() and (parquet_only or (p / "manifest.json").is_file()):
            out += [InputFile(f, p) for f in _parquet_files(p, docs)]
        elif p.is_dir() and parquet_only:
            out += [InputFile(f) for f in _parquet_files(p, p)]
        elif parquet_only and not p.name.endswith(".parquet"):
            raise ValueError(f"{p}: not a Parquet document shard (expected the Parquet output of ingest or filters)")
        else:
            out += [InputFile(f) for f in expand_inputs([p])]
    return out


def _published_stage(url: str) -> list[str]:
    """The document shards a stage published to object storage names in its manifest (objects that no
    manifest names are not read: they may belong to a stage being published, tamiz.core.objectstore)."""
    if remote.url_scheme(url) in ("http", "https") or remote.basename(url).lower().endswith(DATA_SUFFIXES + TEXT_SUFFIXES):
        return []  # a file, or a server that cannot be listed
    manifest_url = remote.join(url, "manifest.json")
    if not remote.exists(manifest_url):
        if remote.is_folder(remote.join(url, "docs")) or remote.is_folder(remote.join(url, "_shards")):
            raise FileNotFoundError(f"{url}: a tamiz stage without its manifest.json: not published (being written, "
                                    "or its upload was interrupted); rerun the build that writes it")
        return []
    with remote.open_input(manifest_url) as f:
        manifest = json.loads(f.read(64 << 20))
    docs = [o["path"] for o in manifest.get("outputs", []) if str(o.get("path", "")).startswith("docs/")
            and str(o["path"]).endswith(".parquet") and ".." not in str(o["path"]).split("/")]
    if not docs:
        raise ValueError(f"{url}: its manifest names no docs/*.parquet document shards")
    return sorted(remote.join(url, d) for d in docs)


def _parquet_files(arg: Path, folder: Path) -> list[Path]:
    files = sorted(f for f in folder.glob("*.parquet") if f.is_file() and not f.name.startswith("."))
    if not files:
        raise ValueError(f"{arg}: no .parquet document shards in {folder}")
    return files
