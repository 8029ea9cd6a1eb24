"""Tokenize documents and pack them into rows of seq_len + 1 tokens: sharded Arrow files and a manifest.

Two steps, so the costly one runs in parallel and the order-sensitive one stays deterministic:

1. `tokenize_file` (one task per input file): documents -> token ids in batches (HF tokenizers'
   `encode_batch_fast`), each document followed by `<|endoftext|>`, split into train/validation BY
   DOCUMENT (a hash of the document id, so no validation text is ever in training), written to
   `_tokenized/<shard>.arrow`. A rerun skips files already done with the same input and tokenizer.
2. `build_shards` (one task): per source, the documents in input order are packed into rows
   (`Packer`); the rows are mixed by the table's weights (`tamiz.pipeline.mix.plan_mix`) and written as
   `train-NNNNN-of-NNNNN.arrow` / `validation-...arrow`, then `tokenizer.json` (a copy) and, last,
   `manifest.json`.

The shard files are Arrow IPC *stream* files (the flavour `datasets` writes for its own cache):
`datasets.Dataset.from_file(path)` memory-maps them as they are, `load_dataset("arrow", ...)` and
`load_dataset(DIR)` read them, and `train/loader.py` memory-maps them with `pyarrow.memory_map`.
Columns: `input_ids` (fixed_size_list<uint16 or uint32>[seq_len + 1]) and `source_id` (uint16, the
index into the manifest's `sources`). No compression, so every record batch is a zero-copy view.
`verify_shards(folder)` checks every file against the manifest (size, sha256, schema, rows).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from tamiz.core.atomic import atomic_path, sha256_file
from tamiz.core.shardformat import EOT, FORMAT, PAD, shard_file
from tamiz.pipeline.document import Document
from tamiz.pipeline.mix import plan_mix
from tamiz.pipeline.readers import expand_inputs, input_kind, read_documents
from tamiz.pipeline.report import ReadReport, write_quarantine
from tamiz.pipeline.stage import input_checksum, load_done_shard, mark_shard_done, shard_name
from tamiz.pipeline.table import DatasetTable, ShardConfig
from tamiz.core.manifest import read_manifest, write_manifest
from tamiz.pipeline.writers import DOC_SCHEMA, config_hash, file_entry, read_parquet_documents

BATCH_DOCS = 1024  # documents per encode_batch call and per record batch of the tokenized files
# Without a tokenizer, `tamiz mix` estimates tokens from UTF-8 bytes with this ratio: bytes per token
# measured on 546 KB of Spanish text: cl100k 3.57, Mistral Tekken 3.63 (docs/data-format.md).
BYTES_PER_TOKEN_ESTIMATE = 3.6


class ShardError(ValueError):
    """A shard folder does not match its manifest (the message names every bad file)."""


# ---------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True)
class TokenizerInfo:
    path: str
    sha256: str
    vocab_size: int
    eot_id: int
    pad_id: int | None

    @property
    def dtype(self) -> str:
        return token_dtype(self.vocab_size)


def token_dtype(vocab_size: int) -> str:
    """uint16 when every id fits (vocab <= 65,536), else uint32."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def tokenizer_info(path: str | Path) -> TokenizerInfo:
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such tokenizer file")
    try:
        from tamiz.tokenizer.load import read_tokenizer_json

        read_tokenizer_json(path)  # checks that keep tokenizers from aborting the process on a damaged file
        tok = Tokenizer.from_file(str(path))
    except BaseException as e:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        if not isinstance(e, Exception) and type(e).__name__ != "PanicException":
            raise
        raise ValueError(f"{path}: not a tokenizers JSON file ({e})") from None
    eot = tok.token_to_id(EOT)
    if eot is None:
        raise ValueError(f"{path}: the tokenizer has no {EOT} token (the document separator)")
    return TokenizerInfo(str(path), sha256_file(path), tok.get_vocab_size(with_added_tokens=True), eot,
                         tok.token_to_id(PAD))


# ---------------------------------------------------------------------------------------------
# Documents in


