"""Quality gates a batch of records must pass before it can be released.

Each gate returns a ``GateResult`` with its metric, threshold and the record ids it flags. A gate
that cannot compute its metric (nothing to measure, inconsistent counts) fails and says why: it
never passes by default. When it cannot compute, ``metric`` holds the worst possible value so that
a stored result is never mistaken for a good one. An invalid threshold raises ``GateError``.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .errors import GateError


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    metric: float
    threshold: float
    flagged_ids: tuple[Hashable, ...]
    detail: str


_WHITESPACE = re.compile(r"\s+")


def normalise_for_dedup(text: str) -> str:
    """NFKC, lower case, punctuation turned into spaces, whitespace collapsed and trimmed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    spaced = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return _WHITESPACE.sub(" ", spaced).strip()


def exact_duplicate_gate(items: Sequence[tuple[Hashable, str]], *, max_duplicate_rate: float) -> GateResult:
    """Flag every record whose normalised text was already seen earlier in ``items``.

    ``metric`` is duplicates / records; the gate passes when it is at most ``max_duplicate_rate``.
    """
    name = "exact_duplicate"
    threshold = _rate_threshold(name, max_duplicate_rate)
    if not items:
        return _cannot_compute(name, 1.0, threshold, "no records to check for duplicates")
    seen: set[str] = set()
    flagged: list[Hashable] = []
    for record_id, text in items:
        if not isinstance(text, str):
            return _cannot_compute(name, 1.0, threshold, f"record {record_id!r} has no text to compare")
        digest = hashlib.sha256(normalise_for_dedup(text).encode()).hexdigest()
        if digest in seen:
            flagged.append(record_id)
        else:
            seen.add(digest)
    rate = len(flagged) / len(items)
    passed = rate <= threshold
    return GateResult(
        name=name,
        passed=passed,
        metric=rate,
        threshold=threshold,
        flagged_ids=tuple(flagged),
        detail=f"{len(flagged)} of {len(items)} records duplicate an earlier one "
        f"(rate {rate:.4f} {'<=' if passed else '>'} max {threshold})",
    )


def held_rate_gate(*, total: int, held: int, max_held_rate: float) -> GateResult:
    """Share of records held back by screening; passes when ``held / total <= max_held_rate``."""
    name = "held_rate"
    threshold = _rate_threshold(name, max_held_rate)
    problem = _count_problem(total=total, part=held, part_name="held")
    if problem:
        return _cannot_compute(name, 1.0, threshold, problem)
    rate = held / total
    passed = rate <= threshold
    return GateResult(
        name=name,
        passed=passed,
        metric=rate,
        threshold=threshold,
        flagged_ids=(),
        detail=f"{held} of {total} records held back "
        f"(rate {rate:.4f} {'<=' if passed else '>'} max {threshold})",
    )


def yield_gate(*, requested: int, accepted: int, min_yield: float) -> GateResult:
    """Accepted records over requested ones; passes when ``accepted / requested >= min_yield``."""
    name = "yield"
    threshold = _rate_threshold(name, min_yield)
    problem = _count_problem(total=requested, part=accepted, part_name="accepted", total_name="requested")
    if problem:
        return _cannot_compute(name, 0.0, threshold, problem)
    rate = accepted / requested
    passed = rate >= threshold
    return GateResult(
        name=name,
        passed=passed,
        metric=rate,
        threshold=threshold,
        flagged_ids=(),
        detail=f"{accepted} of {requested} requested records accepted "
        f"(yield {rate:.4f} {'>=' if passed else '<'} min {threshold})",
    )


def _rate_threshold(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or not 0 <= value <= 1
    ):
        raise GateError(f"{name}: threshold must be a number from 0 to 1, got {value!r}")
    return float(value)


def _count_problem(*, total: int, part: int, part_name: str, total_name: str = "total") -> str | None:
    for label, count in ((total_name, total), (part_name, part)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return f"{label} must be a whole number of records, got {count!r}"
    if total == 0:
        return f"{total_name} is 0: nothing to measure"
    if part > total:
        return f"{part_name} ({part}) exceeds {total_name} ({total})"
    return None


def _cannot_compute(name: str, worst: float, threshold: float, reason: str) -> GateResult:
    return GateResult(
        name=name,
        passed=False,
        metric=worst,
        threshold=threshold,
        flagged_ids=(),
        detail=f"cannot compute: {reason}",
    )
