"""Load a tokenizer.json (HF tokenizers format) with clear errors, in `tokenizers` or in `transformers`.

`load_tokenizer(path)` accepts the file or the folder that `tamiz tokenizer train --out` wrote.
Everything that is not a tokenizer (a missing path, a folder without tokenizer.json, a file that
is not JSON, JSON that is not a tokenizer such as tokenizer_meta.json) raises ValueError or
FileNotFoundError naming the path and what is wrong, before anything is encoded.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "tokenizer_meta.json"
CONFIG_FILE = "tokenizer_config.json"


def tokenizer_path(path: str | os.PathLike) -> Path:
    """The tokenizer.json behind `path` (the file itself, or DIR/tokenizer.json)."""
    p = Path(path)
    if p.is_dir():
        if not (p / TOKENIZER_FILE).is_file():
            raise FileNotFoundError(f"{p}: folder has no {TOKENIZER_FILE} (train one with `tamiz tokenizer train`)")
        return p / TOKENIZER_FILE
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such tokenizer file or folder")
    return p


def read_tokenizer_json(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed tokenizer.json, checked to be an HF tokenizers file (ValueError otherwise)."""
    p = tokenizer_path(path)
    data = p.read_bytes()
    if b"\0" in data[:1 << 10]:
        raise ValueError(f"{p}: not a tokenizer (binary file; expected a tokenizer.json of HF tokenizers)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a tokenizer (not UTF-8 text; expected a tokenizer.json of HF tokenizers)") from None
    return _parse_tokenizer_text(text, p)


def _parse_tokenizer_text(text: str, source: Path | str) -> dict[str, Any]:
    """The text of a tokenizer.json parsed and checked (`_check_tokenizer_obj`); errors name `source`."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: not a tokenizer (not JSON: {e.msg} at line {e.lineno}); "
                         "expected a tokenizer.json of HF tokenizers") from None
    except RecursionError:
        raise ValueError(f"{source}: not a tokenizer (JSON nested too deeply)") from None
    _check_tokenizer_obj(obj, source)
    return obj


def _check_tokenizer_obj(obj: Any, p: Path | str) -> None:
    """The parsed JSON is an HF tokenizer whose BPE merges tokenizers can build (ValueError otherwise)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        hint = ""
        if isinstance(obj, dict) and "training_data" in obj:
            hint = (f" (this is tamiz's metadata; the tokenizer is {p.parent / TOKENIZER_FILE})" if isinstance(p, Path)
                    else " (this is tamiz's metadata)")
        elif isinstance(obj, dict) and "config" in obj and "vocab" in obj:
            hint = " (this looks like a tiktoken/Tekken vocabulary, not an HF tokenizer)"
        raise ValueError(f"{p}: JSON but not an HF tokenizer: no 'model' section{hint}")
    _check_bpe_merges(obj["model"], p)


def _check_bpe_merges(model: dict[str, Any], p: Path | str) -> None:
    """tokenizers (0.23) builds each BPE merge's token as a + b[len(prefix):] in bytes, and ABORTS the
    whole process when that cut is past b's end or inside a character: refuse such a file first."""
    prefix = model.get("continuing_subword_prefix")
    if model.get("type") != "BPE" or not isinstance(prefix, str) or not prefix:
        return
    n = len(prefix.encode("utf-8"))
    for i, merge in enumerate(model.get("merges") or []):
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            continue  # tokenizers reports a malformed merge itself
        b = pair[1].encode("utf-8")
        if len(b) < n or (len(b) > n and b[n] & 0xC0 == 0x80):
            raise ValueError(f"{p}: not a valid HF tokenizer (model.merges[{i}]: {pair[1]!r} cannot carry the "
                             f"continuing_subword_prefix {prefix!r}: too short, or the prefix ends inside a character)")


def load_tokenizer(path: str | os.PathLike):
    """A `tokenizers.Tokenizer` from a tokenizer.json or the folder holding one."""
    from tokenizers import Tokenizer

    p = tokenizer_path(path)
    read_tokenizer_json(p)
    return _build(Tokenizer.from_file, str(p), p)


def tokenizer_from_str(text: str, source: str | os.PathLike):
    """A `tokenizers.Tokenizer` from the text of a tokenizer.json (the copy a shard folder or a checkpoint
    keeps), with the checks of `load_tokenizer`; errors (ValueError) name `source`, where the text came from."""
    from tokenizers import Tokenizer

    if not isinstance(text, str):
        raise ValueError(f"{source}: not a tokenizer (a {type(text).__name__}, expected the text of a tokenizer.json)")
    if "\0" in text[:1 << 10]:
        raise ValueError(f"{source}: not a tokenizer (binary data; expected a tokenizer.json of HF tokenizers)")
    _parse_tokenizer_text(text, source)
    return _build(Tokenizer.from_str, text, source)


def _build(make, arg: str, source: str | os.PathLike):
    try:
        return make(arg)
    except BaseException as e:  # a bare Exception with serde's message, or a Rust panic (pyo3's PanicException)
        if not isinstance(e, Exception) and type(e).__name__ != "PanicException":
            raise
        raise ValueError(f"{source}: not a valid HF tokenizer ({e})") from None


def load_transformers_tokenizer(path: str | os.PathLike, **kwargs: Any):
    """A `transformers.PreTrainedTokenizerFast` with tamiz's special tokens declared.

    Reads tokenizer_config.json next to the file when there is one (what
    `AutoTokenizer.from_pretrained(DIR)` reads too); keyword arguments override it.
    """
    from transformers import PreTrainedTokenizerFast

    p = tokenizer_path(path)
    read_tokenizer_json(p)
    settings: dict[str, Any] = {}
    cfg = p.parent / CONFIG_FILE
    if cfg.is_file():
        raw = json.loads(cfg.read_text(encoding="utf-8"))
        keys = ("bos_token", "eos_token", "pad_token", "mask_token", "unk_token", "model_max_length",
                "clean_up_tokenization_spaces")
        settings = {k: raw[k] for k in keys if raw.get(k) is not None}
    settings.update(kwargs)
    return PreTrainedTokenizerFast(tokenizer_file=str(p), **settings)


@contextlib.contextmanager
def hf_threads(enabled: bool = True) -> Iterator[None]:
    """Let HF tokenizers use its own threads (rayon) inside the block.

    tamiz's CLI sets TOKENIZERS_PARALLELISM=false for Dask worker processes that fork; training
    and batch encoding in the main process want the threads. Results do not depend on it.
    """
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if enabled else "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old
