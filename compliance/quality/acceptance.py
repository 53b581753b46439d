"""Sampled acceptance (GB/T 45654 defaults) and the approvers' manual review.

- ``sampled_acceptance``: a seeded random sample of min(``acceptance_sample_size``, all) records must
  pass every automatic check at >= ``min_sample_pass_rate`` (96%), and the automatic (technical) check
  must cover >= ``min_technical_coverage`` (10%) of all data and pass >= ``min_technical_pass_rate`` (98%)
  of what it covered. Records held back by screening count as failing.
- ``manual_review``: approvers judge a sample item by item; the gate passes when every sampled item
  has a verdict and the pass rate is >= ``min_manual_pass_rate``. Only part of the gate when the
  policy sets ``manual_review`` to 1.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from .types import GateOutcome

NAME = "sampled_acceptance"
MANUAL = "manual_review"


def acceptance_sample(ids: Sequence[str], *, size: int, seed: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible audit sample, not a secret
    return sorted(rng.sample(list(ids), min(int(size), len(ids))))


def sampled_acceptance(
    *,
    ids: Sequence[str],
    failing_ids: set[str],
    screening_held: int,
    thresholds: Mapping[str, float],
    seed: int,
) -> GateOutcome:
    pool = [*ids, *(f"(held by screening #{i})" for i in range(screening_held))]
    failing = set(failing_ids) | set(pool[len(ids):])
    if not pool:
        return GateOutcome(NAME, False, 0.0, thresholds["min_sample_pass_rate"], "cannot compute: no records", ">=")
    sample = acceptance_sample(pool, size=int(thresholds["acceptance_sample_size"]), seed=seed)
    sample_pass = sum(1 for i in sample if i not in failing) / len(sample)
    coverage = 1.0  # every automatic gate ran on every record
    technical_pass = sum(1 for i in pool if i not in failing) / len(pool)
    problems = []
    if sample_pass < thresholds["min_sample_pass_rate"]:
        problems.append(f"sample pass rate {sample_pass:.4f} < {thresholds['min_sample_pass_rate']}")
    if coverage < thresholds["min_technical_coverage"]:
        problems.append(f"technical check covered {coverage:.2%} < {thresholds['min_technical_coverage']:.0%}")
    if technical_pass < thresholds["min_technical_pass_rate"]:
        problems.append(f"technical check pass rate {technical_pass:.4f} < {thresholds['min_technical_pass_rate']}")
    detail = "; ".join(problems) or (
        f"sample of {len(sample)} passes at {sample_pass:.4f}; technical check over {coverage:.0%} "
        f"of {len(pool)} records passes at {technical_pass:.4f}")
    outcome = GateOutcome(NAME, not problems, sample_pass, thresholds["min_sample_pass_rate"], detail, ">=")
    outcome.metrics = {"sample_size": len(sample), "population": len(pool), "sample_pass_rate": round(sample_pass, 4),
                       "technical_coverage": coverage, "technical_pass_rate": round(technical_pass, 4),
                       "min_technical_pass_rate": thresholds["min_technical_pass_rate"], "seed": seed}
    return outcome


def manual_review(*, verdicts: Sequence[bool | None], min_rate: float) -> GateOutcome:
    """``verdicts``: one per sampled item, None while not yet reviewed."""
    done = [v for v in verdicts if v is not None]
    if not verdicts:
        return GateOutcome(MANUAL, False, 0.0, min_rate, "cannot compute: no items in the review sample", ">=")
    rate = sum(done) / len(done) if done else 0.0
    pending = len(verdicts) - len(done)
    if pending:
        outcome = GateOutcome(MANUAL, False, rate, min_rate,
                              f"pending: {len(done)} of {len(verdicts)} sampled items reviewed", ">=")
    else:
        passed = rate >= min_rate
        outcome = GateOutcome(MANUAL, passed, rate, min_rate, f"{sum(done)} of {len(done)} reviewed items passed "
                              f"(rate {rate:.4f} {'>=' if passed else '<'} min {min_rate})", ">=")
    outcome.metrics = {"sample": len(verdicts), "reviewed": len(done), "passed": sum(done), "pending": pending}
    return outcome
