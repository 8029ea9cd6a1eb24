"""Evaluation sets for decontamination: their settings, how they are read, and the hashed n-gram index.

An evaluation set is a file the user names (`evaluation_sets:`), called by its file name without the
format's extensions (`xquad_es.jsonl` -> `xquad_es`):

  .jsonl / .jsonl.gz   one JSON object a line; an item is its `fields` (default: `text`) joined in the
                       order given, so `fields: [question, answer]` also catches the n-grams that run
                       from a question into its answer. A field may be a string or a list of strings
                       (choices, several answers), and `a.b` reaches into an object (`answers.text`).
  .txt / .txt.gz       plain text; an item is a paragraph (lines up to a blank line)

Every line is checked when the configuration is made, before any work: a line that is not UTF-8, not
JSON, not an object, without a field, or a field that is not text, is a ValueError naming the file
and the line.

Normalisation (`words`): soft hyphens (U+00AD, HTML's `&shy;`) and zero-width characters (U+200B-U+200D,
U+2060, U+FEFF) are deleted, since they sit inside words (`pala&shy;bra` is `palabra`); then NFKC (so
`ﬁ` is `fi`, full-width letters are letters, `™` is `TM`), case folding (all scripts: `É` -> `é`,
`ß` -> `ss`), then the words are the runs of letters and digits, so punctuation and symbols
(`¿ ¡ « » — . , ( )`) are dropped and split words (`l'agua` -> `l agua`, `1.000` -> `1 000`).
Accents are kept: `él` and `el` are two words. This is the GPT-3 / lm-evaluation-harness rule (lower
case, no punctuation, words split on white space) made to work for every script: lm-eval lower-cases
ASCII letters only and deletes ASCII punctuation, which leaves `¿`, `¡`, `«` and upper-case `Á` in
Spanish words.

Index: every word of the evaluation sets gets an id (1, 2, ... in reading order) and a 64-bit value
(splitmix64 of its id); an n-gram is the polynomial hash of its values mod 2^64 (`ngram_hashes`), kept
in one sorted numpy array with a bit mask of the sets that hold it (16 bytes per distinct n-gram). A
document's words are mapped to values with one dict lookup each (a word no set has gets 0); only
windows of N known words are looked up, so a document that shares no n-gram with any set costs its
split and a few dozen numpy operations. Items shorter than N words have no n-gram and cannot be found:
the index counts them (`short_items`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from tamiz.pipeline.textlines import file_sha256, file_stamp, text_lines

ACTIONS = ("drop", "tag")
FORMATS = (".jsonl", ".jsonl.gz", ".txt", ".txt.gz")
MAX_SETS = 64  # one bit each in the index's mask
_WORD = re.compile(r"[^\W_]++")  # possessive: a third faster than [^\W_]+ on Spanish pages
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"  # deleted before words are split: they sit inside words
_DELETE = dict.fromkeys(map(ord, _INVISIBLE))
# the version of `words`: part of the filter stage's key (`record`), so that outputs made under an earlier
# rule are never taken for this one's (1: NFKC, case folding, runs of letters and digits; 2: invisibles deleted)
NORMALISATION = 2


@dataclass(frozen=True)
class DecontaminationConfig:
    """Drop (or tag) documents that share a word n-gram with an evaluation set (GPT-3's 13-gram rule)."""

    enabled: bool = True  # runs only when evaluation_sets names a file
    evaluation_sets: tuple[str, ...] = ()  # .jsonl or .txt files (relative to the table's or config file's folder)
    fields: tuple[str, ...] = ("text",)  # JSONL: the fields of an item, joined in this order (a.b reaches inside)
    ngram: int = 13  # words per n-gram (GPT-3: 13; datatrove's default: 12)
    min_overlaps: int = 1  # n-grams a document must share with one set to be contaminated by it
    action: str = "drop"  # drop, or tag: keep the document and record the overlaps in its metadata

    def __post_init__(self) -> None:
        if isinstance(self.ngram, bool) or not isinstance(self.ngram, int) or not 1 <= self.ngram <= 64:
            raise ValueError(f"ngram: {self.ngram!r} is not a number of words between 1 and 64")
        if isinstance(self.min_overlaps, bool) or not isinstance(self.min_overlaps, int) or self.min_overlaps < 1:
            raise ValueError(f"min_overlaps: {self.min_overlaps!r} is not a positive integer")
        if self.action not in ACTIONS:
            raise ValueError(f"action: {self.action!r} is not one of {', '.join(ACTIONS)}")
        if not self.fields or not all(isinstance(f, str) and f and all(f.split(".")) for f in self.fields):
            raise ValueError(f"fields: {list(self.fields)!r} must name one or more JSON fields")
        if len(self.evaluation_sets) > MAX_SETS:
            raise ValueError(f"evaluation_sets: {len(self.evaluation_sets)} files; at most {MAX_SETS}")
        names: dict[str, str] = {}
        for p in self.evaluation_sets:
            n = set_name(p)
            if n in names:
                raise ValueError(f"evaluation_sets: {p} and {names[n]} have the same name {n!r}; rename one")
            names[n] = p
        if self.active():
            self.index()  # read and check every file now, before any work (kept once per process)

    def active(self) -> bool:
        return self.enabled and bool(self.evaluation_sets)

    def index(self) -> "EvalIndex":
        """The n-gram index of the evaluation sets (once per process while the files are unchanged)."""
        stamps = tuple(file_stamp(p) for p in self.evaluation_sets)
        try:
            return _load(self.evaluation_sets, self.fields, self.ngram, stamps)
        except ValueError as e:
            raise ValueError(f"evaluation_sets: {e}") from None


def set_name(path: str) -> str:
    """An evaluation set's name: its file name without the format's extensions."""
    name = Path(path).name
    for suffix in FORMATS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def words(text: str) -> list[str]:
    """The words n-grams are made of: the runs of letters and digits of the case-folded NFKC text, without its
    soft hyphens and zero-width characters."""
    if any(c in text for c in _INVISIBLE):
        text = text.translate(_DELETE)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.casefold())


