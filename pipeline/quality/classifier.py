"""The learned quality classifier (fastText, word n-grams): training, held-out evaluation, loading, scoring.

Training (GPT-3, appendix A; DCLM): positives are documents from high-quality sources (books,
reference text, whatever the user names), negatives raw crawl text. tamiz holds out a fixed share of
documents (chosen by a hash of the document id, so the split never changes) and reports precision,
recall, F1 at 0.5 and ROC AUC on it. The model is fastText's own binary format (`.bin`), with a JSON
sidecar (`.json`) holding the settings, labels and held-out figures. `score_texts` gives
P(high quality) per text; keep.py holds the filter-stage steps that store it and keep by it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tamiz.pipeline.document import Document, id_seed
from tamiz.pipeline.filters.words import split_words

HQ, LQ = "__label__hq", "__label__lq"
_MODELS: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------- text + ids

def prepare_text(text: str, max_chars: int = 10_000) -> str:
    """One line for fastText: tamiz's tokens (punctuation split off), lowercased, space-separated."""
    return " ".join(split_words(text[:max_chars])).lower()


def in_holdout(doc_id: str, share: float) -> bool:
    """Whether a document belongs to the held-out split (a fixed function of its id)."""
    return (id_seed(doc_id, salt=7919) / 2**64) < share


# ----------------------------------------------------------------------------------------- training

@dataclass(frozen=True)
class ClassifierConfig:
    """Training settings of the fastText quality classifier."""

    epoch: int = 10
    lr: float = 0.5
    word_ngrams: int = 2  # word n-grams (bigrams as in DCLM's classifier)
    dim: int = 32
    min_count: int = 2  # drop words seen fewer times
    bucket: int = 200_000  # hash buckets for the n-grams (model size ~ bucket * dim * 4 bytes)
    max_chars: int = 10_000  # characters of each document used
    holdout: float = 0.1  # share of documents held out for the figures
    balance: float | None = 1.0  # downsample the larger class to at most this many times the smaller
    seed: int = 0
    threads: int = 1  # one thread: the same model bytes on every run (see _train_in_fresh_process)

    def __post_init__(self) -> None:
        for n in ("epoch", "word_ngrams", "dim", "bucket", "max_chars", "threads"):
            if not isinstance(getattr(self, n), int) or getattr(self, n) < 1:
                raise ValueError(f"{n}: {getattr(self, n)!r} must be a positive integer")
        if self.min_count < 1:
            raise ValueError(f"min_count: {self.min_count} must be at least 1")
        if not 0 < self.lr <= 5:
            raise ValueError(f"lr: {self.lr} must be in (0, 5]")
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout: {self.holdout} must be between 0 and 1 (exclusive)")
        if self.balance is not None and self.balance < 1:
            raise ValueError(f"balance: {self.balance} must be at least 1 (or None for no balancing)")


def _balance(docs: list[Document], keep: int, seed: int) -> list[Document]:
    if len(docs) <= keep:
        return docs
    order = sorted(docs, key=lambda d: id_seed(d.id, salt=seed))
    return sorted(order[:keep], key=lambda d: d.id)


def split_examples(positives: Iterable[Document], negatives: Iterable[Document], config: ClassifierConfig):
    """(train, test): lists of (label, document); balanced train set; the test split is fixed by ids."""
    pos = [d for d in positives if d.text.strip()]
    neg = [d for d in negatives if d.text.strip()]
    if not pos or not neg:
        raise ValueError(f"need both classes: {len(pos)} positive and {len(neg)} negative non-empty documents")
    split = {}
    for label, docs in ((HQ, pos), (LQ, neg)):
        test = [d for d in docs if in_holdout(d.id, config.holdout)]
        train = [d for d in docs if not in_holdout(d.id, config.holdout)]
        split[label] = (train, test)
    if not split[HQ][0] or not split[LQ][0] or not split[HQ][1] or not split[LQ][1]:
        raise ValueError("too few documents: each class needs documents in both the training and the held-out "
                         f"split (positives {len(pos)}, negatives {len(neg)}, holdout {config.holdout})")
    tr_pos, tr_neg = split[HQ][0], split[LQ][0]
    if config.balance is not None:
        cap = int(config.balance * min(len(tr_pos), len(tr_neg)))
        tr_pos, tr_neg = _balance(tr_pos, cap, config.seed), _balance(tr_neg, cap, config.seed)
    train = [(HQ, d) for d in tr_pos] + [(LQ, d) for d in tr_neg]
    train.sort(key=lambda x: id_seed(x[1].id, salt=config.seed))  # shuffled, deterministically
    test = [(HQ, d) for d in split[HQ][1]] + [(LQ, d) for d in split[LQ][1]]
    return train, test


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):  # average rank over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    return float((r[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(labels: Sequence[bool], scores: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "auc": round(roc_auc(y, s), 4), "accuracy": round(float((pred == y).mean()), 4),
            "n_pos": int(y.sum()), "n_neg": int((~y).sum())}


# fastText's Python module (0.9.2 wheels and 0.9.3 built from source alike) reads memory it never
# initialised when a model is trained in a process that freed an earlier model: measured here, the
# second and later trainings in one process gave a different model almost every time and "Encountered
# NaN" in 1 to 8 of 8 runs depending on the settings, even at lr 0.1 with one thread, while the first
# training in a fresh process (and Debian's fasttext command) gave the same bytes every time. So every
# training runs in a new process (docs/filters.md).
_TRAIN_SCRIPT = """
import json, sys
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
a = json.loads(sys.argv[1])
try:
    model = fasttext.train_supervised(**a["args"])
except Exception as e:  # RuntimeError on NaN, ValueError on an empty vocabulary
    sys.stderr.write(f"fastText: {e}\\n")
    sys.exit(3)
model.save_model(a["out"])
"""


