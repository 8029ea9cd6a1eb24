"""Find personal data in Spanish text: one pattern per kind, then a check that the match is what it looks like.

Kinds (`KINDS`, in the order conflicts are settled: a span that overlaps one already taken is left):
  iban   country + 2 check digits + BBAN of that country's length, mod 97 (spaces or hyphens between groups)
  card   13-19 digits, contiguous or in the usual groups (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, Diners 4-6-4;
         one separator throughout: space, hyphen or dot),
         an issuer prefix that fits the length, Luhn; a valid ISBN is not a card; the longest leading run
         of groups that is a card is taken, so an expiry date or a CVV after it stays
  nss    Spanish social security number: province 01-53, 8 digits, 2 control digits, mod 97
         (28/12345678/40, 28 12345678 40, 281234567840; a number after a space may follow)
  nie    X/Y/Z + 7 digits + check letter
  dni    8 digits (or 12.345.678) + check letter; a lower-case letter after a space only when it is
         no Spanish word (12345678 z, never 12345678 a / e / y)
  email  RFC 5322's usual address form; addresses on the domains reserved for examples (RFC 2606, 6761:
         example.com/.net/.org, .example, .test, .invalid, .localhost) and on names manuals use as
         stand-ins (.dom, .domain, .ext, .lan, .local...) are not personal data; a capitalised last
         label after one that is not (info@empresa.es.Gracias) is the next sentence, not the domain
  ip     IPv4 and IPv6 addresses that are public (`ipaddress` is_global, not multicast; IPv6 global
         unicast): private, loopback, link-local, documentation, multicast and other reserved ranges are
         not personal data, as in FineWeb-2; a dotted quad after a version or section word (versión,
         kernel, sección...), with four one-digit parts, or numbering a heading (at the start of a
         line, followed by '.', ')' or a title), is not an address
  phone  phones.py: Spain and Latin America, with and without country codes

What must survive (the tests plant each): dates and times, prices and quantities, ISBNs, version
numbers, postal codes, legal article and law numbers (artículo 1.234, Ley 15/1999), years, and
identifiers whose check letter or digits are wrong.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from itertools import islice
from typing import Iterable, NamedTuple

from tamiz.pipeline.pii.checks import IBAN_LENGTHS, valid_card, valid_dni, valid_iban, valid_isbn, valid_nie, valid_nss
from tamiz.pipeline.pii.phones import PHONE_RE, phone_cue_before, phone_spans

KINDS = ("iban", "card", "nss", "nie", "dni", "email", "ip", "phone")
# what `find_pii` finds, by version: part of the filter stage's key while the redactor is on (FiltersConfig.record),
# so a resumed build never takes text redacted by an earlier detector. Raise it with any change of what is found.
# 1: the first (no field in the key); 2: IBANs after another, a card or phone followed by more groups, a word
# after an address's final dot, dotted quads numbering headings
DETECTOR_VERSION = 2


class Span(NamedTuple):
    start: int
    end: int
    kind: str


_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# a lower-case letter after a space only where it is no Spanish word (not "a", "e", "y")
_LOWER_SPACED = "".join(c for c in _LETTERS.lower() if c not in "aey")
# Each pattern starts with the character class of its first character and checks what precedes it with a
# lookbehind after that character (\d(?<![\w.]\d) rather than (?<![\w.])\d): the regex engine then skips
# to the candidates' first characters instead of trying its lookbehind at every position (3x faster).
DNI_RE = re.compile(rf"(?P<num>\d(?<![\w.,/\-]\d)(?:\d{{7}}|\d\.\d{{3}}\.\d{{3}}))"
                    rf"(?:[ \-]?(?P<up>[{_LETTERS}])|-?(?P<low>[{_LETTERS.lower()}])|[ ](?P<sp>[{_LOWER_SPACED}]))"
                    rf"(?!\w)")
NIE_RE = re.compile(rf"(?P<pre>[XYZ])(?<![\w.,/\-][XYZ])[ \-]?(?P<num>\d{{7}})[ \-]?(?P<let>[{_LETTERS}])(?!\w)")
# an IBAN has at most 30 BBAN characters: the cap keeps every try short on long upper-case runs
IBAN_RE = re.compile(r"(?P<cc>[A-Z](?<![\w\-][A-Z])[A-Z])(?P<ck>\d{2})[ \-]?(?P<bban>[0-9A-Z](?:[ \-]?[0-9A-Z]){0,29})")
# possessive (++, *+): the groups are the maximal digit runs, never re-split by backtracking; the whole run
# of groups is taken, and `_card_end` finds the card at its start (an expiry date or a CVV may follow it)
CARD_RE = re.compile(r"(?P<num>\d(?<![\w.,/\-]\d)(?<!\d \d)\d*+(?:[ .\-]\d++)*+)(?!\w|,\d)")
# a number after a space may follow (28/12345678/40 3 años); not more digits joined by '.', ',', '/' or '-'
NSS_RE = re.compile(r"(?P<p>\d(?<![\w.,/\-]\d)(?<!\d \d)\d)(?P<s>[ /\-]?)(?P<n>\d{8})(?P=s)(?P<c>\d{2})"
                    r"(?![\w]|[.,/\-]\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9](?<![\w.%+\-][A-Za-z0-9])[A-Za-z0-9._%+\-]{0,63}@"
                      r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w\-]|\.\w)")
# parts above 255 and leading zeros are refused by `ipaddress`
IPV4_RE = re.compile(r"\d(?<![\w.\-]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w\-]|\.\d)")
IPV6_RE = re.compile(r"(?:[0-9A-Fa-f](?<![\w:.][0-9A-Fa-f])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)|:(?<![\w:.]:)(?=[0-9A-Fa-f]*:))"
                     r"[0-9A-Fa-f:]{2,38}(?![\w:])")

_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
# RFC 2606/6761 reserved names, and names that are no top-level domain but stand for one in manuals
# (user@host.dom, username@hostname.domain.ext, pc@casa.lan)
_RESERVED_TLDS = ("example", "test", "invalid", "localhost", "local", "localdomain", "lan", "internal", "home",
                  "corp", "dom", "domain", "ext", "tld")
_VERSION_CUE = re.compile(r"\b(?:versi[óo]n|version|v|kernel|linux|release|build|firmware|actualizaci[óo]n|"
                          r"parche|compilaci[óo]n|revisi[óo]n|rev|secci[óo]n|apartado|cap[íi]tulo|ep[íi]grafe|"
                          r"art[íi]culo|art|tabla|figura|punto|nota|section|sezione|se[çc][ãa]o|abschnitt)"
                          r"\W{0,3}$", re.I)
_ISBN_CUE = re.compile(r"\b(?:isbn|issn)(?:-1[03])?\W{0,4}$", re.I)
_CARD_GROUPS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1), (4, 6, 5), (4, 6, 4),
                (4, 4, 4, 1), (4, 4, 4, 3), (4, 4, 4, 2), (4, 4, 5)}
_SEP = re.compile(r"[ \-]")
_CARD_SEP = re.compile(r"[ .\-]")
_CHUNK = re.compile(r"[0-9A-Z]+")


def _before(text: str, start: int, n: int = 30) -> str:
    return text[max(0, start - n):start]


# every digit kind but the IP address has seven digits with at most one separator between two of them
_SEVEN_DIGITS = re.compile(r"\d(?:[ .\-/]?\d){6}")
_DOTTED_QUAD = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")


def _dni(text: str) -> Iterable[tuple[int, int]]:
    for m in DNI_RE.finditer(text):
        if valid_dni(m["num"].replace(".", ""), m["up"] or m["low"] or m["sp"]):
            yield m.start(), m.end()


def _nie(text: str) -> Iterable[tuple[int, int]]:
    for m in NIE_RE.finditer(text):
        if valid_nie(m["pre"], m["num"], m["let"]):
            yield m.start(), m.end()


def _iban(text: str) -> Iterable[tuple[int, int]]:
    # search, not finditer: the pattern runs on over any upper-case word or number after an IBAN (the next
    # IBAN too), so the search goes on from where the IBAN found ends, or just past a candidate that is none
    pos = 0
    while m := IBAN_RE.search(text, pos):
        end = _iban_end(text, m)
        pos = end if end else m.start() + 1
        if end:
            yield m.start(), end


def _iban_end(text: str, m: re.Match) -> int | None:
    """Where the IBAN that `m` starts ends: the group boundary at which its country's length is reached."""
    want = IBAN_LENGTHS.get(m["cc"])
    if want is None:
        return None
    need = want - 4
    got, end = 0, m.start("bban")
    for part in _CHUNK.finditer(m["bban"]):
        got += len(part.group())
        end = m.start("bban") + part.end()
        if got >= need:
            break
    if got != need or _CHUNK.match(text, end):  # a group cut by the 30-character cap goes on
        return None
    compact = m["cc"] + m["ck"] + _SEP.sub("", text[m.start("bban"):end])
    return end if valid_iban(compact) else None


