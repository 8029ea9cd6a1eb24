"""Write the bundled fine-tuning tasks in data/tasks/ from the bundled Spanish fortunes (fixed splits, no randomness
that depends on the machine: examples are ordered by the sha256 of their text).

    python scripts/make_finetune_tasks.py            # rewrites data/tasks/*/ (byte-identical on every run)

- fortunes_offensive/ (classification, JSONL): offensive or not. Positives: data/sample/offensive/fortunes_es_off.jsonl
  (Debian `fortunes-es-off` 1.36, the fortunes its maintainers tagged offensive); negatives: data/sample/reference/
  fortunes_es.jsonl (Debian `fortunes-es` 1.36). Both: GPL-2.0-or-later. Attribution lines ("-- Author") are cut
  and whitespace is collapsed in both classes, and both are capped at the same length, so neither the form nor
  the length gives the label away (45% of the ordinary fortunes are signed, 10% of the offensive ones).
- fortunes_authors_ner/ (tokens, CoNLL-2002 columns): signed fortunes, words and BIO tags; the author's name in
  the signature is B-PER/I-PER. Tagged by a rule (the signature's leading capitalised words), not by hand.
- fortunes_authors_qa/ (qa, SQuAD v1 JSON): the same signed fortunes as contexts, a question asking who said
  it, the author's name in the signature as the answer span.

These are tiny tasks made for the tests and the sample; they are not benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFF = ROOT / "data" / "sample" / "offensive" / "fortunes_es_off.jsonl"
ORD = ROOT / "data" / "sample" / "reference" / "fortunes_es.jsonl"
OUT = ROOT / "data" / "tasks"
MAX_CHARS = 300
SIGNATURE = re.compile(r"\s-{2,}\s+")
CONNECTORS = {"de", "del", "la", "las", "los", "y", "e", "von", "van", "da", "di", "le", "du", "of", "el"}
QUESTIONS = ["¿Quién es el autor de esta cita?", "¿Quién lo dijo?", "¿A quién se atribuye la frase?",
             "¿Quién escribió esto?"]


def texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def by_hash(xs: list, salt: str = "") -> list:
    """`xs` (texts, or tuples whose first item is a text) in the order of sha256(salt + text)."""
    key = (lambda x: x if isinstance(x, str) else x[0])
    return sorted(xs, key=lambda x: hashlib.sha256((salt + key(x)).encode()).hexdigest())


def split(xs: list, dev: int, test: int) -> dict[str, list]:
    return {"test": xs[:test], "dev": xs[test:test + dev], "train": xs[test + dev:]}


def unsigned(t: str) -> str:
    return " ".join(SIGNATURE.split(t)[0].split())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def offensive(n_per_class: int = 500) -> None:
    off, ordinary = [unsigned(t) for t in texts(OFF)], [unsigned(t) for t in texts(ORD)]
    both = set(off) & set(ordinary)
    pick = {}
    for label, xs in (("ofensivo", off), ("no_ofensivo", ordinary)):
        xs = by_hash(sorted({t for t in xs if t and t not in both and len(t) <= MAX_CHARS}))[:n_per_class]
        pick[label] = split(xs, n_per_class // 10, n_per_class // 10)
    for s in ("train", "dev", "test"):
        rows = [{"text": t, "label": label} for label in pick for t in pick[label][s]]
        write_jsonl(OUT / "fortunes_offensive" / f"{s}.jsonl", 
                    # another salt: the picks above are the lowest hashes of each class, so the same order
                    # would put one class first
                    [r for _, r in by_hash([(r["text"], r) for r in rows], salt="rows:")])


WORD = re.compile(r"\w+|[^\w\s]")


def signed(n: int = 560) -> list[tuple[str, str, str, str]]:
    """(quote, name, rest of the signature, full text) of signed fortunes whose signature starts with a name."""
    out = []
    for t in texts(ORD):
        parts = SIGNATURE.split(t)
        if len(parts) != 2:
            continue
        quote, sig = " ".join(parts[0].split()), " ".join(parts[1].split())
        m = re.match(r"([^(,;:]+?)\.(\s|$)", sig + " ")
        if not m or len(quote) > MAX_CHARS:
            continue
        name = m.group(1).strip()
        words = name.split()
        if not 1 <= len(words) <= 5 or not words[0][0].isupper():
            continue
        if any(not (w[0].isupper() or w in CONNECTORS) for w in words) or words[-1] in CONNECTORS:
            continue
        if len(words[-1]) <= 1:  # "Agustín R." cut at an initial: not the whole name
            continue
        out.append((quote, name, sig[len(name):].strip(), f"{quote} -- {sig}"))
    return [o for _, o in by_hash([(o[3], o) for o in out])][:n]


def ner(items) -> None:
    for s, xs in split(items, 80, 80).items():
        lines = []
        for quote, name, rest, _ in xs:
            nw = WORD.findall(name)
            words = WORD.findall(quote) + ["--"] + nw + WORD.findall(rest)
            tags = ["O"] * (len(WORD.findall(quote)) + 1) + ["B-PER"] + ["I-PER"] * (len(nw) - 1)
            tags += ["O"] * (len(words) - len(tags))
            lines += [f"{w} {t}" for w, t in zip(words, tags)] + [""]
        path = OUT / "fortunes_authors_ner" / f"{s}.conll"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")


def qa(items) -> None:
    for s, xs in split(items, 80, 80).items():
        paragraphs = []
        for i, (quote, name, rest, full) in enumerate(xs):
            start = len(quote) + len(" -- ")
            assert full[start:start + len(name)] == name
            qid = f"fortunes-authors-{s}-{i:04d}"
            paragraphs.append({"context": full, "qas": [{"id": qid, "question": QUESTIONS[i % len(QUESTIONS)],
                                                         "answers": [{"text": name, "answer_start": start}]}]})
        doc = {"version": "tamiz-fortunes-authors-1", "data": [{"title": "fortunes-es", "paragraphs": paragraphs}]}
        path = OUT / "fortunes_authors_qa" / f"{s}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    offensive()
    items = signed()
    ner(items)
    qa(items)
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(ROOT)}: {p.stat().st_size:,} bytes")
