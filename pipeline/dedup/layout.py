"""Which documents a dedup run sees and how they are numbered and ranked.

Shards (input Parquet files) get global numbers: the shards of the previous runs given with
`--against` first (in their own order, so their files stay valid), then this run's inputs in
argument order (files of one folder sorted by name). A document's uid is `shard << 32 | row`.

The keep rule: in every cluster of duplicates the document with the smallest rank is kept:
    rank = (not in a previous run, source priority, shard number, row)
i.e. whatever the corpus already holds first, then the source listed earliest in `--priority`
(sources not listed come after all listed ones), then the earliest shard and row. It is a total
order, so the choice never depends on worker timing. `layout.json` in the output folder records
all of it for the later stages.

Paths in `layout.json` are relative to the dedup folder that holds it: a shard's `dir` (where its
signature, key and band files are: "." for this run's shards, e.g. "../dedup-2024-10" for a previous
run's), `against` (the previous runs' folders) likewise, and a shard's `input` is a name only (what
the records call it, `tamiz.pipeline.stage.input_name`): the removal stage is given the path it reads.
A dedup folder moved or copied together with the runs it was deduplicated against still works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from tamiz.core import mirror
from tamiz.core.atomic import write_json
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.inputs import input_files
from tamiz.pipeline.writers import config_hash

SHARD_BITS = 20  # at most 2^20 shards in a corpus
ROW_BITS = 32  # at most 2^32 documents per shard
PRIORITY_BITS = 10
MAX_SHARDS = 1 << SHARD_BITS


def resolve_inputs(paths: list[str | Path]) -> list[Path]:
    """Input Parquet shards in argument order: a file, a folder of .parquet files, or an ingest (or
    any stage) output folder, whose docs/*.parquet are taken (`tamiz.pipeline.inputs.input_files`).
    A shard given twice is an error (it would be its own duplicate). Raises ValueError / FileNotFoundError."""
    out = [f.path for f in input_files(paths, parquet_only=True)]
    seen: set[Path] = set()
    for f in out:
        r = f.resolve()
        if r in seen:
            raise ValueError(f"{f}: given twice")
        seen.add(r)
    return out


def priority_ranks(priority: list[str] | tuple[str, ...]) -> dict[str, int]:
    if len(set(priority)) != len(priority):
        raise ValueError(f"priority: a source is listed twice in {','.join(priority)}")
    if len(priority) >= (1 << PRIORITY_BITS) - 1:
        raise ValueError(f"priority: at most {(1 << PRIORITY_BITS) - 2} sources")
    return {s: i for i, s in enumerate(priority)}


def rank_codes(sources: list[str], priority: list[str]) -> np.ndarray:
    """Priority rank of each source name (unlisted sources: after all listed ones)."""
    ranks = priority_ranks(priority)
    return np.array([ranks.get(s, len(priority)) for s in sources], dtype=np.uint64)


def uids(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.uint64(shard) << np.uint64(ROW_BITS)) | rows.astype(np.uint64)


def split_uid(uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uid = np.asarray(uid, dtype=np.uint64)
    return (uid >> np.uint64(ROW_BITS)).astype(np.int64), (uid & np.uint64(0xFFFFFFFF)).astype(np.int64)


def ranks(uid: np.ndarray, prio: np.ndarray, new: bool) -> np.ndarray:
    """The keep-rule rank (smaller is kept): new-run flag, source priority, shard, row in 63 bits."""
    return (np.uint64(int(new)) << np.uint64(62)) | (prio.astype(np.uint64) << np.uint64(SHARD_BITS + ROW_BITS)) | uid


class Layout:
    """layout.json: config, priority, previous runs, every shard (number, rows, where its files are,
    relative to `folder`: the dedup folder holding layout.json), and tasks per band when over 1."""

    def __init__(self, data: dict[str, Any], folder: str | Path):
        self.data = data
        self.folder = Path(folder)
        self.config = DedupConfig.from_dict(data["config"])
        self.config_hash: str = data["config_hash"]
        self.priority: list[str] = data["priority"]
        self.against: list[str] = data["against"]
        self.shards: list[dict[str, Any]] = data["shards"]
        self.by_name = {s["name"]: s for s in self.shards}

    @property
    def new_shards(self) -> list[dict[str, Any]]:
        return [s for s in self.shards if s["new"]]

    @property
    def first_new(self) -> int:
        return min((s["number"] for s in self.shards if s["new"]), default=len(self.shards))

    @property
    def total_rows(self) -> int:
        return sum(s["rows"] for s in self.shards)

    def band_parts(self) -> int:
        """Tasks per band in this run: its band_partitions, "auto" resolved over every document it reads
        when the layout was written (kept, so a later change of the "auto" rule cannot rename a finished
        run's edges files)."""
        return int(self.data.get("band_parts", 1))

    def runs(self) -> list["Layout"]:
        """The layouts of the previous runs this run reads, then this one."""
        return [Layout.load(self.folder / a) for a in self.against] + [self]

    def offsets(self) -> np.ndarray:
        """Dense index of the first document of each shard number."""
        rows = np.array([s["rows"] for s in sorted(self.shards, key=lambda s: s["number"])], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(rows)])

    def run_dirs(self) -> list[Path]:
        """Every run folder whose files this run reads: the previous runs, then this one."""
        return [self.folder / a for a in self.against] + [self.folder]

    def fingerprint(self) -> str:
        """What later stages depend on (for their resume keys)."""
        return config_hash({"config_hash": self.config_hash, "priority": self.priority, "against": self.against,
                            "shards": [{k: s[k] for k in ("name", "number", "rows", "new", "sha256")}
                                       for s in self.shards]})

    def file(self, shard: dict[str, Any], folder: str) -> Path:
        return self.folder / shard["dir"] / folder / f"{shard['name']}.arrow"

    @classmethod
    def load(cls, out_dir: str | Path) -> "Layout":
        path = Path(out_dir) / "layout.json"
        mirror.ensure(path)  # written by the parent; on a worker of a build on object storage, fetched
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")), out_dir)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: missing (the signature stage has not finished)") from None


def _relative(path: str | Path, start: str | Path) -> str:
    """`path` relative to the folder `start` (with ".." where needed), POSIX separators."""
    return Path(os.path.relpath(path, start)).as_posix()


def previous_run(against: str | Path, config: DedupConfig, priority: list[str]) -> dict[str, Any]:
    """The layout of a finished previous dedup run, checked against this run's settings."""
    d = Path(against).resolve()
    if not (d / "manifest.json").is_file() or not (d / "layout.json").is_file():
        raise ValueError(f"--against {against}: not a finished dedup output folder (no manifest.json/layout.json)")
    prev = json.loads((d / "layout.json").read_text(encoding="utf-8"))
    if prev["config_hash"] != config.hash():
        diff = {k: (v, config.as_dict().get(k)) for k, v in prev["config"].items() if config.as_dict().get(k) != v}
        raise ValueError(f"--against {against}: was deduplicated with other settings {diff} (previous, this run); "
                         "signatures of different configurations cannot be compared")
    if prev["priority"] != list(priority):
        raise ValueError(f"--against {against}: used --priority {','.join(prev['priority']) or '(none)'}, "
                         f"this run {','.join(priority) or '(none)'}; use the same order")
    return prev


def build_layout(out_dir: str | Path, config: DedupConfig, priority: list[str], sign_records: list[dict[str, Any]],
                 against: str | Path | None = None) -> Layout:
    """Number the shards (previous runs first) and write layout.json (its folders relative to `out_dir`)."""
    out_dir = Path(out_dir)
    shards: list[dict[str, Any]] = []
    chain: list[str] = []
    if against is not None:
        prev = previous_run(against, config, priority)
        here = Path(against)
        # the previous run's folders are relative to it: relative to this run now
        chain = [_relative(here / a, out_dir) for a in prev["against"]] + [_relative(here, out_dir)]
        shards = [{**s, "new": False, "dir": _relative(here / s["dir"], out_dir)} for s in prev["shards"]]
    old_names = {s["name"]: s for s in shards}
    for rec in sign_records:
        if rec["shard"] in old_names:
            raise ValueError(f"{rec['input']['path']}: already deduplicated in {old_names[rec['shard']]['dir']} "
                             f"(relative to {out_dir}; the same file cannot be a new input again)")
        shards.append({"name": rec["shard"], "number": len(shards), "rows": rec["counts"]["docs"], "new": True,
                       "dir": ".", "input": rec["input"]["path"], "sha256": rec["input"]["sha256"]})
    if len(shards) > MAX_SHARDS:
        raise ValueError(f"inputs: {len(shards)} shards, at most {MAX_SHARDS} (merge small shards first)")
    for s in shards:
        if s["rows"] >= 1 << ROW_BITS:
            raise ValueError(f"{s['input']}: {s['rows']} documents, at most {1 << ROW_BITS} per shard")
    priority_ranks(priority)
    data = {"config": config.as_dict(), "config_hash": config.hash(),
            "priority": list(priority), "against": chain, "shards": shards}
    parts = config.band_tasks(sum(s["rows"] for s in shards))
    if parts > 1:  # absent: 1 (so layout.json reads as it did before bands could be split)
        data["band_parts"] = parts
    write_json(out_dir / "layout.json", data)
    return Layout(data, out_dir)