def _card(text: str) -> Iterable[tuple[int, int]]:
    for m in CARD_RE.finditer(text):
        end = _card_end(text, m)
        if end is not None:
            yield m.start(), end


_GROUP = re.compile(r"\d+")


def _card_end(text: str, m: re.Match) -> int | None:
    """Where the card number at the start of the run of digit groups `m` ends: its longest leading run of
    up to five groups (cut at a space: 4111 1111 1111 1111 12/25, 4111111111111111 123) printed the way
    cards are, with an issuer prefix that fits and Luhn's check digit; a valid ISBN is no card."""
    num = m["num"]
    stops = [g.end() for g in islice(_GROUP.finditer(num), 5)]
    for stop in reversed(stops):
        if stop < len(num) and num[stop] != " ":
            continue
        head = num[:stop]
        parts = _CARD_SEP.split(head)
        if len(parts) > 1 and (tuple(len(p) for p in parts) not in _CARD_GROUPS
                               or len(set(_CARD_SEP.findall(head))) > 1):
            continue  # not a grouping cards are printed in, or mixed separators
        digits = "".join(parts)
        if valid_card(digits) and not valid_isbn(digits) and not _ISBN_CUE.search(_before(text, m.start())):
            return m.start() + stop
    return None


def _nss(text: str) -> Iterable[tuple[int, int]]:
    for m in NSS_RE.finditer(text):
        if valid_nss(m["p"] + m["n"] + m["c"]) and not _ISBN_CUE.search(_before(text, m.start())):
            yield m.start(), m.end()


