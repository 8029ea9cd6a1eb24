"""Personal data redaction for Spanish text: e-mail and IP addresses, phones, DNI/NIE, IBAN, NSS, card numbers.

Files: `checks.py` (check letters and digits: DNI, NIE, IBAN, NSS, Luhn, ISBN), `phones.py` (telephone
plans of Spain and Latin America), `detect.py` (the pattern and the check of every kind, `find_pii`),
`config.py` (`PIIConfig`: kinds and placeholders), `redact.py` (`PIIRedactor`, the mapper "pii" the
filter stage runs at the end of a source's heuristic chain). docs/filters.md has what is found, what
survives, and the measured precision and recall.
"""

from __future__ import annotations

from tamiz.pipeline.pii.config import PIIConfig
from tamiz.pipeline.pii.detect import KINDS, Span, find_pii
from tamiz.pipeline.pii.redact import PIIRedactor

__all__ = ["KINDS", "PIIConfig", "PIIRedactor", "Span", "find_pii"]
