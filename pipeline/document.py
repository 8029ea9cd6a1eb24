"""The one document type that flows through every curation step, and the seed of its random draws.

`id_seed` makes every per-document random decision (quality/keep.py's Pareto draw,
perplexity/sampling.py's draw, the classifier's held-out split) a fixed function of the document id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """A unit of text and everything known about it.

    id: stable, deterministic identifier (unique within a build).
    text: the document text (UTF-8, NFC is not enforced here).
    source: the name of the source it came from (a row of the dataset table).
    url: where it was crawled from, if anything (never used to build a path).
    metadata: JSON-serialisable facts that steps record (language, scores, drop reason...).
    """

    id: str
    text: str
    source: str = ""
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """The Parquet row: metadata is stored as a JSON string (sorted keys, so bytes are stable)."""
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "url": self.url,
            "metadata": json.dumps(self.metadata, ensure_ascii=False, sort_keys=True),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Document":
        meta = row.get("metadata") or "{}"
        return cls(
            id=row["id"],
            text=row["text"],
            source=row.get("source") or "",
            url=row.get("url"),
            metadata=json.loads(meta) if isinstance(meta, str) else dict(meta),
        )


def id_seed(doc_id: str, salt: int = 0) -> int:
    """A 64-bit seed from a document id (blake2b): the same id always gets the same random draw."""
    h = hashlib.blake2b(f"{salt}:{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little")
