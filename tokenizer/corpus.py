"""Streaming training text for the tokenizer, from any input tamiz reads.

Inputs are WARC files (main text extracted from the HTML, like `tamiz ingest` does), JSONL,
Parquet, folders of .txt files, or a stage folder written by tamiz (`manifest.json` + `docs/`,
of which only `docs/*.parquet` is read: rejects and quarantine never train a tokenizer).

The stream never holds the corpus in memory: documents are read one at a time, capped at
`max_doc_chars` characters (one huge log dump must not decide the vocabulary), optionally mixed
by per-source weights, and hashed as they pass (`CorpusStats.sha256` is the checksum of exactly
the text the trainer saw).

Weights are shares of *characters* of the stream, per source. Documents are interleaved
deterministically by the rule that blends the packed rows (`tamiz.pipeline.mix.Blender`, counted in
characters: for each next document, among the sources behind their share, the one whose next
character is due first), without repetition, so in every prefix of the stream no source is ahead
of its share by as much as its last document; the stream ends when the first source runs out
(`CorpusStats.stopped_by` names it) or at `max_chars`. A weight of 0 leaves a source out.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from tamiz.pipeline.document import Document
from tamiz.pipeline.inputs import input_files
from tamiz.pipeline.mix import Blender
from tamiz.pipeline.readers import input_kind, read_documents
from tamiz.pipeline.report import ReadReport


@dataclass(frozen=True)
class Input:
    """One file (or folder of .txt) to read; `source` names its documents unless they carry their own."""

    path: Path
    source: str
    text_unit: str = "auto"  # how .txt files become documents (tamiz.pipeline.readers.TEXT_UNITS)

    @property
    def kind(self) -> str:
        return input_kind(self.path)


def resolve_inputs(paths: Iterable[str | Path], source: str | None = None, text_unit: str = "auto") -> list[Input]:
    """The files behind `paths`, in a stable order; raises FileNotFoundError/ValueError naming the path.

    Paths resolve as in every stage (`tamiz.pipeline.inputs.input_files`): a tamiz stage folder (with
    manifest.json and docs/) contributes only docs/*.parquet, other folders are expanded like `tamiz
    ingest` does. The source of a file is `source`, else the name of its stage folder or of its parent
    folder (tamiz Parquet rows keep their own `source` column).
    """
    out: list[Input] = []
    for f in input_files(paths):
        default = f.stage.name if f.stage else (f.path.parent.name if f.path.is_file() else f.path.name)
        out.append(Input(f.path, source or default, text_unit))
    out = list(dict.fromkeys(out))
    if not out:
        raise ValueError("no input files")
    return out


def check_utf8(inp: Input) -> None:
    """Raise ValueError when a text or JSONL input is not UTF-8 (WARC pages carry their own charset)."""
    if inp.kind == "jsonl":
        files = [inp.path]
    elif inp.kind in ("text", "textdir"):
        files = [inp.path] if inp.path.is_file() else sorted(
            f for f in inp.path.rglob("*") if f.is_file() and f.name.lower().endswith((".txt", ".txt.gz")))
    else:
        return
    for f in files:
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        offset = 0
        opener = gzip.open if f.name.endswith(".gz") else open
        try:
            with opener(f, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as e:
                        at = offset - pending + e.start
                        raise ValueError(f"{f}: not UTF-8 (invalid byte 0x{e.object[e.start]:02x} at byte {at}); "
                                         "convert it first, e.g. iconv -f latin1 -t utf-8") from None
                    offset += len(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValueError(f"{f}: not UTF-8 (ends in the middle of a character)") from None
        except (OSError, EOFError) as e:
            raise ValueError(f"{f}: unreadable ({e})") from None


def read_input(inp: Input, report: ReadReport) -> Iterator[Document]:
    """Documents of one input with their text; HTML pages of WARC files become their main text."""
    docs = read_documents(inp.path, report, inp.source, inp.text_unit)
    if inp.kind != "warc":
        yield from docs
        return
    from tamiz.pipeline.extract import extract_text

    for doc in docs:
        doc.text = extract_text(doc.text)
        yield doc


def sources_of(inp: Input) -> list[str]:
    """The sources whose documents `inp` holds (read ahead only for Parquet and JSONL rows)."""
    if inp.kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(inp.path)
        if "source" not in pf.schema_arrow.names:
            return [inp.source]
        values = pq.read_table(inp.path, columns=["source"]).column("source").to_pylist()
        return sorted({v or inp.source for v in values})
    if inp.kind == "jsonl":
        docs = read_documents(inp.path, ReadReport(str(inp.path)), inp.source)
        return sorted({d.source for d in docs}) or [inp.source]
    return [inp.source]


def cap_text(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, at the last whitespace of the final 200 if any."""
    if len(text) <= max_chars:
        return text
    cut = max(text.rfind(" ", max_chars - 200, max_chars), text.rfind("\n", max_chars - 200, max_chars))
    return text[: cut if cut > 0 else max_chars]


@dataclass
class CorpusStats:
    """What the stream fed the trainer; `sha256` covers every text in order (length-prefixed)."""

    documents: int = 0
    characters: int = 0
    bytes: int = 0
    truncated: int = 0
    truncated_characters: int = 0  # characters the cut removed (not fed to the trainer)
    empty: int = 0
    held_out: int = 0
    held_out_bytes: int = 0
    held_out_characters: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable_records: int = 0
    stopped_by: str | None = None
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)

    def add(self, text: str, source: str) -> None:
        data = text.encode("utf-8")
        self._hash.update(len(data).to_bytes(8, "little"))
        self._hash.update(data)
        self.documents += 1
        self.characters += len(text)
        self.bytes += len(data)
        s = self.by_source.setdefault(source, {"documents": 0, "characters": 0})
        s["documents"] += 1
        s["characters"] += len(text)

    def cut(self, before: int, text: str) -> str:
        """Count a document cut from `before` characters to `text`."""
        self.truncated += 1
        self.truncated_characters += before - len(text)
        return text

    def cut_share(self) -> float:
        """Share of the read characters that cuts removed (0 when nothing was read)."""
        read = self.characters + self.truncated_characters + self.held_out_characters
        return self.truncated_characters / read if read else 0.0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "documents": self.documents, "characters": self.characters, "bytes": self.bytes,
            "truncated_documents": self.truncated, "truncated_characters": self.truncated_characters,
            "empty_documents": self.empty,
            "held_out_documents": self.held_out, "held_out_bytes": self.held_out_bytes,
            "unreadable_records": self.unreadable_records, "stopped_by": self.stopped_by,
            "by_source": dict(sorted(self.by_source.items())),
        }


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights as floats; ValueError naming the source for a negative, non-finite or all-zero set."""
    out: dict[str, float] = {}
    for s, w in weights.items():
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise ValueError(f"weights: weight of source {s!r} is not a number: {w!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"weights: weight of source {s!r} must be a finite number >= 0, got {w}")
        out[str(s)] = w
    if not out or not any(w > 0 for w in out.values()):
        raise ValueError("weights: at least one source needs a weight > 0")
    return out


def plan_sources(inputs: list[Input], weights: Mapping[str, float]) -> dict[str, list[Input]]:
    """For each source with a weight > 0, the inputs holding it. Raises ValueError before any training
    when the weights and the sources of the input do not match."""
    weights = check_weights(weights)
    holders: dict[str, list[Input]] = {}
    for inp in inputs:
        for s in sources_of(inp):
            holders.setdefault(s, []).append(inp)
    missing = sorted(set(holders) - set(weights))
    if missing:
        raise ValueError(f"weights: no weight for source(s) {', '.join(missing)} (sources in the input: "
                         f"{', '.join(sorted(holders))}); give each a weight, 0 leaves it out")
    absent = sorted(s for s, w in weights.items() if w > 0 and s not in holders)
    if absent:
        raise ValueError(f"weights: source(s) {', '.join(absent)} not in the input (sources in the input: "
                         f"{', '.join(sorted(holders))})")
    return {s: holders[s] for s in sorted(holders) if weights[s] > 0}


def _documents(inputs: list[Input], stats: CorpusStats, only_source: str | None = None) -> Iterator[Document]:
    for inp in inputs:
        report = ReadReport(str(inp.path))
        for doc in read_input(inp, report):
            if only_source is None or doc.source == only_source:
                yield doc
        stats.unreadable_records += len(report.quarantine)


def iter_documents(inputs: list[Input], stats: CorpusStats, weights: Mapping[str, float] | None = None,
                   max_doc_chars: int | None = None) -> Iterator[Document]:
    """Documents in stream order (capped at `max_doc_chars`), mixed by `weights` when given.

    Empty documents are skipped (counted in stats.empty); stats counts are left to the consumer,
    except truncation, unreadable records and `stopped_by`."""
    def capped(docs: Iterator[Document]) -> Iterator[Document]:
        for doc in docs:
            if not doc.text.strip():
                stats.empty += 1
                continue
            if max_doc_chars and len(doc.text) > max_doc_chars:
                doc.text = stats.cut(len(doc.text), cap_text(doc.text, max_doc_chars))
            yield doc

    if not weights:
        yield from capped(_documents(inputs, stats))
        return
    plan = plan_sources(inputs, weights)
    w = check_weights(weights)
    names = list(plan)  # sorted by name: ties go to the first
    blender = Blender([w[s] for s in names])
    streams = {s: capped(_documents(ins, stats, only_source=s)) for s, ins in plan.items()}
    while True:
        # The source due next by characters (tamiz.pipeline.mix.Blender: the rows' blending rule).
        i = blender.next()
        doc = next(streams[names[i]], None)
        if doc is None:
            stats.stopped_by = f"source {names[i]!r} ran out"
            return
        blender.add(i, len(doc.text))
        yield doc


def table_inputs(table: Any) -> list[Input]:
    """The inputs of every source of a dataset table (`tamiz.pipeline.table.DatasetTable`), named by source."""
    out: list[Input] = []
    for name in table.names:
        out += [Input(p, name) for p in table.resolve_inputs(name)]
    return list(dict.fromkeys(out))
