"""Check-digit arithmetic for identifiers (GB 11643 resident IDs, Luhn for bank cards).

Pure functions with no Presidio or Django dependency: recognizers use them to validate, and the
offline generator uses them to make valid fakes, so both sides agree on one definition.
"""

from __future__ import annotations

_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an 18-character resident ID."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("a resident ID body is 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def is_valid_resident_id(value: str) -> bool:
    """True for an 18-character ID whose check character matches (birth date checked too)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if not _plausible_date(value[6:14]):
        return False
    return resident_id_check_char(value[:17]) == value[17].upper()


def _plausible_date(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    return 1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check."""
    if not partial.isdigit():
        raise ValueError("Luhn works on digits")
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def is_valid_legacy_resident_id(value: str) -> bool:
    """15-digit first-generation ID: region + YYMMDD + 3-digit sequence; no check digit, so the date must hold."""
    if len(value) != 15 or not value.isdigit() or value[0] == "0":
        return False
    return _plausible_date("19" + value[6:12])


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(ch not in _USCC_ALPHABET for ch in first17):
        raise ValueError("a USCC body is 17 characters from 0-9A-HJ-NPQRTUWXY")
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    value = value.upper()
    if len(value) != 18 or any(ch not in _USCC_ALPHABET for ch in value):
        return False
    return uscc_check_char(value[:17]) == value[17]


def hk_id_check_char(body: str) -> str:
    """Check character of a Hong Kong identity card ``A123456`` (one or two letters + 6 digits)."""
    body = body.upper()
    letters, digits = body[:-6], body[-6:]
    if not (1 <= len(letters) <= 2 and letters.isalpha() and digits.isdigit()):
        raise ValueError("an HKID body is one or two letters and six digits")
    values = ([36] if len(letters) == 1 else []) + [ord(ch) - 55 for ch in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def is_valid_hk_id(value: str) -> bool:
    compact = value.upper().replace("(", "").replace(")", "")
    if len(compact) < 8:
        return False
    try:
        return hk_id_check_char(compact[:-1]) == compact[-1]
    except ValueError:
        return False


def iban_valid(value: str) -> bool:
    """ISO 13616 mod-97 check on an IBAN written with or without spaces."""
    compact = value.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    if not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
