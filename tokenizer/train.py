"""Train a Spanish byte-level BPE tokenizer with HF `tokenizers`, and save it as one tokenizer.json.

The pipeline, slot by slot (HF tokenizers' model):
- normalizer: Unicode NFC, so "á" is one code point whether the source wrote it composed or not;
- pre-tokenizer: a Split regex (`tamiz.tokenizer.patterns`, chosen by measurement), then ByteLevel
  (every byte maps to one of 256 symbols, so any text encodes and decodes exactly, no <unk>);
- model: BPE trained on a streaming iterator of documents (`tamiz.tokenizer.corpus`);
- decoder: ByteLevel; no post-processor (nothing is added to an encoding on its own: the shard
  writer puts <|endoftext|> between documents).
Special tokens, ids 0-3: <|endoftext|> (end of text / document separator), <pad>, <mask> (for
masked-LM pretraining), <s> (beginning of sequence). A byte-level model needs no <unk>, and
<|endoftext|> is also the end-of-sequence token, so there is no </s>.

Deterministic: the same input and settings give the same tokenizer.json, byte for byte (the
stream order is fixed, HF's BPE trainer breaks ties by pair ids, the file lists the vocabulary by id).

    tok = train_tokenizer([Path("data/sample/books")], vocab_size=8192)
    result = train([Path("stage/mixed")], TrainConfig(vocab_size=32768)); save(result, "out/tok")
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from tamiz.core.config import check_keys, from_mapping
from tamiz.core.shardformat import SPECIAL_TOKENS
from tamiz.tokenizer.corpus import (CorpusStats, Input, check_utf8, check_weights, iter_documents, plan_sources,
                              read_input, resolve_inputs)
from tamiz.pipeline.readers import check_text_unit
from tamiz.tokenizer.patterns import DEFAULT_PATTERN, check_pattern, resolve_pattern

BYTE_ALPHABET = 256
DEFAULT_VOCAB_SIZE = 32_768
FORMAT = "tamiz-tokenizer/1"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a tokenizer training run (checked before any work starts)."""

    vocab_size: int = DEFAULT_VOCAB_SIZE  # final vocabulary, special tokens and the 256 bytes included
    pattern: str = DEFAULT_PATTERN  # pre-tokenization regex: a name in tamiz.tokenizer.patterns.PATTERNS, or a regex
    min_frequency: int = 2  # a pair must occur this often to be merged (1 would memorize single words)
    max_doc_chars: int = 50_000  # documents are cut to this many characters (0: no cap)
    max_chars: int | None = None  # stop the stream after about this many characters (None: all of it)
    weights: Mapping[str, float] | None = None  # source -> share of characters (see tamiz.tokenizer.corpus)
    holdout_every: int = 100  # every N-th document is held out to measure the result (0: none)
    holdout_max_bytes: int = 2_000_000  # ... up to this many bytes of held-out text
    text_unit: str = "auto"  # how .txt inputs become documents: auto, paragraph, line, file (tamiz.pipeline.readers)
    language: str | None = "es"  # refuse input whose sampled text is not mostly this language (None: no check)
    min_language_share: float = 0.5  # ... share of sampled characters in `language` required

    def __post_init__(self) -> None:
        n_special = len(SPECIAL_TOKENS)
        if not isinstance(self.vocab_size, int) or self.vocab_size < BYTE_ALPHABET + n_special:
            raise ValueError(f"vocab_size: {self.vocab_size} is smaller than the byte alphabet ({BYTE_ALPHABET}) "
                             f"plus the {n_special} special tokens ({BYTE_ALPHABET + n_special})")
        if self.vocab_size > 1 << 24:
            raise ValueError(f"vocab_size: {self.vocab_size} is larger than {1 << 24}")
        check_text_unit(self.text_unit)
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency: {self.min_frequency} must be >= 1")
        if self.max_doc_chars < 0:
            raise ValueError(f"max_doc_chars: {self.max_doc_chars} is negative (0 means no cap)")
        if self.max_doc_chars and self.max_doc_chars < 1000:
            raise ValueError(f"max_doc_chars: {self.max_doc_chars} is below 1000 (0 means no cap)")
        if self.max_chars is not None and self.max_chars <= 0:
            raise ValueError(f"max_chars: {self.max_chars} must be > 0 (None: no limit)")
        if self.weights is not None:
            check_weights(self.weights)
        if self.holdout_every < 0 or self.holdout_every == 1:
            raise ValueError(f"holdout_every: {self.holdout_every} must be 0 (no held-out text) or >= 2")
        if self.holdout_max_bytes < 0:
            raise ValueError(f"holdout_max_bytes: {self.holdout_max_bytes} is negative")
        if self.language is not None and not (self.language.isascii() and self.language.isalpha()):
            raise ValueError(f"language: {self.language!r} is not a language code like 'es'")
        if not 0.0 <= self.min_language_share <= 1.0 or math.isnan(self.min_language_share):
            raise ValueError(f"min_language_share: {self.min_language_share} is not between 0 and 1")
        check_pattern(resolve_pattern(self.pattern)[1])

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["pattern_name"], d["pattern"] = resolve_pattern(self.pattern)
        d["special_tokens"] = list(SPECIAL_TOKENS)
        d["weights"] = dict(sorted(self.weights.items())) if self.weights else None
        return d


