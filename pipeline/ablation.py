"""Ablation variants: the dataset table with curation steps switched off, or with other weights.

`tamiz ablate` (flows/ablate.py) builds the corpus of every variant and trains the same model on
each, several seeds apiece. A variant is the user's table with changes, checked like the table
itself before any work starts. The table's `ablate:` block (every key optional):

    ablate:
      variants:                 # default: full, no_language_id, no_filters, no_dedup
        - full                  # the table as written: the baseline every other variant is compared with
        - no_language_id        # built-in: no_<step>, that one step switched off (STEPS below)
        - no_gopher_quality
        - name: crawl_heavy     # a variant of your own: other weights ...
          weights: {common_crawl: 0.8, books: 0.1, reference: 0.1}
        - name: bare            # ... several steps off ...
          off: [language_id, filters, dedup]
        - name: strict_gopher   # ... or any source setting changed (merged into the source's blocks)
          sources: {common_crawl: {filters: {gopher_quality: {min_doc_words: 100}}}}
      seeds: 3                  # training seeds per variant
      eval: [heldout/*.jsonl]   # held-out evaluation files, relative to the table (default: data/eval)
      cloze: {pairs: 200, seed: 0}
      training: {schedule: {max_steps: 200}}   # changes to the table's training block for every run

The steps a variant can switch off (`steps()`): `language_id` (every source keeps every language),
`filters` (no source is filtered), one filter family on every filtered source (`gopher_quality`,
`gopher_repetition`, `c4`, `fineweb`, `close_language`, `offensive`, `pii`, `decontamination`:
pipeline/filters/config.py FAMILIES, so a family added there is a step here), and `dedup` (no dedup
stage). A step that runs for no source of the table (`not_run`: judged from the sources' resolved
configs, e.g. `pii` off by default, decontamination without evaluation sets) cannot be switched off:
such a variant is refused, as it would build the baseline's corpus. The quality classifier and
perplexity sampling are not configured from the table yet (`tamiz filter` runs them), so they are not
steps here until they are; a variant of your own with `sources:` reaches any other source setting.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from tamiz.core.config import from_mapping
from tamiz.pipeline.table import DatasetTable, Source, check_weight

BASELINE = "full"
DEFAULT_VARIANTS = (BASELINE, "no_language_id", "no_filters", "no_dedup")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SOURCE_BLOCKS = ("ingest", "filters", "dedup", "rehydrate")


def families() -> tuple[str, ...]:
    from tamiz.pipeline.filters.config import FAMILIES

    return tuple(FAMILIES)


def steps() -> tuple[str, ...]:
    """Every curation step a variant can switch off."""
    return ("language_id", "filters", *families(), "dedup")


def builtin_names() -> tuple[str, ...]:
    return (BASELINE, *(f"no_{s}" for s in steps()))


@dataclass(frozen=True)
class ClozeConfig:
    """The cloze test (train/cloze.py): pairs of a held-out sentence and the same sentence with one word
    replaced by a word of similar frequency and length."""

    pairs: int = 200  # pairs built from the evaluation sets' sentences (fewer when the sentences run out)
    seed: int = 0  # which sentences, target words and substitutes: the same pairs for every variant and seed

    def __post_init__(self) -> None:
        if self.pairs < 0:
            raise ValueError(f"pairs: {self.pairs} is negative (0: no cloze test)")


@dataclass(frozen=True)
class AblateConfig:
    """The table's `ablate:` block."""

    variants: tuple[str | dict[str, Any], ...] = DEFAULT_VARIANTS  # built-in names (full, no_<step>) or mappings
    #                                   {name, off, weights, sources}; `full` is always run (the baseline)
    seeds: int = 3  # training seeds per variant (model initialisation and data order): 0, 1, ..., seeds - 1
    eval: tuple[str, ...] = ()  # held-out evaluation files (.jsonl: a "text" per line; .txt: one document), paths or
    #                             globs relative to the table; empty: the bundled data/eval sets
    cloze: ClozeConfig = field(default_factory=ClozeConfig)
    training: dict[str, Any] = field(default_factory=dict)  # changes to the table's `training:` block for every run
    #                                                         (sections model, optimizer, schedule, data, run)
    finetune: bool = False  # also fine-tune every run's model on the tasks of the table's `evaluation:` block (its
    #                         mode; one fine-tuning seed, no baseline): their test scores become metrics of the report

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds: {self.seeds} must be at least 1 (3 or more to see the spread)")
        if not self.variants:
            raise ValueError("variants: the list is empty")


