"""Typed thresholds of the heuristic filters, with Spanish defaults, overridable per source.

Defaults come from FineWeb-2's `spa_Latn` configuration (huggingface/fineweb-2, configs/spa_Latn.yml
at commit d331bee, the values the FineWeb-2 pipeline applies to Spanish) and, for what that file does
not set, from the datatrove defaults the FineWeb-2 pipeline keeps (Gopher's paper values) or the
FineWeb-2 pipeline's own overrides (disabled paragraph rules, short-line rule off, character
duplicates 0.1). C4 is not part of FineWeb-2; its settings follow FineWeb (English), which ran C4
without the terminal-punctuation line rule. `None` turns a single check off; `enabled=False` turns
a whole filter off. docs/filters.md explains every field; each field's comment documents it too
(`tamiz.core.config.describe` renders them). Overrides are loaded by `tamiz.core.config.from_mapping`:
an unknown name, a wrong type or a bad value raises ValueError naming `section.family.field`.

A user file (YAML or JSON) overrides fields, for all sources and per source:

    default:            # applies to every source
      c4: {badwords: false}
    sources:
      books:            # only for documents whose source is "books"
        fineweb: {enabled: false}
        gopher_quality: {min_doc_words: 20}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tamiz.core.config import check_keys, from_mapping
from tamiz.pipeline.pii.config import PIIConfig
from tamiz.pipeline.filters.evalsets import DecontaminationConfig

SPANISH_STOP_WORDS = ("de", "la", "en", "el", "y", "a", "que", "del", "los", "se", "por", "un", "con", "una",
                      "las", "su")
# C4's policy phrases (tensorflow_datasets c4_utils) and their usual Spanish forms on cookie banners
POLICY_SUBSTRINGS = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
    "términos de uso", "condiciones de uso", "política de privacidad", "politica de privacidad",
    "política de cookies", "politica de cookies", "uso de cookies", "utiliza cookies", "utilizamos cookies",
    "usamos cookies", "usa cookies", "aviso legal",
)


def _number(name: str, v) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise ValueError(f"{name}: {v!r} is not a number")


def _ratio(name: str, v: float | None) -> None:
    _number(name, v)
    if v is not None and not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: {v} is not a ratio between 0 and 1")


def _positive(name: str, v: float | None) -> None:
    _number(name, v)
    if v is not None and not v > 0:
        raise ValueError(f"{name}: {v} must be positive")


def _ngram_thresholds(name: str, pairs: tuple) -> tuple[tuple[int, float], ...]:
    out = []
    for p in pairs:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"{name}: {p!r} is not an (n, fraction) pair")
        n, frac = p
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name}: n-gram size {n!r} is not a positive integer")
        _ratio(f"{name}[{n}]", frac)
        out.append((n, float(frac)))
    return tuple(out)


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher's quality rules (Rae et al. 2021, table A1) with FineWeb-2 `spa_Latn` values."""

    enabled: bool = True
    min_doc_words: int | None = 50  # words (tokens with a letter or digit), at least
    max_doc_words: int | None = 100_000  # ... and at most
    min_avg_word_length: float | None = 3  # mean characters per word (spa_Latn: 3)
    max_avg_word_length: float | None = 14  # (spa_Latn: 14)
    max_symbol_word_ratio: float | None = 0.1  # '#' per token, and '...'/'…' per token, at most
    max_bullet_lines_ratio: float | None = 0.9  # share of non-empty lines starting with a bullet
    max_ellipsis_lines_ratio: float | None = 0.3  # share of non-empty lines ending with an ellipsis
    min_alpha_words_ratio: float | None = 0.825  # share of tokens with a letter (spa_Latn 'max_non_alpha_words_ratio')
    min_stop_words: int | None = 2  # distinct stop words present (case-insensitive), at least
    stop_words: tuple[str, ...] = SPANISH_STOP_WORDS

    def __post_init__(self) -> None:
        for n in ("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length"):
            _positive(n, getattr(self, n))
        for n in ("max_symbol_word_ratio", "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                  "min_alpha_words_ratio"):
            _ratio(n, getattr(self, n))
        if self.min_doc_words and self.max_doc_words and self.min_doc_words > self.max_doc_words:
            raise ValueError(f"min_doc_words: {self.min_doc_words} > max_doc_words {self.max_doc_words}")
        if (self.min_avg_word_length and self.max_avg_word_length
                and self.min_avg_word_length > self.max_avg_word_length):
            raise ValueError(f"min_avg_word_length: {self.min_avg_word_length} > "
                             f"max_avg_word_length {self.max_avg_word_length}")
        if self.min_stop_words is not None and self.min_stop_words < 0:
            raise ValueError(f"min_stop_words: {self.min_stop_words} is negative")
        object.__setattr__(self, "stop_words", tuple(w.lower() for w in self.stop_words))
        if self.min_stop_words and self.min_stop_words > len(set(self.stop_words)):
            raise ValueError(f"min_stop_words: {self.min_stop_words} is more than the "
                             f"{len(set(self.stop_words))} stop words listed")


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Gopher's repetition rules with FineWeb-2 `spa_Latn` values (paragraph rules off, as FineWeb-2)."""

    enabled: bool = True
    dup_line_frac: float | None = 0.252  # share of lines that repeat an earlier line, at most
    dup_para_frac: float | None = None  # share of paragraphs that repeat an earlier one (Gopher: 0.3)
    dup_line_char_frac: float | None = None  # characters in repeated lines / all characters (Gopher: 0.2)
    dup_para_char_frac: float | None = None  # characters in repeated paragraphs / all characters (Gopher: 0.2)
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.156), (3, 0.14), (4, 0.125))  # (n, fraction): characters
    #                                      covered by the most frequent n-gram / all characters, at most
    dup_n_grams: tuple[tuple[int, float], ...] = (  # (n, fraction): characters in n-grams that repeat an earlier
        #                                           n-gram / all characters, at most
        (5, 0.145), (6, 0.136), (7, 0.127), (8, 0.117), (9, 0.108), (10, 0.099))

    def __post_init__(self) -> None:
        for n in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
            _ratio(n, getattr(self, n))
        object.__setattr__(self, "top_n_grams", _ngram_thresholds("top_n_grams", self.top_n_grams))
        object.__setattr__(self, "dup_n_grams", _ngram_thresholds("dup_n_grams", self.dup_n_grams))