@dataclass
class TrainResult:
    tokenizer: Any  # tokenizers.Tokenizer
    config: TrainConfig
    stats: CorpusStats
    inputs: list[dict[str, Any]] = field(default_factory=list)  # path, source, sha256 (input files only)
    language_check: dict[str, Any] | None = None
    held_out: list[str] = field(default_factory=list)  # never trained on
    eval: dict[str, Any] | None = None  # tamiz.tokenizer.evaluate metrics on `held_out`


CUT_WARN_SHARE = 0.05  # a cut that removes more than this share of the text read is said loudly


def cut_warning(stats: CorpusStats, config: TrainConfig) -> str | None:
    """A warning when --max-doc-chars removed more than CUT_WARN_SHARE of the text read (None otherwise)."""
    share = stats.cut_share()
    if share <= CUT_WARN_SHARE:
        return None
    return (f"max_doc_chars ({config.max_doc_chars:,}) cut {stats.truncated:,} document(s) and left "
            f"{share:.0%} of the text read ({stats.truncated_characters / 1e6:.2f} M characters) out of the "
            f"training. Give larger documents room (--max-doc-chars 0: no cap) or split them "
            f"(.txt files: --text-unit paragraph or line).")


# ---------------------------------------------------------------------------- the empty pipeline

def build_tokenizer(config: TrainConfig):
    """An untrained tokenizer with every slot set: NFC -> Split(regex) + ByteLevel -> BPE -> ByteLevel."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(resolve_pattern(config.pattern)[1]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def make_trainer(config: TrainConfig):
    from tokenizers import AddedToken, pre_tokenizers, trainers

    specials = [AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False)
                for t in SPECIAL_TOKENS]
    return trainers.BpeTrainer(vocab_size=config.vocab_size, min_frequency=config.min_frequency,
                               special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                               show_progress=False)


# ---------------------------------------------------------------------------- checks before work

def _is_paths(obj: Any) -> bool:
    if isinstance(obj, (os.PathLike, Input)):
        return True
    return isinstance(obj, (list, tuple)) and len(obj) > 0 and all(isinstance(p, (os.PathLike, Input)) for p in obj)


def _resolve(paths: list[Any], source: str | None, text_unit: str = "auto") -> list[Input]:
    """Inputs from paths (source: `source` or the parent folder) and ready-made `Input`s, in order."""
    out: list[Input] = []
    for p in paths:
        if isinstance(p, Input):
            out.append(dataclasses.replace(p, text_unit=text_unit) if text_unit != "auto" else p)
        else:
            out += resolve_inputs([p], source, text_unit)
    return list(dict.fromkeys(out))


def _sample_inputs(inputs: list[Input], docs_per_input: int = 16, max_inputs: int = 64,
                   chars: int = 2000) -> list[tuple[Input, list[str]]]:
    """The first documents of (up to `max_inputs`, evenly spread) inputs, cut to `chars` characters,
    per input. The read is quiet: the training read reports bad records once."""
    from tamiz.pipeline.report import ReadReport

    step = max(1, math.ceil(len(inputs) / max_inputs))
    out = []
    for inp in inputs[::step]:
        docs = (d.text[:chars] for d in read_input(inp, ReadReport(str(inp.path), quiet=True)) if d.text.strip())
        out.append((inp, list(itertools.islice(docs, docs_per_input))))
    return out


def check_input_languages(samples: list[tuple[Input, list[str]]], language: str | None,
                          min_share: float) -> dict[str, Any]:
    """`check_language` on the whole sample, and (with several inputs) first on each input's own: one
    English folder among Spanish ones is refused by name, even when the whole is mostly Spanish. One
    language prediction per sampled document serves both checks."""
    texts = [t for _, sample in samples for t in sample]
    if language is None or len(samples) < 2 or not sum(len(t) for t in texts):
        return check_language(texts, language, min_share)
    preds = _predict(texts)
    bad, at = [], 0
    for inp, sample in samples:
        own, at = preds[at:at + len(sample)], at + len(sample)
        total = sum(len(t) for t in sample)
        if not total:
            continue
        by_lang = _characters_by_language(sample, own)
        share = by_lang.get(language, 0) / total
        if share < min_share:
            bad.append(f"{inp.path} ({share:.0%} {language!r}; sampled: {_top_languages(by_lang, total, 3)})")
    if bad:
        raise ValueError(f"input is not {language!r} text: {'; '.join(bad)} (need {min_share:.0%} of the sampled "
                         f"characters of each input). Leave it out, train on the output of `tamiz ingest`, or "
                         f"lower the share (--min-language-share)")
    return check_language(texts, language, min_share, preds)


def _predict(texts: list[str]) -> list:
    from tamiz.pipeline.langid import predict

    try:
        return predict(texts)
    except FileNotFoundError as e:
        raise ValueError(f"language check: {e}; or skip the check (language=None, --no-language-check)") from None


def _characters_by_language(texts: list[str], preds: list) -> dict[str, int]:
    by_lang: dict[str, int] = {}
    for t, p in zip(texts, preds):
        by_lang[p[0][0]] = by_lang.get(p[0][0], 0) + len(t)
    return by_lang


def _top_languages(by_lang: dict[str, int], total: int, n: int) -> str:
    return ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(by_lang.items(), key=lambda kv: -kv[1])[:n])


def check_language(texts: list[str], language: str | None, min_share: float, preds: list | None = None) -> dict[str, Any]:
    """Refuse (ValueError) a sample with no text, or with less than `min_share` of it in `language`.
    `preds`: the language predictions of `texts`, when the caller has them already."""
    total = sum(len(t) for t in texts)
    if total == 0:
        raise ValueError("input holds no text (empty files, or no document with any text)")
    if language is None:
        return {"language": None, "sampled_documents": len(texts), "sampled_characters": total}
    by_lang = _characters_by_language(texts, _predict(texts) if preds is None else preds)
    share = by_lang.get(language, 0) / total
    top = _top_languages(by_lang, total, 4)
    if share < min_share:
        raise ValueError(f"input is not {language!r} text: {share:.0%} of the sampled characters are {language!r} "
                         f"(need {min_share:.0%}; sampled: {top}). Train on the output of `tamiz ingest`, "
                         f"or lower the share (--min-language-share)")
    return {"language": language, "share": round(share, 4), "sampled_documents": len(texts),
            "sampled_characters": total, "languages": {k: round(v / total, 4) for k, v in sorted(by_lang.items())}}


# ---------------------------------------------------------------------------- training

def train(texts_or_inputs: Iterable[str] | Iterable[os.PathLike] | os.PathLike, config: TrainConfig | None = None,
          source: str | None = None, base: str | os.PathLike | None = None) -> TrainResult:
    """Train a tokenizer on documents from files (`pathlib.Path`s: any input tamiz reads, or
    `tamiz.tokenizer.corpus.Input`s that name their source) or on texts. `base`: the folder the
    metadata names input files relative to (a build's output root; default: the current folder;
    `tamiz.pipeline.stage.input_name`).

    Paths must be `os.PathLike` (plain `str` items are texts). Everything that can be checked is
    checked before training: the settings, the inputs (exist, UTF-8, sources vs weights) and a sample
    of the text (not empty, mostly `config.language`).
    """
    from tamiz.tokenizer.load import hf_threads

    config = config or TrainConfig()
    stats = CorpusStats()
    result = TrainResult(tokenizer=None, config=config, stats=stats)
    if _is_paths(texts_or_inputs):
        paths = [texts_or_inputs] if isinstance(texts_or_inputs, (os.PathLike, Input)) else list(texts_or_inputs)
        inputs = _resolve(paths, source, config.text_unit)
        for inp in inputs:
            check_utf8(inp)
        if config.weights:
            plan_sources(inputs, config.weights)
        result.language_check = check_input_languages(_sample_inputs(inputs), config.language,
                                                      config.min_language_share)
        result.inputs = _described(inputs, base)
        docs = ((d.text, d.source) for d in iter_documents(inputs, stats, config.weights, config.max_doc_chars))
    else:
        if config.weights:
            raise ValueError("weights: need input files (documents with sources), not bare texts")
        if isinstance(texts_or_inputs, str):
            raise ValueError("texts_or_inputs: a single str; pass a list of texts, or a pathlib.Path for a file")
        it = iter(texts_or_inputs)
        head = list(itertools.islice(it, 64))
        for t in head:
            if not isinstance(t, str):
                raise ValueError(f"texts_or_inputs: expected str texts or pathlib.Path inputs, got {type(t).__name__}")
        result.language_check = check_language([t[:2000] for t in head if t.strip()], config.language,
                                               config.min_language_share)
        docs = _bare_texts(itertools.chain(head, it), stats, config.max_doc_chars, source or "texts")

    tok = build_tokenizer(config)
    with hf_threads():
        tok.train_from_iterator(_stream(docs, stats, config, result.held_out), make_trainer(config))
    if stats.documents == 0:
        raise ValueError("input holds no text to train on (every document was empty or held out)")
    result.tokenizer = tok
    if result.held_out:
        from tamiz.tokenizer.evaluate import HFEncoder, evaluate

        result.eval = {"held_out": evaluate(HFEncoder(tok, "tamiz"), result.held_out).as_dict()}
    return result


def _bare_texts(texts: Iterator[str], stats: CorpusStats, max_doc_chars: int, source: str) -> Iterator[tuple[str, str]]:
    from tamiz.tokenizer.corpus import cap_text

    for t in texts:
        if not isinstance(t, str):
            raise ValueError(f"texts_or_inputs: expected str texts, got {type(t).__name__}")
        if not t.strip():
            stats.empty += 1
            continue
        if max_doc_chars and len(t) > max_doc_chars:
            t = stats.cut(len(t), cap_text(t, max_doc_chars))
        yield t, source


def _stream(docs: Iterator[tuple[str, str]], stats: CorpusStats, config: TrainConfig,
            held_out: list[str]) -> Iterator[str]:
    """Texts for the trainer; every `holdout_every`-th document goes to `held_out` instead."""
    for n, (text, src) in enumerate(docs, start=1):
        if (config.holdout_every and n % config.holdout_every == 0
                and stats.held_out_bytes + len(text.encode("utf-8")) <= config.holdout_max_bytes):
            held_out.append(text)
            stats.held_out += 1
            stats.held_out_bytes += len(text.encode("utf-8"))
            stats.held_out_characters += len(text)
            continue
        stats.add(text, src)
        yield text
        if config.max_chars and stats.characters >= config.max_chars:
            stats.stopped_by = stats.stopped_by or f"max_chars ({config.max_chars}) reached"
            return


def train_tokenizer(texts_or_inputs: Iterable[str] | Iterable[os.PathLike] | os.PathLike,
                    vocab_size: int = DEFAULT_VOCAB_SIZE, **settings: Any):
    """A trained `tokenizers.Tokenizer` (settings: the fields of TrainConfig, plus `source`)."""
    source = settings.pop("source", None)
    return train(texts_or_inputs, TrainConfig(vocab_size=vocab_size, **settings), source=source).tokenizer


# ---------------------------------------------------------------------------- the artifact

def metadata(result: TrainResult, tokenizer_sha256: str) -> dict[str, Any]:
    """tokenizer_meta.json: what was trained on what (no timestamps: same input, same bytes)."""
    import tokenizers

    tok = result.tokenizer
    return {
        "format": FORMAT,
        "tokenizer_file": "tokenizer.json",
        "tokenizer_sha256": tokenizer_sha256,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "vocab_size_requested": result.config.vocab_size,
        "special_tokens": {t: tok.token_to_id(t) for t in SPECIAL_TOKENS},
        "settings": result.config.as_dict(),
        "training_data": {**result.stats.as_dict(), "inputs": result.inputs},
        "language_check": result.language_check,
        "eval": result.eval,
        "versions": {"tokenizers": tokenizers.__version__},
    }


def transformers_config() -> dict[str, Any]:
    """tokenizer_config.json, so `AutoTokenizer.from_pretrained(DIR)` knows the special tokens."""
    eos, pad, mask, bos = SPECIAL_TOKENS
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos, "eos_token": eos, "pad_token": pad, "mask_token": mask, "unk_token": None,
        "clean_up_tokenization_spaces": False,  # decoding must give the text back exactly
        "model_max_length": 1 << 30,
    }


def save(result: TrainResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write DIR/tokenizer.json, DIR/tokenizer_config.json and DIR/tokenizer_meta.json (each atomically)."""
    from tamiz.core.atomic import atomic_path, sha256_file, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"tokenizer": out / "tokenizer.json", "config": out / "tokenizer_config.json",
             "meta": out / "tokenizer_meta.json"}
    with atomic_path(paths["tokenizer"]) as tmp:
        result.tokenizer.save(str(tmp), pretty=True)
    write_json(paths["config"], transformers_config())
    write_json(paths["meta"], metadata(result, sha256_file(paths["tokenizer"])))
    return paths


