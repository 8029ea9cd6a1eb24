"""From a shard folder to model inputs: what the folder holds (`inspect_data`: sequence length,
vocabulary, tokenizer, padding, validation rows, checked against its manifest), the next micro-batches
of a step with their place in the epoch (`next_rows`), and `Batcher`, which turns loader rows into
(inputs, targets, attention mask) for the model's objective, masking tokens for masked models.

Rows come from `train/loader.py` (`PackedLoader`); the loop (train/loop.py) and the evaluation
(train/evaluate.py) batch them here. A masked row is masked by its own generator, keyed by the row's
slot in the epoch (`row_generators`), so the masks do not depend on the process, the micro-batch or a
resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from tamiz.core.atomic import sha256_file
from tamiz.core.shardformat import SPECIAL_TOKENS

TRAIN_SALT, EVAL_SALT = 0, 1  # row_generators' salt: training and evaluation masks differ


@dataclass
class DataInfo:
    """A shard folder as training sees it (see `inspect_data`)."""

    folder: Path
    seq_len: int
    vocab_size: int
    tokenizer_json: str
    tokenizer_sha256: str
    special_ids: dict[str, int]
    pad_id: int | None  # rows are padded with it (row_start "document"): targets equal to it are ignored
    validation_rows: int


def inspect_data(folder: str | Path) -> DataInfo:
    """Read the shard folder's manifest and tokenizer copy, and check they agree."""
    from tamiz.tokenizer.load import tokenizer_from_str
    from tamiz.core.shardformat import read_shard_manifest

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise ValueError(f"data.folder: {folder} has no manifest.json "
                         "(expected a shard folder written by `tamiz shard`)")
    m = read_shard_manifest(folder)
    tok_entry = m.get("tokenizer") or {}
    tok_path = folder / tok_entry.get("path", "tokenizer.json")
    if not tok_path.is_file():
        raise ValueError(f"data.folder: {tok_path} is missing (a shard folder keeps a copy of its tokenizer)")
    sha = sha256_file(tok_path)
    expected = tok_entry.get("sha256") or m.get("tokenizer_sha256")
    if expected and expected != sha:
        raise ValueError(f"{tok_path}: sha256 {sha[:12]}... differs from the manifest's tokenizer "
                         f"{expected[:12]}...; the shards were tokenized with another tokenizer")
    try:
        text = tok_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{tok_path}: not a tokenizer (not UTF-8 text, invalid byte at offset {e.start})") from None
    tok = tokenizer_from_str(text, tok_path)  # tamiz.tokenizer.load's checks: a crafted copy must not abort the process
    special = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS if tok.token_to_id(t) is not None}
    pad_id = m.get("pad_id") if m.get("row_start") == "document" else None
    val = (m.get("splits") or {}).get("validation") or {}
    return DataInfo(folder, int(m["seq_len"]), int(m["vocab_size"]), text, sha, special, pad_id,
                    int(val.get("rows", 0)))


def next_rows(loader, it: Iterator[torch.Tensor], n: int, rank: int, batch_size: int
              ) -> list[tuple[torch.Tensor, int, int]]:
    """The next `n` micro-batches of this rank from `it` (an iterator over `loader`), each as
    (rows, epoch, first_slot): the epoch and the place in it of rows[0], which `Batcher` needs."""
    out = []
    for _ in range(n):
        where = loader.state_dict()  # (epoch, position) of the global batch about to be read
        rows = next(it)
        out.append((rows, where["epoch"], where["position"] + rank * batch_size))
    return out


def row_generators(seed: int, salt: int, epoch: int, first_slot: int, n: int) -> list[torch.Generator]:
    """One generator per row, keyed by (seed, salt, epoch, the row's slot in the epoch): a row is masked
    the same way whichever process or micro-batch reads it, and whenever the run is resumed."""
    out = []
    for slot in range(first_slot, first_slot + n):
        s = int(np.random.SeedSequence([seed, salt, epoch, slot]).generate_state(1, dtype=np.uint64)[0] >> 1)
        out.append(torch.Generator().manual_seed(s))
    return out


class Batcher:
    """Turns loader rows (B, seq_len + 1) into (inputs, targets, attention mask) for the model's objective."""

    def __init__(self, objective: str, info: DataInfo, mlm_probability: float, seed: int, device: torch.device):
        self.objective, self.info, self.p, self.seed, self.device = objective, info, mlm_probability, seed, device
        if objective == "masked" and "<mask>" not in info.special_ids:
            raise ValueError(f"{info.folder}/tokenizer.json has no <mask> token, which masked-LM training needs")

    def __call__(self, rows: torch.Tensor, salt: int, epoch: int, first_slot: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`first_slot`: the place in the epoch of rows[0] (rows are consecutive slots)."""
        pad, attn = self.info.pad_id, None
        if self.objective == "causal":
            x, y = rows[:, :-1], rows[:, 1:].clone()
            if pad is not None:
                y[y == pad] = -100
        else:
            from tamiz.train.encoder import mask_tokens

            x = rows[:, :-1]
            gens = row_generators(self.seed, salt, epoch, first_slot, x.size(0))
            x, y = mask_tokens(x, gens, self.info.special_ids["<mask>"], self.info.vocab_size,
                               list(self.info.special_ids.values()), self.p)
            if pad is not None and bool((x == pad).any()):
                attn = (x != pad).to(self.device)
        nb = self.device.type == "cuda"
        return x.to(self.device, non_blocking=nb), y.to(self.device, non_blocking=nb), attn
