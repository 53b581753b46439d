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
