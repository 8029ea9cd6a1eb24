"""The dataset table: which sources make the corpus and what share of training each one gets.

A YAML file (read with `yaml.safe_load`), checked into typed dataclasses before any work starts
(each source and the `shards:` block by `tamiz.core.config.from_mapping`: unknown keys, missing
fields, types, then the class's own checks); every error names the file and the field, e.g.
`table.yaml: sources[2].weight: -1 is negative`.

    sources:                      # one entry per source, in a fixed order (ties in the mix go to the first)
      - name: common_crawl        # letters, digits, '_', '-', '.'; matches Document.source
        kind: crawl               # crawl | books | reference | other
        inputs: [common_crawl/*.warc.gz]   # paths, globs or URLs (s3://, gs://, https://), relative to this file
        crawl: {id: CC-MAIN-2025-26, files: warc, select: first, count: 10}   # or a Common Crawl dump
                                  #   instead of inputs (pipeline/commoncrawl.py)
        weight: 0.6               # share of TRAINING TOKENS (see docs/data-format.md); normalized to sum 1
        ingest: {...}             # per-source settings for the stages that own them, kept as plain
        filters: {...}            #   mappings here (each stage checks its own keys)
        dedup: {...}
        rehydrate: {preset: fineweb2}   # optional: repeat documents by their duplicate-cluster size
    shards: {seq_len: 1024, seed: 0, validation_fraction: 0.005, row_start: any}   # ShardConfig
    tokenizer: {...}              # owned by tokenizer/ (kept as a mapping)
    training: {...}               # owned by train/ (kept as a mapping)
    ablate: {...}                 # `tamiz ablate`'s variants, seeds and evaluation (pipeline/ablation.py)
    evaluation: {tasks: [...]}    # fine-tuning tasks: `tamiz run --finetune` (train/finetune/evaluation.py)

The weights' meaning is documented in one place: docs/data-format.md, "What a weight means".
"""

from __future__ import annotations

import glob
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tamiz.core.config import check_keys, from_mapping
from tamiz.core.yamlsafe import MAX_VALUES, read_config  # noqa: F401  (MAX_VALUES: the limit, documented here too)
from tamiz.core.yamlsafe import check_expanded_size as _check_expanded_size  # noqa: F401

