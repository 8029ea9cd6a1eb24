"""Step 2 of `tamiz shard` (one task, so its output order is fixed): pack every source, mix by weight,
write the shard files and the manifest.

`build_shards`: per source, the tokenized documents (shards/tokenize.py) in input order are packed into
rows (`Packer`, shards/pack.py), one raw row file per (source, split) in `_packed/`; the rows are
mixed by the table's weights (`tamiz.pipeline.mix.plan_mix`) and written as
`train-NNNNN-of-NNNNN.arrow` / `validation-...arrow` (names from core/shardformat.py), then
`tokenizer.json` (a copy) and, last, `manifest.json`. A rerun with the same inputs, tokenizer and
settings whose folder still verifies (shards/verify.py) is skipped; shard files the new manifest does
not list are removed. `prune_intermediates` drops the tokenized files of inputs that are gone.

The shard files are Arrow IPC *stream* files (the flavour `datasets` writes for its own cache):
`datasets.Dataset.from_file(path)` memory-maps them as they are, `load_dataset("arrow", ...)` and
`load_dataset(DIR)` read them, and `train/loader.py` memory-maps them with `pyarrow.memory_map`.
Columns: `input_ids` (fixed_size_list<uint16 or uint32>[seq_len + 1]) and `source_id` (uint16, the
index into the manifest's `sources`). No compression, so every record batch is a zero-copy view.
See docs/data-format.md.
"""

from __future__ import annotations

import mmap
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from tamiz.core import mirror
from tamiz.core.atomic import atomic_path, sha256_file
from tamiz.core.manifest import read_manifest, write_manifest
from tamiz.core.shardformat import FORMAT, shard_file
from tamiz.pipeline.mix import plan_mix
from tamiz.pipeline.table import DatasetTable, ShardConfig
from tamiz.pipeline.writers import config_hash, file_entry
from tamiz.shards.pack import Packer
from tamiz.shards.rehydrate import Rehydration, select
from tamiz.shards.tokenize import TokenizerInfo, tokenizer_info
from tamiz.shards.verify import ShardError, shard_schema, verify_shards


