"""The task file and the readers of a task's splits, in the formats the Spanish benchmarks ship in.

A task is a YAML file (`task.yaml`, or a folder holding one) naming its kind and its split files, relative
to the task file's folder:

    name: fortunes-offensive
    kind: classification        # classification | tokens | qa
    train: train.jsonl
    dev: dev.jsonl              # optional: picks the best epoch
    test: test.jsonl

- classification: JSONL (one object a line) or TSV with a header row (PAWS-X, XNLI): `text`, optional
  `text_pair` (sentence pairs) and `label` name the fields or columns; `where` keeps only the rows whose
  fields have the given values (XNLI's test TSV holds 15 languages: `where: {language: es}`).
- tokens: CoNLL-2002 columns (word first, BIO tag in the last column; blank line between sentences,
  `-DOCSTART-` lines skipped), e.g. the Spanish CoNLL-2002 NER files and CAPITEL. IOBES (BIOES) tags are
  read as BIO: S-TYPE (a one-word entity) as B-TYPE, E-TYPE (an entity's last word) as I-TYPE; the entities
  are the same ones.
- qa: SQuAD v1 JSON (`data[].paragraphs[].qas[]`), e.g. SQAC and SQuAD-es.

Every record is checked before any training starts, and the first bad one raises a ValueError naming the
file and line: a CoNLL line with another number of columns or a tag that is not BIO or IOBES, a label of dev/test
missing from train (or from `labels`, when the task lists them), a QA answer whose `answer_start` does not
point at its text.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tamiz.core.config import from_mapping
from tamiz.core.yamlsafe import read_mapping

KINDS = ("classification", "tokens", "qa")
SPLITS = ("train", "dev", "test")
TASK_FILE = "task.yaml"


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 4  # passes over the train split
    batch_size: int = 16  # examples per optimizer step
    lr: float | None = None  # peak learning rate; null: 1e-3 in full mode, 1e-2 in feature mode (tiny models;
    #                          for a base-size model take 2e-5 to 5e-5 in full mode)
    weight_decay: float = 0.01  # AdamW's
    warmup: float = 0.1  # share of the steps with a linear warmup (then linear decay to 0)
    max_length: int | None = None  # tokens per input; null: the model's context length
    stride: int = 32  # qa: context tokens two windows of a long context share

    def __post_init__(self):
        for name in ("epochs", "batch_size", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup: must be in [0, 1), got {self.warmup}")
        if self.max_length is not None and self.max_length < 16:
            raise ValueError(f"max_length: must be >= 16, got {self.max_length}")


@dataclass(frozen=True)
class TaskConfig:
    name: str  # the task's name in reports
    kind: str  # classification (single texts or pairs) | tokens (CoNLL BIO or IOBES tagging) | qa (SQuAD v1 extractive)
    train: str  # the train split's file, relative to the task file
    test: str  # the test split's file (the scores reported)
    dev: str | None = None  # the dev split's file: the epoch with the best dev score is the one tested
    text: str = "text"  # classification: the field (JSONL) or column (TSV header) of the text
    text_pair: str | None = None  # classification: the second text of a pair (PAWS-X, XNLI: sentence2)
    label: str = "label"  # classification: the field or column of the label
    labels: tuple[str, ...] | None = None  # the label set (classification) or entity types (tokens); null: those of train
    where: dict[str, str] | None = None  # classification: keep rows whose fields have these values ({language: es});
    #                                       a file without such a field keeps its rows (XNLI's translated train)
    training: TrainingSettings = field(default_factory=TrainingSettings)  # fine-tuning settings

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.name.strip():
            raise ValueError("name: must not be empty")


@dataclass(frozen=True)
class TextExample:
    text: str
    pair: str | None
    label: str
    where: str  # file:line


@dataclass(frozen=True)
class TokenExample:
    words: tuple[str, ...]
    tags: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class QAExample:
    id: str
    context: str
    question: str
    answers: tuple[tuple[str, int], ...]  # (text, answer_start); train uses the first
    where: str


@dataclass
class Task:
    config: TaskConfig
    folder: Path
    splits: dict[str, list]  # train, test and (when given) dev
    labels: tuple[str, ...]  # classification labels, or BIO tags (O first) for tokens; () for qa

    @property
    def kind(self) -> str:
        return self.config.kind


def task_file(path: str | Path) -> Path:
    path = Path(path)
    return path / TASK_FILE if path.is_dir() else path


def load_task_config(path: str | Path) -> TaskConfig:
    f = task_file(path)
    if not f.is_file():
        raise ValueError(f"{f}: task file not found (a task.yaml, or a folder holding one)")
    return from_mapping(TaskConfig, read_mapping(f, "task file"), file=f, int_as_float=True)


def load_task(path: str | Path) -> Task:
    """The task and all its splits, read and checked (ValueError naming file and line on the first bad record)."""
    f = task_file(path)
    cfg = load_task_config(f)
    folder = f.parent
    reader = {"classification": _read_classification, "tokens": read_conll, "qa": read_squad}[cfg.kind]
    splits = {}
    for split in SPLITS:
        name = getattr(cfg, split)
        if name is None:
            continue
        p = folder / name
        if not p.is_file():
            raise ValueError(f"{f}: {split}: file not found: {p}")
        splits[split] = reader(p, cfg) if cfg.kind == "classification" else reader(p)
        if not splits[split]:
            raise ValueError(f"{p}: no examples in the {split} split")
    labels = _check_labels(cfg, splits)
    return Task(cfg, folder, splits, labels)


# ---- classification -----------------------------------------------------------------------------

def _read_classification(path: Path, cfg: TaskConfig) -> list[TextExample]:
    rows = _jsonl_rows(path) if path.suffix.lower() in (".jsonl", ".json") else _tsv_rows(path)
    out = []
    for line, row in rows:
        if cfg.where and any(k in row and str(row[k]) != v for k, v in cfg.where.items()):
            continue
        vals = {}
        for what in ("text", "text_pair", "label"):
            key = getattr(cfg, what)
            if key is None:
                continue
            v = row.get(key)
            if v is None or (what != "label" and not isinstance(v, str)):
                raise ValueError(f"{path}:{line}: no {what} {key!r} (a {'string' if what != 'label' else 'value'})")
            vals[what] = str(v) if not isinstance(v, bool) else str(v).lower()
        if not vals["text"].strip():
            raise ValueError(f"{path}:{line}: empty text in {cfg.text!r}")
        out.append(TextExample(vals["text"], vals.get("text_pair"), vals["label"], f"{path}:{line}"))
    return out


def _jsonl_rows(path: Path):
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as e:
                raise ValueError(f"{path}:{i}: not a JSON object ({e})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{i}: not a JSON object")
            yield i, row


def _tsv_rows(path: Path):
    """TSV with a header row; quotes are plain characters (XNLI's sentences hold unbalanced ones)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}:1: no header row (a TSV task file names its columns in its first line)")
        for row in reader:
            line = reader.line_num
            if row == []:
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{line}: {len(row)} columns, the header has {len(header)}")
            yield line, dict(zip(header, row))


# ---- tokens (CoNLL) -----------------------------------------------------------------------------

TAG = re.compile(r"^(O|[BIES]-\S+)$")  # BIO, or IOBES (BIOES)
TO_BIO = {"B": "B", "I": "I", "S": "B", "E": "I"}  # IOBES -> BIO: the same entities (conlleval's chunking)


def read_conll(path: Path) -> list[TokenExample]:
    """Sentences of a CoNLL file: whitespace-separated columns, the word first and the tag last."""
    out: list[TokenExample] = []
    words: list[str] = []
    tags: list[str] = []
    ncols = None
    start = 0
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f, 1):
            cols = raw.split()
            if not cols or cols[0] == "-DOCSTART-":
                if words:
                    out.append(TokenExample(tuple(words), tuple(tags), f"{path}:{start}"))
                    words, tags = [], []
                continue
            if ncols is None:
                ncols = len(cols)
                if ncols < 2:
                    raise ValueError(f"{path}:{i}: 1 column; CoNLL lines hold the word and its tag (at least 2)")
            elif len(cols) != ncols:
                raise ValueError(f"{path}:{i}: {len(cols)} columns, the file's first line has {ncols}: {raw.strip()!r}")
            tag = cols[-1]
            if not TAG.match(tag):
                raise ValueError(f"{path}:{i}: tag {tag!r} is not BIO or IOBES (O, B-TYPE, I-TYPE, E-TYPE or S-TYPE)")
            if not words:
                start = i
            words.append(cols[0])
            tags.append(tag if tag == "O" else TO_BIO[tag[0]] + tag[1:])
    if words:
        out.append(TokenExample(tuple(words), tuple(tags), f"{path}:{start}"))
    return out


