"""Canonical JSON bytes for hashing audit events.

The hash of an event must not depend on dict order, whitespace or the JSON library, so events are
serialised with sorted keys, no spaces and UTF-8 text. This is a subset of RFC 8785 (JSON
Canonicalization Scheme): it agrees with RFC 8785 for objects with string keys whose values are
strings, integers, booleans, null, lists and nested objects. Floats are serialised with Python's
``repr`` and not RFC 8785's ECMAScript number form, so **payloads should hold integers and
strings** (a ratio as basis points or as a string). A later issue brings full RFC 8785.

Two checks here exist because a value must hash the same after a trip through the database:

* NaN and infinities are not JSON at all, and are refused.
* ``payload_check_storable`` refuses what PostgreSQL's ``jsonb`` would silently rewrite: ``-0.0``
  (stored as ``0.0``), integral floats of 1e16 or more (Python writes ``1e+16``, ``jsonb`` hands
  back the integer ``10000000000000000``) and NUL characters (which ``jsonb`` rejects).
"""

from __future__ import annotations

import json
import math
from typing import Any

# From 1e16 on, Python's repr of an integral float switches to exponent form, which jsonb
# returns as an integer: the hash would change on the way back.
_FLOAT_EXPONENT_FORM_FROM = 1e16


def canonical_json_bytes(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``obj``.

    Raises ``ValueError`` for NaN or infinite floats and for text that is not valid Unicode (lone
    surrogates), and ``TypeError`` for values JSON cannot hold or for object keys that are not
    strings (``json`` would turn them into strings and sort them differently after a round trip).
    """
    _check_keys_are_strings(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def payload_check_storable(obj: Any, *, path: str = "payload") -> None:
    """Raise ``ValueError`` naming the first value that would not survive storage unchanged."""
    if obj is None or isinstance(obj, int):  # bool is an int
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path} is {obj!r}; NaN and infinity are not JSON")
        if obj == 0 and math.copysign(1.0, obj) < 0:
            raise ValueError(f"{path} is -0.0, which the database stores as 0.0; use 0")
        if obj.is_integer() and abs(obj) >= _FLOAT_EXPONENT_FORM_FROM:
            raise ValueError(
                f"{path} is the float {obj!r}, which the database returns as an integer; use int"
            )
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
    raise ValueError(
        f"{path} is a {type(obj).__name__}, which is not JSON; use ints, strings, lists or dicts"
    )


def _check_keys_are_strings(obj: Any) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            _check_keys_are_strings(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _check_keys_are_strings(item)