@dataclass(frozen=True)
class C4Config:
    """C4's rules (Raffel et al. 2020) as FineWeb ran them, plus Spanish policy phrases and bad words."""

    enabled: bool = True
    remove_lines: bool = True  # drop the lines that fail the line rules from the text (as C4 does)
    remove_citations: bool = True  # strip Wikipedia-style [1], [edit], [citation needed]
    filter_no_terminal_punct: bool = False  # line rule: must end in . ? ! " ' (FineWeb: off)
    min_words_per_line: int | None = 3  # line rule: at least this many words
    max_word_length: int | None = 1000  # line rule: no word longer than this
    filter_javascript: bool = True  # line rule: no "javascript"
    filter_policy: bool = True  # line rule: no cookie/privacy/terms phrase
    policy_substrings: tuple[str, ...] = POLICY_SUBSTRINGS
    min_num_sentences: int | None = 5  # document: at least this many sentences in the kept lines
    filter_lorem_ipsum: bool = True  # document: no "lorem ipsum"
    filter_curly_bracket: bool = True  # document: no "{" (code)
    badwords: bool = True  # document: bad words (spanlp's lists, curated; see resources/NOTICE.md)
    badwords_min_count: int = 2  # ... drop when at least this many bad-word occurrences
    badwords_max_ratio: float = 0.005  # ... and they are more than this share of the words

    def __post_init__(self) -> None:
        for n in ("min_words_per_line", "max_word_length", "min_num_sentences"):
            v = getattr(self, n)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"{n}: {v!r} is not a non-negative integer")
        if self.badwords_min_count < 1:
            raise ValueError(f"badwords_min_count: {self.badwords_min_count} must be at least 1")
        _ratio("badwords_max_ratio", self.badwords_max_ratio)
        object.__setattr__(self, "policy_substrings", tuple(p.lower() for p in self.policy_substrings))