def build_shards(out_dir: str | Path, records: list[dict[str, Any]], tokenizer_path: str | Path, config: ShardConfig,
                 table: DatasetTable | None = None) -> dict[str, Any]:
    """Pack every source, mix by the table's weights (or by size without a table), write the shards and
    the manifest; returns the manifest. Skipped (returns the existing manifest) when nothing changed."""
    out_dir = Path(out_dir)
    tinfo = tokenizer_info(tokenizer_path)
    names, kinds, weights = _sources(records, table)
    rehydrate = table.rehydrate_configs() if table is not None else {}
    key = {"inputs": [r["input"] for r in records], "tokenizer": tinfo.sha256,
           "config": config.as_dict(), "sources": names, "weights": weights, "format": FORMAT}
    if rehydrate:  # only then, so the keys of folders built without rehydration stay what they were
        key["rehydrate"] = {n: c.as_dict() for n, c in rehydrate.items()}
    build_key = config_hash(key)
    existing = _existing(out_dir, build_key)
    if existing is not None:
        return {**existing, "resumed": True}
    (out_dir / "manifest.json").unlink(missing_ok=True)  # the old manifest would describe files about to change

    work = out_dir / "_packed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: dict[tuple[int, str], _RowFile] = {}
    rehydration = Rehydration({names.index(n): c for n, c in rehydrate.items()})
    try:
        packed = _pack_sources(out_dir, work, records, names, config, tinfo, rehydration)
        moved = _train_on_lone_validation(work, packed, names)
        unique = [packed[(s, "train")].rows for s in range(len(names))]
        if weights is None:
            if sum(unique) == 0:
                raise ValueError(f"inputs: the training documents hold fewer tokens than one row of {config.row_tokens}")
            weights = [float(u) for u in unique]
        for s, name in enumerate(names):
            if weights[s] > 0 and unique[s] == 0:
                docs = sum(r["counts"]["by_source"].get(name, {}).get("train_documents", 0) for r in records)
                where = f"{table.path}: sources[{s}] ({name})" if table and table.path else f"source {name!r}"
                if docs == 0:
                    raise ValueError(f"{where}: weight {weights[s]:g} but no documents of this source in the inputs")
                raise ValueError(f"{where}: weight {weights[s]:g} but its {docs} training document(s) hold fewer "
                                 f"tokens than one row of {config.row_tokens}")
        budget = config.tokens if config.tokens is not None else sum(unique) * config.seq_len
        total_rows = -(-budget // config.seq_len)
        plan = plan_mix(names, unique, weights, total_rows, config.seed)
        for key, p in packed.items():
            if p.rows:
                rows[key] = _RowFile(work / f"{key[0]}.{key[1]}.bin", tinfo.dtype, p.rows, config.row_tokens)
        schema = shard_schema(tinfo.dtype, config.row_tokens)

        def gather(split: str, src: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.empty((len(src), config.row_tokens), dtype=tinfo.dtype)
            for s in np.unique(src).tolist():
                m = src == s
                out[m] = rows[(s, split)].take(row[m])
            return out, src

        # validation: every held-out row once, source by source, in packing order
        val_src = np.concatenate([np.full(packed[(s, "validation")].rows, s, dtype=np.uint16) for s in range(len(names))])
        val_row = np.concatenate([np.arange(packed[(s, "validation")].rows) for s in range(len(names))])
        train_rows = lambda a, b: gather("train", plan.source[a:b], plan.row[a:b])  # noqa: E731
        validation_rows = lambda a, b: gather("validation", val_src[a:b], val_row[a:b])  # noqa: E731
        splits = {"train": _write_split(out_dir, "train", total_rows, train_rows, schema, config),
                  "validation": _write_split(out_dir, "validation", len(val_src), validation_rows, schema, config)}
    finally:
        for r in rows.values():
            r.close()
        shutil.rmtree(work, ignore_errors=True)

    tok_copy = out_dir / "tokenizer.json"
    with atomic_path(tok_copy) as tmp:
        shutil.copyfile(tokenizer_path, tmp)
    sources = []
    for s, name in enumerate(names):
        c = _source_counts(records, name)
        if name in moved:  # its documents are counted as validation in the tokenized records
            c = {**c, "train_documents": c["validation_documents"], "validation_documents": 0,
                 "train_tokens": c["validation_tokens"], "validation_tokens": 0}
        tr, va = packed[(s, "train")], packed[(s, "validation")]
        # with rehydration, the training stream holds each document as many times as it has copies
        rd, rt = rehydration.totals(s) or (c["train_documents"], c["train_tokens"])
        if name in moved:  # its training documents were validation documents: never repeated
            rd, rt = c["train_documents"], c["train_tokens"]
        sources.append({
            "name": name, "kind": kinds[s], "weight": plan.weights[s],
            "documents": {"train": c["train_documents"], "validation": c["validation_documents"],
                          "train_rehydrated": rd},
            "tokens": {"train": c["train_tokens"], "validation": c["validation_tokens"], "train_rehydrated": rt},
            "rows": {"unique": tr.rows, "train": plan.counts[s], "validation": va.rows},
            "epochs": round(plan.epochs[s], 6),
            # passes over the source's own text: the mix's epochs times the copies rehydration made
            "epochs_unique": round(plan.epochs[s] * rt / c["train_tokens"], 6) if c["train_tokens"] else 0.0,
            "padding_tokens": {"train_unique": tr.padding, "validation": va.padding},
            "dropped_tokens": {"train": tr.dropped, "validation": va.dropped},
            "rehydration": rehydration.summary(s),
        })
    manifest = {
        "format": FORMAT,
        "tamiz_version": _version(),
        "build_key": build_key,
        "seq_len": config.seq_len,
        "row_tokens": config.row_tokens,
        "row_start": config.row_start,
        "dtype": tinfo.dtype,
        "vocab_size": tinfo.vocab_size,
        "eot_id": tinfo.eot_id,
        "pad_id": tinfo.pad_id,
        "seed": config.seed,
        "validation_fraction": config.validation_fraction,
        "budget_tokens": budget,
        "config": config.as_dict(),
        "config_hash": config_hash(config.as_dict()),
        "tokenizer": {"path": "tokenizer.json", "sha256": tinfo.sha256, "bytes": tok_copy.stat().st_size},
        # the table by its file name (its path relative to its own folder) and content, not where it sits
        "table": ({"name": table.name, "path": Path(table.path).name if table.path else None,
                   "sha256": sha256_file(table.path) if table.path else None} if table else None),
        "sources": sources,
        "validation_moved_to_train": moved,  # sources whose every document fell into the validation split
        "splits": splits,
        "inputs": [r["input"] for r in records],
        "counts": _totals(records),
    }
    write_manifest(out_dir, manifest)
    _remove_stale(out_dir, manifest)
    return {**manifest, "resumed": False}


def _sources(records: list[dict[str, Any]], table: DatasetTable | None
             ) -> tuple[list[str], list[str], list[float] | None]:
    """Source names (table order, or sorted), kinds and raw weights (None without a table: the natural
    mix); documents of a source missing from the table are an error naming the input."""
    present: dict[str, str] = {}
    for r in records:
        for name in r["counts"]["by_source"]:
            present.setdefault(name, r["input"]["path"])
    if table is None:
        names = sorted(present)
        if not names:
            raise ValueError("inputs: no documents with text in any input")
        return names, ["other"] * len(names), None  # natural mix: weights = rows, every row once
    for name, path in present.items():
        if name not in table.names:
            raise ValueError(f"{path}: documents of source {name!r} are not in the table {table.path or ''} "
                             f"(sources: {', '.join(table.names)})")
    return table.names, [s.kind for s in table.sources], [s.weight for s in table.sources]


@dataclass
class _Packed:
    rows: int = 0
    padding: int = 0
    dropped: int = 0


def _train_on_lone_validation(work: Path, packed: dict[tuple[int, str], _Packed], names: list[str]) -> list[str]:
    """A source whose every document fell into the validation split (a source of one or a few
    documents) would have nothing to train on: its held-out rows become its training rows, and it has
    no validation rows. Returns the names of those sources (the manifest lists them)."""
    moved = []
    for s, name in enumerate(names):
        if packed[(s, "train")].rows == 0 and packed[(s, "validation")].rows > 0:
            os.replace(work / f"{s}.validation.bin", work / f"{s}.train.bin")
            open(work / f"{s}.validation.bin", "wb").close()
            packed[(s, "train")], packed[(s, "validation")] = packed[(s, "validation")], _Packed(0, 0, 0)
            moved.append(name)
    return moved


def _pack_sources(out_dir: Path, work: Path, records: list[dict[str, Any]], names: list[str], config: ShardConfig,
                  tinfo: TokenizerInfo, rehydration: Rehydration) -> dict[tuple[int, str], _Packed]:
    """One pass over the tokenized files in input order; each (source, split) streams into its own
    Packer and raw row file `_packed/<source>.<split>.bin`. Rehydrated sources get more passes, each
    over the documents with more copies than the passes before (shards/rehydrate.py); a later pass
    reads only the record batches that hold such a document."""
    index = {n: i for i, n in enumerate(names)}
    files, packers = {}, {}
    try:
        for s in range(len(names)):
            for split in ("train", "validation"):
                f = open(work / f"{s}.{split}.bin", "wb")
                files[(s, split)] = f
                packers[(s, split)] = Packer(config.seq_len, config.row_start, tinfo.dtype,
                                             lambda a, f=f: f.write(a.tobytes()), tinfo.pad_id)
        most: list[list[int]] = [[] for _ in records]  # the most copies of a document, per record batch
        for k in range(rehydration.passes):
            for i, r in enumerate(records):
                if k and max(most[i], default=0) <= k:
                    continue
                path = out_dir / r["outputs"][0]["path"]
                if not k:
                    mirror.ensure(path)  # tokenized on another worker of a build on object storage
                with pa.memory_map(str(path)) as src:
                    for j, batch in enumerate(pa.ipc.open_stream(src)):
                        if not k:
                            most[i].append(_dispatch(batch, index, packers, tinfo.dtype, rehydration, 0))
                        elif most[i][j] > k:
                            _dispatch(batch, index, packers, tinfo.dtype, rehydration, k)
        out = {}
        for key, p in packers.items():
            p.finish()
            out[key] = _Packed(p.rows, p.padding, p.dropped)
        return out
    finally:
        for f in files.values():
            f.close()


def _dispatch(batch: pa.RecordBatch, index: dict[str, int], packers: dict, dtype: str,
              rehydration: Rehydration | None = None, k: int = 0) -> int:
    """The batch's documents to their (source, split) packers; in rehydration's pass k only those with
    more than k copies. Returns the most copies of a document in the batch (1 without rehydration)."""
    src = batch.column("source").to_pylist()
    val = batch.column("validation").to_numpy(zero_copy_only=False)
    tokens = batch.column("tokens")
    offsets = tokens.offsets.to_numpy()
    values = tokens.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    codes = np.fromiter((index[s] for s in src), dtype=np.int64, count=len(src))
    copies = None
    if rehydration is not None and rehydration.configs:
        copies = rehydration.copies(batch, codes, val, np.diff(offsets), count=k == 0)
    most = int(copies.max(initial=0)) if copies is not None else 1
    if copies is not None and not (keep := copies > k).all():
        idx = np.flatnonzero(keep)
        if not len(idx):
            return most
        values, offsets = select(values, offsets, idx)
        codes, val = codes[idx], val[idx]
    # runs of consecutive documents with the same (source, split) go to their packer in one call
    key = codes * 2 + val.astype(np.int64)
    cuts = np.flatnonzero(np.diff(key)) + 1
    for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(key)].tolist()):
        s, v = divmod(int(key[a]), 2)
        o = offsets[a:b + 1]
        packers[(s, "validation" if v else "train")].add(values[o[0]:o[-1]], o - o[0])
    return most