@dataclass(frozen=True)
class VariantSpec:
    """A variant of your own (a mapping in `ablate.variants`)."""

    name: str  # letters, digits, '_', '-', '.'
    off: tuple[str, ...] = ()  # curation steps switched off (language_id, filters, a filter family, dedup)
    weights: dict[str, float] = field(default_factory=dict)  # source -> weight; the sources not named keep theirs
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> {ingest, filters, dedup} settings,
    #                                                                   merged into the table's

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} is not a variant name (letters, digits, '_', '-', '.')")
        known = steps()
        for s in self.off:
            if s not in known:
                raise ValueError(f"off: {s!r} is not a step (one of {', '.join(known)})")
        for src, w in self.weights.items():
            check_weight(f"weights.{src}", w)


@dataclass(frozen=True)
class Variant:
    """One variant, resolved: the changed table, and whether dedup runs."""

    name: str
    table: DatasetTable
    dedup: bool
    off: tuple[str, ...]  # the steps switched off (empty for the baseline and for a variant of other settings)
    changes: str  # what differs from the table, in words (the report's second column)

    @property
    def step(self) -> str | None:
        """The one curation step this variant measures (a built-in `no_<step>`), else None."""
        return self.off[0] if len(self.off) == 1 and self.name == f"no_{self.off[0]}" else None


def ablate_config(table: DatasetTable) -> AblateConfig:
    """The table's `ablate:` block, checked; ValueError names `file: ablate.field`."""
    return from_mapping(AblateConfig, table.ablate, "ablate", file=table.path or "table")


def resolve_variants(table: DatasetTable, specs: Sequence[str | Mapping[str, Any]]) -> list[Variant]:
    """The variants, baseline first (added when not listed); each changed table is checked as a table is,
    and a variant that would build exactly the baseline's corpus is refused (it would measure nothing)."""
    where = f"{table.path or 'table'}: ablate.variants"
    base = Variant(BASELINE, table, True, (), "the table as written")
    out: list[Variant] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        at = f"{where}[{i}]"
        if isinstance(spec, str):
            if spec not in builtin_names():
                raise ValueError(f"{at}: {spec!r} is not a built-in variant (one of {', '.join(builtin_names())}); "
                                 "a variant of your own is a mapping {name, off, weights, sources}")
            vs = VariantSpec(spec, off=() if spec == BASELINE else (spec[3:],))
        elif isinstance(spec, Mapping):
            vs = from_mapping(VariantSpec, spec, at)
            if vs.name in builtin_names():
                raise ValueError(f"{at}.name: {vs.name!r} is a built-in variant's name; choose another")
        else:
            raise ValueError(f"{at}: expected a variant name or a mapping, got {type(spec).__name__}")
        if vs.name in seen:
            raise ValueError(f"{at}.name: {vs.name!r} is already {where}[{seen[vs.name]}]")
        seen[vs.name] = i
        if vs.name == BASELINE:
            out.insert(0, base)
            continue
        try:
            variant = apply_spec(table, vs)
        except ValueError as e:
            raise ValueError(f"{at} ({vs.name}): {e}") from None
        if variant.dedup and table_mapping(variant.table) == table_mapping(table):
            raise ValueError(f"{at} ({vs.name}): builds the same corpus as {BASELINE} (nothing it switches off runs "
                             "in this table): it would measure nothing")
        out.append(variant)
    if not out or out[0].name != BASELINE:
        out.insert(0, base)
    return out


def apply_spec(table: DatasetTable, spec: VariantSpec) -> Variant:
    """The table with the spec's source settings merged in, its weights, and its steps switched off; a step
    that does not run in the table (with the spec's settings) is refused: switching it off changes nothing."""
    names = set(table.names)
    for what, keys in (("weights", spec.weights), ("sources", spec.sources)):
        for src in keys:
            if src not in names:
                raise ValueError(f"{what}.{src}: not a source of the table ({', '.join(table.names)})")
    sources: list[Source] = []
    for s in table.sources:
        blocks = {b: copy.deepcopy(getattr(s, b)) for b in _SOURCE_BLOCKS}
        change = spec.sources.get(s.name) or {}
        if not isinstance(change, Mapping):
            raise ValueError(f"sources.{s.name}: expected a mapping of blocks ({', '.join(_SOURCE_BLOCKS)})")
        for block, settings in change.items():
            if block not in _SOURCE_BLOCKS:
                raise ValueError(f"sources.{s.name}.{block}: unknown block (allowed: {', '.join(_SOURCE_BLOCKS)})")
            if not isinstance(settings, Mapping):
                raise ValueError(f"sources.{s.name}.{block}: expected a mapping of settings")
            blocks[block] = _merge(blocks[block], settings)
        sources.append(dataclasses.replace(s, weight=spec.weights.get(s.name, s.weight), **blocks))
    changed = _checked(dataclasses.replace(table, sources=tuple(sources), ablate={}))
    for step in spec.off:
        why = not_run(changed, step)
        if why:
            raise ValueError(f"{step} does not run in this table ({why}): switching it off would build the same "
                             f"corpus as {BASELINE} and measure nothing")
    changed = _checked(dataclasses.replace(changed, sources=tuple(_switch_off(s, spec.off) for s in changed.sources)))
    return Variant(spec.name, changed, "dedup" not in spec.off, spec.off, _describe(spec))