@dataclass(frozen=True)
class FineWebConfig:
    """FineWeb's own rules (Penedo et al. 2024) with FineWeb-2 `spa_Latn` values."""

    enabled: bool = True
    line_punct_thr: float | None = 0.182  # share of lines ending in terminal punctuation, at least
    line_punct_exclude_zero: bool = False  # keep documents where no line ends in punctuation
    short_line_thr: float | None = None  # share of lines <= short_line_length chars (FineWeb 0.67; FineWeb-2 off)
    short_line_length: int = 30
    char_duplicates_ratio: float | None = 0.1  # characters in repeated lines / characters (FineWeb-2: 0.1)
    new_line_ratio: float | None = 0.138  # newlines per token, at most

    def __post_init__(self) -> None:
        for n in ("line_punct_thr", "short_line_thr", "char_duplicates_ratio"):
            _ratio(n, getattr(self, n))
        _positive("new_line_ratio", self.new_line_ratio)
        if self.short_line_length < 1:
            raise ValueError(f"short_line_length: {self.short_line_length} must be at least 1")


# -------------------------------------------- content steps: close languages, offensive words (issue 16)

CLOSE_LANGUAGES = ("ca", "gl", "pt", "ast", "oc")
OFFENSIVE_ACTIONS = ("tag", "drop")


@dataclass(frozen=True)
class CloseLanguageConfig:
    """Close-language leakage (pipeline/filters/close_language.py): marker words of Spanish and of the
    languages a Spanish language ID confuses with it."""

    enabled: bool = False
    languages: tuple[str, ...] = CLOSE_LANGUAGES  # close languages to detect (resources/close_language/<lang>.txt)
    min_markers: int = 2  # drop only with at least this many marker words of the close language...
    max_share: float = 0.5  # ... and when they are more than this share of its markers + Spanish markers

    def __post_init__(self) -> None:
        bad = [lang for lang in self.languages if lang not in CLOSE_LANGUAGES]
        if bad or not self.languages:
            raise ValueError(f"languages: {bad[0] if bad else '[]'!r} is not one of {', '.join(CLOSE_LANGUAGES)}")
        if isinstance(self.min_markers, bool) or not isinstance(self.min_markers, int) or self.min_markers < 1:
            raise ValueError(f"min_markers: {self.min_markers!r} is not an integer of at least 1")
        _ratio("max_share", self.max_share)


@dataclass(frozen=True)
class OffensiveConfig:
    """Offensive and adult words (pipeline/filters/offensive.py): spanlp's lists by country, curated, plus
    your own lists; score = offensive-word occurrences per word."""

    enabled: bool = False
    countries: tuple[str, ...] = ()  # spanlp lists to use (ISO 3166 alpha-3: ARG, ..., ESP, MEX, ...); empty: all 21
    curated: bool = True  # leave out tamiz's ordinary-word exclusions (resources/badwords_es_exclude.txt)
    word_lists: tuple[str, ...] = ()  # your own lists: UTF-8 files, one word per line, '#' starts a comment
    threshold: float = 0.02  # a document is offensive when offensive words per word are at least this...
    min_hits: int = 1  # ... and it holds at least this many offensive words
    action: str = "tag"  # "tag": keep, mark metadata.offensive.tagged and metadata.tags; "drop": reason offensive:words

    def __post_init__(self) -> None:
        from tamiz.pipeline.filters.offensive import check_countries, check_word_list

        check_countries(self.countries)
        for path in self.word_lists:
            check_word_list(path)
        _ratio("threshold", self.threshold)
        if isinstance(self.min_hits, bool) or not isinstance(self.min_hits, int) or self.min_hits < 1:
            raise ValueError(f"min_hits: {self.min_hits!r} is not an integer of at least 1")
        if self.action not in OFFENSIVE_ACTIONS:
            raise ValueError(f"action: {self.action!r} is not one of {', '.join(OFFENSIVE_ACTIONS)}")
        object.__setattr__(self, "countries", tuple(c.upper() for c in self.countries))


