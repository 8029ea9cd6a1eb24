"""Ingest one input file: read -> URL filter (if set) -> extract main text (HTML only) -> drop empty -> language ID.

Writes, under the stage folder:
  docs/<shard>.parquet         kept documents
  rejects/<shard>.parquet      dropped documents with metadata.drop_reason
  quarantine/<shard>.jsonl     records that could not be read (offset, reason, excerpt)
  _shards/<shard>.json         the shard's completion record (counts, checksums)
Counts reconcile: records = kept + dropped (by reason) + skipped (by reason) + quarantined.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tamiz.core.config import from_mapping
from tamiz.pipeline.extract import EXTRACTORS, Extract, NonEmpty
from tamiz.pipeline.langid import DEFAULT_THRESHOLD, MAX_CHARS, LanguageFilter
from tamiz.pipeline.readers import as_input, check_text_unit, input_kind, read_documents
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.runner import StepStats, run_steps
from tamiz.pipeline.shard_task import ShardTask, read_counts
from tamiz.pipeline.urlfilter import UrlFilter, UrlFilterConfig
from tamiz.pipeline.writers import config_hash


@dataclass(frozen=True)
class IngestConfig:
    """Settings of the ingest stage (all checked before any work starts)."""

    extractor: str = "resiliparse"  # HTML to text: "resiliparse" (default, fastest) or "trafilatura"
    language: str = "es"  # keep documents whose top fastText language is this one
    language_threshold: float = DEFAULT_THRESHOLD  # ... with at least this probability
    min_chars: int = 1  # drop documents whose extracted text is shorter
    language_id: bool = True  # False keeps every language (e.g. for curated sources known to be Spanish)
    language_max_chars: int = MAX_CHARS  # language ID reads at most this many characters of a document (2,000: 3.4x
    #   faster on crawl pages, 3 decisions in 10,851 changed; docs/langid.md)
    text_unit: str = "auto"  # how .txt(.gz) inputs become documents (tamiz.pipeline.readers.TEXT_UNITS)
    url_filter: UrlFilterConfig | None = None  # block documents by their URL before extraction (pipeline/urlfilter.py)

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor: {self.extractor!r} is not one of {', '.join(EXTRACTORS)}")
        if not 0.0 <= self.language_threshold <= 1.0:
            raise ValueError(f"language_threshold: {self.language_threshold} is not between 0 and 1")
        if self.min_chars < 0:
            raise ValueError(f"min_chars: {self.min_chars} is negative")
        if not self.language.isascii() or not self.language.isalpha():
            raise ValueError(f"language: {self.language!r} is not a language code like 'es'")
        if isinstance(self.language_max_chars, bool) or not isinstance(self.language_max_chars, int) \
                or self.language_max_chars < 100:
            raise ValueError(f"language_max_chars: {self.language_max_chars!r} is not an integer of at least 100")
        check_text_unit(self.text_unit)
        if isinstance(self.url_filter, Mapping):  # as_dict's form, in which flows hand the config to their tasks
            object.__setattr__(self, "url_filter", from_mapping(UrlFilterConfig, self.url_filter, "url_filter"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "ingest",
                  file: str | Path | None = None) -> "IngestConfig":
        """From a mapping of its fields (a table source's `ingest:` block, or as_dict's output), checked by
        `tamiz.core.config.from_mapping`: ValueError names `file: where.field`. Values are kept as written."""
        return from_mapping(cls, d, where, file=file)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.url_filter is None:  # a config without one keys its records as before the field existed
            del d["url_filter"]
        if self.language_max_chars == MAX_CHARS:  # the same: the cut language ID always had
            del d["language_max_chars"]
        return d

    def record(self) -> dict[str, Any]:
        """as_dict without locations: the URL filter's lists by name and sha256 (for keys and manifests)."""
        d = self.as_dict()
        if self.url_filter is not None:
            d["url_filter"] = self.url_filter.record()
        return d

    def hash(self) -> str:
        return config_hash(self.record())


def shard_task(path: str | Path, out_dir: str | Path, source: str, config: IngestConfig,
               name: str | None = None) -> ShardTask:
    """The task of one input: its shard name and the key its completion record must match (reads the
    input's sha256). `name`: what the record calls the input (`ShardTask.for_input`)."""
    return ShardTask.for_input(path, out_dir, name=name, config_hash=config.hash(), source=source)


def ingest_file(path: str | Path, out_dir: str | Path, source: str, config: IngestConfig,
                name: str | None = None) -> dict[str, Any]:
    """Ingest one input (file or text folder); skipped when already done with the same input and config.
    `name`: what the record calls the input (default: its path relative to the current folder, or its URL)."""
    path = as_input(path)  # a URL stays a string
    task = shard_task(path, out_dir, source, config, name)
    if (done := task.done()) is not None:
        return done

    report = ReadReport(task.input_name)  # quarantine records name the input as the record does
    stats = StepStats()
    steps: list = [UrlFilter(config.url_filter)] if config.url_filter is not None else []
    if input_kind(path) in ("warc", "ccselection"):
        steps += [Extract(config.extractor)]
    steps += [NonEmpty(config.min_chars)]
    if config.language_id:
        steps += [LanguageFilter(config.language, config.language_threshold, max_chars=config.language_max_chars)]

    languages: Counter = Counter()  # top language of every document with text, kept or dropped

    def count_language(doc) -> None:
        if doc.metadata.get("language"):
            languages[doc.metadata["language"]] += 1

    def reject(doc) -> None:
        count_language(doc)
        rejects.add(doc)

    with task.parquet("docs") as kept, task.parquet("rejects") as rejects:
        for doc in run_steps(read_documents(path, report, source, config.text_unit), steps, stats, on_reject=reject):
            count_language(doc)
            kept.add(doc)
    task.quarantine(report)

    read = read_counts(report)
    counts = {
        "records": read["records"],
        "kept": stats.docs_out,
        "dropped": dict(sorted(stats.dropped.items())),
        "skipped": read["skipped"],
        "quarantined": read["quarantined"],
        "file_errors": read["file_errors"],
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    assert report.reconciles(), f"{path}: read counts do not reconcile"
    assert stats.reconciles(), f"{path}: step counts do not reconcile"
    assert counts["records"] == (counts["kept"] + sum(counts["dropped"].values()) + sum(counts["skipped"].values())
                                 + counts["quarantined"])
    return task.finish({
        "input": {"path": task.input_name, "sha256": task.input_sha256, "source": source},
        "source": source,
        "counts": counts,
    })


def merge_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum shard counts into stage totals (and per source)."""
    total: dict[str, Any] = {"records": 0, "kept": 0, "quarantined": 0, "bytes_in": 0, "bytes_out": 0,
                             "dropped": {}, "skipped": {}, "languages": {}, "file_errors": 0}
    by_source: dict[str, dict[str, int]] = {}
    for r in records:
        c = r["counts"]
        for k in ("records", "kept", "quarantined", "bytes_in", "bytes_out"):
            total[k] += c[k]
        total["file_errors"] += len(c["file_errors"])
        for k in ("dropped", "skipped", "languages"):
            for reason, n in c[k].items():
                total[k][reason] = total[k].get(reason, 0) + n
        s = by_source.setdefault(r["source"], {"records": 0, "kept": 0})
        s["records"] += c["records"]
        s["kept"] += c["kept"]
    for k in ("dropped", "skipped"):
        total[k] = dict(sorted(total[k].items()))
    total["languages"] = dict(sorted(total["languages"].items(), key=lambda kv: (-kv[1], kv[0])))
    total["by_source"] = dict(sorted(by_source.items()))
    return total
