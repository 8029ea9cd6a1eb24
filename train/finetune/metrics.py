"""The standard metrics of the Spanish model comparisons, written out (no `evaluate`: it fetches metrics from the hub).

- classification: accuracy and macro-F1 (the unweighted mean of each label's F1, a label never predicted
  nor gold counting as F1 0 like scikit-learn's `zero_division=0`);
- tokens: entity-level micro precision, recall and F1 as seqeval computes them in its default mode
  (conlleval's chunking: an I- after O or after another type starts an entity; an entity counts only when
  its type, first and last word all match);
- qa: exact match and F1 over answer words, each the best over the gold answers, as SQuAD v1's official
  script, with the answers normalised as MLQA's official script does for Spanish: lower case, every Unicode
  punctuation character (category P*) and ASCII punctuation removed, the articles un, una, unos, unas, el, la,
  los, las removed (MLQA's list: no "lo"), whitespace collapsed. tamiz adds one step in front, NFC, so a
  decomposed accent compares equal to a composed one.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence


def classification_scores(gold: Sequence[int], pred: Sequence[int], n_labels: int) -> dict[str, float]:
    if len(gold) != len(pred) or not gold:
        raise ValueError("gold and predictions must have the same, non-zero length")
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    f1s = []
    for c in range(n_labels):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": acc, "macro_f1": sum(f1s) / n_labels}


# ---- entities (conlleval / seqeval default mode) ------------------------------------------------

def _split(tag: str) -> tuple[str, str]:
    return (tag, "") if tag == "O" else (tag[0], tag[2:])


def _ends(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev in ("E", "S")
            or (prev in ("B", "I") and tag in ("B", "S", "O"))
            or (prev != "O" and prev_type != type_))


def _starts(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S")
            or (prev in ("E", "S", "O") and tag in ("I", "E"))
            or (tag != "O" and prev_type != type_))


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) of every entity in one sentence's tags, by conlleval's rules."""
    out = []
    prev, prev_type, begin = "O", "", 0
    for i, t in enumerate(list(tags) + ["O"]):
        tag, type_ = _split(t)
        if _ends(prev, tag, prev_type, type_):
            out.append((prev_type, begin, i - 1))
        if _starts(prev, tag, prev_type, type_):
            begin = i
        prev, prev_type = tag, type_
    return out


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 over entities, sentence by sentence (seqeval's default)."""
    if len(gold) != len(pred):
        raise ValueError("gold and predictions must hold the same sentences")
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        if len(g) != len(p):
            raise ValueError("a sentence's gold and predicted tags differ in length")
        ge, pe = set(entities(g)), set(entities(p))
        tp += len(ge & pe)
        n_gold += len(ge)
        n_pred += len(pe)
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


# ---- extractive QA (SQuAD v1) -------------------------------------------------------------------

# MLQA's mlqa_evaluation_v1.py, Spanish ('es'): its article pattern, and its PUNCT set (every character of a
# Unicode category P*, plus string.punctuation) tested per character: the same set, without enumerating the
# 1.1 million code points at import (seconds)
_ARTICLES = re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b")
_ASCII_PUNCT = frozenset(string.punctuation)


def _punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_answer(s: str) -> str:
    """NFC, then MLQA's Spanish normalisation: lower case, no punctuation, no articles, single spaces."""
    s = unicodedata.normalize("NFC", s).lower()
    s = "".join(ch for ch in s if not _punct(ch))
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if not same:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def qa_scores(golds: Sequence[Sequence[str]], preds: Sequence[str]) -> dict[str, float]:
    """Exact match and F1 (both 0..1), each the best over a question's gold answers, averaged over questions."""
    if len(golds) != len(preds) or not preds:
        raise ValueError("gold answers and predictions must have the same, non-zero length")
    em = sum(max(float(normalize_answer(pr) == normalize_answer(g)) for g in gs) for gs, pr in zip(golds, preds))
    f1 = sum(max(_f1(pr, g) for g in gs) for gs, pr in zip(golds, preds))
    return {"exact_match": em / len(preds), "f1": f1 / len(preds)}


# The metrics a kind reports, in table order (the first one picks the best epoch on dev).
REPORTED = {"classification": ("accuracy", "macro_f1"), "tokens": ("f1",), "qa": ("exact_match", "f1")}