def _email(text: str) -> Iterable[tuple[int, int]]:
    if "@" not in text:
        return
    for m in EMAIL_RE.finditer(text):
        domain, end = m["domain"], m.end()
        # "info@empresa.es.Gracias": a capitalised last label after one that is not (empresa.es, GMAIL.COM)
        # is the next sentence's first word, written with no space; Javier.Torres@Uc.Cl keeps its case
        head, _, last = domain.rpartition(".")
        prev = head.rpartition(".")[2]
        if "." in head and _capitalised(last) and not _capitalised(prev):
            domain, end = head, end - len(last) - 1
        domain = domain.lower()
        if domain in _RESERVED_DOMAINS or domain.endswith(tuple("." + d for d in _RESERVED_DOMAINS)):
            continue
        if domain.rsplit(".", 1)[-1] in _RESERVED_TLDS:
            continue
        yield m.start(), end


def _capitalised(label: str) -> bool:
    return label[:1].isupper() and label[1:].islower()


def _numbering(text: str, m: re.Match) -> bool:
    """A dotted quad that numbers something: after a version or section word, with four one-digit parts
    (1.2.3.4: a section in any language; 212.4.5.6 is an address), or a heading number (at the start of a
    line, followed by '.', ')' or a title: "4.1.10.2 Instalación"; a log line's address is followed by
    ' -', a hosts file's by a lower-case name), or a dotted phone after a telephone word."""
    if _VERSION_CUE.search(_before(text, m.start(), 20)):
        return True
    if len(m.group()) == 7:
        return True  # four one-digit parts
    line_start = text.rfind("\n", 0, m.start()) + 1
    if not text[line_start:m.start()].strip():
        after = text[m.end():m.end() + 1]
        if after in (".", ")") or (after in (" ", "\t") and text[m.end():m.end() + 8].lstrip(" \t")[:1].isupper()):
            return True
    # a Spanish phone written with dots (93.223.51.99, 912.34.56.78) after a telephone word
    groups = tuple(len(p) for p in m.group().split("."))
    return groups in ((2, 3, 2, 2), (3, 2, 2, 2)) and m.group()[0] in "6789" and phone_cue_before(text, m.start())


