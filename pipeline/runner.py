"""Run a list of steps over documents: mappers transform, filters decide, the runner drops and counts.

A filter returns True (keep), False, or (False, "reason"). The runner records the first failing
filter as `metadata["drop_reason"] = "<filter>:<reason>"`, counts it, and hands the document to
`on_reject` so nothing disappears without a trace. A step that raises on one document drops that
document with reason `<step>:error` (counted, logged, kept in the rejects), never the whole run.

Steps of one document share what they derive from its text (words, lines, C4's line scan) through one
`DocView` (pipeline/document.py) that the runner makes for each document: a step whose `filter` or
`map` takes a `view` keyword gets it, the others are called with the document alone. After a mapper
the view follows the document's text, so nothing derived from an old text is read for a new one.

A mapper may also say what it changed: a `changes(doc)` method returning {what: count} for the
document it just returned (the PII redactor's replacements per kind). The runner sums these per step
in `StepStats.changed`, so they reach the stage's shard records and manifest like the drop reasons.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Union, runtime_checkable

from tamiz.pipeline.document import DocView, Document

log = logging.getLogger("tamiz")

FilterResult = Union[bool, tuple[bool, str]]


@runtime_checkable
class Filter(Protocol):
    """Decides only; must not change the document's text. May take `view: DocView | None = None`."""

    name: str

    def filter(self, doc: Document) -> FilterResult: ...


@runtime_checkable
class Mapper(Protocol):
    """Transforms the document (text, metadata). May take `view: DocView | None = None`."""

    name: str

    def map(self, doc: Document) -> Document: ...


Step = Union[Filter, Mapper]


@dataclass
class StepStats:
    """Invariant: docs_in = docs_out + sum(dropped.values())."""

    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    # documents and bytes still alive after each step, in step order (for funnel tables)
    after_step: dict[str, list[int]] = field(default_factory=dict)
    # what the mappers that report it changed, summed: {step: {what: count}} (see the module docstring)
    changed: dict[str, Counter] = field(default_factory=dict)

    def reconciles(self) -> bool:
        return self.docs_in == self.docs_out + sum(self.dropped.values())

    def as_dict(self) -> dict:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "dropped": dict(sorted(self.dropped.items())),
            "after_step": self.after_step,
            "changed": {step: dict(sorted(c.items())) for step, c in sorted(self.changed.items())},
        }


def takes_view(method: Callable) -> bool:
    """Whether a step's `filter` or `map` accepts the runner's `view` keyword."""
    # a Python function's parameter names are on its code object (about 1 us); inspect.signature takes
    # ~40 us a step, which the filter benchmark (one run_steps call per document) would measure
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    if code is not None:
        return "view" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    try:
        return "view" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin or C method without a signature
        return False


def run_steps(docs: Iterable[Document], steps: list[Step], stats: StepStats,
              on_reject: Callable[[Document], None] | None = None) -> Iterator[Document]:
    names = [s.name for s in steps]
    # decided once per step, not per document; a filter is a step with a `filter` method (what
    # isinstance(s, Filter) checks too, at ~10 us a step: the filter benchmark runs one document a call)
    is_filter = [callable(getattr(s, "filter", None)) for s in steps]
    calls = [s.filter if f else s.map for s, f in zip(steps, is_filter)]
    with_view = [takes_view(c) for c in calls]
    # a mapper that reports its changes (decided once per step, like the rest)
    tallies = [None if f else getattr(s, "changes", None) for s, f in zip(steps, is_filter)]
    for n in names:
        stats.after_step.setdefault(n, [0, 0])
    for doc in docs:
        stats.docs_in += 1
        stats.bytes_in += len(doc.text.encode("utf-8"))
        reason = None
        view = DocView(doc.text)  # this document's, never shared with another document or thread
        for call, name, filtering, viewing, tally in zip(calls, names, is_filter, with_view, tallies):
            try:
                if filtering:
                    res = call(doc, view=view) if viewing else call(doc)
                    keep, why = (res, "") if isinstance(res, bool) else (res[0], res[1])
                    if not keep:
                        reason = f"{name}:{why}" if why else name
                else:
                    doc = call(doc, view=view) if viewing else call(doc)
                    view.follow(doc.text)
                    if tally is not None and (changes := tally(doc)):
                        stats.changed.setdefault(name, Counter()).update(changes)
            except Exception as e:  # one bad document never stops the run
                # the message, not the exception: a log record may be handled on another thread, and the
                # exception's frames would keep the failed step's objects alive until then
                error = f"{type(e).__name__}: {e}"
                log.warning("step %s failed on document %s: %s", name, doc.id, error)
                doc.metadata["error"] = error[:500]
                reason = f"{name}:error"
            if reason:
                break
            counts = stats.after_step[name]
            counts[0] += 1
            counts[1] += len(doc.text.encode("utf-8"))
        if reason:
            stats.dropped[reason] += 1
            doc.metadata["drop_reason"] = reason
            if on_reject is not None:
                on_reject(doc)
            continue
        stats.docs_out += 1
        stats.bytes_out += len(doc.text.encode("utf-8"))
        yield doc
