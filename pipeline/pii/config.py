"""Settings of the personal-data redactor: which kinds it replaces, and the placeholder text of each.

Placeholders follow FineWeb-2 (datatrove's PIIFormatter): a found address is replaced by a value of
the same shape that identifies no one, so the text still reads like the original and a model learns
the format, not the person. Where a standard reserves values for examples, tamiz uses them: e-mail
domains of RFC 2606 (as FineWeb-2), IPv4 documentation networks of RFC 5737 (FineWeb-2 uses random
addresses that did not answer a ping). The national identifiers have no reserved range, so their
placeholders are all-zero values that are well formed (the check letter or digits are right) and
that no office issues: DNI 00000000T, NIE X0000000T, an IBAN with bank 0000, the card number of no
issuer, province 00 for social security, and 000 000 000, which no numbering plan gives a line.
Several placeholders for one kind are used in turn within a document. The redactor never replaces a
placeholder (nor any reserved address), so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tamiz.pipeline.pii.detect import KINDS


@dataclass(frozen=True)
class PIIConfig:
    """The personal-data redactor (mapper "pii"): FineWeb-2 style placeholders, counts per kind."""

    enabled: bool = False  # replace personal data in the kept text (off by default: it changes the text)
    kinds: tuple[str, ...] = KINDS  # which kinds: iban, card, nss, nie, dni, email, ip, phone
    public_ips_only: bool = True  # leave private, loopback, link-local and documentation addresses (FineWeb-2)
    email: tuple[str, ...] = ("email@example.com", "nombre.apellido@example.org")  # e-mail placeholders, in turn
    ip: tuple[str, ...] = ("192.0.2.146", "198.51.100.23", "203.0.113.78")  # IP placeholders: RFC 5737 addresses
    phone: tuple[str, ...] = ("000 000 000",)  # phone placeholder: no numbering plan gives a line 0...
    dni: tuple[str, ...] = ("00000000T",)  # DNI placeholder: 0 % 23 -> T, well formed, never issued
    nie: tuple[str, ...] = ("X0000000T",)  # NIE placeholder: X = 0, the DNI rule
    iban: tuple[str, ...] = ("ES82 0000 0000 0000 0000 0000",)  # IBAN placeholder: no bank 0000; mod 97 holds
    nss: tuple[str, ...] = ("00 00000000 00",)  # social security placeholder: no province 00
    card: tuple[str, ...] = ("0000 0000 0000 0000",)  # card placeholder: no issuer has prefix 0; Luhn holds

    def __post_init__(self) -> None:
        if isinstance(self.kinds, str):
            raise ValueError(f"kinds: must be a list of kinds, got {self.kinds!r}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"kinds: unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds: {list(self.kinds)} lists a kind twice")
        for kind in KINDS:
            values = getattr(self, kind)
            if isinstance(values, str) or not values or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"{kind}: must be a non-empty list of non-empty placeholder strings, got {values!r}")

    def placeholders(self, kind: str) -> tuple[str, ...]:
        return getattr(self, kind)
