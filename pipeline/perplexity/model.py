"""tamiz's character n-gram perplexity model: cc_net's line normalisation, training, scoring, files.

CharNgramLM is a character n-gram model (order 5 by default) with interpolated Kneser-Ney
smoothing, trained in seconds with numpy on reference text (books, reference sources) and scored
with vectorised table look-ups (no per-character Python loop). Saved as .npz (arrays + a JSON
header; never pickle). It reports perplexity the way cc_net and BERTIN do: 10 ** (-sum of log10
probabilities / number of words + 1 per line), every line scored on its own with its end-of-line
predicted; the log-probability of a line is the sum over its characters and its end-of-line, so
perplexities are per word and comparable in spread to a word model's.

Neighbours: kenlm.py (a user's KenLM model, and `load_scorer`, which picks one of the two by file),
sampling.py (the filter-stage steps that score documents and sample by perplexity).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

FORMAT = "tamiz-char-ngram-v1"

# ------------------------------------------------------------------------------------ normalisation

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
# cc_net's unicode punctuation map (text_normalizer.UNICODE_PUNCT), the part that Spanish text meets
_PUNCT = str.maketrans({"，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
                        "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
                        "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
                        "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
                        "％": "%", "‘": "'"})


def normalize_line(line: str, strip_accents: bool = False) -> str:
    """cc_net-style normalisation: lowercase, digits to 0, unicode punctuation to ASCII, spaces collapsed.

    tamiz's model keeps accents (they carry meaning in Spanish); cc_net's KenLM models expect them
    stripped (`strip_accents=True`).
    """
    line = line.lower().translate(_PUNCT)
    line = _DIGITS.sub("0", line)
    if strip_accents:
        line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    return _SPACES.sub(" ", line).strip()


def doc_lines(text: str, strip_accents: bool = False) -> list[str]:
    """The normalised non-empty lines of a document."""
    return [ln for ln in (normalize_line(x, strip_accents) for x in text.split("\n")) if ln]


def words_plus_lines(lines: Sequence[str]) -> int:
    """cc_net's length: words of each line + 1 (its end)."""
    return sum(len(ln.split()) + 1 for ln in lines)


# --------------------------------------------------------------------------- tamiz's character model

UNK, BOS, EOS = 0, 1, 2  # ids; characters start at 3