# ------------------------------------------------------------------------------------------ hashing

_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_P = 0x100000001B3  # odd: the polynomial's base
_MASK = (1 << 64) - 1


def word_value(word_id: int) -> int:
    """A word's 64-bit value: splitmix64's finaliser of its id (a bijection, so ids > 0 give values > 0)."""
    x = word_id & _MASK
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return x ^ (x >> 31)


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    """h[i] = sum over j < n of x[i + j] * P^(n-1-j) mod 2^64, for every window of n values, built from
    windows of 1, 2, 4, 8... values (about 3 log2(n) numpy operations instead of 2n)."""
    blocks = {1: x}
    k = 1
    while 2 * k <= n:
        b = blocks[k]
        with np.errstate(over="ignore"):
            blocks[2 * k] = b[:len(b) - k] * np.uint64(pow(_P, k, 1 << 64)) + b[k:]
        k *= 2
    out, length = None, 0
    for k in sorted(blocks, reverse=True):  # n's binary digits, highest first: windows grow left to right
        if n - length >= k:
            b = blocks[k]
            if out is None:
                out, length = b, k
            else:
                with np.errstate(over="ignore"):
                    out = out[:len(out) - k] * np.uint64(pow(_P, k, 1 << 64)) + b[length:]
                length += k
    return out


def ngram_hashes(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start positions, hashes) of the n-grams of `values` (words' `word_value`s, 0 for a word no
    evaluation set has) made only of known words."""
    if len(values) < n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    unknown = np.concatenate(([0], np.cumsum(values == 0)))
    starts = np.flatnonzero(unknown[n:] == unknown[:-n])
    if not len(starts):
        return starts, np.zeros(0, dtype=np.uint64)
    return starts, _windows(values, n)[starts]


# ------------------------------------------------------------------------------------------ reading

def read_items(path: str, fields: tuple[str, ...]) -> list[str]:
    """The items of one evaluation set; ValueError naming the file and the line."""
    name = Path(path).name
    if name.endswith((".jsonl", ".jsonl.gz")):
        return [item for _, item in _jsonl_items(path, fields)]
    if name.endswith((".txt", ".txt.gz")):
        return _paragraphs(path)
    raise ValueError(f"{path}: not a known evaluation-set format ({', '.join(FORMATS)})")


def _jsonl_items(path: str, fields: tuple[str, ...]):
    for no, line in text_lines(path, "evaluation set"):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {no}: not JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}, line {no}: a JSON {type(obj).__name__}, not an object with {', '.join(fields)}")
        parts = []
        for f in fields:
            v: Any = obj
            for key in f.split("."):
                if not isinstance(v, dict) or key not in v:
                    have = ", ".join(sorted(map(str, v))) if isinstance(v, dict) else type(v).__name__
                    raise ValueError(f"{path}, line {no}: no field {f!r} (the object has: {have[:300]})")
                v = v[key]
            if isinstance(v, str):
                parts.append(v)
            elif isinstance(v, list) and all(isinstance(x, str) for x in v):
                parts.extend(v)
            else:
                raise ValueError(f"{path}, line {no}: field {f!r} is a {type(v).__name__}, not text "
                                 "(a string or a list of strings)")
        yield no, "\n".join(parts)


def _paragraphs(path: str) -> list[str]:
    items, cur = [], []
    for _, line in text_lines(path, "evaluation set"):
        if line.strip():
            cur.append(line)
        elif cur:
            items.append("\n".join(cur))
            cur = []
    if cur:
        items.append("\n".join(cur))
    return items


# -------------------------------------------------------------------------------------------- index

@dataclass
class EvalIndex:
    """The n-grams of every evaluation set: sorted hashes, the sets holding each, and the words' values."""

    names: list[str]
    n: int
    vocab: dict[str, int]  # word -> its 64-bit value (`word_value` of its id)
    keys: np.ndarray  # sorted distinct n-gram hashes (uint64)
    masks: np.ndarray  # bit i: set i holds that n-gram (uint64)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # per set: items, ngrams, short_items

    def overlaps(self, doc_words: list[str]) -> dict[str, int]:
        """{set name: n-grams of the document (positions) found in that set}, only sets with one or more."""
        if len(doc_words) < self.n or not len(self.keys):
            return {}
        values = np.fromiter(map(self.vocab.get, doc_words, repeat(0)), dtype=np.uint64, count=len(doc_words))
        _, h = ngram_hashes(values, self.n)
        if not len(h):
            return {}
        i = np.searchsorted(self.keys, h)
        np.minimum(i, len(self.keys) - 1, out=i)
        found = self.keys[i] == h
        if not found.any():
            return {}
        masks = self.masks[i[found]]
        out = {}
        for b, name in enumerate(self.names):
            c = int(np.count_nonzero(masks & np.uint64(1 << b)))
            if c:
                out[name] = c
        return out

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.masks.nbytes)