def _ip(text: str, public_only: bool = True) -> Iterable[tuple[int, int]]:
    for m in (IPV4_RE.finditer(text) if _DOTTED_QUAD.search(text) else ()):
        try:
            addr = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if _numbering(text, m):
            continue
        if not public_only or (addr.is_global and not addr.is_multicast):
            yield m.start(), m.end()
    if "::" not in text and text.count(":") < 7:
        return
    for m in IPV6_RE.finditer(text):
        s = m.group()
        if "::" not in s and s.count(":") != 7:
            continue
        try:
            addr = ipaddress.IPv6Address(s)
        except ValueError:
            continue
        # public: global unicast (2000::/3), which is what is_global leaves out of reserved ::/8 too
        if not public_only or (addr.is_global and int(addr) >> 125 == 1):
            yield m.start(), m.end()


# a run of digits with what may separate a phone's groups: PHONE_RE runs only around the runs that hold
# seven digits (every phone does), not over the whole text (it starts with lookbehinds: slow to scan)
_NUMBER_RUN = re.compile(r"\d[\d .()\-]*+")


def _phone(text: str) -> Iterable[tuple[int, int]]:
    done = 0  # where the last phone found ends: windows may overlap, a phone is reported once
    for run in _NUMBER_RUN.finditer(text):
        if sum(c.isdigit() for c in run.group()) < 7:
            continue
        # from before a country code ("(+34) ", "0034 ") to two characters past the run, for the lookahead
        for m in PHONE_RE.finditer(text, max(0, run.start() - 7), run.end() + 2):
            if m.start() >= done:
                for start, end in phone_spans(text, m):
                    done = end
                    yield start, end


_FINDERS = {"iban": _iban, "card": _card, "nss": _nss, "nie": _nie, "dni": _dni, "email": _email, "phone": _phone}


def find_pii(text: str, kinds: Iterable[str] = KINDS, public_ips_only: bool = True) -> list[Span]:
    """The spans of personal data in `text`, in text order, none overlapping; `kinds` as in KINDS."""
    wanted = set(kinds)
    if "@" not in text:
        wanted.discard("email")
    if not _SEVEN_DIGITS.search(text):  # prose without a long number: only e-mail and IP addresses to look for
        wanted &= {"email", "ip"}
    taken: list[Span] = []  # sorted, never overlapping: only the last one starting before `end` can overlap
    starts: list[int] = []
    for kind in KINDS:
        if kind not in wanted:
            continue
        found = _ip(text, public_ips_only) if kind == "ip" else _FINDERS[kind](text)
        for start, end in found:
            i = bisect_left(starts, end)
            if i and taken[i - 1].end > start:
                continue
            starts.insert(i, start)
            taken.insert(i, Span(start, end, kind))
    return taken