@dataclass
class CharNgramLM:
    """Interpolated Kneser-Ney character n-gram model stored as backoff tables (as in ARPA files).

    For each order k: `keys[k]` (sorted uint64: ids packed `bits` apiece, newest in the low bits),
    `logp[k]` = log10 of the interpolated probability of that k-gram, and `ctx[k]`/`ctx_lg[k]` = the
    contexts (k-1-grams) seen at order k and log10 of their backoff weight gamma(h) = D * N1+(h.) / c(h).
    p(w|h) is logp of the longest seen k-gram ending in w, times the backoff weights of the longer
    contexts (1 for a context never seen).
    """

    order: int
    bits: int
    vocab: list[str]
    keys: list[np.ndarray]
    logp: list[np.ndarray]
    ctx: list[np.ndarray]
    ctx_lg: list[np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {c: i + 3 for i, c in enumerate(self.vocab)}
        self._translate = _IdTable({ord(c): chr(i) for c, i in self._index.items()})

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, texts: Iterable[str], order: int = 5, max_vocab: int = 1000) -> "CharNgramLM":
        """Count character n-grams of the normalised lines and build the KN tables (numpy, seconds)."""
        if not 2 <= order <= 8:
            raise ValueError(f"order: {order} must be between 2 and 8")
        bits = 63 // order
        cap = min(max_vocab, (1 << bits) - 3)
        lines = [ln for t in texts for ln in doc_lines(t)]
        if not lines:
            raise ValueError("no text to train the perplexity model on")
        freq = Counter("".join(lines))
        vocab = sorted(freq, key=lambda c: (-freq[c], c))[:cap]
        model = cls(order=order, bits=bits, vocab=vocab, keys=[], logp=[], ctx=[], ctx_lg=[])
        seq = model._encode(lines)
        n_chars = int(sum(len(ln) for ln in lines))
        # all k-gram keys ending at each predicted position, for k = 1..order
        pos = np.flatnonzero(seq != BOS)
        grams = model._keys_at(seq, pos)
        counts: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.uint64), np.zeros(0, np.int64))] * (order + 1)
        u, c = np.unique(grams[order], return_counts=True)
        counts[order] = (u, c)
        for k in range(order - 1, 0, -1):
            # continuation counts: distinct left extensions of each k-gram among the seen (k+1)-grams
            suffix = counts[k + 1][0] & np.uint64((1 << (bits * k)) - 1)
            counts[k] = tuple(np.unique(suffix, return_counts=True))
        V = len(vocab) + 3
        empty_keys, empty_vals = np.zeros(0, np.uint64), np.zeros(0)
        keys, logp, ctx, ctx_lg, discounts = [empty_keys], [empty_vals], [empty_keys], [empty_vals], [0.0]
        # order 1: continuation unigram interpolated with the uniform distribution over the vocabulary
        u1, c1 = counts[1]
        d1 = _discount(c1)
        total = c1.sum()
        p1 = np.full(V, d1 * len(u1) / total / V)  # the mass the discount frees, spread uniformly
        p1[u1.astype(np.int64)] += np.maximum(c1 - d1, 0) / total
        keys.append(np.arange(V, dtype=np.uint64))
        logp.append(np.log10(p1))
        ctx.append(np.zeros(0, np.uint64))
        ctx_lg.append(np.zeros(0))
        discounts.append(d1)
        for k in range(2, order + 1):
            uk, ck = counts[k]
            dk = _discount(ck)
            hu, hinv = np.unique(uk >> np.uint64(bits), return_inverse=True)  # the context of each k-gram
            c_h = np.bincount(hinv, weights=ck)
            n1_h = np.bincount(hinv)
            gamma = dk * n1_h / c_h
            lower = uk & np.uint64((1 << (bits * (k - 1))) - 1)
            p_lower = 10.0 ** logp[k - 1][np.searchsorted(keys[k - 1], lower)]
            p = np.maximum(ck - dk, 0) / c_h[hinv] + gamma[hinv] * p_lower
            keys.append(uk)
            logp.append(np.log10(p))
            ctx.append(hu)
            ctx_lg.append(np.log10(gamma))
            discounts.append(dk)
        model.keys, model.logp, model.ctx, model.ctx_lg = keys, logp, ctx, ctx_lg
        model.info = {"lines": len(lines), "chars": n_chars, "vocab": len(vocab),
                      "ngrams": [int(len(x)) for x in keys[1:]], "discounts": [round(d, 6) for d in discounts[1:]]}
        return model

    # ---------------------------------------------------------------- scoring
    def _encode(self, lines: Sequence[str]) -> np.ndarray:
        """One id sequence: for each line, order-1 BOS ids, its characters, EOS."""
        pad = chr(BOS) * (self.order - 1)
        big = "".join(f"{pad}{ln.translate(self._translate)}{chr(EOS)}" for ln in lines)
        return np.frombuffer(big.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)

    def _keys_at(self, seq: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
        b = np.uint64(self.bits)
        grams = [np.zeros(0, np.uint64), seq[pos]]
        key = seq[pos].copy()
        for k in range(2, self.order + 1):
            key = key | (seq[pos - (k - 1)] << (b * np.uint64(k - 1)))
            grams.append(key.copy())
        return grams

    def _lookup(self, grams: list[np.ndarray]) -> np.ndarray:
        """log10 p for each position, given its k-gram keys for k = 1..order (backoff through the tables).

        Only positions not resolved at a longer order are looked up again at the next shorter one."""
        total = np.zeros(len(grams[1]))
        todo = np.arange(len(grams[1]))
        for k in range(self.order, 0, -1):
            if not len(todo):
                break
            keys, q = self.keys[k], grams[k][todo]
            i = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            found = keys[i] == q
            total[todo[found]] += self.logp[k][i[found]]
            miss = ~found
            ctx = self.ctx[k]
            if k > 1 and len(ctx) and miss.any():
                h = q[miss] >> np.uint64(self.bits)
                j = np.minimum(np.searchsorted(ctx, h), len(ctx) - 1)
                total[todo[miss]] += np.where(ctx[j] == h, self.ctx_lg[k][j], 0.0)  # unseen context: weight 1
            todo = todo[miss]
        return total

    def log10_probs(self, lines: Sequence[str]) -> np.ndarray:
        """log10 p of every character and end-of-line of the (already normalised) lines."""
        seq = self._encode(lines)
        return self._lookup(self._keys_at(seq, np.flatnonzero(seq != BOS)))

    def next_distribution(self, context: str) -> np.ndarray:
        """p(next symbol | the normalised line so far) over all ids (UNK, BOS, EOS, then the vocabulary)."""
        seq = self._encode([context])[:-1]  # drop the EOS: the context ends here
        V = len(self.vocab) + 3
        cand = np.concatenate([np.repeat(seq[None, :], V, axis=0), np.arange(V, dtype=np.uint64)[:, None]], axis=1)
        flat = cand.reshape(-1)
        width = cand.shape[1]
        pos = np.arange(V) * width + (width - 1)
        return 10.0 ** self._lookup(self._keys_at(flat, pos))

    def perplexity(self, text: str) -> float:
        lines = doc_lines(text)
        if not lines:
            return float("inf")
        return float(10.0 ** (-self.log10_probs(lines).sum() / words_plus_lines(lines)))

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """An .npz of plain arrays plus a JSON header (loaded with allow_pickle=False)."""
        header = {"format": FORMAT, "order": self.order, "bits": self.bits, "vocab": self.vocab, "info": self.info}
        arrays = {"header": np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)}
        for k in range(1, self.order + 1):
            arrays[f"keys_{k}"], arrays[f"logp_{k}"] = self.keys[k], self.logp[k].astype(np.float32)
            arrays[f"ctx_{k}"], arrays[f"ctxlg_{k}"] = self.ctx[k], self.ctx_lg[k].astype(np.float32)
        from tamiz.core.atomic import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: perplexity model not found (train one with `tamiz perplexity train`)")
        empty = np.zeros(0, np.uint64)
        keys, logp, ctx, ctx_lg = [empty], [np.zeros(0)], [empty], [np.zeros(0)]
        try:  # a damaged .npz fails in many ways (BadZipFile, zlib.error, EOFError, KeyError, ...): one clear error
            with np.load(p, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode("utf-8"))
                if not isinstance(header, dict) or header.get("format") != FORMAT:
                    raise ValueError(f"format {header.get('format') if isinstance(header, dict) else None!r}")
                order, bits, vocab = int(header["order"]), int(header["bits"]), header["vocab"]
                if not 2 <= order <= 8 or bits != 63 // order or not isinstance(vocab, list) \
                        or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
                    raise ValueError(f"header has order {order}, bits {bits}, vocab of {type(vocab).__name__}")
                for k in range(1, order + 1):
                    keys.append(z[f"keys_{k}"])
                    logp.append(z[f"logp_{k}"].astype(np.float64))
                    ctx.append(z[f"ctx_{k}"])
                    ctx_lg.append(z[f"ctxlg_{k}"].astype(np.float64))
                    if keys[k].dtype != np.uint64 or ctx[k].dtype != np.uint64 or keys[k].shape != logp[k].shape \
                            or ctx[k].shape != ctx_lg[k].shape or keys[k].ndim != 1:
                        raise ValueError(f"the order-{k} tables do not match")
        except Exception as e:
            raise ValueError(f"{p}: not a tamiz perplexity model ({type(e).__name__}: {e})") from None
        return cls(order=order, bits=bits, vocab=list(vocab), keys=keys, logp=logp, ctx=ctx, ctx_lg=ctx_lg,
                   info=header.get("info", {}))


class _IdTable(dict):
    """str.translate table: vocabulary characters to their id, every other character to UNK."""

    def __missing__(self, key: int) -> str:
        return chr(UNK)


def _discount(counts: np.ndarray) -> float:
    """Kneser-Ney's absolute discount D = n1 / (n1 + 2 n2) from the counts-of-counts."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)


def train_char_model(texts: Iterable[str], out: str | Path, order: int = 5, max_vocab: int = 1000,
                     heldout: Sequence[str] = ()) -> dict[str, Any]:
    """Train tamiz's character model, save it, and report its size and held-out perplexities."""
    import time

    t0 = time.perf_counter()
    model = CharNgramLM.train(texts, order=order, max_vocab=max_vocab)
    seconds = time.perf_counter() - t0
    model.save(out)
    report = {"model": str(Path(out).name), "order": order, "train_seconds": round(seconds, 3),
              "bytes": os.path.getsize(out), **model.info}
    if heldout:
        t0 = time.perf_counter()
        ppl = [model.perplexity(t) for t in heldout]
        report["heldout"] = {"docs": len(ppl), "median_perplexity": round(float(np.median(ppl)), 3),
                             "docs_per_s": round(len(ppl) / (time.perf_counter() - t0), 1)}
    return report