def build_index(items_by_set: list[tuple[str, list[str]]], n: int) -> EvalIndex:
    """The index of these sets' items (in this order: word ids follow it, so it is the same every run)."""
    vocab: dict[str, int] = {}
    all_keys, all_masks = [], []
    stats: dict[str, dict[str, int]] = {}
    for b, (name, items) in enumerate(items_by_set):
        short = 0
        keys = []
        for text in items:
            ws = words(text)
            if len(ws) < n:
                short += 1
                continue
            for w in ws:
                if w not in vocab:
                    vocab[w] = word_value(len(vocab) + 1)
            keys.append(ngram_hashes(np.array([vocab[w] for w in ws], dtype=np.uint64), n)[1])
        k = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.uint64)
        stats[name] = {"items": len(items), "ngrams": int(len(k)), "short_items": short}
        all_keys.append(k)
        all_masks.append(np.full(len(k), 1 << b, dtype=np.uint64))
    keys = np.concatenate(all_keys) if all_keys else np.zeros(0, dtype=np.uint64)
    masks = np.concatenate(all_masks) if all_masks else np.zeros(0, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    keys, masks = keys[order], masks[order]
    if len(keys):
        start = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        masks = np.bitwise_or.reduceat(masks, start)
        keys = keys[start]
    return EvalIndex([name for name, _ in items_by_set], n, vocab, keys, masks, stats)


@lru_cache(maxsize=8)
def _load(paths: tuple[str, ...], fields: tuple[str, ...], n: int, stamps: tuple) -> EvalIndex:
    return build_index([(set_name(p), read_items(p, fields)) for p in paths], n)


def resolve_paths(block: Any, base: str | Path) -> Any:
    """A `decontamination:` mapping with its relative evaluation_sets taken from `base` (the folder of the
    table or config file); anything that is not a list of strings is left for the config's checks."""
    if not isinstance(block, dict) or not isinstance(block.get("evaluation_sets"), list):
        return block
    return {**block, "evaluation_sets": [str(Path(base) / p) if isinstance(p, str) else p
                                         for p in block["evaluation_sets"]]}


def record(config: DecontaminationConfig) -> dict[str, Any]:
    """The config without where its files are: each set by name, sha256 and size (for keys and manifests), and,
    when the step runs, the version of its word rule (a chain without sets keeps its key)."""
    d = {k: getattr(config, k) for k in ("enabled", "fields", "ngram", "min_overlaps", "action")}
    d["fields"] = list(config.fields)
    if config.active():
        d["normalisation"] = NORMALISATION
    stats = config.index().stats if config.active() else {}
    d["evaluation_sets"] = [{"name": set_name(p), "sha256": file_sha256(p), **stats.get(set_name(p), {})}
                            for p in config.evaluation_sets]
    return d


def resolve_sections(data: Any, base: str | Path) -> Any:
    """A filter settings file's mapping (`default:`, `sources: {name: ...}`) with the evaluation sets of its
    `decontamination:` blocks taken from `base` (the file's folder)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if isinstance(out.get("default"), dict) and "decontamination" in out["default"]:
        out["default"] = {**out["default"], "decontamination": resolve_paths(out["default"]["decontamination"], base)}
    if isinstance(out.get("sources"), dict):
        out["sources"] = {k: ({**v, "decontamination": resolve_paths(v["decontamination"], base)}
                              if isinstance(v, dict) and "decontamination" in v else v)
                          for k, v in out["sources"].items()}
    return out
