"""Telephone numbers of Spain and the main Latin American countries, and the numbers that only look like them.

A candidate is a run of digits with single spaces, hyphens or dots between them (the first group may
be in parentheses), optionally after a country code (+34, 0034, (+34)). It is a phone number when
its digits and grouping fit one of these plans; when the whole run does not, the longest leading run
of its groups that does is taken (cut at a space, never between two groups of three digits, which
is how Spanish groups thousands), and the groups after it are read as a number of their own
("Tel 912345678 912345679" holds two):

  with a country code      +34 Spain: 9 digits starting 6-9
                           +52 Mexico: 10 digits (or 11 with the old mobile "1")
                           +54 Argentina: 10 digits (11 with the mobile "9")
                           +56 Chile: 9 digits     +57 Colombia: 10 digits (8: old landlines)
                           +51 Peru: 8 or 9 digits +58 Venezuela: 10 digits starting 2 or 4
  without one (national)   Spain and Peru: 9 digits starting 6-9, as 9, 3-3-3, 3-2-2-2 or 2-3-2-2
                           Mexico, Colombia, Argentina: 10 digits as 2-4-4 or 3-3-4 (area first),
                             or run together right after a telephone word
                           Argentina, Venezuela with the trunk 0: 11 digits as 3-4-4, 4-3-4 or 4-7
                           Argentine mobiles: area, 15, 4-4;  Chile: 9 digits as 1-4-4;  Lima: (01) 3-4

Everything else stays: dates (12-03-2024: 8 digits), years and ranges (1990-2010), postal codes,
ISBNs (their grouping, and a valid ISBN checksum), prices and quantities. Spanish writes large
numbers in groups of three (700 000 000, 612.345.678), exactly like a 3-3-3 phone; such a number
is kept when a currency sign precedes it; and, unless a telephone word (teléfono, tel., móvil,
llame, fax, WhatsApp...) comes within three words before it, when a currency or a unit follows it,
when its last six digits are zero (a round quantity), or when it is dotted. A national number
after a reference word (pedido, factura, expediente, referencia, ISBN...) is kept too, unless a
telephone word is nearer to it.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Iterator

from tamiz.pipeline.pii.checks import valid_isbn

# the country codes of the plans above: 34, 51, 52, 54, 56, 57, 58
PHONE_RE = re.compile(r"""
    (?<![\w+/@=&%#.\-\u00b7])(?<!\d[ ,])          # not inside a word, a longer number, a path or a version
    (?:(?P<open>\()?(?:\+|\b00)[ ]?(?P<cc>34|5[124678])(?(open)\))[ .\-]?)?+
    (?P<num>(?:\(\d{1,4}\)[ .\-]?|\d)(?:\d|[ .\-](?=\d))*+)
    (?![\w@/%\u00b2\u00b3]|[.,\-]\d|[ ]\d)        # and not followed by more digits, a word or a unit sign
    """, re.X)

_SPLIT = re.compile(r"[ .\-()]+")
_PHONE_CUE = re.compile(r"\b(?:tel[ée]fonos?|telf|tlfn?|tfno|tel|m[óo]vil(?:es)?|celular|cel|fax|whats ?app|"
                        r"llam[aeá]\w*|ll[áa]m\w+|marc[ae]\w*|contacto|contactar)\b\W{0,4}(?:\w+\W+){0,3}$")
_REFERENCE_CUE = re.compile(r"\b(?:pedidos?|facturas?|expedientes?|referencias?|ref|isbn|issn|doi|serie|lote|"
                            r"registro|c[óo]digo|c[óo]d|cuenta|ticket|albar[áa]n|p[óo]liza|localizador|"
                            r"folio|certificado|tr[áa]mite)\b\W{0,4}(?:\w+\W+){0,2}$")
_AFTER_UNIT = re.compile(r"[ \u00a0]?(?:€|\$|%|(?:euros?|d[óo]lares|pesos|soles|bol[íi]vares|libras|habitantes|"
                         r"personas|visitas|km|kg|m2|m²|toneladas|millones|unidades|ejemplares|votos|"
                         r"bytes|[kmgt]b|a[ñn]os|d[íi]as)(?!\w))", re.I)
_BEFORE_CURRENCY = re.compile(r"(?:€|\$|\bus\$|\beur|\busd|\bmxn|\bars|\bcop|\bclp)[ \u00a0]?$", re.I)

# groupings (group lengths) of the national plans; the first group may be in parentheses
_SPAIN_GROUPS = {(9,), (3, 3, 3), (3, 2, 2, 2), (2, 3, 2, 2)}
_TEN_GROUPS = {(2, 4, 4), (3, 3, 4)}
_TRUNK_GROUPS = {(3, 4, 4), (4, 3, 4), (4, 7)}


def _national_ok(groups: tuple[int, ...], first: str, digits: str) -> bool:
    n = len(digits)
    if n == 9 and digits[0] in "6789" and groups in _SPAIN_GROUPS:
        return True
    if n == 10 and digits[0] in "23456789" and groups in _TEN_GROUPS:
        return True
    if n == 11 and digits[0] == "0" and digits[1] != "0" and groups in _TRUNK_GROUPS:
        return True
    if n == 9 and groups == (1, 4, 4) and digits[0] in "2345679":  # Chile: 9 2345 6789, 2 2345 6789
        return True
    if groups in ((2, 3, 4), (2, 7)) and first == "01":  # Lima with its trunk 0
        return True
    # Argentine mobile: area (2-4 digits, trunk 0 optional), 15, then 4-4
    return len(groups) == 4 and 2 <= groups[0] <= 4 and groups[1:] == (2, 4, 4) and digits[groups[0]:][:2] == "15"


def _international_ok(cc: str, digits: str) -> bool:
    n = len(digits)
    if cc == "34":
        return n == 9 and digits[0] in "6789"
    if cc == "52":
        return n == 10 or (n == 11 and digits[0] == "1")
    if cc == "54":
        return n == 10 or (n == 11 and digits[0] == "9")
    if cc == "56":
        return n == 9
    if cc == "57":
        return (n == 10 and (digits[0] == "3" or digits[:2] == "60")) or n == 8
    if cc == "51":
        return n in (8, 9)
    if cc == "58":
        return n == 10 and digits[0] in "24"
    return False


_GROUP = re.compile(r"\d+")


def phone_spans(text: str, m: re.Match) -> Iterator[tuple[int, int]]:
    """The telephone numbers in the candidate `m` (a match of PHONE_RE in `text`): the longest leading run
    of its digit groups that is one, then the same on the groups after it ("Tel 912345678 912345679").
    A run is cut only at a space, and not between two groups of three digits (612 345 678 901 is one
    number grouped in thousands)."""
    start, base, num, cc = m.start(), m.start("num"), m.group("num"), m.group("cc")
    pos = 0  # where the groups still to read start in `num`
    while pos < len(num):
        # no plan has more than five groups (+52 1 55 1234 5678): a longer run is not read further
        groups = list(islice(_GROUP.finditer(num, pos), 6))
        for i in range(min(len(groups), 5) - 1, -1, -1):
            stop = groups[i].end()
            if stop < len(num) and (num[stop] != " " or len(groups[i].group()) == len(groups[i + 1].group()) == 3):
                continue
            if _is_phone(text, start, base + stop, num[pos:stop], cc):
                break
        else:
            return
        yield start, base + stop
        # the rest of the run, after the space, is a number on its own
        pos = stop + 1
        start, cc = base + pos, None


def _is_phone(text: str, start: int, end: int, num: str, cc: str | None) -> bool:
    """Whether `num` (with the country code `cc`, or none), `text[start:end]`, is a telephone number."""
    parts = [p for p in _SPLIT.split(num) if p]
    digits = "".join(parts)
    if cc:
        return _international_ok(cc, digits)
    groups = tuple(len(p) for p in parts)
    before = text[max(0, start - 40):start].lower()
    if not _national_ok(groups, parts[0], digits):
        # ten digits run together (Mexico, Colombia, Argentina) only right after a telephone word
        if not (groups == (10,) and digits[0] in "23456789" and _PHONE_CUE.search(before)):
            return False
    # an ISBN-13 (978/979, checksum) is a book; a bare ten-digit number passes the ISBN-10 checksum one
    # time in eleven, so an ISBN-10 is left to its grouping and the word ISBN before it
    if _BEFORE_CURRENCY.search(before) or (len(digits) == 13 and valid_isbn(digits)):
        return False
    cue, ref = _PHONE_CUE.search(before), _REFERENCE_CUE.search(before)
    if ref and (cue is None or ref.start() > cue.start()):
        return False  # "pedido 612345678"; the nearer word decides ("teléfono del pedido: ...", "pedidos, llame al")
    if cue is not None:
        return True  # "Teléfono: 612.345.678", "Tel. 76 781 27 33 $ ..." (a shell prompt, not dollars)
    if _AFTER_UNIT.match(text, end):
        return False
    thousands = len(parts) >= 3 and all(len(p) == 3 for p in parts[1:]) and len(parts[0]) <= 3
    if thousands and digits[-6:] == "000000":
        return False  # a round quantity (700 000 000), not a line
    if thousands and "." in num:
        return False  # 612.345.678 is how Spanish writes a number; a phone only after a telephone word
    return True


def phone_cue_before(text: str, start: int) -> bool:
    """Whether a telephone word (teléfono, tel., móvil, llame...) comes within three words before `start`."""
    return _PHONE_CUE.search(text[max(0, start - 40):start].lower()) is not None
