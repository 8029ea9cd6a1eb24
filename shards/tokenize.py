"""Step 1 of `tamiz shard`: tokenize one input file (one task per file, in parallel).

`tokenize_file`: documents -> token ids in batches (HF tokenizers' `encode_batch_fast`), each
document followed by `<|endoftext|>`, split into train/validation BY DOCUMENT (a hash of the document
id, so no validation text is ever in training), written to `_tokenized/<shard>.arrow` through the
one shard runner (pipeline/shard_task.py: a rerun skips files already done with the same input and
tokenizer). `count_tokens_file` counts the same documents for `tamiz mix` without writing anything.

Also here, shared with the later steps: the tokenizer's facts (`tokenizer_info`) and the document
reading. Next: shards/pack.py packs the token ids into rows, shards/write.py mixes and writes the
shards, shards/verify.py checks them. See docs/data-format.md.
"""

from __future__ import annotations

import hashlib
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from tamiz.core.atomic import atomic_path, sha256_file
from tamiz.core.shardformat import EOT, PAD
from tamiz.pipeline.document import Document
from tamiz.pipeline.readers import input_kind, read_documents
from tamiz.pipeline.rehydrate import RehydrateConfig, cluster_size, draw
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.shard_task import ShardTask, read_counts
from tamiz.pipeline.writers import DOC_SCHEMA, read_parquet_documents

BATCH_DOCS = 1024  # documents per encode_batch call and per record batch of the tokenized files
# The layout of the tokenized files (in every tokenize task's key: files of another layout are made again).
# 2: the columns cluster_size and draw, which rehydration reads (shards/rehydrate.py).
TOKENIZED_FORMAT = 2
# Without a tokenizer, `tamiz mix` estimates tokens from UTF-8 bytes with this ratio: bytes per token
# measured on 546 KB of Spanish text: cl100k 3.57, Mistral Tekken 3.63 (docs/data-format.md).
BYTES_PER_TOKEN_ESTIMATE = 3.6


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
    """One row per document: its source, split, token ids (ending in <|endoftext|>), its duplicate-cluster
    size from dedup (0: none recorded) and its rehydration draw (pipeline/rehydrate.py). The last two are
    stored whatever the table says, so changing the rehydration buckets re-mixes without re-tokenizing."""
    return pa.schema([pa.field("source", pa.string(), nullable=False),
                      pa.field("validation", pa.bool_(), nullable=False),
                      pa.field("tokens", pa.list_(pa.from_numpy_dtype(np.dtype(dtype))), nullable=False),
                      pa.field("cluster_size", pa.int64(), nullable=False),
                      pa.field("draw", pa.uint64(), nullable=False)])


def tokenize_file(path: str | Path, out_dir: str | Path, tokenizer_path: str | Path, validation_fraction: float,
                  source: str | None = None, batch_docs: int = BATCH_DOCS, name: str | None = None) -> dict[str, Any]:
    """Tokenize one input into `_tokenized/<shard>.arrow`; returns its shard record (counts per source).
    `name`: what the record calls the input (default: its path relative to the current folder)."""
    path = Path(path)
    tinfo = tokenizer_info(tokenizer_path)
    task = ShardTask.for_input(path, out_dir, name=name, tokenizer_sha256=tinfo.sha256,
                               validation_fraction=validation_fraction, source=source, format=TOKENIZED_FORMAT)
    if (done := task.done()) is not None:
        return done

    tok = load_encoder(tokenizer_path)
    dtype = np.dtype(tinfo.dtype)
    schema = tokenized_schema(tinfo.dtype)
    report = ReadReport(task.input_name)  # quarantine records name the input as the record does
    by_source: dict[str, dict[str, int]] = {}
    sizes: dict[str, dict[int, list[int]]] = {}  # source -> cluster size -> [training documents, tokens]
    empty = 0
    out_path = task.path("_tokenized", ".arrow")

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
        csize = [cluster_size(batch[i].metadata) for i in keep]
        for s, v, n, i, k in zip(sources, val, lengths.tolist(), keep, csize):
            c = by_source.setdefault(s, {"train_documents": 0, "validation_documents": 0, "train_tokens": 0,
                                         "validation_tokens": 0, "bytes": 0})
            split = "validation" if v else "train"
            c[f"{split}_documents"] += 1
            c[f"{split}_tokens"] += n
            c["bytes"] += len(batch[i].text.encode("utf-8"))
            if not v:
                h = sizes.setdefault(s, {}).setdefault(k, [0, 0])
                h[0] += 1
                h[1] += n
        writer.write_batch(pa.record_batch(
            [pa.array(sources, pa.string()), pa.array(val, pa.bool_()),
             pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)), pa.array(csize, pa.int64()),
             pa.array([draw(batch[i].id) for i in keep], pa.uint64())], schema=schema))

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
    task.set_rows(out_path, sum(c["train_documents"] + c["validation_documents"] for c in by_source.values()))
    task.quarantine(report, always=False)
    read = read_counts(report)
    counts = {"records": read["records"], "documents": report.yielded, "empty": empty, "skipped": read["skipped"],
              "quarantined": read["quarantined"], "file_errors": read["file_errors"],
              "by_source": dict(sorted(by_source.items())),
              # the training documents and tokens of each duplicate-cluster size (0: no size recorded), per
              # source: what rehydration (shards/rehydrate.py) multiplies
              "cluster_sizes": {s: {str(k): h[k] for k in sorted(h)} for s, h in sorted(sizes.items())}}
    return task.finish({"input": {"path": task.input_name, "sha256": task.input_sha256, "source": source},
                        "counts": counts, "tokenizer_sha256": tinfo.sha256})


def count_tokens_file(path: str | Path, tokenizer_path: str | Path | None = None, source: str | None = None,
                      batch_docs: int = BATCH_DOCS, rehydrate: dict[str, RehydrateConfig] | None = None
                      ) -> dict[str, dict[str, int]]:
    """Documents, UTF-8 bytes and tokens per source in one input (tokens estimated from bytes without a
    tokenizer, see BYTES_PER_TOKEN_ESTIMATE), and the documents and tokens once `rehydrate` ({source:
    config}) has repeated them (`rehydrated_documents`, `rehydrated_tokens`; the same counts for a source
    without one). Every document counts, the future validation split too. Used by `tamiz mix` before
    anything is written."""
    rehydrate = rehydrate or {}
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
            c = out.setdefault(d.source, {"documents": 0, "bytes": 0, "tokens": 0, "rehydrated_documents": 0,
                                          "rehydrated_tokens": 0})
            n = len(d.text.encode("utf-8"))
            t = len(ids[i]) + 1 if ids is not None else round(n / BYTES_PER_TOKEN_ESTIMATE) + 1
            cfg = rehydrate.get(d.source)
            k = int(cfg.copies(np.array([cluster_size(d.metadata)]), np.array([draw(d.id)], dtype=np.uint64))[0]) \
                if cfg is not None else 1
            c["documents"] += 1
            c["bytes"] += n
            c["tokens"] += t
            c["rehydrated_documents"] += k
            c["rehydrated_tokens"] += k * t
    return out