class _RowFile:
    """The packed rows of one (source, split), read by row number through a read-only map of the file.

    The mix reads rows in shuffled order, so without care every page of the file ends up mapped into the
    process: the task's resident memory would grow with the corpus (it did: 775 MB at 1 GB of crawl,
    1,336 MB at 4 GB). After each read the pages are handed back to the kernel (MADV_DONTNEED; they stay
    in the page cache, a later read maps them again), so what stays resident is one batch of rows.
    """

    def __init__(self, path: Path, dtype: str, n_rows: int, row_tokens: int):
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._rows = np.frombuffer(self._map, dtype=dtype, count=n_rows * row_tokens).reshape(n_rows, row_tokens)
        # where the platform has no madvise (not Linux), the map stays as numpy's memmap would leave it
        self._dontneed = getattr(mmap, "MADV_DONTNEED", None) if hasattr(self._map, "madvise") else None

    def take(self, index: np.ndarray) -> np.ndarray:
        out = self._rows[index]  # a copy (fancy indexing)
        if self._dontneed is not None:
            self._map.madvise(self._dontneed)
        return out

    def close(self) -> None:
        del self._rows  # the array holds the map's buffer: release it before closing the map
        self._map.close()
        self._file.close()


def _write_split(out_dir: Path, split: str, n_rows: int, get_rows: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
                 schema: pa.Schema, config: ShardConfig) -> dict[str, Any]:
    per_file, per_batch = config.rows_per_shard(), config.rows_per_batch()
    n_files = -(-n_rows // per_file)
    files = []
    for i in range(n_files):
        path = out_dir / shard_file(split, i, n_files)
        a0, a1 = i * per_file, min(n_rows, (i + 1) * per_file)
        with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
            for a in range(a0, a1, per_batch):
                b = min(a1, a + per_batch)
                rows, src = get_rows(a, b)
                ids = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), config.row_tokens)
                w.write_batch(pa.record_batch([ids, pa.array(src.astype(np.uint16))], schema=schema))
        files.append(file_entry(path, a1 - a0, out_dir))
    return {"rows": n_rows, "tokens": n_rows * config.row_tokens, "files": files}


