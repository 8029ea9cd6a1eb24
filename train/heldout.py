"""Held-out evaluation sets: read them, and a model's bits per byte on each.

An evaluation set is one file: `.jsonl` (each record's "text" is a document) or `.txt` (the whole file
is one document). Bits per byte is the total negative log-likelihood of the set's documents, in bits,
over their UTF-8 bytes (`tamiz.train.infer.score`: each document after `<|endoftext|>`, long ones in
overlapping windows; pseudo-log-likelihood for masked models). It does not depend on the tokenizer, so
it compares any two models; in `tamiz ablate` every model also shares the tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_texts(path: str | Path) -> list[str]:
    """The documents of one evaluation file; ValueError names the file (and the line) when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: evaluation file not found")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    if path.suffix == ".jsonl":
        texts = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not a JSON line ({e.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise ValueError(f"{path}:{n}: a JSON line needs a \"text\" string")
            if rec["text"].strip():
                texts.append(rec["text"])
    elif path.suffix == ".txt":
        texts = [raw] if raw.strip() else []
    else:
        raise ValueError(f"{path}: an evaluation file is .jsonl (a \"text\" per line) or .txt (one document)")
    if not texts:
        raise ValueError(f"{path}: holds no text")
    return texts


def bits_per_byte(lm, texts: list[str]) -> dict:
    """{bits_per_byte, tokens, bytes, documents} of a model (`tamiz.train.infer.LoadedModel`) on `texts`."""
    from tamiz.train.infer import score, total

    t = total(score(lm, texts))
    return {"bits_per_byte": t.bits_per_byte, "tokens": t.tokens, "bytes": t.bytes, "documents": len(texts)}
