from __future__ import annotations

import math

import pytest

from audit.canonical import canonical_json_bytes, payload_check_storable


def test_canonical_bytes_sort_keys_drop_spaces_and_keep_unicode() -> None:
    obj = {"b": [1, "二"], "a": {"z": None, "y": True}}

    assert canonical_json_bytes(obj) == '{"a":{"y":true,"z":null},"b":[1,"二"]}'.encode()


def test_canonical_bytes_do_not_depend_on_insertion_order() -> None:
    assert canonical_json_bytes({"x": 1, "y": 2}) == canonical_json_bytes({"y": 2, "x": 1}) == b'{"x":1,"y":2}'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_canonical_bytes_reject_nan_and_infinity(value: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        canonical_json_bytes({"v": value})


def test_canonical_bytes_reject_non_string_keys() -> None:
    with pytest.raises(TypeError, match="keys must be strings, got 1"):
        canonical_json_bytes({"outer": {1: "a"}})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"v": math.nan}, r"payload\['v'\] is nan; NaN and infinity are not JSON"),
        ({"v": [1, -0.0]}, r"payload\['v'\]\[1\] is -0.0"),
        ({"v": 1e20}, r"payload\['v'\] is the float 1e\+20, which the database returns as an integer"),
        ({"v": "a\x00b"}, r"payload\['v'\] contains a NUL character"),
        ({"k\x00": 1}, r"payload has a key with a NUL character"),
        ({2: "x"}, r"payload has the non-string key 2"),
        ({"v": {1, 2}}, r"payload\['v'\] is a set, which is not JSON"),
        ({"v": b"raw"}, r"payload\['v'\] is a bytes, which is not JSON"),
    ],
)
def test_payload_check_storable_names_the_offending_value(payload: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        payload_check_storable(payload)


def test_payload_check_storable_accepts_floats_that_round_trip() -> None:
    payload_check_storable({"a": 0.1, "b": 1.0, "c": 5e-05, "d": 1234567890123456.0, "e": 2**53, "f": None})


def test_payload_check_storable_refuses_integers_beyond_two_to_the_53() -> None:
    with pytest.raises(ValueError, match=r"payload\['e'\] is the integer 9007199254740993, beyond 2\*\*53"):
        payload_check_storable({"e": 2**53 + 1})