def _existing(out_dir: Path, build_key: str) -> dict[str, Any] | None:
    try:
        m = read_manifest(out_dir)
    except (FileNotFoundError, ValueError):
        return None
    if m.get("build_key") != build_key:
        return None
    try:
        verify_shards(out_dir)
    except (ShardError, FileNotFoundError):
        return None
    return m


def _remove_stale(out_dir: Path, manifest: dict[str, Any]) -> None:
    listed = {f["path"] for sp in manifest["splits"].values() for f in sp["files"]}
    for p in out_dir.glob("*.arrow"):
        if p.name not in listed and p.name.split("-")[0] in ("train", "validation"):
            p.unlink()


def prune_intermediates(out_dir: str | Path, records: list[dict[str, Any]]) -> int:
    """Remove tokenized intermediates (and their records) of inputs that are no longer inputs, e.g.
    an earlier version of an upstream shard after an incremental build; returns how many."""
    out_dir = Path(out_dir)
    keep = {r["name"] for r in records}
    n = 0
    for folder, suffix in (("_tokenized", ".arrow"), ("_shards", ".json"), ("quarantine", ".jsonl")):
        for p in (out_dir / folder).glob(f"*{suffix}"):
            if p.name.removesuffix(suffix) not in keep:
                p.unlink()
                n += 1
    return n


def _source_counts(records: list[dict[str, Any]], name: str) -> dict[str, int]:
    total = {"train_documents": 0, "validation_documents": 0, "train_tokens": 0, "validation_tokens": 0, "bytes": 0}
    for r in records:
        for k, v in r["counts"]["by_source"].get(name, {}).items():
            total[k] += v
    return total


def _totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    t: dict[str, Any] = {"records": 0, "documents": 0, "empty": 0, "quarantined": 0, "skipped": {}}
    for r in records:
        c = r["counts"]
        for k in ("records", "documents", "empty", "quarantined"):
            t[k] += c[k]
        for k, v in c["skipped"].items():
            t["skipped"][k] = t["skipped"].get(k, 0) + v
    return t


def _version() -> str:
    from tamiz.core import __version__

    return __version__
