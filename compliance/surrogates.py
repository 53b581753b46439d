"""Format-preserving surrogates: a realistic fake of the same type, with valid check digits.

The fake is drawn from a generator seeded by HMAC(key, type:canonical value), so one value maps to
one surrogate everywhere it appears under the same key (one dataset), and nothing about the original
can be read from the fake beyond its shape (separators, country code, letter prefix).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import string

from .identifiers import (
    hk_id_check_char,
    luhn_check_digit,
    resident_id_check_char,
    uscc_check_char,
)

_REGIONS = ("110101", "110105", "310104", "310115", "440106", "440305", "330106", "320102", "510104", "420106")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志"
_EN_FIRST = ("Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Parker")
_EN_LAST = ("Reed", "Hayes", "Brooks", "Ellis", "Foster", "Grant", "Hughes", "Lane", "Marsh", "Price")
_ZH_PLACES = ("江宁市青山区", "南屏县", "云溪市临江区", "海澄市", "松原镇", "白沙市东湖区")
_EN_PLACES = ("Springfield", "Riverton", "Lakeside", "Fairview", "Oakdale", "Hillcrest")
_ZH_ORGS = ("华信科技有限公司", "恒达贸易公司", "远航物流集团", "明德咨询公司")
_EN_ORGS = ("Northwind Ltd", "Contoso Corp", "Fabrikam Inc", "Globex Group")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _rng(entity_type: str, canonical: str, key: bytes) -> random.Random:
    seed = hmac.new(key, f"surrogate:{entity_type}:{canonical}".encode(), hashlib.sha256).digest()
    return random.Random(int.from_bytes(seed, "big"))  # noqa: S311 - a deterministic fake, not a secret


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _refill(template: str, digits: str) -> str:
    """Put ``digits`` into the digit positions of ``template`` (keeps spaces, hyphens, brackets, +86)."""
    out, it = [], iter(digits)
    for ch in template:
        out.append(next(it) if ch.isdigit() else ch)
    return "".join(out)


# Types whose fakes carry a keyed tag, so a later residual-PII scan can tell our fakes from real values.
# (Place and organisation fakes come from short fixed lists instead; see ``is_surrogate``.)
TAGGED_TYPES = frozenset({
    "CN_RESIDENT_ID", "CN_USCC", "CN_MOBILE", "CN_LANDLINE", "CN_BANK_CARD", "CREDIT_CARD", "IBAN_CODE",
    "HK_ID_CARD", "CN_PASSPORT", "CN_TRAVEL_PERMIT", "CN_LICENSE_PLATE", "EMAIL_ADDRESS", "IP_ADDRESS", "PERSON",
    "AUTH_SECRET",
})
TAG_BITS = 8  # a real value passes for a fake with probability 1/256
_MAX_TRIES = 20000


def _tag_ok(entity_type: str, fake: str, tag_key: bytes) -> bool:
    canonical = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff@.]", "", fake).upper()
    digest = hmac.new(tag_key, f"tag:{entity_type}:{canonical}".encode(), hashlib.sha256).digest()
    return digest[0] >> (8 - TAG_BITS) == 0


def is_surrogate(entity_type: str, value: str, tag_key: bytes) -> bool:
    """True if ``value`` looks like a fake made by ``surrogate`` with ``tag_key`` (1/256 false-positive rate)."""
    if entity_type == "LOCATION":
        return value in _ZH_PLACES or value in _EN_PLACES
    if entity_type == "ORGANIZATION":
        return value in _ZH_ORGS or value in _EN_ORGS
    return entity_type in TAGGED_TYPES and _tag_ok(entity_type, value, tag_key)


def surrogate(entity_type: str, value: str, key: bytes, tag_key: bytes | None = None) -> str:
    """A fake ``entity_type`` value shaped like ``value``; the same (value, key) always gives the same fake.

    With ``tag_key``, draws until the fake carries the keyed tag that ``is_surrogate`` checks.
    """
    compact = re.sub(r"[\s-]", "", value)
    rng = _rng(entity_type, compact.upper() if entity_type != "EMAIL_ADDRESS" else compact.lower(), key)
    if tag_key is None or entity_type not in TAGGED_TYPES:
        return _draw(entity_type, value, compact, rng)
    for _ in range(_MAX_TRIES):
        fake = _draw(entity_type, value, compact, rng)
        if _tag_ok(entity_type, fake, tag_key):
            return fake
    return f"<{entity_type}>"  # no tagged fake of this shape: fall back to the type tag, never the value


def _draw(entity_type: str, value: str, compact: str, rng: random.Random) -> str:
    if entity_type == "CN_RESIDENT_ID":
        if len(compact) == 15:
            return rng.choice(_REGIONS) + f"{rng.randint(50, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + (
                _digits(rng, 3)
            )
        body = rng.choice(_REGIONS) + f"{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body += _digits(rng, 3)
        return body + resident_id_check_char(body)
    if entity_type == "CN_USCC":
        body = "91" + rng.choice(_REGIONS) + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
        return body + uscc_check_char(body)
    if entity_type == "CN_MOBILE":
        digits = re.sub(r"\D", "", value)
        prefix = digits[:-11]  # 86 / 0086, kept as written
        new = "1" + rng.choice("3456789") + _digits(rng, 9)
        return _refill(value, prefix + new)
    if entity_type in ("CN_BANK_CARD", "CREDIT_CARD"):
        digits = re.sub(r"\D", "", value)
        partial = digits[:2] + _digits(rng, len(digits) - 3)
        return _refill(value, partial + luhn_check_digit(partial))
    if entity_type == "IBAN_CODE":
        country = compact[:2].upper()
        bban = _digits(rng, len(compact) - 4)
        check = 98 - int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
        fake = f"{country}{check:02d}{bban}"
        return " ".join(fake[i : i + 4] for i in range(0, len(fake), 4)) if " " in value else fake
    if entity_type == "HK_ID_CARD":
        letters = re.match(r"[A-Z]{1,2}", compact.upper())
        count = len(letters.group()) if letters else 1
        hk_body = "".join(rng.choice(string.ascii_uppercase) for _ in range(count)) + _digits(rng, 6)
        hk_check = hk_id_check_char(hk_body)
        return f"{hk_body}({hk_check})" if "(" in value else hk_body + hk_check
    if entity_type == "CN_LICENSE_PLATE":
        sep = "·" if "·" in value else ""
        tail = "".join(rng.choice(_PLATE_LETTERS + string.digits) for _ in range(len(compact.replace("·", "")) - 2))
        return rng.choice(_PROVINCES) + rng.choice(_PLATE_LETTERS) + sep + tail
    if entity_type == "EMAIL_ADDRESS":
        return f"user{rng.randint(1000, 99999)}@example.com"
    if entity_type == "IP_ADDRESS":
        if ":" in value:
            return f"2001:db8::{rng.randint(1, 0xFFFF):x}"
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if entity_type == "PERSON":
        if _CJK.search(value):
            return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(max(1, min(len(value) - 1, 2))))
        return f"{rng.choice(_EN_FIRST)} {rng.choice(_EN_LAST)}"
    if entity_type == "LOCATION":
        return rng.choice(_ZH_PLACES) if _CJK.search(value) else rng.choice(_EN_PLACES)
    if entity_type == "ORGANIZATION":
        return rng.choice(_ZH_ORGS) if _CJK.search(value) else rng.choice(_EN_ORGS)
    if entity_type == "CN_LANDLINE":
        # Keep the area code (a region, not a person); the local number starts with 2-9.
        area = re.match(r"(?:(?:\+|00)86[ -]?)?\(?0(?:10|2\d|[3-9]\d{2})\)?[ -]?", value)
        keep = area.end() if area else 0
        local = value[keep:]
        digits = str(rng.randint(2, 9)) + _digits(rng, sum(ch.isdigit() for ch in local) - 1)
        return value[:keep] + _refill(local, digits)
    # Passports, permits, secrets: keep letters and separators, replace every digit.
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(rng.choice(string.digits))
        else:
            out.append(ch)
    return "".join(out)