def _train_in_fresh_process(train_file: str, out: Path, config: ClassifierConfig) -> None:
    from tamiz.core.child import run_python

    args = dict(input=str(train_file), epoch=config.epoch, lr=config.lr, wordNgrams=config.word_ngrams,
                dim=config.dim, minCount=config.min_count, bucket=config.bucket, loss="softmax",
                thread=config.threads, seed=config.seed, verbose=0)
    proc = run_python(_TRAIN_SCRIPT, [json.dumps({"args": args, "out": str(out)})])
    if proc.returncode != 0:
        out.unlink(missing_ok=True)
        msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        hint = f" (training diverged: lower lr, now {config.lr})" if "NaN" in msg else ""
        raise RuntimeError(f"training the quality classifier failed: {msg}{hint}")


def train_classifier(positives: Iterable[Document], negatives: Iterable[Document], out: str | Path,
                     config: ClassifierConfig = ClassifierConfig(), sources: dict | None = None) -> dict[str, Any]:
    """Train, evaluate on the held-out split, write `<out>` (.bin) and `<out>.json`; returns the report."""
    import fasttext

    out = Path(out)
    train, test = split_examples(positives, negatives, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".train-", suffix=".txt", dir=out.parent)
    t0 = time.perf_counter()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for label, d in train:
                f.write(f"{label} {prepare_text(d.text, config.max_chars)}\n")
        tmp_bin = out.with_name(f".{out.name}.tmp")
        _train_in_fresh_process(tmp, tmp_bin, config)
    finally:
        os.unlink(tmp)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        fasttext.FastText.eprint = lambda *a, **k: None
        scores = score_texts(fasttext.load_model(str(tmp_bin)), [d.text for _, d in test], config.max_chars)
        os.replace(tmp_bin, out)
    finally:
        tmp_bin.unlink(missing_ok=True)  # left only when scoring failed
    score_s = time.perf_counter() - t0
    metrics = evaluate([label == HQ for label, _ in test], scores)
    from tamiz.core.atomic import sha256_file, write_json

    report = {
        "model": out.name,
        "sha256": sha256_file(out),
        "labels": [HQ, LQ],
        "config": dataclasses.asdict(config),
        "sources": sources or {},
        "train": {"positives": sum(1 for lb, _ in train if lb == HQ),
                  "negatives": sum(1 for lb, _ in train if lb == LQ)},
        "heldout": metrics,
        "seconds": {"train": round(train_s, 3), "score_heldout": round(score_s, 3)},
        "heldout_docs_per_s": round(len(test) / score_s, 1) if score_s else None,
    }
    write_json(out.with_suffix(out.suffix + ".json"), report)
    _MODELS.pop(str(out), None)
    return report


# ---------------------------------------------------------------------------------- loading, scoring

def load_classifier(path: str | os.PathLike):
    """Load a tamiz quality classifier once per process; clear errors for a missing or wrong file."""
    p = Path(path)
    key = str(p.resolve())
    if key not in _MODELS:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: quality classifier not found (train one with `tamiz quality train`)")
        # fastText crashes (segfault), hangs or allocates gigabytes on a damaged .bin: when the report
        # written next to the model gives its sha256, a file that differs never reaches fastText; without
        # a report, the file is opened once in a child process first (pipeline/fasttext_guard.py)
        expected = _report_sha256(p)
        if expected is not None:
            from tamiz.core.atomic import sha256_file

            if sha256_file(p) != expected:
                raise ValueError(f"{p}: sha256 differs from {p.name}.json (a damaged or replaced model file)")
        else:
            from tamiz.pipeline.fasttext_guard import check_in_child

            check_in_child(p, what="quality classifier")
        import fasttext

        fasttext.FastText.eprint = lambda *a, **k: None
        try:
            model = fasttext.load_model(str(p))
            labels = set(model.get_labels())
        except Exception as e:
            raise ValueError(f"{p}: not a fastText model ({e})") from None
        if labels != {HQ, LQ}:
            raise ValueError(f"{p}: not a tamiz quality classifier (its labels are {sorted(labels)[:5]}, "
                             f"expected {HQ} and {LQ})")
        _MODELS[key] = model
    return _MODELS[key]


def _report_sha256(model_path: Path) -> str | None:
    try:
        sha = json.loads(Path(str(model_path) + ".json").read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) else None


def score_texts(model, texts: Sequence[str], max_chars: int = 10_000) -> np.ndarray:
    """P(high quality) for each text, by batch prediction (one call for the whole list)."""
    if not texts:
        return np.zeros(0)
    labels, probs = model.predict([prepare_text(t, max_chars) for t in texts], k=2)
    out = np.empty(len(texts))
    for i, (lb, pr) in enumerate(zip(labels, probs)):
        d = dict(zip(lb, pr))
        out[i] = min(1.0, max(0.0, float(d.get(HQ, 1.0 - d.get(LQ, 0.0)))))
    return out


def read_report(model_path: str | Path) -> dict[str, Any]:
    """The JSON sidecar written next to a trained model (empty when there is none)."""
    p = Path(str(model_path) + ".json")
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
