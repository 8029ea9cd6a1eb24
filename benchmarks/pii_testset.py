"""The planted test set of personal data: real Spanish text with generated identifiers and look-alikes, gold spans.

`make_testset(n_docs, seed)` builds documents from the bundled sample's real Spanish text (Debian
Reference paragraphs, fortunes, Reina-Valera verses; passages holding an "@" are skipped, so the only
e-mail addresses are planted ones) and plants, between its sentences, Spanish sentences that carry
  positives  a generated identifier of each kind, valid by construction (check letters, mod 97, Luhn,
             public IP addresses, telephone numbers in the plans of Spain, Mexico, Argentina,
             Colombia, Chile, Peru and Venezuela, with and without country codes), gold kind = its kind;
  negatives  look-alikes that are no personal data: identifiers with a wrong check letter or digit,
             dates, times, prices and quantities, ISBNs, version and section numbers, postal codes,
             legal article and law numbers, years, private and documentation IP addresses, reserved
             e-mail domains, reference numbers shaped like phones; gold category = what it is.
Everything is drawn from `random.Random(seed)`: the same seed gives the same documents and spans.

`score(docs, predict)` matches predicted spans to gold spans (same kind, overlapping; each gold span
once) and returns precision, recall and F1 per kind, how many matches have exactly the gold
boundaries, and the share of each category of look-alikes that no prediction touched.

Used by benchmarks/bench_pii.py (the full set, tamiz beside Presidio) and tests/test_pii.py (a small set,
a floor on tamiz's figures).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
KINDS = ("email", "ip", "phone", "dni", "nie", "iban", "nss", "card")
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@dataclass
class PlantedDoc:
    id: str
    text: str
    gold: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind)
    negatives: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, category)


# ------------------------------------------------------------------------------------ real text

def base_passages(limit_per_source: int = 400) -> list[str]:
    """Real Spanish passages from the sample: paragraphs, fortunes, runs of verses (no '@' in them)."""
    out: list[str] = []
    ref = [json.loads(line)["text"] for line in open(SAMPLE / "reference" / "debian_reference_es.jsonl",
                                                       encoding="utf-8")]
    paras = [p.strip() for t in ref for p in t.split("\n\n") if 120 <= len(p.strip()) <= 700]
    fortunes = [json.loads(line)["text"] for line in open(SAMPLE / "reference" / "fortunes_es.jsonl",
                                                          encoding="utf-8")]
    fortunes = [f.strip() for f in fortunes if len(f) >= 80]
    verses: list[str] = []
    with gzip.open(SAMPLE / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 7 == 0:
                lines = json.loads(line)["text"].split("\n")
                verses += [" ".join(lines[j:j + 3]) for j in range(0, min(len(lines), 9), 3)]
    for group in (paras, fortunes, verses):
        step = max(1, len(group) // limit_per_source)
        out += [p for p in group[::step][:limit_per_source] if "@" not in p and not _has_public_ip(p)]
    return out


def _has_public_ip(text: str) -> bool:
    """Whether a passage holds a real public address (the Debian Reference pings debian.org): left out,
    so that every address in the set is a planted one; section numbers (6.2.4.1) stay."""
    for tok in re.findall(r"[0-9A-Fa-f:.]*[.:][0-9A-Fa-f:.]+", text):
        try:
            a = ipaddress.ip_address(tok.strip(".:"))
        except ValueError:
            continue
        if a.is_global and not all(len(p) == 1 for p in str(a).split(".")[1:]):
            return True
    return False


# ------------------------------------------------------------------------------ generated values

NAMES = ("maria", "jose", "antonio", "carmen", "manuel", "lucia", "javier", "elena", "alejandro", "paula",
         "sofia", "diego", "valentina", "mateo", "camila", "santiago", "isabella", "sebastian", "martina", "nicolas")
SURNAMES = ("garcia", "martinez", "lopez", "sanchez", "perez", "gomez", "rodriguez", "fernandez", "gonzalez",
            "ramirez", "torres", "flores", "rivera", "morales", "castillo", "herrera", "medina", "vargas")
DOMAINS = ("gmail.com", "hotmail.com", "hotmail.es", "yahoo.es", "yahoo.com.mx", "outlook.com", "telefonica.net",
           "unam.mx", "uc.cl", "unal.edu.co", "uba.ar", "pucp.edu.pe", "ucv.ve", "ayto-leon.es", "clinicasur.com.ar")


def _email(r: random.Random) -> str:
    n, s = r.choice(NAMES), r.choice(SURNAMES)
    local = r.choice((f"{n}.{s}", f"{n}{s}{r.randint(1, 99)}", f"{n[0]}{s}", f"{n}_{s}", f"{s}.{n}{r.randint(70, 99)}"))
    x = r.random()
    if x < 0.25:
        return f"{local}@{s}{r.choice(('abogados', 'consultores', 'hnos'))}.{r.choice(('es', 'com', 'com.mx'))}"
    if x < 0.35:  # written with capitals, or with a +tag
        return r.choice((f"{n.capitalize()}.{s.capitalize()}@{r.choice(DOMAINS).capitalize()}", f"{local}+boletin@gmail.com"))
    if x < 0.4:
        return f"{local}@{r.choice(('sat', 'imss', 'economia'))}.gob.mx"
    return f"{local}@{r.choice(DOMAINS)}"


def _public_ipv4(r: random.Random) -> str:
    while True:
        a = ipaddress.IPv4Address(r.getrandbits(32))
        parts = str(a).split(".")
        if a.is_global and not a.is_multicast and not all(len(p) == 1 for p in parts[1:]):
            return str(a)


def _public_ipv6(r: random.Random) -> str:
    while True:
        a = ipaddress.IPv6Address((0x2A00 << 112) | r.getrandbits(100) << 12 | r.getrandbits(12))
        if a.is_global:
            return str(a)  # compressed form (with :: where there are zero groups)


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def _group(s: str, sizes: Iterable[int], sep: str = " ") -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    return sep.join(out)


def _phone(r: random.Random) -> str:
    """A telephone number of one of the seven plans, in a format people write."""
    if r.random() < 0.15:
        return _phone_variant(r)
    plan = r.choice(("es", "es", "es", "mx", "ar", "co", "cl", "pe", "ve"))
    intl = r.random() < 0.5
    sep = r.choice((" ", " ", "-"))
    if plan == "es":
        num = r.choice("6789") + _digits(r, 8)
        shape = r.choice(((3, 3, 3), (3, 2, 2, 2), (2, 3, 2, 2), (9,)))
        local = _group(num, shape, sep)
        return f"{r.choice(('+34 ', '0034 ', '(+34) ', '+34'))}{local}" if intl else local
    if plan == "mx":
        area = r.choice(("55", "81", "33"))
        num = area + r.choice("23456789") + _digits(r, 7)
        if intl:
            return f"+52 {r.choice(('', '1 '))}{_group(num, (2, 4, 4), sep)}"
        return r.choice((f"({area}) {num[2:6]}-{num[6:]}", _group(num, (2, 4, 4), sep)))
    if plan == "ar":
        area, rest = r.choice((("11", 8), ("351", 7), ("341", 7)))
        sub = r.choice("2345") + _digits(r, rest - 1)
        if intl:
            return f"+54 {r.choice(('9 ', ''))}{area} {sub[:-4]}-{sub[-4:]}"
        return r.choice((f"0{area} {sub[:-4]}-{sub[-4:]}", f"({'0' + area}) {sub[:-4]}-{sub[-4:]}",
                         f"{area} 15-{sub[:-4]}-{sub[-4:]}" if rest == 8 else f"0{area} {sub[:-4]}-{sub[-4:]}"))
    if plan == "co":
        num = r.choice(("3", "601", "604"))
        num = num + _digits(r, 10 - len(num))
        return f"+57 {_group(num, (3, 3, 4), sep)}" if intl else _group(num, (3, 3, 4), sep)
    if plan == "cl":
        num = r.choice("92") + _digits(r, 8)
        return f"+56 {_group(num, (1, 4, 4), sep)}" if intl else _group(num, (1, 4, 4), " ")
    if plan == "pe":
        if r.random() < 0.6:
            num = "9" + _digits(r, 8)
            return f"+51 {_group(num, (3, 3, 3), sep)}" if intl else _group(num, (3, 3, 3), " ")
        num = r.choice("2345678") + _digits(r, 6)
        return f"+51 1 {num[:3]} {num[3:]}" if intl else f"(01) {num[:3]}-{num[3:]}"
    num = r.choice(("412", "414", "424", "212")) + _digits(r, 7)
    return f"+58 {_group(num, (3, 3, 4), sep)}" if intl else r.choice((f"0{num[:3]}-{num[3:]}",
                                                                        f"0{num[:3]}-{num[3:6]}-{num[6:]}"))


def _phone_variant(r: random.Random) -> str:
    """Less common ways of writing the same numbers (dotted Spanish landlines, the area code in parentheses
    after the country code, hyphens after +34, ten digits run together)."""
    num = r.choice("6789") + _digits(r, 8)
    mx = r.choice(("55", "81")) + r.choice("2345678") + _digits(r, 7)
    return r.choice((
        f"9{r.choice('1345')}.{_digits(r, 3)}.{_digits(r, 2)}.{_digits(r, 2)}",
        f"+34-{num[:3]}-{num[3:6]}-{num[6:]}",
        f"{num[:3]}-{num[3:5]}-{num[5:7]}-{num[7:]}",
        f"+52 ({mx[:2]}) {mx[2:6]}-{mx[6:]}",
        f"(601) {_digits(r, 3)} {_digits(r, 4)}",
        f"(0212) {r.choice('23456789')}{_digits(r, 2)}-{_digits(r, 4)}",
        mx,  # 5512345678: ten digits with no grouping
    ))


def _dni(r: random.Random, valid: bool = True) -> str:
    n = r.randint(1_000_000, 99_999_999)
    letter = DNI_LETTERS[n % 23] if valid else DNI_LETTERS[(n + r.randint(1, 22)) % 23]
    digits = f"{n:08d}"
    return r.choice((f"{digits}{letter}", f"{digits}-{letter}", f"{digits[:2]}.{digits[2:5]}.{digits[5:]}-{letter}",
                     f"{digits} {letter}", f"{digits}{letter.lower()}", f"{digits} {letter.lower()}"))


def _nie(r: random.Random, valid: bool = True) -> str:
    p = r.choice("XYZ")
    n = r.randint(0, 9_999_999)
    full = int(str("XYZ".index(p)) + f"{n:07d}")
    letter = DNI_LETTERS[full % 23] if valid else DNI_LETTERS[(full + r.randint(1, 22)) % 23]
    return r.choice((f"{p}{n:07d}{letter}", f"{p}-{n:07d}-{letter}", f"{p}{n:07d}-{letter}"))


def _mod97(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s)) % 97


def _ccc_digit(digits: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    d = 11 - sum(int(c) * w for c, w in zip(digits.rjust(10, "0"), weights)) % 11
    return "0" if d == 11 else "1" if d == 10 else str(d)


def _iban(r: random.Random, valid: bool = True) -> str:
    country = r.choice(("ES", "ES", "ES", "DE", "FR", "IT", "PT"))
    if country == "ES":  # bank, branch, the CCC's two control digits, account
        bank, branch, account = _digits(r, 4), _digits(r, 4), _digits(r, 10)
        bban = bank + branch + _ccc_digit("00" + bank + branch) + _ccc_digit(account) + account
    else:
        n = {"DE": 18, "FR": 23, "IT": 23, "PT": 21}[country]
        bban = (r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + _digits(r, n - 1)) if country == "IT" else _digits(r, n)
    check = 98 - _mod97(bban + country + "00")
    if not valid:
        check = (check + r.randint(1, 96)) % 97 or 1
    iban = f"{country}{check:02d}{bban}"
    x = r.random()
    if x < 0.6:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    if x < 0.75 and country == "ES":  # the old account number's grouping: bank, branch, control, account
        return f"{iban[:4]} {iban[4:8]} {iban[8:12]} {iban[12:14]} {iban[14:]}"
    return iban


def _nss(r: random.Random, valid: bool = True) -> str:
    prov = r.randint(1, 52)
    num = r.randint(100_000, 99_999_999)
    base = prov * 10**7 + num if num < 10**7 else prov * 10**8 + num
    ctl = base % 97 if valid else (base % 97 + r.randint(1, 96)) % 97
    sep = r.choice(("/", " ", "", "-"))
    return f"{prov:02d}{sep}{num:08d}{sep}{ctl:02d}"


def _luhn_complete(partial: str, valid: bool) -> str:
    for d in "0123456789":
        s = partial + d
        total = sum((int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
                    for i, c in enumerate(reversed(s)))
        if (total % 10 == 0) == valid:
            return s
    raise AssertionError("unreachable")


def _card(r: random.Random, valid: bool = True) -> str:
    brand = r.choice(("visa", "visa", "mc", "mc2", "amex", "diners", "discover"))
    if brand == "visa":
        num, shape = _luhn_complete("4" + _digits(r, 14), valid), (4, 4, 4, 4)
    elif brand == "mc":
        num, shape = _luhn_complete(str(r.randint(51, 55)) + _digits(r, 13), valid), (4, 4, 4, 4)
    elif brand == "mc2":
        num, shape = _luhn_complete(str(r.randint(2221, 2720)) + _digits(r, 11), valid), (4, 4, 4, 4)
    elif brand == "amex":
        num, shape = _luhn_complete(r.choice(("34", "37")) + _digits(r, 12), valid), (4, 6, 5)
    elif brand == "diners":
        num, shape = _luhn_complete("36" + _digits(r, 11), valid), (4, 6, 4)
    else:
        num, shape = _luhn_complete("6011" + _digits(r, 11), valid), (4, 4, 4, 4)
    return r.choice((_group(num, shape, " "), _group(num, shape, " "), _group(num, shape, "-"), num,
                     _group(num, shape, ".")))


def _isbn13(r: random.Random) -> str:
    body = "97884" + _digits(r, 7)
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
    s = body + str(check)
    return r.choice((f"{s[:3]}-{s[3:5]}-{s[5:8]}-{s[8:12]}-{s[12]}", s))


def _isbn10(r: random.Random) -> str:
    body = "84" + _digits(r, 7)
    check = (11 - sum(int(c) * w for c, w in zip(body, range(10, 1, -1))) % 11) % 11
    c = "X" if check == 10 else str(check)
    return f"{body[:2]}-{body[2:5]}-{body[5:9]}-{c}"


# ------------------------------------------------------------------------------ sentence templates

POSITIVE = {
    "email": ("Para más información, escriba a {}.", "Puede contactar con la secretaría en {} de lunes a viernes.",
              "Enviad los trabajos a {} antes del viernes.", "Correo: {}", "Mi dirección es {} por si necesitas algo."),
    "ip": ("El acceso se registró desde la dirección {} a las tres de la madrugada.", "Conéctese al servidor {} por SSH.",
           "Las peticiones venían de {}:8080 y de otros puertos.",
           "La IP pública del cliente era {} según el registro.", "Bloqueamos {} después de varios intentos fallidos."),
    "phone": ("Llame al {} para pedir cita.", "Teléfono: {}", "Para reservas, contacte al {} o escriba por WhatsApp.",
              "Si tiene dudas, puede llamarnos al {} en horario de oficina.", "Móvil {} (solo tardes).",
              "Atención al cliente: {}.", "Mi número es el {}, llámame cuando llegues."),
    "dni": ("El titular, con DNI {}, firmó el contrato.", "Presentó su documento nacional de identidad ({}) en la ventanilla.",
            "DNI: {}", "Don Luis, con número de identificación {}, actúa en su propio nombre."),
    "nie": ("La solicitante, con NIE {}, reside en Valencia.", "Número de identidad de extranjero: {}.",
            "El trabajador extranjero ({}) presentó la documentación."),
    "iban": ("Ingrese el importe en la cuenta {} indicando su nombre.", "IBAN: {}",
             "La transferencia se hará a la cuenta {} antes del día cinco."),
    "nss": ("Número de afiliación a la Seguridad Social: {}.", "Su número de la Seguridad Social es {}.",
            "NSS {} (régimen general)."),
    "card": ("Pagó con la tarjeta {} y caducidad en diciembre.", "Número de tarjeta: {}",
             "El cargo en la tarjeta {} fue rechazado."),
}

NEGATIVE_KINDS = {  # category -> (template, value maker)
    "dni_bad_letter": ("El número {} no es válido: la letra no corresponde.", lambda r: _dni(r, False)),
    "nie_bad_letter": ("El NIE {} tiene la letra de control equivocada.", lambda r: _nie(r, False)),
    "iban_bad_check": ("La cuenta {} fue rechazada por el banco.", lambda r: _iban(r, False)),
    "nss_bad_check": ("El número {} no supera la comprobación.", lambda r: _nss(r, False)),
    "card_bad_luhn": ("La tarjeta {} fue rechazada por el datáfono.", lambda r: _card(r, False)),
    "date": ("La reunión se celebró el {}.", lambda r: r.choice((
        f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(1950, 2030)}",
        f"{r.randint(1, 28):02d}-{r.randint(1, 12):02d}-{r.randint(1950, 2030)}",
        f"{r.randint(1950, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        f"{r.randint(1, 28)}.{r.randint(1, 12)}.{r.randint(1950, 2030)}"))),
    "time": ("El tren sale a las {} de la estación.", lambda r: r.choice((
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}", f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"))),
    "price": ("El presupuesto asciende a {}.", lambda r: r.choice((
        f"{r.randint(1, 999)}.{r.randint(0, 999):03d},{r.randint(0, 99):02d} €",
        f"{r.randint(100, 999)}.{r.randint(0, 999):03d}.{r.randint(0, 999):03d} euros",
        f"{r.randint(100, 999)} {r.randint(0, 999):03d} 000 euros",
        f"{r.choice('6789')}{r.randint(10, 99)} {r.randint(0, 999):03d} {r.randint(0, 999):03d} pesos",
        f"$ {r.choice('6789')}{r.randint(10, 99)}.{r.randint(0, 999):03d}.{r.randint(0, 999):03d}",
        f"USD {r.randint(1, 99)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}"))),
    "quantity": ("La provincia tiene {} según el padrón.", lambda r: r.choice((
        f"{r.choice('6789')}{r.randint(10, 99)}.{r.randint(0, 999):03d}.{r.randint(0, 999):03d} habitantes",
        f"{r.randint(1, 9)} {r.randint(0, 999):03d} {r.randint(0, 999):03d} habitantes",
        f"{r.choice('6789')}{r.randint(10, 99)}.{r.randint(0, 999):03d}.{r.randint(0, 999):03d}"))),
    "isbn": ("Véase la edición de Cátedra (ISBN {}).", lambda r: r.choice((_isbn13(r), _isbn10(r)))),
    "isbn_bare": ("Referencia bibliográfica: {}.", _isbn13),
    "version": ("Actualice a la versión {} antes de continuar.", lambda r: r.choice((
        f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
        f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 250)}.{r.randint(1, 250)}",
        f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}"))),
    "section": ("Como se explica en la sección {}, el orden importa.", lambda r: (
        f"{r.randint(1, 12)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}")),
    "postal_code": ("La oficina está en la calle Mayor, {} Madrid.", lambda r: f"{r.randint(1, 52):02d}{r.randint(0, 999):03d}"),
    "legal": ("Según lo dispuesto en {}, el plazo es de un mes.", lambda r: r.choice((
        f"el artículo {r.randint(1, 1975)} del Código Civil", f"el artículo 1.{r.randint(100, 999)} del Código Civil",
        f"la Ley {r.randint(1, 60)}/{r.randint(1970, 2024)}", f"el Real Decreto {r.randint(100, 2000)}/{r.randint(1980, 2024)}",
        f"el art. {r.randint(1, 169)}.{r.randint(1, 5)} de la Constitución", f"el BOE núm. {r.randint(1, 313)}"))),
    "year_range": ("El periodo estudiado va de {}.", lambda r: r.choice((
        f"{r.randint(1900, 1999)}-{r.randint(2000, 2024)}", f"{r.randint(1900, 1999)} a {r.randint(2000, 2024)}"))),
    "private_ip": ("El router tiene la dirección {} en la red local.", lambda r: r.choice((
        f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}", f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        "127.0.0.1", f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}"))),
    "doc_ip": ("En el ejemplo usaremos la dirección {}.", lambda r: r.choice((
        f"192.0.2.{r.randint(1, 254)}", f"198.51.100.{r.randint(1, 254)}", f"203.0.113.{r.randint(1, 254)}",
        f"2001:db8::{r.randint(1, 0xffff):x}"))),
    "reserved_email": ("Escriba, por ejemplo, {} en el formulario.", lambda r: r.choice((
        f"{r.choice(NAMES)}@example.com", f"usuario@{r.choice(SURNAMES)}.example", f"admin@localhost"))),
    "handle": ("Síguenos en {} para conocer las novedades.", lambda r: f"@{r.choice(NAMES)}_{r.choice(SURNAMES)}"),
    "reference": ("Su {} se ha registrado correctamente.", lambda r: r.choice((
        f"pedido nº {r.choice('6789')}{_digits(r, 8)}", f"expediente {r.choice('6789')}{_digits(r, 8)}",
        f"factura {r.randint(2015, 2024)}-{_digits(r, 6)}", f"referencia {r.choice('6789')}{_digits(r, 8)}"))),
    "coordinates": ("Las coordenadas del punto son {}.", lambda r: (
        f"{r.randint(36, 43)}.{_digits(r, 4)}, -{r.randint(0, 9)}.{_digits(r, 4)}")),
    "decimal": ("El índice subió hasta {} puntos.", lambda r: f"{r.randint(1, 99)},{_digits(r, 2)}"),
    "cif": ("La empresa, con CIF {}, tiene su sede en Sevilla.", lambda r: f"{r.choice('ABG')}{_digits(r, 8)}"),
}

def _ip(r: random.Random) -> str:
    x = r.random()
    if x < 0.15:
        return _public_ipv6(r)
    if x < 0.2:
        return ipaddress.IPv6Address(_public_ipv6(r)).exploded  # all eight groups, leading zeros
    return _public_ipv4(r)


MAKERS = {"email": _email, "ip": _ip,
          "phone": _phone, "dni": _dni, "nie": _nie, "iban": _iban, "nss": _nss, "card": _card}


def make_testset(n_docs: int = 400, seed: int = 16, per_doc: tuple[int, int] = (3, 7)) -> list[PlantedDoc]:
    """`n_docs` documents of 2-4 real passages with `per_doc` planted sentences each (positives and
    negatives about equally often); the positive kinds and negative categories are drawn in turn, so
    every kind gets about the same number of spans."""
    r = random.Random(seed)
    passages = base_passages()
    neg_names = sorted(NEGATIVE_KINDS)
    docs = []
    k_i = n_i = 0
    for d in range(n_docs):
        parts = [r.choice(passages) for _ in range(r.randint(2, 4))]
        plants = []
        for _ in range(r.randint(*per_doc)):
            if r.random() < 0.5:
                kind = KINDS[k_i % len(KINDS)]
                k_i += 1
                plants.append(("pos", kind, r.choice(POSITIVE[kind]), MAKERS[kind](r)))
            else:
                cat = neg_names[n_i % len(neg_names)]
                n_i += 1
                tmpl, make = NEGATIVE_KINDS[cat]
                plants.append(("neg", cat, tmpl, make(r)))
        doc = PlantedDoc(id=f"pii-{seed}-{d:05d}", text="")
        pieces: list[tuple[str, tuple | None]] = [(p, None) for p in parts]
        for plant in plants:
            pieces.insert(r.randint(0, len(pieces)), ("", plant))
        text = ""
        for raw, plant in pieces:
            if text:
                text += r.choice(("\n\n", " ", "\n"))
            if plant is None:
                text += raw
                continue
            label, kind, tmpl, value = plant
            head, tail = tmpl.split("{}")
            if ":" in value and tail.startswith(":8080"):  # an IPv6 address takes its port in brackets
                head, tail = head + "[", "]" + tail
            start = len(text) + len(head)
            text += head + value + tail
            (doc.gold if label == "pos" else doc.negatives).append((start, start + len(value), kind))
        doc.text = text
        docs.append(doc)
    return docs


# ------------------------------------------------------------------------------------- scoring

def score(docs: list[PlantedDoc], predict: Callable[[str], list[tuple[int, int, str]]],
          kinds: Iterable[str] = KINDS) -> dict:
    """Span-level precision/recall/F1 per kind, exact-boundary share, and look-alike survival per category."""
    kinds = tuple(kinds)
    tp = {k: 0 for k in kinds}
    fp = {k: 0 for k in kinds}
    fn = {k: 0 for k in kinds}
    exact = {k: 0 for k in kinds}
    neg_total: dict[str, int] = {}
    neg_hit: dict[str, int] = {}
    false_examples: list[dict] = []
    for doc in docs:
        preds = [p for p in predict(doc.text) if p[2] in tp]
        used = set()
        for s, e, k in preds:
            match = next((i for i, (gs, ge, gk) in enumerate(doc.gold)
                          if i not in used and gk == k and s < ge and gs < e), None)
            if match is None:
                fp[k] += 1
                if len(false_examples) < 400:
                    false_examples.append({"doc": doc.id, "kind": k, "text": doc.text[s:e],
                                           "context": doc.text[max(0, s - 40):e + 20]})
            else:
                used.add(match)
                tp[k] += 1
                exact[k] += (s, e) == doc.gold[match][:2]
        for i, (gs, ge, gk) in enumerate(doc.gold):
            if i not in used and gk in fn:
                fn[gk] += 1
                if len(false_examples) < 400:
                    false_examples.append({"doc": doc.id, "kind": gk, "missed": doc.text[gs:ge],
                                           "context": doc.text[max(0, gs - 40):ge + 20]})
        for s, e, cat in doc.negatives:
            neg_total[cat] = neg_total.get(cat, 0) + 1
            if any(ps < e and s < pe for ps, pe, _ in preds):
                neg_hit[cat] = neg_hit.get(cat, 0) + 1
    per_kind = {}
    for k in kinds:
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else None
        rec = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else None
        f1 = 2 * p * rec / (p + rec) if p and rec else 0.0
        per_kind[k] = {"tp": tp[k], "fp": fp[k], "fn": fn[k], "precision": _r(p), "recall": _r(rec), "f1": _r(f1),
                       "exact_boundaries": _r(exact[k] / tp[k]) if tp[k] else None}
    TP, FP, FN = sum(tp.values()), sum(fp.values()), sum(fn.values())
    P = TP / (TP + FP) if TP + FP else 0.0
    R = TP / (TP + FN) if TP + FN else 0.0
    return {
        "per_kind": per_kind,
        "micro": {"tp": TP, "fp": FP, "fn": FN, "precision": _r(P), "recall": _r(R),
                  "f1": _r(2 * P * R / (P + R) if P and R else 0.0)},
        "lookalikes_kept": {c: {"planted": n, "touched": neg_hit.get(c, 0), "kept": _r(1 - neg_hit.get(c, 0) / n)}
                            for c, n in sorted(neg_total.items())},
        "errors": false_examples,
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
