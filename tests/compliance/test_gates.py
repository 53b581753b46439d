"""Quality gates (compliance.gates)."""

from __future__ import annotations

import pytest

from compliance.errors import GateError
from compliance.gates import (
    GateResult,
    exact_duplicate_gate,
    held_rate_gate,
    normalise_for_dedup,
    yield_gate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Ｈｅｌｌｏ，  WORLD!! ", "hello world"),
        ("你好，世界。", "你好 世界"),
        ("你好,  世界", "你好 世界"),
        ("line\n\tbreak", "line break"),
        ("", ""),
    ],
)
def test_normalise_for_dedup(text: str, expected: str) -> None:
    assert normalise_for_dedup(text) == expected


# --- exact duplicates --------------------------------------------------------------------------

ITEMS = [
    (1, "您好，请问贷款利率是多少？"),
    (2, "您好, 请问贷款利率是多少?"),  # half-width punctuation: same text
    (3, "How do I reset my PIN?"),
    (4, "how do i reset my pin"),
    (5, "您好，请问贷款利率是多少？"),
    (6, "完全不同的一条记录"),
]


def test_every_occurrence_after_the_first_is_flagged() -> None:
    result = exact_duplicate_gate(ITEMS, max_duplicate_rate=0.5)
    assert result == GateResult(
        name="exact_duplicate",
        passed=True,
        metric=0.5,
        threshold=0.5,
        flagged_ids=(2, 4, 5),
        detail="3 of 6 records duplicate an earlier one (rate 0.5000 <= max 0.5)",
    )


def test_duplicate_rate_above_threshold_fails() -> None:
    result = exact_duplicate_gate(ITEMS, max_duplicate_rate=0.4)
    assert (result.passed, result.metric, result.flagged_ids) == (False, 0.5, (2, 4, 5))
    assert result.detail.endswith("(rate 0.5000 > max 0.4)")


def test_no_duplicates_passes_a_zero_threshold() -> None:
    result = exact_duplicate_gate([("a", "一"), ("b", "二"), ("c", "三")], max_duplicate_rate=0.0)
    assert (result.passed, result.metric, result.flagged_ids) == (True, 0.0, ())


def test_near_duplicates_are_not_exact_duplicates() -> None:
    result = exact_duplicate_gate(
        [("a", "贷款利率是多少"), ("b", "贷款利率是多少呢")], max_duplicate_rate=0.0
    )
    assert result.passed is True


def test_no_records_fails_closed() -> None:
    result = exact_duplicate_gate([], max_duplicate_rate=0.1)
    assert result == GateResult(
        "exact_duplicate", False, 1.0, 0.1, (), "cannot compute: no records to check for duplicates"
    )


def test_record_without_text_fails_closed() -> None:
    result = exact_duplicate_gate([(1, "ok"), (2, None)], max_duplicate_rate=1.0)  # type: ignore[list-item]
    assert (result.passed, result.detail) == (False, "cannot compute: record 2 has no text to compare")


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), True, "0.1", None])
def test_invalid_threshold_raises(threshold: object) -> None:
    with pytest.raises(GateError, match="threshold must be a number from 0 to 1"):
        exact_duplicate_gate(ITEMS, max_duplicate_rate=threshold)  # type: ignore[arg-type]
    with pytest.raises(GateError):
        held_rate_gate(total=10, held=1, max_held_rate=threshold)  # type: ignore[arg-type]
    with pytest.raises(GateError):
        yield_gate(requested=10, accepted=9, min_yield=threshold)  # type: ignore[arg-type]


# --- held rate ---------------------------------------------------------------------------------


def test_held_rate_at_threshold_passes() -> None:
    result = held_rate_gate(total=100, held=20, max_held_rate=0.2)
    assert result == GateResult(
        "held_rate", True, 0.2, 0.2, (), "20 of 100 records held back (rate 0.2000 <= max 0.2)"
    )


def test_held_rate_above_threshold_fails() -> None:
    result = held_rate_gate(total=100, held=21, max_held_rate=0.2)
    assert (result.passed, result.metric) == (False, 0.21)


@pytest.mark.parametrize(
    ("total", "held", "detail"),
    [
        (0, 0, "cannot compute: total is 0: nothing to measure"),
        (10, 11, "cannot compute: held (11) exceeds total (10)"),
        (10, -1, "cannot compute: held must be a whole number of records, got -1"),
        (10.0, 1, "cannot compute: total must be a whole number of records, got 10.0"),
    ],
)
def test_held_rate_that_cannot_compute_fails(total: int, held: int, detail: str) -> None:
    result = held_rate_gate(total=total, held=held, max_held_rate=1.0)
    assert (result.passed, result.metric, result.detail) == (False, 1.0, detail)


# --- yield -------------------------------------------------------------------------------------


def test_yield_at_threshold_passes() -> None:
    result = yield_gate(requested=100, accepted=90, min_yield=0.9)
    assert result == GateResult(
        "yield", True, 0.9, 0.9, (), "90 of 100 requested records accepted (yield 0.9000 >= min 0.9)"
    )


def test_yield_below_threshold_fails() -> None:
    result = yield_gate(requested=100, accepted=89, min_yield=0.9)
    assert (result.passed, result.metric) == (False, 0.89)


def test_zero_requested_fails_closed_even_with_zero_min_yield() -> None:
    result = yield_gate(requested=0, accepted=0, min_yield=0.0)
    assert (result.passed, result.metric, result.detail) == (
        False,
        0.0,
        "cannot compute: requested is 0: nothing to measure",
    )


def test_accepted_above_requested_fails_closed() -> None:
    result = yield_gate(requested=5, accepted=6, min_yield=0.5)
    assert (result.passed, result.detail) == (False, "cannot compute: accepted (6) exceeds requested (5)")
