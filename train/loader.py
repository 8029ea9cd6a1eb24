"""Reads tamiz Arrow shards for the training loop: memory-mapped, rank-aware, exactly resumable.

The contract (docs/data-format.md, "The loader"):

    loader = PackedLoader(folder, split="train", batch_size=8, rank=0, world_size=1, num_workers=0,
                          seed=0, shuffle=True)
    for batch in loader:            # torch.LongTensor (batch_size, seq_len + 1), forever for "train"
        x, y = batch[:, :-1], batch[:, 1:]
        ...
        ckpt["loader"] = loader.state_dict()      # a few integers, the same on every rank
    loader.load_state_dict(ckpt["loader"])        # the next batch is the one an uninterrupted run gets

How rows are dealt. An epoch is an order of the split's n rows. Global step j of an epoch takes the
positions [p, p + world_size * batch_size) with p = j * world_size * batch_size; rank r takes its
contiguous `batch_size` of them. Within a rank, DataLoader worker w makes steps w, w + num_workers, ...
and torch's DataLoader hands them back in step order. So ranks and workers never share a row, and the
rows of the first j global steps are exactly the first j * world_size * batch_size positions of the
epoch. The state is (epoch, position): resuming with another world size or batch size continues from
the same position, with no row repeated or skipped.

The epoch order. The train split is written in the mix's blend order: every prefix of the file
matches the table's weights within one row per source. `shuffle=True` permutes, for each epoch and
from `seed`, the rows *within each source* and leaves every slot to its source, so every prefix of
every epoch still matches the weights within one row per source while each epoch sees its rows in a
new order. `shuffle=False` reads the file order.

This module reads only the shards and their manifest (never the pipeline's code).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import torch

from tamiz.core.shardformat import read_shard_manifest

STATE_FORMAT = 1
MESSAGE_TOKENS = 1 << 18  # tokens a DataLoader worker hands over at once (a block of consecutive steps)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Rows of a split, memory-mapped


class _Rows:
    """Every row of one split as zero-copy numpy views of the memory-mapped record batches."""

    def __init__(self, folder: Path, manifest: dict[str, Any], split: str):
        self.row_tokens = manifest["row_tokens"]
        self.vocab_size = manifest["vocab_size"]
        self.chunks: list[np.ndarray] = []
        self._where: list[tuple[Path, int]] = []  # per chunk: its file and the file row of its first row
        sources, lengths = [], []
        self._maps = []
        schema = pa.schema([pa.field("input_ids", pa.list_(pa.from_numpy_dtype(np.dtype(manifest["dtype"])),
                                                           self.row_tokens), nullable=False),
                            pa.field("source_id", pa.uint16(), nullable=False)])
        for f in manifest["splits"][split]["files"]:
            path = folder / f["path"]
            n = 0
            try:  # the loader checks sizes, not checksums (`tamiz verify` does): a damaged file must still fail clearly
                mm = pa.memory_map(str(path))
                self._maps.append(mm)
                reader = pa.ipc.open_stream(mm)
                if not reader.schema.equals(schema):
                    raise ValueError(f"schema {reader.schema} is not {schema}")
                for batch in reader:
                    ids = batch.column(0)
                    if ids.null_count or batch.column(1).null_count:
                        raise ValueError("null rows or source ids in a non-nullable column")
                    values = ids.values.slice(ids.offset * self.row_tokens, len(ids) * self.row_tokens)
                    self.chunks.append(values.to_numpy(zero_copy_only=True).reshape(len(ids), self.row_tokens))
                    self._where.append((path, n))
                    sources.append(batch.column(1).to_numpy(zero_copy_only=False))
                    lengths.append(len(ids))
                    n += len(ids)
            except (pa.ArrowException, OSError, ValueError) as e:
                raise ValueError(f"{path}: not a readable tamiz shard ({e}); `tamiz verify` checks every file") from None
            if n != f["rows"]:
                raise ValueError(f"{path}: {n} rows, the manifest says {f['rows']}; `tamiz verify` checks every file")
        self.source = np.concatenate(sources) if sources else np.zeros(0, dtype=np.uint16)
        self.ends = np.cumsum(lengths, dtype=np.int64)
        self.begins = self.ends - np.asarray(lengths, dtype=np.int64)
        self.n = int(self.ends[-1]) if lengths else 0
        self._order: tuple[tuple[int, int, bool], np.ndarray] | None = None
        self._checked = [False] * len(self.chunks)  # token ids checked against the vocabulary (on first use)

    def order(self, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
        """The epoch's order (cached: the last one computed)."""
        key = (seed, epoch, shuffle)
        if self._order is None or self._order[0] != key:
            self._order = (key, epoch_order(self.source, seed, epoch, shuffle))
        return self._order[1]

    def gather(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.row_tokens), dtype=np.int64)
        chunk = np.searchsorted(self.ends, idx, side="right")
        checked = self._checked
        for k, (c, r) in enumerate(zip(chunk.tolist(), (idx - self.begins[chunk]).tolist())):
            if not checked[c]:
                self.check_ids(c)
            out[k] = self.chunks[c][r]
        return out

    def check_ids(self, c: int) -> None:
        """Every token id of record batch `c` must be below the manifest's vocab_size (ids are unsigned, so
        never negative): a damaged shard of the right size and schema would otherwise index past the model's
        embedding. Done once per record batch, when a row of it is first read: one vectorised max."""
        values = self.chunks[c]
        if values.size and int(values.max()) >= self.vocab_size:
            path, first = self._where[c]
            bad = values >= self.vocab_size
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise ValueError(f"{path}: token id {int(values[row, col])} (row {first + row}, position {col}) is not "
                             f"below the vocabulary size {self.vocab_size} of {path.parent / 'manifest.json'} "
                             "(a damaged shard, or shards of another tokenizer); `tamiz verify` checks every file")
        self._checked[c] = True


