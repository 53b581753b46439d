"""RFC 8785 (JSON Canonicalization Scheme) bytes for hashing audit events, checkpoints and proofs.

The hash of an event must not depend on dict order, whitespace or the JSON library, so every
signed or hashed document is serialised as RFC 8785 prescribes:

* objects: members sorted by the UTF-16 code units of their names, no whitespace;
* strings: UTF-8, escaping only ``"``, ``\\`` and U+0000..U+001F (as ``\\b \\f \\n \\r \\t`` or
  ``\\u00xx`` with lower-case hex);
* numbers: the ECMAScript ``Number.prototype.toString`` form of the IEEE-754 double (``1``, not
  ``1.0``; ``1e+21``; ``1.5e-7``; ``-0`` as ``0``). Python ints are doubles to JSON: those beyond
  2**53 are written as the double they round to.

Two checks here exist because a value must hash the same after a trip through the database:

* NaN and infinities are not JSON at all, and are refused.
* ``payload_check_storable`` refuses what PostgreSQL's ``jsonb`` would silently rewrite: ``-0.0``,
  integral floats of 1e16 or more and NUL characters (which ``jsonb`` rejects), and integers beyond
  2**53, which RFC 8785 (I-JSON) cannot represent exactly.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

# From 1e16 on, Python's repr of an integral float switches to exponent form, which jsonb
# returns as an integer; payloads keep such numbers as ints.
_FLOAT_EXPONENT_FORM_FROM = 1e16
_MAX_SAFE_INTEGER = 2**53
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def canonical_json_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``obj``.

    Raises ``ValueError`` for NaN or infinite floats and for text that is not valid Unicode (lone
    surrogates), and ``TypeError`` for values JSON cannot hold or for object keys that are not
    strings.
    """
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts).encode("utf-8")


def canonical_number(value: int | float) -> str:
    """The ECMAScript (RFC 8785 section 3.2.2.3) text of a number."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return str(value)
        value = float(value)
    if not math.isfinite(value):
        raise ValueError("Out of range float values are not JSON compliant")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _sign, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + (len(digit_tuple) - len(digits))
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _encode(obj: Any, parts: list[str]) -> None:
    if isinstance(obj, str):
        parts.append(_encode_string(obj))
    elif obj is None:
        parts.append("null")
    elif obj is True:
        parts.append("true")
    elif obj is False:
        parts.append("false")
    elif isinstance(obj, int | float):
        parts.append(canonical_number(obj))
    elif isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
        parts.append("{")
        first = True
        for key in sorted(obj, key=_utf16_key):
            if not first:
                parts.append(",")
            first = False
            parts.append(_encode_string(key))
            parts.append(":")
            _encode(obj[key], parts)
        parts.append("}")
    elif isinstance(obj, list | tuple):
        parts.append("[")
        for index, item in enumerate(obj):
            if index:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def payload_check_storable(obj: Any, *, path: str = "payload") -> None:
    """Raise ``ValueError`` naming the first value that would not survive storage unchanged."""
    if obj is None or isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if not -_MAX_SAFE_INTEGER <= obj <= _MAX_SAFE_INTEGER:
            # RFC 8785 numbers are IEEE doubles (I-JSON): a larger int would be stored rounded.
            raise ValueError(f"{path} is the integer {obj}, beyond 2**53 that JSON numbers hold exactly; use a string")
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path} is {obj!r}; NaN and infinity are not JSON")
        if obj == 0 and math.copysign(1.0, obj) < 0:
            raise ValueError(f"{path} is -0.0, which the database stores as 0.0; use 0")
        if obj.is_integer() and abs(obj) >= _FLOAT_EXPONENT_FORM_FROM:
            raise ValueError(f"{path} is the float {obj!r}, which the database returns as an integer; use int")
        return
    if isinstance(obj, str):
        if "\x00" in obj:
            raise ValueError(f"{path} contains a NUL character, which the database cannot store")
        return
    if isinstance(obj, list | tuple):
        for index, item in enumerate(obj):
            payload_check_storable(item, path=f"{path}[{index}]")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"{path} has the non-string key {key!r}; JSON object keys are strings")
            if "\x00" in key:
                raise ValueError(f"{path} has a key with a NUL character, which the database cannot store")
            payload_check_storable(value, path=f"{path}[{key!r}]")
        return
    raise ValueError(f"{path} is a {type(obj).__name__}, which is not JSON; use ints, strings, lists or dicts")