def is_validation(doc_id: str, fraction: float) -> bool:
    """Deterministic by-document split: the first 8 bytes of blake2b(id) below `fraction` of 2^64."""
    if fraction <= 0:
        return False
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big")
    return h < fraction * 2.0 ** 64


def document_inputs(paths: list[str | Path]) -> list[Path]:
    """Files to read: a stage folder (manifest.json + docs/) means its docs/; the rest as `expand_inputs`."""
    out = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / "docs").is_dir() and (p / "manifest.json").is_file():
            p = p / "docs"
        out.append(p)
    return expand_inputs(out)


def iter_documents(path: str | Path, report: ReadReport, source: str | None = None) -> Iterator[Document]:
    """Documents of one input. tamiz Parquet keeps its ids and sources; WARC pages get their main text
    extracted (as in ingest); `source`, when given, overrides the documents' own source."""
    path = Path(path)
    default = source or (path.parent.name if path.is_file() else path.name)
    kind = input_kind(path)
    if kind == "parquet" and _is_tamiz_parquet(path):
        docs: Iterator[Document] = _counted(read_parquet_documents(path), report)
    else:
        docs = read_documents(path, report, default)
    if kind == "warc":
        from tamiz.pipeline.extract import extract_text

        docs = (_with_text(d, extract_text(d.text)) for d in docs)
    for d in docs:
        if source is not None or not d.source:
            d.source = default
        yield d


def _is_tamiz_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        return set(DOC_SCHEMA.names) <= set(pq.read_schema(path).names)
    except Exception:
        return False  # read_documents reports the unreadable file


def _counted(docs: Iterator[Document], report: ReadReport) -> Iterator[Document]:
    for d in docs:
        report.good()
        yield d


def _with_text(doc: Document, text: str) -> Document:
    doc.text = text
    return doc


