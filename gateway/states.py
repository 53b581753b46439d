"""The dataset request's state machine: the states and the only moves between them."""

from __future__ import annotations

from django.db import models


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    GENERATING = "generating", "Generating"
    SCREENING = "screening", "Screening"
    GATED = "gated", "Gated"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REVOKED = "revoked", "Revoked"


S = RequestState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.GENERATING, S.CANCELLED, S.FAILED}),
    S.GENERATING: frozenset({S.SCREENING, S.CANCELLED, S.FAILED}),
    S.SCREENING: frozenset({S.GATED, S.CANCELLED, S.FAILED}),
    # A passed gate goes to a human, or straight to approved when the policy needs no human.
    S.GATED: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.FAILED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.RELEASED, S.REVOKED, S.FAILED}),
    S.RELEASED: frozenset({S.REVOKED}),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REVOKED: frozenset(),
}
TERMINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
# States in which generation work may still run; cancelling stops it.
ACTIVE = frozenset({S.SUBMITTED, S.GENERATING, S.SCREENING, S.GATED})


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (final state)"
        super().__init__(f"cannot move a request from '{current}' to '{target}'; allowed from here: {allowed}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, target)