# ---- qa (SQuAD v1) ------------------------------------------------------------------------------

def read_squad(path: Path) -> list[QAExample]:
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None

    lines = _id_lines(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError(f"{path}:1: not SQuAD v1 JSON (an object with a 'data' list)")
    out = []
    for a, article in enumerate(doc["data"]):
        for p, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            context = para.get("context")
            if not isinstance(context, str) or not context.strip():
                raise ValueError(f"{path}: data[{a}].paragraphs[{p}]: no context")
            for q, qa in enumerate(para.get("qas", [])):
                qid = str(qa.get("id", f"data[{a}].paragraphs[{p}].qas[{q}]"))
                where = f"{path}:{lines.get(qid, 1)}"
                if not isinstance(qa.get("question"), str) or not qa["question"].strip():
                    raise ValueError(f"{where}: question {qid!r} has no question text")
                answers = qa.get("answers")
                if not isinstance(answers, list) or not answers:
                    raise ValueError(f"{where}: question {qid!r} has no answers (SQuAD v1 answers every question)")
                got = []
                for ans in answers:
                    t, s = ans.get("text"), ans.get("answer_start")
                    if not isinstance(t, str) or not t.strip() or not isinstance(s, int) or isinstance(s, bool):
                        raise ValueError(f"{where}: question {qid!r}: an answer needs 'text' (not only whitespace) "
                                         "and an integer 'answer_start'")
                    if context[s:s + len(t)] != t:
                        raise ValueError(f"{where}: question {qid!r}: answer {t!r} is not at offset {s} of its context "
                                         f"(found {context[s:s + len(t)]!r})")
                    got.append((t, s))
                out.append(QAExample(qid, context, qa["question"], tuple(got), where))
    return out


_ID = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')


def _id_lines(text: str) -> dict[str, int]:
    """The line of each `"id": value` in a JSON text, keyed by the value decoded as read_squad names a question
    (str of the JSON value: "pregunta-ñ" however it is escaped, 5 as "5"); the first one wins. One pass: JSON
    keeps no line numbers, and searching the text once per question is quadratic."""
    out: dict[str, int] = {}
    line, pos = 1, 0
    for m in _ID.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.setdefault(str(json.loads(m.group(1))), line)
    return out


# ---- labels -------------------------------------------------------------------------------------

def _check_labels(cfg: TaskConfig, splits: dict[str, list]) -> tuple[str, ...]:
    if cfg.kind == "qa":
        return ()
    if cfg.kind == "classification":
        def found(ex):
            return [ex.label]
        known = list(cfg.labels) if cfg.labels else sorted({ex.label for ex in splits["train"]})
    else:
        def found(ex):
            return [t[2:] for t in ex.tags if t != "O"]
        known = list(cfg.labels) if cfg.labels else sorted({t for ex in splits["train"] for t in found(ex)})
    source = "the task's labels" if cfg.labels else "the train split"
    for split in SPLITS:
        for ex in splits.get(split, []):
            for lab in found(ex):
                if lab not in known:
                    raise ValueError(f"{ex.where}: unknown label {lab!r} in the {split} split (not in {source}: "
                                     f"{', '.join(known) or 'none'})")
    if cfg.kind == "classification":
        if len(known) < 2:
            raise ValueError(f"{cfg.train}: classification needs at least 2 labels, found {known}")
        return tuple(known)
    return ("O",) + tuple(f"{p}-{t}" for t in known for p in "BI")


def task_mapping(cfg: TaskConfig) -> Mapping:
    """The task's settings as plain values (for results.json)."""
    import dataclasses

    return dataclasses.asdict(cfg)