def load_encoder(path: str | Path) -> Any:
    """The tokenizer for document text: special tokens written in a document ("<|endoftext|>" in a web
    page) are encoded as plain text, so only the packer puts document separators into the stream."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = True
    # a tokenizer.json saved with truncation or padding (common in transformers exports) would cut every
    # document at max_length or insert <pad> into the token stream: documents are packed whole
    tok.no_truncation()
    tok.no_padding()
    return tok


def _encode(tok: Any, texts: list[str]) -> list[list[int]]:
    encode = getattr(tok, "encode_batch_fast", None) or tok.encode_batch  # _fast skips offsets (tokenizers >= 0.21)
    return [e.ids for e in encode(texts, add_special_tokens=False)]


# ---------------------------------------------------------------------------------------------
# Step 1: tokenize one input


def tokenized_schema(dtype: str) -> pa.Schema:
    return pa.schema([pa.field("source", pa.string(), nullable=False),
                      pa.field("validation", pa.bool_(), nullable=False),
                      pa.field("tokens", pa.list_(pa.from_numpy_dtype(np.dtype(dtype))), nullable=False)])


def tokenize_file(path: str | Path, out_dir: str | Path, tokenizer_path: str | Path, validation_fraction: float,
                  source: str | None = None, batch_docs: int = BATCH_DOCS) -> dict[str, Any]:
    """Tokenize one input into `_tokenized/<shard>.arrow`; returns its shard record (counts per source)."""
    path, out_dir = Path(path), Path(out_dir)
    tinfo = tokenizer_info(tokenizer_path)
    sha = input_checksum(path)
    name = shard_name(path, sha)
    key = {"input_sha256": sha, "tokenizer_sha256": tinfo.sha256, "validation_fraction": validation_fraction,
           "source": source}
    done = load_done_shard(out_dir, name, key)
    if done is not None:
        return {**done, "resumed": True}

    tok = load_encoder(tokenizer_path)
    dtype = np.dtype(tinfo.dtype)
    schema = tokenized_schema(tinfo.dtype)
    report = ReadReport(str(path))
    by_source: dict[str, dict[str, int]] = {}
    empty = 0
    out_path = out_dir / "_tokenized" / f"{name}.arrow"

    def write(batch: list[Document], ids: list[list[int]]) -> None:
        nonlocal empty
        keep = [i for i, x in enumerate(ids) if x]
        empty += len(batch) - len(keep)
        if not keep:
            return
        lengths = np.fromiter((len(ids[i]) + 1 for i in keep), dtype=np.int64, count=len(keep))
        offsets = np.zeros(len(keep) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(itertools.chain.from_iterable(ids[i] + [tinfo.eot_id] for i in keep),
                           dtype=dtype, count=int(offsets[-1]))
        sources = [batch[i].source for i in keep]
        val = [is_validation(batch[i].id, validation_fraction) for i in keep]
        for s, v, n, i in zip(sources, val, lengths.tolist(), keep):
            c = by_source.setdefault(s, {"train_documents": 0, "validation_documents": 0, "train_tokens": 0,
                                         "validation_tokens": 0, "bytes": 0})
            split = "validation" if v else "train"
            c[f"{split}_documents"] += 1
            c[f"{split}_tokens"] += n
            c["bytes"] += len(batch[i].text.encode("utf-8"))
        writer.write_batch(pa.record_batch(
            [pa.array(sources, pa.string()), pa.array(val, pa.bool_()),
             pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))], schema=schema))

    # Double buffering: encode_batch releases the GIL, so batch k+1 is encoded in a thread while this
    # thread reads the next documents and writes batch k (the Python work hides behind the Rust work).
    with atomic_path(out_path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
        docs = iter_documents(path, report, source)
        pending = None
        while batch := list(itertools.islice(docs, batch_docs)):
            future = pool.submit(_encode, tok, [d.text for d in batch])
            if pending is not None:
                write(pending[0], pending[1].result())
            pending = (batch, future)
        if pending is not None:
            write(pending[0], pending[1].result())
    outputs = [file_entry(out_path, sum(c["train_documents"] + c["validation_documents"] for c in by_source.values()),
                          out_dir)]
    if report.quarantine:
        qpath = out_dir / "quarantine" / f"{name}.jsonl"
        write_quarantine(qpath, report.quarantine)
        outputs.append(file_entry(qpath, len(report.quarantine), out_dir))
    counts = {
        "records": report.records,
        "documents": report.yielded,
        "empty": empty,
        "skipped": dict(sorted(report.skipped.items())),
        "quarantined": sum(1 for b in report.quarantine if b.where != "file"),
        "file_errors": [b.reason for b in report.quarantine if b.where == "file"],
        "by_source": dict(sorted(by_source.items())),
    }
    record = {"input": {"path": str(path), "sha256": sha, "source": source}, "outputs": outputs, "counts": counts,
              "tokenizer_sha256": tinfo.sha256}
    return {**mark_shard_done(out_dir, name, key, record), "resumed": False}


def count_tokens_file(path: str | Path, tokenizer_path: str | Path | None = None, source: str | None = None,
                      batch_docs: int = BATCH_DOCS) -> dict[str, dict[str, int]]:
    """Documents, UTF-8 bytes and tokens per source in one input (tokens estimated from bytes without a
    tokenizer, see BYTES_PER_TOKEN_ESTIMATE). Used by `tamiz mix` before anything is written."""
    tok = None
    if tokenizer_path is not None:
        tokenizer_info(tokenizer_path)
        tok = load_encoder(tokenizer_path)
    report = ReadReport(str(path))
    out: dict[str, dict[str, int]] = {}
    docs = iter_documents(path, report, source)
    while batch := list(itertools.islice(docs, batch_docs)):
        ids = _encode(tok, [d.text for d in batch]) if tok is not None else None
        for i, d in enumerate(batch):
            if not d.text:
                continue
            c = out.setdefault(d.source, {"documents": 0, "bytes": 0, "tokens": 0})
            n = len(d.text.encode("utf-8"))
            c["documents"] += 1
            c["bytes"] += n
            c["tokens"] += len(ids[i]) + 1 if ids is not None else round(n / BYTES_PER_TOKEN_ESTIMATE) + 1
    return out


# ---------------------------------------------------------------------------------------------
# Packing


class Packer:
    """Packs one source's documents (token ids ending in <|endoftext|>) into rows of seq_len + 1 tokens.

    row_start="any": rows are windows of the concatenated stream with stride seq_len, so consecutive
    rows overlap by one token and every token but the first is a target exactly once; nothing is padded;
    the tail that does not fill a row is dropped (counted).
    row_start="document": every row starts at a document start; documents are added whole while they
    fit and the rest of the row is <pad> (the trainer ignores targets equal to the manifest's pad_id).
    A document longer than a row is cut into rows of its own (stride seq_len), so only such continuation
    rows start inside a document.
    """

    def __init__(self, seq_len: int, row_start: str, dtype: str, sink: Callable[[np.ndarray], None],
                 pad_id: int | None = None, block_rows: int = 256):
        if row_start == "document" and pad_id is None:
            raise ValueError(f"row_start: 'document' pads rows, but the tokenizer has no {PAD} token")
        self.L, self.R = seq_len, seq_len + 1
        self.row_start, self.pad_id, self.sink = row_start, pad_id, sink
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.tokens_in = 0
        self.padding = 0
        self.dropped = 0
        self._buf = np.zeros(0, dtype=self.dtype)  # "any": tokens not yet in a row (< R)
        self._block = np.zeros((block_rows, self.R), dtype=self.dtype)  # "document": rows being built
        self._n = 0  # finished rows in _block
        self._fill = 0  # tokens in the current row _block[_n]

    def add(self, values: np.ndarray, offsets: np.ndarray) -> None:
        """Documents values[offsets[i]:offsets[i+1]], in order."""
        self.tokens_in += len(values)
        if self.row_start == "any":
            self._add_stream(values)
        else:
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
                self._add_document(values[a:b])

    def finish(self) -> None:
        if self.row_start == "any":
            # the last row's final token is also the first token left in the buffer (already a target)
            self.dropped += len(self._buf) - (1 if self.rows else 0)
            self._buf = self._buf[:0]
        else:
            if self._fill:
                self._close_row()
            self._flush()

    def _add_stream(self, values: np.ndarray) -> None:
        buf = np.concatenate([self._buf, values]) if len(self._buf) else values
        k = (len(buf) - 1) // self.L if len(buf) >= self.R else 0
        if k:
            windows = np.lib.stride_tricks.sliding_window_view(buf, self.R)[::self.L][:k]
            self.sink(np.ascontiguousarray(windows))
            self.rows += k
        self._buf = buf[k * self.L:].copy()

    def _add_document(self, doc: np.ndarray) -> None:
        n = len(doc)
        if self._fill and n > self.R - self._fill:
            self._close_row()
        pos = 0
        while n - pos > self.R:  # a long document: rows of its own, stride L (one token of overlap)
            self._block[self._n] = doc[pos:pos + self.R]
            self._next_row()
            pos += self.L
        rest = n - pos
        if pos and rest == 1:
            return  # only the overlap token is left, already a target of the previous row
        self._block[self._n, self._fill:self._fill + rest] = doc[pos:]
        self._fill += rest
        if self._fill == self.R:
            self._fill = 0
            self._next_row()

    def _close_row(self) -> None:
        self._block[self._n, self._fill:] = self.pad_id
        self.padding += self.R - self._fill
        self._fill = 0
        self._next_row()

    def _next_row(self) -> None:
        self._n += 1
        self.rows += 1
        if self._n == len(self._block):
            self._flush()

    def _flush(self) -> None:
        if self._n:
            self.sink(self._block[:self._n].copy())
            self._n = 0


# ---------------------------------------------------------------------------------------------
# Step 2: pack, mix, write


def shard_schema(dtype: str, row_tokens: int) -> pa.Schema:
    return pa.schema([pa.field("input_ids", pa.list_(pa.from_numpy_dtype(np.dtype(dtype)), row_tokens), nullable=False),
                      pa.field("source_id", pa.uint16(), nullable=False)])


def build_shards(out_dir: str | Path, records: list[dict[str, Any]], tokenizer_path: str | Path, config: ShardConfig,
                 table: DatasetTable | None = None) -> dict[str, Any]:
    """Pack every source, mix by the table's weights (or by size without a table), write the shards and
    the manifest; returns the manifest. Skipped (returns the existing manifest) when nothing changed."""
    out_dir = Path(out_dir)
    tinfo = tokenizer_info(tokenizer_path)
    names, kinds, weights = _sources(records, table)
    build_key = config_hash({"inputs": [r["input"] for r in records], "tokenizer": tinfo.sha256,
                             "config": config.as_dict(), "sources": names, "weights": weights, "format": FORMAT})
    existing = _existing(out_dir, build_key)
    if existing is not None:
        return {**existing, "resumed": True}
    (out_dir / "manifest.json").unlink(missing_ok=True)  # the old manifest would describe files about to change

    work = out_dir / "_packed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        packed = _pack_sources(out_dir, work, records, names, config, tinfo)
        moved = _train_on_lone_validation(work, packed, names)
        unique = [packed[(s, "train")].rows for s in range(len(names))]
        if weights is None:
            if sum(unique) == 0:
                raise ValueError(f"inputs: the training documents hold fewer tokens than one row of {config.row_tokens}")
            weights = [float(u) for u in unique]
        for s, name in enumerate(names):
            if weights[s] > 0 and unique[s] == 0:
                docs = sum(r["counts"]["by_source"].get(name, {}).get("train_documents", 0) for r in records)
                where = f"{table.path}: sources[{s}] ({name})" if table and table.path else f"source {name!r}"
                if docs == 0:
                    raise ValueError(f"{where}: weight {weights[s]:g} but no documents of this source in the inputs")
                raise ValueError(f"{where}: weight {weights[s]:g} but its {docs} training document(s) hold fewer "
                                 f"tokens than one row of {config.row_tokens}")
        budget = config.tokens if config.tokens is not None else sum(unique) * config.seq_len
        total_rows = -(-budget // config.seq_len)
        plan = plan_mix(names, unique, weights, total_rows, config.seed)
        rows = {key: np.memmap(work / f"{key[0]}.{key[1]}.bin", dtype=tinfo.dtype, mode="r",
                               shape=(p.rows, config.row_tokens)) if p.rows else None for key, p in packed.items()}
        schema = shard_schema(tinfo.dtype, config.row_tokens)

        def gather(split: str, src: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.empty((len(src), config.row_tokens), dtype=tinfo.dtype)
            for s in np.unique(src).tolist():
                m = src == s
                out[m] = rows[(s, split)][row[m]]
            return out, src

        # validation: every held-out row once, source by source, in packing order
        val_src = np.concatenate([np.full(packed[(s, "validation")].rows, s, dtype=np.uint16) for s in range(len(names))])
        val_row = np.concatenate([np.arange(packed[(s, "validation")].rows) for s in range(len(names))])
        train_rows = lambda a, b: gather("train", plan.source[a:b], plan.row[a:b])  # noqa: E731
        validation_rows = lambda a, b: gather("validation", val_src[a:b], val_row[a:b])  # noqa: E731
        splits = {"train": _write_split(out_dir, "train", total_rows, train_rows, schema, config),
                  "validation": _write_split(out_dir, "validation", len(val_src), validation_rows, schema, config)}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tok_copy = out_dir / "tokenizer.json"
    with atomic_path(tok_copy) as tmp:
        shutil.copyfile(tokenizer_path, tmp)
    sources = []
    for s, name in enumerate(names):
        c = _source_counts(records, name)
        if name in moved:  # its documents are counted as validation in the tokenized records
            c = {**c, "train_documents": c["validation_documents"], "validation_documents": 0,
                 "train_tokens": c["validation_tokens"], "validation_tokens": 0}
        tr, va = packed[(s, "train")], packed[(s, "validation")]
        sources.append({
            "name": name, "kind": kinds[s], "weight": plan.weights[s],
            "documents": {"train": c["train_documents"], "validation": c["validation_documents"]},
            "tokens": {"train": c["train_tokens"], "validation": c["validation_tokens"]},
            "rows": {"unique": tr.rows, "train": plan.counts[s], "validation": va.rows},
            "epochs": round(plan.epochs[s], 6),
            "padding_tokens": {"train_unique": tr.padding, "validation": va.padding},
            "dropped_tokens": {"train": tr.dropped, "validation": va.dropped},
        })
    manifest = {
        "format": FORMAT,
        "tamiz_version": _version(),
        "build_key": build_key,
        "seq_len": config.seq_len,
        "row_tokens": config.row_tokens,
        "row_start": config.row_start,
        "dtype": tinfo.dtype,
        "vocab_size": tinfo.vocab_size,
        "eot_id": tinfo.eot_id,
        "pad_id": tinfo.pad_id,
        "seed": config.seed,
        "validation_fraction": config.validation_fraction,
        "budget_tokens": budget,
        "config": config.as_dict(),
        "config_hash": config_hash(config.as_dict()),
        "tokenizer": {"path": "tokenizer.json", "sha256": tinfo.sha256, "bytes": tok_copy.stat().st_size},
        "table": ({"name": table.name, "path": str(table.path) if table.path else None,
                   "sha256": sha256_file(table.path) if table.path else None} if table else None),
        "sources": sources,
        "validation_moved_to_train": moved,  # sources whose every document fell into the validation split
        "splits": splits,
        "inputs": [r["input"] for r in records],
        "counts": _totals(records),
    }
    write_manifest(out_dir, manifest)
    _remove_stale(out_dir, manifest)
    return {**manifest, "resumed": False}


def _sources(records: list[dict[str, Any]], table: DatasetTable | None
             ) -> tuple[list[str], list[str], list[float] | None]:
    """Source names (table order, or sorted), kinds and raw weights (None without a table: the natural
    mix); documents of a source missing from the table are an error naming the input."""
    present: dict[str, str] = {}
    for r in records:
        for name in r["counts"]["by_source"]:
            present.setdefault(name, r["input"]["path"])
    if table is None:
        names = sorted(present)
        if not names:
            raise ValueError("inputs: no documents with text in any input")
        return names, ["other"] * len(names), None  # natural mix: weights = rows, every row once
    for name, path in present.items():
        if name not in table.names:
            raise ValueError(f"{path}: documents of source {name!r} are not in the table {table.path or ''} "
                             f"(sources: {', '.join(table.names)})")
    return table.names, [s.kind for s in table.sources], [s.weight for s in table.sources]


@dataclass
class _Packed:
    rows: int = 0
    padding: int = 0
    dropped: int = 0


def _train_on_lone_validation(work: Path, packed: dict[tuple[int, str], _Packed], names: list[str]) -> list[str]:
    """A source whose every document fell into the validation split (a source of one or a few
    documents) would have nothing to train on: its held-out rows become its training rows, and it has
    no validation rows. Returns the names of those sources (the manifest lists them)."""
    moved = []
    for s, name in enumerate(names):
        if packed[(s, "train")].rows == 0 and packed[(s, "validation")].rows > 0:
            os.replace(work / f"{s}.validation.bin", work / f"{s}.train.bin")
            open(work / f"{s}.validation.bin", "wb").close()
            packed[(s, "train")], packed[(s, "validation")] = packed[(s, "validation")], _Packed(0, 0, 0)
            moved.append(name)
    return moved


def _pack_sources(out_dir: Path, work: Path, records: list[dict[str, Any]], names: list[str], config: ShardConfig,
                  tinfo: TokenizerInfo) -> dict[tuple[int, str], _Packed]:
    """One pass over the tokenized files in input order; each (source, split) streams into its own
    Packer and raw row file `_packed/<source>.<split>.bin`."""
    index = {n: i for i, n in enumerate(names)}
    files, packers = {}, {}
    try:
        for s in range(len(names)):
            for split in ("train", "validation"):
                f = open(work / f"{s}.{split}.bin", "wb")
                files[(s, split)] = f
                packers[(s, split)] = Packer(config.seq_len, config.row_start, tinfo.dtype,
                                             lambda a, f=f: f.write(a.tobytes()), tinfo.pad_id)
        for r in records:
            path = out_dir / r["outputs"][0]["path"]
            with pa.memory_map(str(path)) as src:
                for batch in pa.ipc.open_stream(src):
                    _dispatch(batch, index, packers, tinfo.dtype)
        out = {}
        for key, p in packers.items():
            p.finish()
            out[key] = _Packed(p.rows, p.padding, p.dropped)
        return out
    finally:
        for f in files.values():
            f.close()


def _dispatch(batch: pa.RecordBatch, index: dict[str, int], packers: dict, dtype: str) -> None:
    src = batch.column("source").to_pylist()
    val = batch.column("validation").to_numpy(zero_copy_only=False)
    tokens = batch.column("tokens")
    offsets = tokens.offsets.to_numpy()
    values = tokens.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    codes = np.fromiter((index[s] for s in src), dtype=np.int64, count=len(src))
    # runs of consecutive documents with the same (source, split) go to their packer in one call
    key = codes * 2 + val.astype(np.int64)
    cuts = np.flatnonzero(np.diff(key)) + 1
    for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(key)].tolist()):
        s, v = divmod(int(key[a]), 2)
        o = offsets[a:b + 1]
        packers[(s, "validation" if v else "train")].add(values[o[0]:o[-1]], o - o[0])


def _write_split(out_dir: Path, split: str, n_rows: int, get_rows: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
                 schema: pa.Schema, config: ShardConfig) -> dict[str, Any]:
    per_file, per_batch = config.rows_per_shard(), config.rows_per_batch()
    n_files = -(-n_rows // per_file)
    files = []
    for i in range(n_files):
        path = out_dir / shard_file(split, i, n_files)
        a0, a1 = i * per_file, min(n_rows, (i + 1) * per_file)
        with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
            for a in range(a0, a1, per_batch):
                b = min(a1, a + per_batch)
                rows, src = get_rows(a, b)
                ids = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), config.row_tokens)
                w.write_batch(pa.record_batch([ids, pa.array(src.astype(np.uint16))], schema=schema))
        files.append(file_entry(path, a1 - a0, out_dir))
    return {"rows": n_rows, "tokens": n_rows * config.row_tokens, "files": files}


def _existing(out_dir: Path, build_key: str) -> dict[str, Any] | None:
    try:
        m = read_manifest(out_dir)
    except (FileNotFoundError, ValueError):
        return None
    if m.get("build_key") != build_key:
        return None
    try:
        verify_shards(out_dir)
    except (ShardError, FileNotFoundError):
        return None
    return m


def _remove_stale(out_dir: Path, manifest: dict[str, Any]) -> None:
    listed = {f["path"] for sp in manifest["splits"].values() for f in sp["files"]}
    for p in out_dir.glob("*.arrow"):
        if p.name not in listed and p.name.split("-")[0] in ("train", "validation"):
            p.unlink()


def prune_intermediates(out_dir: str | Path, records: list[dict[str, Any]]) -> int:
    """Remove tokenized intermediates (and their records) of inputs that are no longer inputs, e.g.
    an earlier version of an upstream shard after an incremental build; returns how many."""
    out_dir = Path(out_dir)
    keep = {r["name"] for r in records}
    n = 0
    for folder, suffix in (("_tokenized", ".arrow"), ("_shards", ".json"), ("quarantine", ".jsonl")):
        for p in (out_dir / folder).glob(f"*{suffix}"):
            if p.name.removesuffix(suffix) not in keep:
                p.unlink()
                n += 1
    return n


def _source_counts(records: list[dict[str, Any]], name: str) -> dict[str, int]:
    total = {"train_documents": 0, "validation_documents": 0, "train_tokens": 0, "validation_tokens": 0, "bytes": 0}
    for r in records:
        for k, v in r["counts"]["by_source"].get(name, {}).items():
            total[k] += v
    return total


def _totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    t: dict[str, Any] = {"records": 0, "documents": 0, "empty": 0, "quarantined": 0, "skipped": {}}
    for r in records:
        c = r["counts"]
        for k in ("records", "documents", "empty", "quarantined"):
            t[k] += c[k]
        for k, v in c["skipped"].items():
            t["skipped"][k] = t["skipped"].get(k, 0) + v
    return t


def _version() -> str:
    from tamiz.core import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# Verify


def verify_shards(folder: str | Path) -> dict[str, Any]:
    """Check every file of a shard folder against its manifest: present, same size and sha256, the
    schema and row count it claims, the tokenizer copy; and no unlisted train-/validation- file that
    `load_dataset(folder)` would pick up. Raises ShardError naming each bad file; returns a summary."""
    folder = Path(folder)
    m = read_manifest(folder)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ShardError(f"{folder / 'manifest.json'}: format {m.get('format') if isinstance(m, dict) else None!r} "
                         f"is not {FORMAT!r}")
    try:
        return _verify(folder, m)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError, pa.ArrowException) as e:
        if isinstance(e, ShardError):
            raise
        raise ShardError(f"{folder / 'manifest.json'}: malformed manifest ({type(e).__name__}: {e})") from None


def _verify(folder: Path, m: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    names = [m["tokenizer"]["path"]] + [f["path"] for sp in m["splits"].values() for f in sp["files"]]
    outside = [n for n in names if not isinstance(n, str) or Path(n).name != n or n in ("", ".", "..")]
    if outside:  # the manifest names files of this folder only: never a path that leads elsewhere
        raise ShardError(f"{folder / 'manifest.json'}: {outside[0]!r} is not a file name in {folder}")
    if m["dtype"] not in ("uint16", "uint32") or not isinstance(m["row_tokens"], int) or not 2 <= m["row_tokens"] < 1 << 31:
        raise ShardError(f"{folder / 'manifest.json'}: dtype {m['dtype']!r} / row_tokens {m['row_tokens']!r} are not valid")
    if m["row_tokens"] != m["seq_len"] + 1:
        problems.append(f"{folder / 'manifest.json'}: row_tokens {m['row_tokens']!r} is not seq_len + 1 ({m['seq_len']!r} + 1)")
    for split, info in m["splits"].items():
        if info["rows"] != sum(f["rows"] for f in info["files"]):
            problems.append(f"{folder / 'manifest.json'}: splits.{split}.rows {info['rows']!r} is not the sum of its files' rows")
    tok = folder / m["tokenizer"]["path"]
    if not tok.is_file():
        problems.append(f"{tok}: missing (the manifest lists the tokenizer copy)")
    elif sha256_file(tok) != m["tokenizer"]["sha256"]:
        problems.append(f"{tok}: sha256 differs from the manifest's tokenizer ({m['tokenizer']['sha256'][:12]}...)")
    elif tok.stat().st_size != m["tokenizer"]["bytes"]:
        problems.append(f"{tok}: {tok.stat().st_size} bytes, the manifest says {m['tokenizer']['bytes']!r}")
    schema = shard_schema(m["dtype"], m["row_tokens"])
    files = rows = 0
    for split, info in m["splits"].items():
        for f in info["files"]:
            files += 1
            path = folder / f["path"]
            problem = _check_file(path, f, schema)
            if problem:
                problems.append(f"{path}: {problem}")
            else:
                rows += f["rows"]
    listed = {f["path"] for sp in m["splits"].values() for f in sp["files"]}
    for p in sorted(folder.glob("*.arrow")):
        if p.name not in listed:
            problems.append(f"{p}: not listed in the manifest (a stale shard? `load_dataset` would read it)")
    if problems:
        raise ShardError(f"{folder}: {len(problems)} problem(s):\n" + "\n".join(f"  {x}" for x in problems))
    return {"folder": str(folder), "files": files, "rows": rows, "tokens": rows * m["row_tokens"],
            "splits": {k: v["rows"] for k, v in m["splits"].items()}}


def _check_file(path: Path, entry: dict[str, Any], schema: pa.Schema) -> str | None:
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"{size} bytes, the manifest says {entry['bytes']} (truncated or rewritten)"
    if sha256_file(path) != entry["sha256"]:
        return "sha256 differs from the manifest (the file was altered)"
    try:
        n = 0
        with pa.memory_map(str(path)) as src:
            reader = pa.ipc.open_stream(src)
            if not reader.schema.equals(schema):
                return f"schema {reader.schema} is not {schema}"
            for batch in reader:
                n += batch.num_rows
    except (pa.ArrowException, OSError) as e:  # a damaged stream raises ArrowInvalid, OSError or ArrowNotImplementedError
        return f"not a readable Arrow stream ({e})"
    if n != entry["rows"]:
        return f"{n} rows, the manifest says {entry['rows']}"
    return None
