"""A user's KenLM model as a perplexity scorer, and `load_scorer`, which picks tamiz's model or KenLM.

KenLMScorer scores a KenLM model the user provides (.arpa or .bin; e.g. cc_net's Spanish model that
BERTIN used), only when the optional `kenlm` package is installed, with an optional SentencePiece
model for cc_net's tokenised models; it normalises and counts words as model.py does, so both
scorers report perplexity the same way. `Scorer` is the one interface they share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tamiz.pipeline.perplexity.model import CharNgramLM, doc_lines, words_plus_lines

BACKENDS = ("auto", "tamiz", "kenlm")


class Scorer(Protocol):
    def perplexity(self, text: str) -> float: ...


class KenLMScorer:
    """A user-provided KenLM model (.arpa or binary), scored as cc_net does; needs `pip install kenlm`."""

    def __init__(self, model_path: str | Path, sp_model: str | Path | None = None, strip_accents: bool = True):
        p = Path(model_path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: KenLM model not found")
        try:
            import kenlm  # type: ignore
        except ImportError:
            raise ValueError(f"{p}: a KenLM model needs the optional `kenlm` package (pip install kenlm); "
                             "or train tamiz's own model with `tamiz perplexity train`") from None
        try:
            self.model = kenlm.Model(str(p))
        except Exception as e:
            raise ValueError(f"{p}: not a KenLM model ({e})") from None
        self.sp = None
        if sp_model:
            try:
                import sentencepiece  # type: ignore
            except ImportError:
                raise ValueError("a SentencePiece model needs the `sentencepiece` package") from None
            self.sp = sentencepiece.SentencePieceProcessor()
            self.sp.load(str(sp_model))
        self.strip_accents = strip_accents

    def perplexity(self, text: str) -> float:
        lines = doc_lines(text, self.strip_accents)
        if self.sp is not None:
            lines = [" ".join(self.sp.encode_as_pieces(ln)) for ln in lines]
        if not lines:
            return float("inf")
        log10 = sum(self.model.score(ln, bos=True, eos=True) for ln in lines)
        return float(10.0 ** (-log10 / words_plus_lines(lines)))


def load_scorer(path: str | Path, backend: str = "auto", sp_model: str | None = None) -> Scorer:
    """tamiz's .npz model, or a KenLM model (.arpa, .bin, .klm) when `kenlm` is installed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "tamiz" if str(path).endswith(".npz") else "kenlm"
    return CharNgramLM.load(path) if backend == "tamiz" else KenLMScorer(path, sp_model)
