"""Heuristic quality filters for Spanish web text: Gopher quality, Gopher repetition, C4, FineWeb.

Each filter only decides (keep, or (False, reason)) and stores what it measured in
`doc.metadata[<filter name>]`, so thresholds can be re-tuned later from the stored values; the
runner (`tamiz.pipeline.runner.run_steps`) drops, counts per reason and hands rejects on. The steps of
one document share what they derive from its text (words.py's tokens, words and lines; c4.py's line
scan) through the view the runner makes for each document (`tamiz.pipeline.document.DocView`), each
computed at most once; no module-level state. The chain for one source, in order (cheap rules with
the largest drop rates first; C4's line removal comes before the FineWeb rules, as in FineWeb):

    close_language -> gopher_quality -> gopher_repetition -> c4_lines (mapper) -> c4 -> fineweb -> offensive
        [-> decontaminate] [-> pii (mapper)]

`close_language` and `offensive` are off unless a source's config turns them on (close_language.py,
offensive.py). decontaminate (decontaminate.py, evalsets.py) runs only when evaluation sets are given:
after the rules, on the text that will be trained on, and before the redactor, so that an evaluation
item holding an address or a phone number is still recognised.

The personal-data redactor (tamiz.pipeline.pii, off unless the source's `pii.enabled`) comes last:
the rules measure the text as it was written (their thresholds were tuned on unredacted text, and
a placeholder changes word lengths, symbol and digit shares), and it runs only on the documents
they keep (FineWeb-2 likewise redacts after its filters). It comes before dedup, the quality model
and perplexity, so nothing downstream of the filters sees the personal data of a kept document.
"""

from __future__ import annotations

from tamiz.pipeline.filters.c4 import C4LineCleaner, C4Quality
from tamiz.pipeline.filters.close_language import CloseLanguage
from tamiz.pipeline.filters.config import (C4Config, FiltersConfig, FineWebConfig, GopherQualityConfig,
                                     GopherRepetitionConfig, HeuristicsConfig)
from tamiz.pipeline.filters.fineweb import FineWebQuality
from tamiz.pipeline.filters.gopher_quality import GopherQuality
from tamiz.pipeline.filters.gopher_repetition import GopherRepetition
from tamiz.pipeline.filters.offensive import Offensive
from tamiz.pipeline.pii import PIIConfig, PIIRedactor

__all__ = [
    "C4Config", "C4LineCleaner", "C4Quality", "FiltersConfig", "FineWebConfig", "FineWebQuality",
    "GopherQuality", "GopherQualityConfig", "GopherRepetition", "GopherRepetitionConfig", "HeuristicsConfig",
    "PIIConfig", "PIIRedactor", "heuristic_steps",
]


def heuristic_steps(config: HeuristicsConfig | None = None) -> list:
    """The enabled heuristic steps for one source, in chain order."""
    c = config or HeuristicsConfig()
    steps: list = []
    if c.close_language.enabled:  # a language decision: before the quality rules judge the text
        steps.append(CloseLanguage(c.close_language))
    if c.gopher_quality.enabled:
        steps.append(GopherQuality(c.gopher_quality))
    if c.gopher_repetition.enabled:
        steps.append(GopherRepetition(c.gopher_repetition))
    if c.c4.enabled:
        if c.c4.remove_lines:
            steps.append(C4LineCleaner(c.c4))
        steps.append(C4Quality(c.c4))
    if c.fineweb.enabled:
        steps.append(FineWebQuality(c.fineweb))
    if c.offensive.enabled:  # in tag mode, what it tags is what the rules keep
        steps.append(Offensive(c.offensive))
    if c.decontamination.active():  # after the rules: it reads the text that will be trained on
        from tamiz.pipeline.filters.decontaminate import Decontaminate

        steps.append(Decontaminate(c.decontamination))
    if c.pii.enabled:  # last: redacts only what is kept
        steps.append(PIIRedactor(c.pii))
    return steps
