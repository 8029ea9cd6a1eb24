"""Check digits of the identifiers the redactor looks for, and of the look-alikes it must leave alone.

Each function takes the identifier's characters without separators and says whether its check
letter or digits are right:
  DNI   8 digits + letter "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23] (Real Decreto 1553/2005, Ministerio
        del Interior's published algorithm)
  NIE   X/Y/Z + 7 digits + letter: the prefix stands for 0/1/2 and the DNI rule applies to the 8 digits
  IBAN  ISO 13616: country, 2 check digits, BBAN of the country's length; mod 97 of the rearranged
        number (letters as 10..35) is 1
  NSS   Spanish social security (afiliación) number, 12 digits: province (2), number (8), control (2);
        control = (province * 10^8 + number) mod 97, or (province * 10^7 + number) mod 97 when the
        number is below 10^7 (the Seguridad Social's rule for numbers issued with 7 digits)
  card  Luhn (ISO/IEC 7812-1) and an issuer prefix that fits the length
  ISBN  ISBN-10 (weights 10..1, mod 11, X = 10) and ISBN-13 (978/979, weights 1,3, mod 10): never
        personal data, so a number that is a valid ISBN is not redacted as a card or a phone
"""

from __future__ import annotations

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
NIE_PREFIX = {"X": "0", "Y": "1", "Z": "2"}

# ISO 13616 lengths of the whole IBAN per country (SWIFT's IBAN registry)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def dni_letter(number: int) -> str:
    """The check letter of a DNI number (0 <= number < 10^8)."""
    return DNI_LETTERS[number % 23]


def valid_dni(digits: str, letter: str) -> bool:
    return len(digits) == 8 and digits.isdigit() and dni_letter(int(digits)) == letter.upper()


def valid_nie(prefix: str, digits: str, letter: str) -> bool:
    p = NIE_PREFIX.get(prefix.upper())
    return p is not None and len(digits) == 7 and digits.isdigit() and dni_letter(int(p + digits)) == letter.upper()


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits that make `country + ?? + bban` a valid IBAN (for generating test data)."""
    return f"{98 - _iban_mod97(bban + country + '00'):02d}"


def valid_iban(compact: str) -> bool:
    """`compact`: the IBAN without separators, upper case."""
    want = IBAN_LENGTHS.get(compact[:2])
    if want is None or len(compact) != want or not compact[2:4].isdigit() or not compact.isalnum():
        return False
    return _iban_mod97(compact[4:] + compact[:4]) == 1


def _iban_mod97(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s)) % 97


def nss_control(province: int, number: int) -> int:
    """The two control digits of a social security number (province 0-99, number 0 <= n < 10^8)."""
    base = province * 10**7 + number if number < 10**7 else province * 10**8 + number
    return base % 97


def valid_nss(digits: str) -> bool:
    """12 digits: a province 01-53, the number, the control."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    province, number, control = int(digits[:2]), int(digits[2:10]), int(digits[10:])
    return 1 <= province <= 53 and nss_control(province, number) == control


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_digit(partial: str) -> str:
    """The check digit to append to `partial` (for generating test data)."""
    for d in "0123456789":
        if luhn_ok(partial + d):
            return d
    raise AssertionError("unreachable")


def card_issuer_fits(digits: str) -> bool:
    """Whether the prefix belongs to a card network that issues numbers of this length (ISO/IEC 7812
    issuer ranges of Visa, Mastercard, American Express, Diners, Discover, JCB, UnionPay, Maestro, Mir)."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    if 2200 <= four <= 2204:
        return 16 <= n <= 19  # Mir
    if four == 6011 or 644 <= int(digits[:3]) <= 649 or two in (62, 65):
        return 16 <= n <= 19  # Discover, UnionPay
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if two == 50 or 56 <= two <= 69:
        return 13 <= n <= 19  # Maestro
    return False


def valid_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and card_issuer_fits(digits) and luhn_ok(digits)


def valid_isbn(compact: str) -> bool:
    """ISBN-10 or ISBN-13 without hyphens (ISBN-10 may end in X)."""
    if len(compact) == 13 and compact.isdigit() and compact[:3] in ("978", "979"):
        return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(compact)) % 10 == 0
    if len(compact) == 10 and compact[:9].isdigit() and (compact[9].isdigit() or compact[9] in "Xx"):
        vals = [int(c) for c in compact[:9]] + [10 if compact[9] in "Xx" else int(compact[9])]
        return sum(v * w for v, w in zip(vals, range(10, 0, -1))) % 11 == 0
    return False
