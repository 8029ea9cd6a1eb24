"""What a reader or step saw besides good documents: counts by reason and quarantined records."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tamiz.core.atomic import atomic_open

log = logging.getLogger("tamiz")


@dataclass(slots=True)
class BadRecord:
    """A record that could not be read. `where` is a byte offset (WARC) or a line number (JSONL)."""

    path: str
    where: str
    reason: str
    excerpt: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "where": self.where,
            "reason": self.reason,
            "excerpt_b64": base64.b64encode(self.excerpt[:512]).decode("ascii"),
        }


@dataclass
class ReadReport:
    """Counts for one input file. Invariant: records = yielded + sum(skipped) + len(quarantine)."""

    path: str
    records: int = 0
    yielded: int = 0
    skipped: Counter = field(default_factory=Counter)
    quarantine: list[BadRecord] = field(default_factory=list)
    quiet: bool = False  # a look-ahead read (a sample) logs nothing: the real read will say it once

    def skip(self, reason: str) -> None:
        self.records += 1
        self.skipped[reason] += 1

    def bad(self, where: str, reason: str, excerpt: bytes = b"", count_record: bool = True) -> None:
        """Quarantine a record (count_record=False for file-level problems that are not a record)."""
        if count_record:
            self.records += 1
        self.quarantine.append(BadRecord(self.path, where, reason, excerpt))
        if not self.quiet:
            log.warning("%s (%s): %s", self.path, where, reason)

    def good(self) -> None:
        self.records += 1
        self.yielded += 1

    def reconciles(self) -> bool:
        quarantined = sum(1 for b in self.quarantine if b.where != "file")
        return self.records == self.yielded + sum(self.skipped.values()) + quarantined


def write_quarantine(path: str | os.PathLike, bad: list[BadRecord]) -> None:
    """One JSON line per bad record (path, where, reason, base64 excerpt), written atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        for b in bad:
            f.write(json.dumps(b.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