def epoch_order(source: np.ndarray, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """Row at each position of an epoch: each source's rows permuted among that source's slots."""
    n = len(source)
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for s in np.unique(source).tolist():
        pos = np.flatnonzero(source == s)
        order[pos] = pos[np.random.default_rng([seed, epoch, s]).permutation(len(pos))]
    return order


# ---------------------------------------------------------------------------------------------
# Which rows each step takes


@dataclass(frozen=True)
class Schedule:
    """Steps over a split of n rows, global_batch = world_size * batch_size rows per step."""

    n: int
    global_batch: int
    drop_last: bool
    epochs: int | None  # None: forever

    def steps_from(self, position: int) -> int:
        left = max(0, self.n - position)
        return left // self.global_batch if self.drop_last else -(-left // self.global_batch)

    def nth(self, epoch: int, position: int, k: int) -> tuple[int, int]:
        """(epoch, position) of the k-th step counted from the step at (epoch, position)."""
        first = self.steps_from(position)
        if k < first:
            return epoch, position + k * self.global_batch
        k -= first
        per = self.steps_from(0)
        return epoch + 1 + k // per, (k % per) * self.global_batch

    def advance(self, epoch: int, position: int) -> tuple[int, int]:
        """The state after the step at (epoch, position) was consumed."""
        position += self.global_batch
        return (epoch, position) if self.steps_from(position) else (epoch + 1, 0)


class _RankBatches(torch.utils.data.IterableDataset):
    """This rank's batches from a start state (one per global step; None where the rank's share is empty)."""

    def __init__(self, folder: Path, manifest: dict[str, Any], split: str, schedule: Schedule, batch_size: int,
                 rank: int, seed: int, shuffle: bool, start: tuple[int, int], rows: _Rows | None = None):
        self.folder, self.manifest, self.split = folder, manifest, split
        self.schedule, self.batch_size, self.rank = schedule, batch_size, rank
        self.seed, self.shuffle, self.start = seed, shuffle, start
        self._rows = rows
        self.steps_per_message = max(1, MESSAGE_TOKENS // (batch_size * manifest["row_tokens"]))

    def __getstate__(self) -> dict[str, Any]:  # memory maps are not pickled: each worker opens its own
        return {**self.__dict__, "_rows": None}

    def rows(self) -> _Rows:
        if self._rows is None:
            self._rows = _Rows(self.folder, self.manifest, self.split)
        return self._rows

    def order(self, epoch: int) -> np.ndarray:
        return self.rows().order(self.seed, epoch, self.shuffle)

    def indices(self, epoch: int, pos: int) -> np.ndarray:
        """Row indices of this rank's batch in the global step at (epoch, pos); maybe empty."""
        sched = self.schedule
        a = min(pos + self.rank * self.batch_size, sched.n)
        b = max(a, min(a + self.batch_size, sched.n, pos + sched.global_batch))
        return self.order(epoch)[a:b]

    def local_steps(self) -> Iterator[torch.Tensor | None]:
        """In this process: one batch (None when empty) per global step, from the start state."""
        sched, rows = self.schedule, self.rows()
        epoch, pos = self.start
        while sched.epochs is None or epoch < sched.epochs:
            idx = self.indices(epoch, pos)
            yield torch.from_numpy(rows.gather(idx)) if len(idx) else None
            epoch, pos = sched.advance(epoch, pos)

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor | list[torch.Tensor | None]]]:
        """Yields (first step, batches): in this process one step at a time; in a DataLoader worker, blocks of
        `steps_per_message` consecutive steps (worker w makes blocks w, w + workers, ...) so that the cost of
        handing a tensor to the main process is paid once per block, not per batch."""
        info = torch.utils.data.get_worker_info()
        if info is None:
            yield from ((k, [batch]) for k, batch in enumerate(self.local_steps()))
            return
        sched, rows, size = self.schedule, self.rows(), self.steps_per_message
        block = info.id
        while True:
            first = block * size
            idx = []
            epoch, pos = sched.nth(*self.start, first)
            for _ in range(size):
                if sched.epochs is not None and epoch >= sched.epochs:
                    break
                idx.append(self.indices(epoch, pos))
                epoch, pos = sched.advance(epoch, pos)
            if idx:
                if all(len(i) == self.batch_size for i in idx):  # the usual case: one tensor for the block
                    yield first, torch.from_numpy(rows.gather(np.concatenate(idx)).reshape(len(idx), self.batch_size, -1))
                else:  # a finite pass's last, smaller or empty, batches
                    yield first, [torch.from_numpy(rows.gather(i)) if len(i) else None for i in idx]
            if len(idx) < size:
                return
            block += info.num_workers


