"""What the quality gates take in and hand back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class QualityGateError(Exception):
    """A gate could not run; the caller fails the dataset (fail closed) and records why."""


@dataclass(frozen=True)
class QualityItem:
    """One record as the gates see it: masked text only."""

    id: str
    instruction: str
    response: str
    kind: str = "qa"  # qa | dialogue | math
    category: str = ""
    answer: str = ""  # reference final answer, when the input carries one

    @property
    def text(self) -> str:
        return f"{self.instruction}\n{self.response}".strip()


@dataclass(frozen=True)
class Flag:
    gate: str
    reason: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"gate": self.gate, "reason": self.reason, "evidence": self.evidence}


@dataclass
class GateOutcome:
    """One gate's verdict: its headline metric against its threshold, plus what it flagged and why."""

    name: str
    passed: bool
    metric: float
    threshold: float
    detail: str
    comparison: str = "<="  # how metric is compared with threshold
    flags: dict[str, list[Flag]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    drop: bool = False  # flagged records are held back, not only reported

    def flag(self, item_id: str, reason: str, evidence: str) -> None:
        self.flags.setdefault(item_id, []).append(Flag(self.name, reason, evidence[:300]))

    def as_dict(self, *, examples: int = 5) -> dict[str, Any]:
        shown = list(self.flags.items())[:examples]
        return {
            "name": self.name,
            "passed": self.passed,
            "metric": round(float(self.metric), 6),
            "threshold": self.threshold,
            "comparison": self.comparison,
            "flagged": len(self.flags),
            "detail": self.detail,
            "metrics": self.metrics,
            "drops_flagged": self.drop,
            "examples": [{"id": item_id, "flags": [f.as_dict() for f in flags]} for item_id, flags in shown],
        }


def rate_outcome(name: str, *, flagged: int, total: int, max_rate: float, what: str, drop: bool) -> GateOutcome:
    """A gate whose metric is the share of flagged records, passing when it is at most ``max_rate``."""
    if total == 0:
        return GateOutcome(name, False, 1.0, max_rate, "cannot compute: no records to check", drop=drop)
    rate = flagged / total
    passed = rate <= max_rate
    detail = f"{flagged} of {total} records {what} (rate {rate:.4f} {'<=' if passed else '>'} max {max_rate})"
    return GateOutcome(name, passed, rate, max_rate, detail, drop=drop)
