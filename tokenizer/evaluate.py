"""How well a tokenizer fits a text: compression, fertility, words kept whole, exact round trip.

Definitions (the same for every tokenizer, so the columns compare):
- bytes per token: UTF-8 bytes of the text / tokens (higher is better: fewer steps per byte).
- chars per token: characters / tokens.
- tokens per word (fertility): tokens / whitespace-separated words (`str.split`), as in Rust et
  al. 2021 (lower is better; punctuation and spaces count against the tokenizer).
- words kept whole: share of letter words (maximal runs of letters, `[^\\W\\d_]+`) that lie inside
  one token, i.e. no token boundary falls strictly inside the word.
- round trip: share of documents with decode(encode(text)) == text, exactly. A tokenizer that
  normalizes (tamiz's applies NFC) fails it on text that is not already NFC; that is reported,
  not hidden.
Text is encoded as plain text: a literal "<|endoftext|>" in a document is not a special token here.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

_WORD = re.compile(r"[^\W\d_]+")


class Encoder(Protocol):
    name: str
    vocab_size: int

    def encode_batch(self, texts: list[str]) -> list[tuple[list[int], list[float]]]:
        """For each text: token ids and the token boundaries as character positions of the text
        (a boundary inside a multi-byte character is that character's index + 0.5)."""

    def decode(self, ids: list[int]) -> str: ...


class HFEncoder:
    """A `tokenizers.Tokenizer`; boundaries come from its offsets (positions in the original text)."""

    def __init__(self, tokenizer, name: str):
        self.tokenizer = tokenizer
        self.name = name
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    def encode_batch(self, texts: list[str]) -> list[tuple[list[int], list[float]]]:
        from tamiz.tokenizer.load import hf_threads

        previous = self.tokenizer.encode_special_tokens
        self.tokenizer.encode_special_tokens = True  # text is text: no special tokens from the data
        try:
            with hf_threads():
                encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        finally:
            self.tokenizer.encode_special_tokens = previous
        out = []
        for e in encodings:
            cuts = sorted({float(x) for span in e.offsets for x in span})
            out.append((e.ids, cuts))
        return out

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)


class TiktokenEncoder:
    """A `tiktoken.Encoding` (ids shifted by `id_offset`, as Tekken puts its special tokens first)."""

    def __init__(self, encoding, name: str, id_offset: int = 0, vocab_size: int | None = None):
        self.encoding = encoding
        self.name = name
        self.id_offset = id_offset
        self.vocab_size = vocab_size or encoding.n_vocab

    def encode_batch(self, texts: list[str]) -> list[tuple[list[int], list[float]]]:
        out = []
        for text, ids in zip(texts, self.encoding.encode_ordinary_batch(texts)):
            lengths = [len(self.encoding.decode_single_token_bytes(i)) for i in ids]
            out.append(([i + self.id_offset for i in ids], byte_cuts_to_chars(text, np.cumsum(lengths))))
        return out

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode_bytes([i - self.id_offset for i in ids]).decode("utf-8", errors="replace")


def byte_cuts_to_chars(text: str, byte_cuts: Sequence[int]) -> list[float]:
    """Byte offsets of `text`'s UTF-8 as character positions (+0.5 inside a multi-byte character)."""
    if len(text) == 0:
        return []
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    widths = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
    starts = np.concatenate(([0], np.cumsum(widths)))  # byte offset where each character starts
    cuts = np.asarray(byte_cuts, dtype=np.int64)
    idx = np.searchsorted(starts, cuts, side="right") - 1  # character holding the byte at `cut`
    exact = starts[idx] == cuts
    return (idx + np.where(exact, 0.0, 0.5)).tolist()


@dataclass
class Metrics:
    tokenizer: str
    vocab_size: int
    documents: int
    bytes: int
    characters: int
    words: int
    letter_words: int
    tokens: int
    bytes_per_token: float
    chars_per_token: float
    tokens_per_word: float
    words_kept_whole: float
    roundtrip_ok: int
    roundtrip_exact: bool

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(encoder: Encoder, texts: Iterable[str], batch_docs: int = 256) -> Metrics:
    """Metrics of `encoder` over `texts` (streamed in batches of documents)."""
    docs = nbytes = chars = words = letter_words = whole = tokens = ok = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal docs, nbytes, chars, words, letter_words, whole, tokens, ok
        for text, (ids, cuts) in zip(batch, encoder.encode_batch(batch)):
            docs += 1
            nbytes += len(text.encode("utf-8"))
            chars += len(text)
            words += len(text.split())
            tokens += len(ids)
            ok += encoder.decode(ids) == text
            for m in _WORD.finditer(text):
                letter_words += 1
                i = bisect.bisect_right(cuts, m.start())
                whole += i == len(cuts) or cuts[i] >= m.end()
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) >= batch_docs:
            flush()
    flush()
    return Metrics(
        tokenizer=encoder.name, vocab_size=encoder.vocab_size, documents=docs, bytes=nbytes, characters=chars,
        words=words, letter_words=letter_words, tokens=tokens,
        bytes_per_token=round(nbytes / tokens, 4) if tokens else 0.0,
        chars_per_token=round(chars / tokens, 4) if tokens else 0.0,
        tokens_per_word=round(tokens / words, 4) if words else 0.0,
        words_kept_whole=round(whole / letter_words, 4) if letter_words else 0.0,
        roundtrip_ok=ok, roundtrip_exact=ok == docs,
    )


def compare(encoders: list[Encoder], texts: list[str]) -> list[Metrics]:
    """The same texts through every encoder, in the given order."""
    return [evaluate(e, texts) for e in encoders]


def table_rows(results: list[Metrics]) -> list[tuple]:
    """Rows for a summary table: 'vs 1st' is each one's token count relative to the first tokenizer's,
    'whole' the share of letter words kept in one token."""
    base = results[0].tokens if results and results[0].tokens else None
    rows = []
    for m in results:
        rel = f"{(m.tokens / base - 1) * 100:+.1f}%" if base else "-"
        rt = "exact" if m.roundtrip_exact else f"{m.documents - m.roundtrip_ok}/{m.documents} differ"
        rows.append((m.tokenizer, m.vocab_size, m.tokens, rel, f"{m.bytes_per_token:.3f}",
                     f"{m.tokens_per_word:.3f}", f"{m.words_kept_whole * 100:.1f}%", rt))
    return rows


TABLE_COLUMNS = ["tokenizer", "vocab", "tokens", "vs 1st", "bytes/tok", "tok/word", "whole", "round trip"]
