"""Shared builders for the training tests (imported by tests/test_train_*.py): a tiny byte-level BPE
trained in-process on the bundled sample (hermetic, no downloads), and tiny shard folders written
with the project's own shard writer and read by `tamiz.train.loader`."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORTUNES = ROOT / "data" / "sample" / "reference" / "fortunes_es.jsonl"
SPECIALS = ["<|endoftext|>", "<pad>", "<mask>", "<s>"]


def fortunes(n: int | None = None, start: int = 0) -> list[str]:
    """Real Spanish text: fortunes from the bundled sample (one document each)."""
    out = []
    with open(FORTUNES, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if n is not None and len(out) >= n:
                break
            out.append(json.loads(line)["text"])
    return out


def tiny_tokenizer(vocab_size: int = 512, n_docs: int = 3000):
    """A byte-level BPE with the project's special tokens, trained in a second on sample text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(fortunes(n_docs), trainer=trainer)
    return tok


def build_shards(folder: Path, tokenizer, n_docs: int = 400, seq_len: int = 32, start: int = 0,
                 validation_fraction: float = 0.1, row_start: str = "any") -> Path:
    """A shard folder from `n_docs` fortunes, written by the project's own tokenize-and-pack step."""
    from tamiz.shards.tokenize import tokenize_file
    from tamiz.shards.write import build_shards as pack_build
    from tamiz.pipeline.table import ShardConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = folder.parent / f"{folder.name}-input" / "reference" / "fortunes.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "w", encoding="utf-8") as f:
        for i, t in enumerate(fortunes(n_docs, start)):
            f.write(json.dumps({"id": f"fortune-{start + i}", "text": t}, ensure_ascii=False) + "\n")
    tok_path = folder.parent / f"{folder.name}-tokenizer.json"
    tokenizer.save(str(tok_path))
    record = tokenize_file(src, folder, tok_path, validation_fraction)
    pack_build(folder, [record], tok_path, ShardConfig(seq_len=seq_len, validation_fraction=validation_fraction,
                                                      row_start=row_start, batch_tokens=64 * (seq_len + 1)))
    return folder


def unigram_entropy(folder: Path) -> float:
    """Entropy (nats) of the target tokens' unigram distribution over the train split: the loss of the best
    model that ignores context. A model that learned anything from context goes well below it."""
    import numpy as np

    from tamiz.train.loader import PackedLoader

    loader = PackedLoader(folder, split="train", batch_size=1, shuffle=False, epochs=1)
    counts = np.zeros(loader.vocab_size, dtype=np.int64)
    for rows in loader:
        counts += np.bincount(rows[:, 1:].reshape(-1).numpy(), minlength=loader.vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def one_thread():
    """Generator body for an autouse fixture: tiny models gain nothing from intra-op threads, and on a
    loaded machine spinning OpenMP threads make them many times slower. Restores the setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_checkpoint(path, kind, tok, **model):
    """A model with every weight random, norms and biases included (a fresh model's are 1 and 0,
    which would hide a mapping error), saved as a training checkpoint."""
    import hashlib

    import torch

    from tamiz.train.checkpoint import save_checkpoint
    from tamiz.train.config import ModelConfig, build_model

    arch = ModelConfig(kind=kind, **model).arch(tok.get_vocab_size(), 48)
    torch.manual_seed(0)
    m = build_model(kind, arch)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * (0.3 if p.dim() == 1 else 0.02))
    js = tok.to_str()
    save_checkpoint(path, {"step": 7, "model_kind": kind, "model_arch": arch, "model": m.state_dict(),
                           "tokenizer_json": js, "tokenizer_sha256": hashlib.sha256(js.encode()).hexdigest()})
    return m.eval()
