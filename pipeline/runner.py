"""Run a list of steps over documents: mappers transform, filters decide, the runner drops and counts.

A filter returns True (keep), False, or (False, "reason"). The runner records the first failing
filter as `metadata["drop_reason"] = "<filter>:<reason>"`, counts it, and hands the document to
`on_reject` so nothing disappears without a trace. A step that raises on one document drops that
document with reason `<step>:error` (counted, logged, kept in the rejects), never the whole run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Union, runtime_checkable

from tamiz.pipeline.document import Document

log = logging.getLogger("tamiz")

FilterResult = Union[bool, tuple[bool, str]]


@runtime_checkable
class Filter(Protocol):
    name: str

    def filter(self, doc: Document) -> FilterResult: ...


@runtime_checkable
class Mapper(Protocol):
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
        }


def run_steps(docs: Iterable[Document], steps: list[Step], stats: StepStats,
              on_reject: Callable[[Document], None] | None = None) -> Iterator[Document]:
    names = [s.name for s in steps]
    # decided once per step, not per document (a Protocol isinstance check is slow)
    is_filter = [isinstance(s, Filter) for s in steps]
    for n in names:
        stats.after_step.setdefault(n, [0, 0])
    for doc in docs:
        stats.docs_in += 1
        stats.bytes_in += len(doc.text.encode("utf-8"))
        reason = None
        for step, name, filtering in zip(steps, names, is_filter):
            try:
                if filtering:
                    res = step.filter(doc)
                    keep, why = (res, "") if isinstance(res, bool) else (res[0], res[1])
                    if not keep:
                        reason = f"{name}:{why}" if why else name
                else:
                    doc = step.map(doc)
            except Exception as e:  # one bad document never stops the run
                log.warning("step %s failed on document %s: %s", name, doc.id, e)
                doc.metadata["error"] = f"{type(e).__name__}: {e}"[:500]
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