def _switch_off(source: Source, off: Sequence[str]) -> Source:
    """The source with the steps switched off in its blocks (a family only where the source is filtered)."""
    ingest, filters = copy.deepcopy(source.ingest), copy.deepcopy(source.filters)
    for step in off:
        if step == "language_id":
            ingest["language_id"] = False
        elif step == "filters":
            filters = {"enabled": False}
        elif step in families() and filters.get("enabled", True):
            filters[step] = {**dict(filters.get(step) or {}), "enabled": False}
    return dataclasses.replace(source, ingest=ingest, filters=filters)


def _checked(table: DatasetTable) -> DatasetTable:
    """The table, every block checked as plan_build would (ValueError names the field)."""
    for name in table.names:
        table.ingest_config(name)
        table.filters_config(name)
    table.dedup_config()
    return table


def not_run(table: DatasetTable, step: str) -> str | None:
    """Why `step` runs for no source of the table (None when it runs for one): what the filter stage and
    ingest would actually do, from the sources' resolved configs, not what the table's YAML says."""
    if step == "dedup":
        return None  # every build deduplicates
    if step == "language_id":
        return None if any(table.ingest_config(n).language_id for n in table.names) else \
            "every source has ingest.language_id off"
    filtered = [c.for_source(n) for n in table.names if (c := table.filters_config(n)) is not None]
    if not filtered:
        return "no source is filtered"
    if step == "filters":
        return None
    if any(family_runs(c, step) for c in filtered):
        return None
    if step == "decontamination":
        return "no filtered source names an evaluation set (filters.decontamination.evaluation_sets)"
    from tamiz.pipeline.filters.config import FAMILIES

    if not FAMILIES[step]().enabled:  # a step that is off unless a source enables it
        return f"no filtered source enables it (filters.{step}.enabled)"
    return f"every filtered source switches it off (filters.{step}.enabled: false)"


def family_runs(config: Any, family: str) -> bool:
    """Whether a filter family runs in a source's HeuristicsConfig (pipeline/filters/__init__.py
    heuristic_steps: `enabled`, and for decontamination evaluation sets as well: its `active()`)."""
    cfg = getattr(config, family)
    active = getattr(cfg, "active", None)
    return bool(active() if callable(active) else cfg.enabled)


def _merge(base: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in change.items():
        out[k] = _merge(dict(out[k]), v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


def _describe(spec: VariantSpec) -> str:
    parts = []
    if spec.off:
        parts.append("off: " + ", ".join(spec.off))
    if spec.weights:
        parts.append("weights " + ", ".join(f"{k} {v:g}" for k, v in spec.weights.items()))
    if spec.sources:
        parts.append("settings of " + ", ".join(spec.sources))
    return "; ".join(parts) or "(no change)"


def table_mapping(table: DatasetTable) -> dict[str, Any]:
    """The table as a YAML mapping again (without its `training:` and `ablate:` blocks): what `tamiz ablate`
    writes for each variant, so that the shard stage and a person can read the variant's table."""
    sources = []
    for s in table.sources:
        d: dict[str, Any] = {"name": s.name, "kind": s.kind}
        if s.description:
            d["description"] = s.description
        if s.crawl:
            d["crawl"] = copy.deepcopy(s.crawl)
        else:
            d["inputs"] = list(s.inputs)
        d["weight"] = s.weight
        for b in _SOURCE_BLOCKS:
            d[b] = copy.deepcopy(getattr(s, b))
        sources.append(d)
    return {"name": table.name, "sources": sources, "shards": table.shards.as_dict(),
            "tokenizer": copy.deepcopy(table.tokenizer)}
