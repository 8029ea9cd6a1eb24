"""The loader: the contract, disjoint and complete coverage over ranks and workers, exact resume at any
step (also with another world size), per-epoch shuffling that keeps the mix, and bad shard folders."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from tamiz.shards.tokenize import tokenize_file
from tamiz.shards.write import build_shards
from tamiz.pipeline.table import load_table
from tamiz.core.shardformat import read_shard_manifest
from tamiz.train.loader import PackedLoader, Schedule, _Rows, epoch_order
from test_pack import tiny_tokenizer

B = 4  # rows per batch per rank


@pytest.fixture(scope="module")
def folder(sample_dir: Path, tmp_path_factory) -> Path:
    """Shards of real sample text: 20 Bible chapters (books) and 300 fortunes (reference), weights 0.7/0.3,
    seq_len 16, 1,000 training rows (books repeated, fortunes subsampled)."""
    root = tmp_path_factory.mktemp("loader")
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        books = list(itertools.islice(f, 20))
    with open(sample_dir / "reference" / "fortunes_es.jsonl", encoding="utf-8") as f:
        fortunes = list(itertools.islice(f, 300))
    (root / "in" / "books").mkdir(parents=True)
    (root / "in" / "reference").mkdir(parents=True)
    (root / "in" / "books" / "rv.jsonl").write_text("".join(books), encoding="utf-8")
    (root / "in" / "reference" / "fortunes.jsonl").write_text("".join(fortunes), encoding="utf-8")
    (root / "table.yaml").write_text(
        "sources:\n"
        "  - {name: books, kind: books, inputs: [in/books/rv.jsonl], weight: 0.7}\n"
        "  - {name: reference, kind: reference, inputs: [in/reference/fortunes.jsonl], weight: 0.3}\n"
        "shards: {seq_len: 16, seed: 3, validation_fraction: 0.1, tokens: 16000, shard_tokens: 4000, batch_tokens: 500}\n",
        encoding="utf-8")
    texts = [json.loads(x)["text"] for x in books + fortunes]
    tok = tiny_tokenizer(texts, root / "tok.json", 600)
    table = load_table(root / "table.yaml")
    out = root / "shards"
    records = [tokenize_file(p, out, tok, 0.1, source=s.name) for s in table.sources for p in table.resolve_inputs(s.name)]
    m = build_shards(out, records, tok, table.shards, table)
    assert m["splits"]["train"]["rows"] == 1000 and len(m["splits"]["train"]["files"]) > 1
    return out


def _all_rows(folder: Path, split: str) -> np.ndarray:
    return _Rows(folder, read_shard_manifest(folder), split).gather(np.arange(read_shard_manifest(folder)["splits"][split]["rows"]))


def _multiset(batches) -> Counter:
    return Counter(r.tobytes() for b in batches for r in np.asarray(b))


def _take(loader: PackedLoader, n: int) -> list[torch.Tensor]:
    return list(itertools.islice(iter(loader), n))


def test_contract(folder: Path):
    loader = PackedLoader(folder, split="train", batch_size=8, rank=0, world_size=1, num_workers=0, seed=0, shuffle=True)
    assert loader.seq_len == 16 and loader.vocab_size == 600 and loader.rows == 1000
    assert loader.manifest == read_shard_manifest(folder) and loader.manifest["tokenizer"]["path"] == "tokenizer.json"
    assert (folder / "tokenizer.json").is_file() and loader.pad_id is None and loader.eot_id == 0
    batches = _take(loader, loader.steps_per_epoch + 3)  # the train split goes on past its epoch
    assert all(b.dtype == torch.long and b.shape == (8, 17) for b in batches)
    assert loader.state_dict() == {"format": 1, "epoch": 1, "position": 24, "seed": 0, "shuffle": 1, "rows": 1000}
    assert int(max(b.max() for b in batches)) < 600


@pytest.mark.parametrize("world_size", [1, 2, 4])
@pytest.mark.parametrize("workers", [0, 1, 2])
def test_ranks_and_workers_cover_every_row_once(folder: Path, world_size: int, workers: int):
    expected = _multiset([_all_rows(folder, "train")])
    got = []
    for rank in range(world_size):
        got += list(PackedLoader(folder, batch_size=B, rank=rank, world_size=world_size, num_workers=workers, seed=1,
                                 epochs=1, drop_last=False))
    assert _multiset(got) == expected  # same rows, each exactly as often as in the split: disjoint and complete
    val = []
    for rank in range(world_size):
        val += list(PackedLoader(folder, split="validation", batch_size=B, rank=rank, world_size=world_size,
                                 num_workers=workers, shuffle=False))
    assert _multiset(val) == _multiset([_all_rows(folder, "validation")])


def _global_stream(folder: Path, world_size: int, batch_size: int, steps: int, **kw) -> list[np.ndarray]:
    """Rows of the first `steps` global steps, ranks concatenated in rank order."""
    per_rank = [_take(PackedLoader(folder, batch_size=batch_size, rank=r, world_size=world_size, seed=9, **kw), steps)
                for r in range(world_size)]
    return [np.concatenate([per_rank[r][j].numpy() for r in range(world_size)]) for j in range(steps)]


def test_ranks_are_slices_of_one_global_order(folder: Path):
    one = np.concatenate(_global_stream(folder, 1, 8, 60))
    two = np.concatenate(_global_stream(folder, 2, 4, 60))
    four = np.concatenate(_global_stream(folder, 4, 2, 60))
    assert np.array_equal(one, two) and np.array_equal(one, four)
    drop = PackedLoader(folder, batch_size=3, world_size=2, seed=9)  # endless: a last incomplete global batch is dropped
    assert drop.steps_per_epoch == 1000 // 6
    _take(drop, drop.steps_per_epoch)
    assert drop.state_dict()["epoch"] == 1 and drop.state_dict()["position"] == 0  # 996 rows, 4 left for no one


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_at_any_step_is_exact(folder: Path, workers: int):
    make = lambda: PackedLoader(folder, batch_size=B, rank=1, world_size=2, num_workers=workers, seed=4)  # noqa: E731
    steps = make().steps_per_epoch + 6  # crosses an epoch boundary
    full = [b.numpy() for b in _take(make(), steps)]
    ks = range(steps + 1) if workers == 0 else [0, 1, 2, 5, steps - 7, steps - 6, steps - 5, steps]
    for k in ks:
        first = make()
        head = _take(first, k)
        state = first.state_dict()
        second = make()
        second.load_state_dict(state)
        tail = _take(second, steps - k)
        got = [b.numpy() for b in head + tail]
        assert len(got) == steps and all(np.array_equal(a, b) for a, b in zip(got, full)), f"resume after {k} steps"


def test_resume_with_another_world_size_continues_the_same_global_order(folder: Path):
    reference = np.concatenate(_global_stream(folder, 1, 8, 2 * 125 + 10))  # ~2 epochs of 125 steps, global batch 8
    loaders = [PackedLoader(folder, batch_size=4, rank=r, world_size=2, seed=9) for r in range(2)]
    head = [np.concatenate([b.numpy() for b in batch]) for batch in zip(*[_take(x, 137) for x in loaders])]
    state = loaders[0].state_dict()
    assert state == loaders[1].state_dict() == {"format": 1, "epoch": 1, "position": 96, "seed": 9, "shuffle": 1,
                                                "rows": 1000}
    more = [PackedLoader(folder, batch_size=2, rank=r, world_size=4, seed=9) for r in range(4)]
    for x in more:
        x.load_state_dict(state)
    tail = [np.concatenate([b.numpy() for b in batch]) for batch in zip(*[_take(x, 123) for x in more])]
    assert np.array_equal(np.concatenate(head + tail), reference[:len(np.concatenate(head + tail))])


def test_shuffle_is_per_epoch_within_each_source(folder: Path):
    rows = _Rows(folder, read_shard_manifest(folder), "train")
    e0, e1 = epoch_order(rows.source, 3, 0, True), epoch_order(rows.source, 3, 1, True)
    assert not np.array_equal(e0, e1) and np.array_equal(e0, epoch_order(rows.source, 3, 0, True))
    assert not np.array_equal(e0, epoch_order(rows.source, 4, 0, True))
    for order in (e0, e1):
        assert sorted(order.tolist()) == list(range(1000))  # a permutation ...
        assert np.array_equal(rows.source[order], rows.source)  # ... that leaves every slot to its source,
    # so every prefix of every epoch keeps the blend's property: within one row of the weights per source
    w = np.array([s["weight"] for s in read_shard_manifest(folder)["sources"]])
    counts = np.cumsum(np.eye(2)[rows.source[e1]], axis=0)
    assert np.abs(counts - np.arange(1, 1001)[:, None] * w).max() < 1.0
    assert np.array_equal(epoch_order(rows.source, 3, 5, False), np.arange(1000))
    unshuffled = np.concatenate(_take(PackedLoader(folder, batch_size=10, shuffle=False), 100))
    assert np.array_equal(unshuffled, _all_rows(folder, "train"))  # shuffle=False reads the file order


def test_schedule_arithmetic():
    s = Schedule(n=10, global_batch=4, drop_last=True, epochs=None)
    assert [s.nth(0, 0, k) for k in range(5)] == [(0, 0), (0, 4), (1, 0), (1, 4), (2, 0)]
    assert s.advance(0, 4) == (1, 0) and s.advance(0, 0) == (0, 4)
    keep = Schedule(n=10, global_batch=4, drop_last=False, epochs=1)
    assert [keep.nth(0, 0, k) for k in range(4)] == [(0, 0), (0, 4), (0, 8), (1, 0)]


def test_bad_arguments_and_states(folder: Path):
    with pytest.raises(ValueError, match="split: 'test' is not one of train, validation"):
        PackedLoader(folder, split="test")
    with pytest.raises(ValueError, match=r"rank: 2 is not in \[0, world_size=2\)"):
        PackedLoader(folder, rank=2, world_size=2)
    with pytest.raises(ValueError, match="has 1000 rows, fewer than one global batch"):
        PackedLoader(folder, batch_size=300, world_size=4)
    loader = PackedLoader(folder, seed=1)
    with pytest.raises(ValueError, match="state.seed: 2 was saved, this loader has 1"):
        loader.load_state_dict({**loader.state_dict(), "seed": 2})
    with pytest.raises(ValueError, match="state.position: missing"):
        loader.load_state_dict({"format": 1, "epoch": 0})
    with pytest.raises(FileNotFoundError, match="no manifest"):
        PackedLoader(folder.parent / "in")


def test_a_different_tokenizer_is_refused(folder: Path, tmp_path: Path):
    other = tiny_tokenizer(["otro texto en español, con otras palabras"] * 10, tmp_path / "other.json", 300)
    with pytest.raises(ValueError, match=r"other\.json: this tokenizer \(sha256 .*\) differs from the one the shards"):
        PackedLoader(folder, tokenizer=other)
    PackedLoader(folder, tokenizer=folder / "tokenizer.json")  # the same one is fine
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("_*"))
    shutil.copy(other, copy / "tokenizer.json")
    with pytest.raises(ValueError, match=r"tokenizer\.json: differs from the tokenizer in the manifest"):
        PackedLoader(copy)


def test_a_truncated_shard_is_refused(folder: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("_*"))
    f = copy / read_shard_manifest(copy)["splits"]["train"]["files"][2]["path"]
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ValueError, match=rf"{f.name}: \d+ bytes, the manifest says \d+ \(truncated"):
        PackedLoader(copy)


def test_a_finite_pass_over_too_few_rows_yields_nothing(folder: Path):
    assert list(PackedLoader(folder, split="validation", batch_size=300, world_size=4, drop_last=True)) == []
    few = PackedLoader(folder, split="validation", batch_size=300, world_size=4)  # drop_last=False: all rows once
    assert sum(len(b) for b in few) == min(300, few.rows)
