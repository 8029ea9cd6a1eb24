"""The sample `tamiz filter --calibrate` measures: up to N documents per source, read in one streamed pass.

Reservoir sampling (Vitter's algorithm R): the first N documents of a source fill its reservoir; the
i-th one after them (counting from 0 over the source's documents) replaces a random member with
probability N / (i + 1). Every source has its own random generator, seeded by the seed and the
source's name, so a source's sample does not depend on how its documents are interleaved with
other sources' in the inputs, and the same inputs read in the same order give the same sample.
Only the reservoirs stay in memory, never an input.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tamiz.pipeline.document import Document
from tamiz.pipeline.readers import default_source, read_documents
from tamiz.pipeline.report import ReadReport


def source_rng(seed: int, source: str) -> random.Random:
    """The random generator of one source's reservoir: a fixed function of (seed, source name)."""
    digest = hashlib.blake2b(f"{seed}:{source}".encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


@dataclass
class Reservoir:
    """Up to `size` documents drawn uniformly from all the documents offered (algorithm R)."""

    size: int
    rng: random.Random
    docs: list[Document] = field(default_factory=list)
    seen: int = 0

    def offer(self, doc: Document) -> None:
        if len(self.docs) < self.size:
            self.docs.append(doc)
        else:
            j = self.rng.randrange(self.seen + 1)
            if j < self.size:
                self.docs[j] = doc
        self.seen += 1


@dataclass
class Sample:
    """The sampled documents of each source, and what reading the inputs found."""

    docs: dict[str, list[Document]]  # source -> sampled documents (in reservoir order)
    seen: dict[str, int]  # source -> documents read
    records: int = 0  # records read in all inputs
    quarantined: int = 0  # records that could not be read
    files: int = 0


def sample_documents(inputs: Iterable[tuple[str, str | None]], size: int, seed: int,
                     on_read: Callable[[int], None] | None = None) -> Sample:
    """Reservoir-sample up to `size` documents per source from (path, source or None) inputs, in order.

    A document keeps its own source; one without takes the input's source or, failing that, the input's
    folder name (as `tamiz filter` does). `on_read(n)` is called after every 1,000 documents and at the end.
    """
    if size < 1:
        raise ValueError(f"sample: {size} must be at least 1")
    reservoirs: dict[str, Reservoir] = {}
    out = Sample(docs={}, seen={})
    read = 0
    for path, source in inputs:
        report = ReadReport(str(path))
        for doc in read_documents(path, report, source or default_source(path)):
            res = reservoirs.get(doc.source)
            if res is None:
                res = reservoirs[doc.source] = Reservoir(size, source_rng(seed, doc.source))
            res.offer(doc)
            read += 1
            if on_read is not None and read % 1000 == 0:
                on_read(read)
        out.records += report.records
        out.quarantined += len(report.quarantine)
        out.files += 1
    if on_read is not None:
        on_read(read)
    for name in sorted(reservoirs):
        out.docs[name] = reservoirs[name].docs
        out.seen[name] = reservoirs[name].seen
    return out