FAMILIES = {"gopher_quality": GopherQualityConfig, "gopher_repetition": GopherRepetitionConfig,
            "c4": C4Config, "fineweb": FineWebConfig,
            "close_language": CloseLanguageConfig, "offensive": OffensiveConfig, "pii": PIIConfig,
            "decontamination": DecontaminationConfig}


@dataclass(frozen=True)
class HeuristicsConfig:
    """The thresholds of every filter family for one source, and its personal-data redactor."""

    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    c4: C4Config = field(default_factory=C4Config)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    close_language: CloseLanguageConfig = field(default_factory=CloseLanguageConfig)
    offensive: OffensiveConfig = field(default_factory=OffensiveConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)  # tamiz.pipeline.pii: off unless `pii: {enabled: true}`
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)

    def override(self, changes: Mapping[str, Any], where: str = "") -> "HeuristicsConfig":
        """A copy with `changes` ({family: {field: value}}) applied; ValueError names the field
        (`where.family.field`: an unknown name, a wrong type, a bad value)."""
        return from_mapping(HeuristicsConfig, changes, where or "filters", base=self)

    def as_dict(self) -> dict[str, Any]:
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if self.pii == PIIConfig():  # left out while off and untouched: the stage's config hash, and so every
            del d["pii"]  # filter record made before the redactor existed, stays valid
        return d


@dataclass(frozen=True)
class FiltersConfig:
    """Heuristic thresholds: one default and, optionally, a resolved config per named source."""

    default: HeuristicsConfig = field(default_factory=HeuristicsConfig)
    sources: tuple[tuple[str, HeuristicsConfig], ...] = ()

    def for_source(self, source: str) -> HeuristicsConfig:
        for name, cfg in self.sources:
            if name == source:
                return cfg
        return self.default

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "FiltersConfig":
        """From {default: {family: {field: value}}, sources: {name: {family: {...}}}}: each source's
        changes apply on top of the default's."""
        data = dict(data or {})
        check_keys(data, ("default", "sources"), what="section")
        default = HeuristicsConfig().override(data.get("default") or {}, "default")
        srcs = data.get("sources") or {}
        if not isinstance(srcs, Mapping):
            raise ValueError(f"sources: expected a mapping of source names, got {srcs!r}")
        resolved = tuple((str(name), default.override(ch or {}, f"sources.{name}"))
                         for name, ch in sorted(srcs.items()))
        return cls(default=default, sources=resolved)

    @classmethod
    def load(cls, path: str | Path) -> "FiltersConfig":
        """Read a YAML or JSON override file; errors name the file and the bad setting.

        Read by `tamiz.core.yamlsafe.read_mapping` (safe_load, size, UTF-8, depth and alias-bomb checks)."""
        from tamiz.core.yamlsafe import read_mapping
        from tamiz.pipeline.filters.evalsets import resolve_sections

        p = Path(path)
        data = read_mapping(p, "filter config file", expected="a mapping with sections 'default' and 'sources'")
        try:
            return cls.from_dict(resolve_sections(data, p.parent))  # evaluation sets: relative to the file
        except (ValueError, TypeError) as e:
            raise ValueError(f"{p}: {e}") from None

    def as_dict(self) -> dict[str, Any]:
        return {"default": self.default.as_dict(), "sources": {n: c.as_dict() for n, c in self.sources}}

    def record(self) -> dict[str, Any]:
        """as_dict without where files are: evaluation sets by name and sha256, the offensive step's own word
        lists by sha256 (for keys and manifests)."""
        from tamiz.pipeline.filter_stage import model_checksum  # cached sha256 of a file
        from tamiz.pipeline.filters.evalsets import record
        from tamiz.pipeline.pii.detect import DETECTOR_VERSION

        d = self.as_dict()
        for cfg, c in ((d["default"], self.default), *((d["sources"][n], c) for n, c in self.sources)):
            cfg["decontamination"] = record(c.decontamination)
            cfg["offensive"]["word_lists"] = [model_checksum(p) for p in c.offensive.word_lists]
            if c.pii.enabled:  # what the redactor finds changes with its detector, not only with its settings
                cfg["pii"]["detector"] = DETECTOR_VERSION
        return d
