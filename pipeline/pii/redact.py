"""The redactor: a mapper that replaces personal data with placeholders and counts what it replaced, per kind.

`PIIRedactor(config).map(doc)` replaces every span `find_pii` reports (detect.py) with the next
placeholder of its kind (config.py) and records `doc.metadata["pii"] = {kind: count}` (empty when
nothing was found). The runner (`tamiz.pipeline.runner.run_steps`) sums those counts per step
through `changes(doc)`, and the filter stage writes them to its shard records and manifest
(`counts.changed.pii`). A span whose text already is one of the kind's placeholders is left as it
is, so the mapper is idempotent.
"""

from __future__ import annotations

from tamiz.pipeline.document import Document
from tamiz.pipeline.pii.config import PIIConfig
from tamiz.pipeline.pii.detect import find_pii


class PIIRedactor:
    """Mapper "pii": replaces e-mail and IP addresses, phones, DNI/NIE, IBAN, NSS and card numbers."""

    name = "pii"

    def __init__(self, config: PIIConfig | None = None) -> None:
        self.config = config or PIIConfig(enabled=True)
        self._kinds = tuple(self.config.kinds)
        self._placeholders = {k: self.config.placeholders(k) for k in self._kinds}
        self._keep = {k: frozenset(v) for k, v in self._placeholders.items()}

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with every span replaced, and the number of replacements per kind (kinds with none left out)."""
        counts: dict[str, int] = {}
        out: list[str] = []
        pos = 0
        for start, end, kind in find_pii(text, self._kinds, self.config.public_ips_only):
            if text[start:end] in self._keep[kind]:
                continue
            n = counts.get(kind, 0)
            options = self._placeholders[kind]
            out.append(text[pos:start])
            out.append(options[n % len(options)])
            counts[kind] = n + 1
            pos = end
        if not counts:
            return text, counts
        out.append(text[pos:])
        return "".join(out), dict(sorted(counts.items()))

    def map(self, doc: Document) -> Document:
        doc.text, counts = self.redact(doc.text)
        doc.metadata[self.name] = counts
        return doc

    def changes(self, doc: Document) -> dict[str, int]:
        """What `map` replaced in this document, per kind (the runner sums it; see StepStats.changed)."""
        return doc.metadata.get(self.name) or {}
