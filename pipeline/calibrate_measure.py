"""Measure a document the way the heuristic chain does, without applying any threshold.

`measuring_steps(cfg)` is the chain `heuristic_steps(cfg)` would build, with every filter present (a
family the config turns off is measured too) and C4's line removal where the chain has it, so that
FineWeb's measures are taken on the text FineWeb would see. `measure` runs those steps' own code on a
copy of the document through one `DocView`, as the runner does, and ignores every decision: no
document is dropped, and each filter's measures land in its `metadata[<family>]` as in a real run.
`decide_chain` then applies a config's thresholds to those measures with the filters' own `decide`,
in chain order, which gives the reason the runner would record (or None: kept).
"""

from __future__ import annotations

from typing import Any

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters import C4LineCleaner, C4Quality, FineWebQuality, GopherQuality, GopherRepetition
from tamiz.pipeline.filters.config import HeuristicsConfig
from tamiz.pipeline.calibrate_rules import FAMILIES

ERROR = "_error"  # the key of a document's measures that names the step that raised, if one did


def measuring_steps(cfg: HeuristicsConfig) -> list:
    """Every heuristic filter of `cfg`, in chain order, with C4's line removal where the chain runs it."""
    steps: list = [GopherQuality(cfg.gopher_quality), GopherRepetition(cfg.gopher_repetition)]
    if cfg.c4.enabled and cfg.c4.remove_lines:
        steps.append(C4LineCleaner(cfg.c4))
    steps += [C4Quality(cfg.c4), FineWebQuality(cfg.fineweb)]
    return steps


def measure(doc: Document, steps: list) -> tuple[dict[str, Any], str]:
    """({family: what that filter measured}, the text after C4's line removal) for one document.

    A filter that raises leaves `{"_error": True}` as its family's measures (the runner would drop the
    document with reason `<family>:error`); C4's line removal raising stops the measuring (the text the
    later filters would see is unknown) and leaves `"_error": "c4_lines"` in the measures."""
    d = Document(doc.id, doc.text, doc.source, doc.url, {})
    view = DocView(d.text)
    for step in steps:
        try:
            if hasattr(step, "filter"):
                step.filter(d, view=view)  # the decision is ignored: only the measures are kept
            else:
                d = step.map(d, view=view)
                view.follow(d.text)
        except Exception:  # noqa: BLE001 (the runner's rule: one bad document never stops the run)
            if hasattr(step, "filter"):
                d.metadata[step.name] = {ERROR: True}
                continue
            return {**{f: d.metadata[f] for f in FAMILIES if f in d.metadata}, ERROR: step.name}, d.text
    return {f: d.metadata[f] for f in FAMILIES if f in d.metadata}, d.text


class ChainDecider:
    """The keep/drop decision of one config's heuristic chain on stored measures (the filters' own `decide`)."""

    def __init__(self, cfg: HeuristicsConfig):
        self.filters = []
        for family, cls in (("gopher_quality", GopherQuality), ("gopher_repetition", GopherRepetition),
                            ("c4", C4Quality), ("fineweb", FineWebQuality)):
            fam = getattr(cfg, family)
            if fam.enabled:
                self.filters.append(cls(fam))

    def __call__(self, measures: dict[str, Any]) -> str | None:
        """The runner's drop reason `<family>:<reason>` for a document with these measures, None when kept."""
        for f in self.filters:
            m = measures.get(f.name)
            if m is None:  # C4's line removal raised before this filter
                return f"{measures.get(ERROR, f.name)}:error"
            if ERROR in m:
                return f"{f.name}:error"
            res = f.decide(m)
            keep, why = (res, "") if isinstance(res, bool) else res
            if not keep:
                return f"{f.name}:{why}" if why else f.name
        return None


def decide_chain(measures: list[dict[str, Any]], cfg: HeuristicsConfig) -> list[str | None]:
    """The drop reason (None: kept) of each document under `cfg`."""
    decide = ChainDecider(cfg)
    return [decide(m) for m in measures]