KINDS = ("crawl", "books", "reference", "other")
KIND_PRIORITY = {"books": 0, "reference": 1, "other": 2, "crawl": 3}  # who keeps a duplicate by default
ROW_STARTS = ("any", "document")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ShardConfig:
    """How documents become packed rows (the `shards:` block; `tamiz shard` options override it)."""

    seq_len: int = 1024  # tokens the model sees per row; each row stores seq_len + 1 (inputs and shifted targets)
    seed: int = 0  # seeds the mix (which rows repeat, in which order); the validation split does not depend on it
    validation_fraction: float = 0.005  # share of DOCUMENTS held out for validation (by a hash of their id)
    row_start: str = "any"  # "any": rows are consecutive windows of the token stream (no padding);
    #                         "document": every row starts at a document start, the tail is padded with <pad>
    tokens: int | None = None  # training budget in tokens (rows * seq_len); None: the corpus size (one pass by weight)
    shard_tokens: int = 1 << 28  # tokens per output file (~512 MB as uint16)
    batch_tokens: int = 1 << 20  # tokens per Arrow record batch (the unit `datasets` and the loader read)

    def __post_init__(self) -> None:
        _check_int("seq_len", self.seq_len, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("shard_tokens", self.shard_tokens, minimum=1)
        _check_int("batch_tokens", self.batch_tokens, minimum=1)
        if self.tokens is not None:
            _check_int("tokens", self.tokens, minimum=1)
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or not 0.0 <= f < 1.0:
            raise ValueError(f"validation_fraction: {f!r} is not a number in [0, 1)")
        if self.row_start not in ROW_STARTS:
            raise ValueError(f"row_start: {self.row_start!r} is not one of {', '.join(ROW_STARTS)}")

    @property
    def row_tokens(self) -> int:
        return self.seq_len + 1

    def rows_per_shard(self) -> int:
        return max(1, self.shard_tokens // self.row_tokens)

    def rows_per_batch(self) -> int:
        return max(1, min(self.batch_tokens // self.row_tokens, self.rows_per_shard()))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Source:
    """One row of the dataset table."""

    name: str
    weight: float  # raw weight as written; `DatasetTable.weights()` gives the normalized shares
    inputs: tuple[str, ...] = ()  # paths, globs or URLs (s3://, gs://, https://), relative to the table's folder
    crawl: dict[str, Any] = field(default_factory=dict)  # or a Common Crawl dump (pipeline/commoncrawl.py)
    kind: str = "other"
    description: str = ""
    ingest: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)
    dedup: dict[str, Any] = field(default_factory=dict)
    rehydrate: dict[str, Any] = field(default_factory=dict)  # repeat documents by their duplicate-cluster size
    #   (pipeline/rehydrate.py RehydrateConfig: {preset: fineweb2} or {buckets: {1: 1, 2: 2, ...}}); empty: once each

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} is not a source name (letters, digits, '_', '-', '.')")
        if not isinstance(self.crawl, dict):
            raise ValueError(f"crawl: expected a mapping (id, files, select, base, ...), got {type(self.crawl).__name__}")
        if self.crawl:
            if self.inputs:
                raise ValueError("inputs: a source reads either its inputs or a crawl, not both")
            from tamiz.pipeline.commoncrawl import CrawlSpec

            try:
                CrawlSpec.from_dict(self.crawl)
            except ValueError as e:
                raise ValueError(f"crawl.{e}" if not str(e).startswith("crawl") else str(e)) from None
        elif not self.inputs or not all(isinstance(p, str) and p.strip() for p in self.inputs):
            raise ValueError(f"inputs: {list(self.inputs)!r} must be a non-empty list of paths, globs or URLs "
                             "(or give a crawl: block)")
        check_weight("weight", self.weight)
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(self.description, str):
            raise ValueError(f"description: {self.description!r} is not a string")
        for block in ("ingest", "filters", "dedup"):
            if not isinstance(getattr(self, block), dict):
                raise ValueError(f"{block}: expected a mapping of settings, got {type(getattr(self, block)).__name__}")
        if self.rehydrate:  # checked here, so a bad bucket fails when the table is read, before any work
            from tamiz.pipeline.rehydrate import RehydrateConfig

            from_mapping(RehydrateConfig, self.rehydrate, "rehydrate")


@dataclass(frozen=True)
class DatasetTable:
    sources: tuple[Source, ...]
    root: Path  # inputs are relative to this folder (the YAML file's folder)
    shards: ShardConfig = field(default_factory=ShardConfig)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    ablate: dict[str, Any] = field(default_factory=dict)  # owned by pipeline/ablation.py (`tamiz ablate`)
    evaluation: dict[str, Any] = field(default_factory=dict)  # owned by train/finetune/evaluation.py (fine-tuned tasks)
    name: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("sources: the table lists no source")
        seen: dict[str, int] = {}
        for i, s in enumerate(self.sources):
            if s.name in seen:
                raise ValueError(f"sources[{i}].name: {s.name!r} is already sources[{seen[s.name]}]")
            seen[s.name] = i
        if sum(s.weight for s in self.sources) <= 0:
            raise ValueError("sources[*].weight: every weight is 0; at least one source needs a positive weight")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def weights(self) -> dict[str, float]:
        """Normalized weights (sum 1), in table order: the share of training tokens of each source."""
        total = math.fsum(s.weight for s in self.sources)
        return {s.name: s.weight / total for s in self.sources}

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"source {name!r} is not in the table (sources: {', '.join(self.names)})") from None

    def crawl_spec(self, name: str):
        """The source's `crawl:` block as a CrawlSpec (a local base or index relative to the table's
        folder), or None for a source of inputs."""
        from tamiz.pipeline.commoncrawl import CrawlSpec

        i = self.index(name)
        if not self.sources[i].crawl:
            return None
        return CrawlSpec.from_dict(self.sources[i].crawl, where=f"sources[{i}].crawl", file=self.path or "table",
                                   base=self.root)

    def resolve_inputs(self, name: str, selection_folder: str | Path | None = None) -> list[Path | str]:
        """The files of one source, sorted; raises FileNotFoundError naming the field when a pattern matches
        nothing. A crawl source gives the files its path list selects (URLs); one read through the
        columnar index gives the selection files `plan_index` writes into `selection_folder` (its ingest
        folder), or, without one, checks that the index can be read and returns []."""
        from tamiz.core import remote
        from tamiz.pipeline.readers import expand_inputs

        i = self.index(name)
        spec = self.crawl_spec(name)
        if spec is not None:
            from tamiz.pipeline.commoncrawl import check_index, crawl_files, plan_index

            try:
                if spec.index is None:
                    return list(crawl_files(spec))
                if selection_folder is None:
                    check_index(spec)
                    return []
                return list(plan_index(spec, selection_folder)[0])
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{self._where()}sources[{i}].crawl: {e}") from None
            except (OSError, ValueError) as e:
                raise ValueError(f"{self._where()}sources[{i}].crawl: {e}") from None
        found: list[Path | str] = []
        for pattern in self.sources[i].inputs:
            if remote.is_url(pattern):
                try:
                    found += expand_inputs([pattern])
                except (OSError, ValueError) as e:
                    raise (FileNotFoundError if isinstance(e, FileNotFoundError) else ValueError)(
                        f"{self._where()}sources[{i}].inputs: {e}") from None
                continue
            full = Path(pattern) if Path(pattern).is_absolute() else self.root / pattern
            if _GLOB_CHARS.search(pattern):
                matches = [Path(p) for p in sorted(glob.glob(str(full), recursive=True))]
            else:
                matches = [full] if full.exists() else []
            if not matches:
                raise FileNotFoundError(f"{self._where()}sources[{i}].inputs: {pattern!r} matches no file "
                                        f"(relative to {self.root})")
            found += matches
        return expand_inputs(found)

    def _where(self) -> str:
        return f"{self.path}: " if self.path else ""

    # What each stage gets from the table: the policy lives here, beside the table it reads, so
    # `tamiz run` (flows/build.py) only asks. The tokenizer's block is read by
    # tamiz.tokenizer.train.config_from_table and the training block by tamiz.train.config.config_from_table
    # (those packages sit above this one).

    def ingest_config(self, name: str):
        """The source's `ingest:` block as an IngestConfig; ValueError names `file: sources[i].ingest.field`."""
        from tamiz.pipeline.ingest import IngestConfig
        from tamiz.pipeline.urlfilter import resolve_paths

        i = self.index(name)
        block = dict(self.sources[i].ingest)
        if "url_filter" in block:  # its lists are relative to the table's folder
            block["url_filter"] = resolve_paths(block["url_filter"], self.root)
        return IngestConfig.from_dict(block, where=f"sources[{i}].ingest", file=self.path or "table")

    def filters_config(self, name: str):
        """The source's `filters:` block: `enabled: false` skips filtering (None; GPT-3 quality-filtered
        only its crawl); the other keys override the heuristic thresholds for this source (docs/filters.md).
        The offensive step's word lists are relative to the table's folder (read and checked here)."""
        from tamiz.pipeline.filters.config import FiltersConfig
        from tamiz.pipeline.filters.evalsets import resolve_paths

        i = self.index(name)
        block = dict(self.sources[i].filters)
        if not block.pop("enabled", True):
            return None
        off = block.get("offensive")
        if isinstance(off, dict) and isinstance(off.get("word_lists"), list):  # relative to the table's folder
            block["offensive"] = {**off, "word_lists": [str(self.root / w) if isinstance(w, str) else w
                                                        for w in off["word_lists"]]}
        if "decontamination" in block:  # its evaluation sets are relative to the table's folder
            block["decontamination"] = resolve_paths(block["decontamination"], self.root)
        try:
            return FiltersConfig.from_dict({"sources": {name: block}} if block else {})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{self.path or 'table'}: sources[{i}].filters: {e}") from None

    def rehydrate_configs(self) -> dict:
        """{source name: RehydrateConfig} for the sources with a `rehydrate:` block (docs/data-format.md,
        "Rehydration"); the others put every document into their stream once."""
        from tamiz.pipeline.rehydrate import RehydrateConfig

        return {s.name: from_mapping(RehydrateConfig, s.rehydrate, f"sources[{i}].rehydrate")
                for i, s in enumerate(self.sources) if s.rehydrate}

    def dedup_config(self):
        """One DedupConfig for the whole corpus (dedup works across sources: every source's `dedup:`
        block must agree), and the priority of sources when a duplicate is removed: by kind (books,
        reference, other, crawl), then table order."""
        from tamiz.pipeline.dedup.config import DedupConfig

        blocks = [dict(s.dedup) for s in self.sources]
        settings: dict[str, Any] = {}  # each setting as the first source that gives it has it
        for b in blocks:
            for k, v in b.items():
                if k != "priority":
                    settings.setdefault(k, v)
        for i, b in enumerate(blocks):
            for k, v in b.items():
                if k != "priority" and settings.get(k) != v:
                    raise ValueError(f"{self.path or 'table'}: sources[{i}].dedup.{k}: differs between sources; "
                                     "dedup runs across sources with one setting")
        try:
            config = DedupConfig.from_dict(settings)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{self.path}: dedup: {e}") from None
        order = sorted(range(len(self.sources)), key=lambda i: (KIND_PRIORITY[self.sources[i].kind], i))
        return config, [self.sources[i].name for i in order]


TOP_KEYS = ("name", "description", "sources", "shards", "tokenizer", "training", "ablate", "evaluation")


def load_table(path: str | Path) -> DatasetTable:
    """Read and check a dataset table; raises ValueError naming the file and the field.

    The file is read by `tamiz.core.yamlsafe.read_config` (safe_load, size, UTF-8, depth and alias-bomb checks)."""
    path = Path(path)
    raw = read_config(path, "dataset table")
    return parse_table(raw, root=path.resolve().parent, path=path)


def parse_table(raw: Any, root: Path, path: Path | None = None) -> DatasetTable:
    """A DatasetTable from the YAML mapping: each source and the `shards:` block through
    `tamiz.core.config.from_mapping` (unknown keys, missing fields, types, then the class's checks)."""
    where = f"{path}: " if path else ""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}expected a mapping with a 'sources' list, got {type(raw).__name__}")
    try:
        check_keys(raw, TOP_KEYS, what="key")
        if not isinstance(raw.get("sources"), list) or not raw["sources"]:
            raise ValueError("sources: expected a non-empty list of sources")
        sources = tuple(_source(s, f"sources[{i}]") for i, s in enumerate(raw["sources"]))
        for block in ("tokenizer", "training", "ablate", "evaluation"):  # owned elsewhere: kept as mappings
            if raw.get(block) is not None and not isinstance(raw[block], dict):
                raise ValueError(f"{block}: expected a mapping, got {type(raw[block]).__name__}")
        shards = from_mapping(ShardConfig, raw.get("shards"), "shards")
        name = raw.get("name") or ""
        if not isinstance(name, str):
            raise ValueError(f"name: {name!r} is not a string")
        return DatasetTable(sources=sources, root=root, shards=shards, tokenizer=dict(raw.get("tokenizer") or {}),
                            training=dict(raw.get("training") or {}), ablate=dict(raw.get("ablate") or {}),
                            evaluation=dict(raw.get("evaluation") or {}),
                            name=name, path=path)
    except ValueError as e:
        raise ValueError(f"{where}{e}") from None


def _source(s: Any, at: str) -> Source:
    """One entry of `sources:`; a single string is one input, and null blocks are empty."""
    if not isinstance(s, dict):
        raise ValueError(f"{at}: expected a mapping (name, inputs, kind, weight, ...), got {type(s).__name__}")
    s = {k: v for k, v in s.items() if not (v is None and k in _NULL_IS_DEFAULT)}
    if isinstance(s.get("inputs"), str):
        s["inputs"] = [s["inputs"]]
    return from_mapping(Source, s, at)


_NULL_IS_DEFAULT = ("description", "ingest", "filters", "dedup", "crawl", "rehydrate")


def check_weight(name: str, w: Any) -> float:
    """A weight is a finite, non-negative number; returns it as a float."""
    if isinstance(w, bool) or not isinstance(w, (int, float)):
        raise ValueError(f"{name}: {w!r} is not a number")
    if not math.isfinite(w):
        raise ValueError(f"{name}: {w!r} is not finite")
    if w < 0:
        raise ValueError(f"{name}: {w!r} is negative")
    return float(w)


def _check_int(name: str, v: Any, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name}: {v!r} is not an integer")
    if v < minimum:
        raise ValueError(f"{name}: {v!r} is less than {minimum}")