def _described(inputs: list[Input], base: str | os.PathLike | None) -> list[dict[str, Any]]:
    """The inputs as tokenizer_meta.json lists them: name (relative to `base`), source, sha256."""
    from tamiz.pipeline.stage import input_checksum, input_name

    bases = (base,) if base is not None else ()
    return [{"path": input_name(i.path, *bases), "source": i.source, "sha256": input_checksum(i.path)} for i in inputs]


def up_to_date(out_dir: str | os.PathLike, paths: list[Any], config: TrainConfig,
               source: str | None = None, base: str | os.PathLike | None = None) -> bool:
    """True when DIR holds a tokenizer trained with these settings on inputs with the same names (relative
    to `base`, as `train` names them) and checksums."""
    import json

    from tamiz.core.atomic import sha256_file

    out = Path(out_dir)
    try:
        meta = json.loads((out / "tokenizer_meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or sha256_file(out / "tokenizer.json") != meta.get("tokenizer_sha256"):
            return False
    except (OSError, ValueError):
        return False
    if json.loads(json.dumps(config.as_dict())) != meta.get("settings"):
        return False
    recorded = meta.get("training_data")
    return isinstance(recorded, dict) and _described(_resolve(list(paths), source), base) == recorded.get("inputs")


def config_from_table(table: Any, **overrides: Any) -> TrainConfig:
    """TrainConfig from a dataset table (`tamiz.pipeline.table.DatasetTable`): its `tokenizer:` block, and its
    source weights as the mix (shares of training tokens there; shares of characters here, the
    stand-in before a tokenizer exists). `overrides` (not None) win over the table. Loaded by
    `tamiz.core.config.from_mapping`: errors name the table file and `tokenizer.<field>`."""
    file = getattr(table, "path", None) or None
    block = dict(table.tokenizer)
    try:  # `weights` come from the sources, never from the block
        check_keys(block, [f.name for f in dataclasses.fields(TrainConfig) if f.name != "weights"], "tokenizer")
    except ValueError as e:
        raise ValueError(f"{file}: {e}" if file else str(e)) from None
    settings = {**block, "weights": table.weights(), **{k: v for k, v in overrides.items() if v is not None}}
    return from_mapping(TrainConfig, settings, "tokenizer", file=file)
