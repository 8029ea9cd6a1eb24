"""The one document type that flows through every curation step, the view steps share of its text, and
the seed of its random draws.

Document is what steps read and change; DocView holds what steps derive from one document text
(words, lines, a line scan), each computed at most once; the runner (runner.py `run_steps`) makes
one per document and hands it to the steps that ask for it. `id_seed` makes every per-document
random decision (quality/keep.py's Pareto draw, perplexity/sampling.py's draw, the classifier's
held-out split) a fixed function of the document id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

T = TypeVar("T")


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


class DocView:
    """What steps derive from one document text, each value computed at most once for that text.

    `view.derive(fn, *args)` returns `fn(view, *args)`, computed on the first call and remembered for
    this text under the key (fn, *args) (so `args`, a config for instance, must be hashable, and two
    configs get two values). The view belongs to one document at a time and is never shared between
    threads; it holds no module-level state. When a mapper changes the text, `follow(new_text)`
    forgets everything derived from the old one; a mapper that knows a fact about the text it made
    may then `keep` it (C4's line removal keeps the line scan its document rules read).

    A step called without a view (tests, a user's own loop) makes its own: `DocView.of(doc.text, view)`.
    """

    __slots__ = ("text", "_derived")

    def __init__(self, text: str):
        self.text = text
        self._derived: dict = {}

    @classmethod
    def of(cls, text: str, view: "DocView | None" = None) -> "DocView":
        """`view` when it is a view of `text`, else a new view of `text`."""
        if view is not None and view.text == text:
            return view
        return cls(text)

    def derive(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(self, *args), computed once per text (remembered under (fn, *args))."""
        key = (fn, *args) if args else fn
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = fn(self, *args)
            return value

    def keep(self, value: Any, fn: Callable, *args: Any) -> None:
        """Remember `value` as what `derive(fn, *args)` gives for the current text."""
        self._derived[(fn, *args) if args else fn] = value

    def follow(self, text: str) -> None:
        """The document's text is now `text`: forget what was derived from another text."""
        if text != self.text:  # str == is an identity check first: the usual unchanged text costs nothing
            self.text = text
            self._derived.clear()


def id_seed(doc_id: str, salt: int = 0) -> int:
    """A 64-bit seed from a document id (blake2b): the same id always gets the same random draw."""
    h = hashlib.blake2b(f"{salt}:{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little")
