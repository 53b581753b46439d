"""RFC 8785 vectors (section 3.2.2.3 numbers, 3.2.3 sorting) and the verifier's independent copy."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from audit.canonical import canonical_json_bytes, canonical_number
from audit.services import audit_event_canonical_bytes, audit_event_document
from audit.verifier import verify_bundle

NUMBERS = [
    (0.0, "0"),
    (-0.0, "0"),
    (1.0, "1"),
    (-1.5, "-1.5"),
    (1e21, "1e+21"),
    (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"),
    (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"),
    (0.000001, "0.000001"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (333333333.3333333, "333333333.3333333"),
    (9007199254740992, "9007199254740992"),
    (2**70, "1.1805916207174113e+21"),
    (0.1 + 0.2, "0.30000000000000004"),
    (-5e-7, "-5e-7"),
]


@pytest.mark.parametrize(("value", "text"), NUMBERS)
def test_numbers_use_the_ecmascript_form(value: float, text: str) -> None:
    assert canonical_number(value) == text
    assert verify_bundle._number(value) == text


def test_rfc_8785_sorting_example_sorts_by_utf16_code_units() -> None:
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    text = canonical_json_bytes(obj).decode()
    positions = [text.index(json.dumps(key, ensure_ascii=False)[1:-1] + '":') for key in expected_order]
    assert positions == sorted(positions)
    assert canonical_json_bytes(obj) == verify_bundle.canonical(obj)


def test_strings_escape_only_what_rfc_8785_requires() -> None:
    value = {"s": '\u2028\x7f\x1f"\\\n\t\b\f\r/é'}
    expected = '{"s":"\u2028\x7f\\u001f\\"\\\\\\n\\t\\b\\f\\r/é"}'.encode()
    assert canonical_json_bytes(value) == expected == verify_bundle.canonical(value)


def test_rfc_8785_appendix_style_document() -> None:
    obj = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    assert (
        canonical_json_bytes(obj)
        == (
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ).encode()
    )


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json_bytes({"v": value})


def test_fast_event_encoding_equals_the_general_one() -> None:
    fields = dict(
        seq=12,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        actor_id=None,
        actor_name="系统",
        action="a.b",
        object_type="dataset",
        object_id="7",
        payload={"z": [1, 0.5, "\u20ac"], "a": {"\U0001f600": None, "\ufb33": 1e21}},
        prev_hash="0" * 64,
        key_id="abcd",
    )
    assert audit_event_canonical_bytes(**fields) == canonical_json_bytes(audit_event_document(**fields))