# ---------------------------------------------------------------------------------------------
# The loader


class PackedLoader:
    """Batches of packed rows for one rank; see the module docstring for how rows are dealt.

    folder: a `tamiz shard` output folder. split: "train" or "validation".
    batch_size: rows per batch on this rank. rank, world_size: this process's DDP rank and the number
    of ranks. num_workers: DataLoader worker processes (0: read in this process). seed, shuffle: the
    per-epoch order. epochs: None reads "train" forever and other splits once; an int stops after that
    many epochs (counted from epoch 0). drop_last: None drops a last incomplete global batch in endless
    streams (every rank gets the same number of full batches) and keeps it in finite passes (every row
    exactly once; the last batch of some ranks is smaller or absent: fine for evaluation, not for a DDP
    step). tokenizer: when given, must be the tokenizer the shards were made with (same sha256).
    Every token id is checked to be below the manifest's vocab_size when its record batch is first read
    (a ValueError names the file, the id and the vocabulary size).
    """

    def __init__(self, folder: str | os.PathLike, split: str = "train", batch_size: int = 8, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, seed: int = 0, shuffle: bool = True,
                 epochs: int | None = None, drop_last: bool | None = None, tokenizer: str | os.PathLike | None = None,
                 pin_memory: bool = False, prefetch_factor: int = 2):
        self.folder = Path(folder)
        self.manifest = read_shard_manifest(self.folder)
        m = self.manifest
        if split not in m["splits"]:
            raise ValueError(f"split: {split!r} is not one of {', '.join(m['splits'])}")
        for name, v, lo in (("batch_size", batch_size, 1), ("world_size", world_size, 1), ("num_workers", num_workers, 0),
                            ("seed", seed, 0), ("prefetch_factor", prefetch_factor, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: {v!r} is not an integer >= {lo}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank: {rank!r} is not in [0, world_size={world_size})")
        if epochs is None and split != "train":
            epochs = 1
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
            raise ValueError(f"epochs: {epochs!r} is not None or an integer >= 1")
        self._check_files(tokenizer)
        self.split, self.batch_size, self.rank, self.world_size = split, batch_size, rank, world_size
        self.num_workers, self.seed, self.shuffle = num_workers, seed, bool(shuffle)
        self.pin_memory, self.prefetch_factor = pin_memory, prefetch_factor
        n = m["splits"][split]["rows"]
        self.schedule = Schedule(n, world_size * batch_size, epochs is None if drop_last is None else bool(drop_last),
                                 epochs)
        if self.schedule.steps_from(0) == 0 and epochs is None:  # a finite pass over too few rows yields nothing
            raise ValueError(f"{self.folder}: split {split!r} has {n} rows, fewer than one global batch "
                             f"(world_size {world_size} x batch_size {batch_size})")
        self.epoch, self.position = 0, 0
        self._rows: _Rows | None = None

    # -- facts from the manifest
    @property
    def seq_len(self) -> int:
        return self.manifest["seq_len"]

    @property
    def vocab_size(self) -> int:
        return self.manifest["vocab_size"]

    @property
    def eot_id(self) -> int:
        return self.manifest["eot_id"]

    @property
    def pad_id(self) -> int | None:
        """Padding id in row_start="document" shards (ignore targets equal to it); None when nothing is padded."""
        return self.manifest["pad_id"] if self.manifest["row_start"] == "document" else None

    @property
    def rows(self) -> int:
        return self.schedule.n

    @property
    def steps_per_epoch(self) -> int:
        return self.schedule.steps_from(0)

    @property
    def tokens_per_step(self) -> int:
        """Tokens trained per global step (targets: seq_len per row)."""
        return self.schedule.global_batch * self.seq_len

    # -- resume
    def state_dict(self) -> dict[str, int]:
        """Where the stream is (after the last batch handed out) and what it depends on; the same on every rank."""
        return {"format": STATE_FORMAT, "epoch": self.epoch, "position": self.position, "seed": self.seed,
                "shuffle": int(self.shuffle), "rows": self.rows}

    def load_state_dict(self, state: dict[str, int]) -> None:
        for key in ("format", "epoch", "position", "seed", "shuffle", "rows"):
            if key not in state:
                raise ValueError(f"state.{key}: missing (not a PackedLoader state)")
        mine = self.state_dict()
        for key in ("format", "seed", "shuffle", "rows"):
            if int(state[key]) != mine[key]:
                raise ValueError(f"state.{key}: {state[key]!r} was saved, this loader has {mine[key]!r}; "
                                 "an exact resume needs the same shards, seed and shuffle")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < max(1, self.rows):
            raise ValueError(f"state.position: {position} is not a row position of this split ({self.rows} rows)")
        if self.schedule.steps_from(position) == 0:  # saved with a larger global batch: the epoch is over here
            epoch, position = epoch + 1, 0
        self.epoch, self.position = epoch, position

    # -- iteration
    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.steps_per_epoch == 0:
            return
        if self.num_workers == 0 and self._rows is None:
            self._rows = _Rows(self.folder, self.manifest, self.split)
        dataset = _RankBatches(self.folder, self.manifest, self.split, self.schedule, self.batch_size, self.rank,
                               self.seed, self.shuffle, (self.epoch, self.position), self._rows)
        advance = self.schedule.advance
        if self.num_workers == 0:
            for batch in dataset.local_steps():
                self.epoch, self.position = advance(self.epoch, self.position)
                if batch is not None:
                    yield batch.pin_memory() if self.pin_memory and torch.cuda.is_available() else batch
            return
        expected = 0
        for first, batches in torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=self.num_workers,
                                                          pin_memory=self.pin_memory,
                                                          prefetch_factor=self.prefetch_factor):
            assert first == expected, f"blocks out of order: got step {first}, expected {expected}"
            for batch in batches:
                expected += 1
                self.epoch, self.position = advance(self.epoch, self.position)
                if batch is not None:
                    yield batch

    # -- checks
    def _check_files(self, tokenizer: str | os.PathLike | None) -> None:
        m, folder = self.manifest, self.folder
        copy = folder / m["tokenizer"]["path"]
        if not copy.is_file():
            raise FileNotFoundError(f"{copy}: missing (the shard folder keeps a copy of its tokenizer)")
        if copy.stat().st_size != m["tokenizer"]["bytes"] or _sha256(copy) != m["tokenizer"]["sha256"]:
            raise ValueError(f"{copy}: differs from the tokenizer in the manifest "
                             f"(sha256 {m['tokenizer']['sha256'][:12]}...)")
        if tokenizer is not None:
            got = _sha256(Path(tokenizer))
            if got != m["tokenizer"]["sha256"]:
                raise ValueError(f"{tokenizer}: this tokenizer (sha256 {got[:12]}...) differs from the one the shards "
                                 f"in {folder} were made with (sha256 {m['tokenizer']['sha256'][:12]}..., a copy is "
                                 f"{copy}); token ids would not match")
        for split in m["splits"].values():
            for f in split["files"]:
                p = folder / f["path"]
                if not p.is_file():
                    raise FileNotFoundError(f"{p}: missing (listed in {folder / 'manifest.json'})")
                if p.stat().st_size != f["bytes"]:
                    raise ValueError(f"{p}: {p.stat().st_size} bytes, the manifest says {f['bytes']} "
                                     "(truncated or rewritten; `tamiz verify` checks every file)")
