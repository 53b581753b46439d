"""Helpers shared by the pipeline steps."""

from __future__ import annotations

from django.db import transaction

from gateway.models import DatasetRequest
from gateway.services import _transition
from gateway.states import TRANSITIONS, RequestState

S = RequestState


def request_fail(*, request_id: int, reason: str) -> None:
    """Move a request that hit an unexpected error to failed, keeping what it produced for inspection."""
    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if S.FAILED in TRANSITIONS.get(request.state, frozenset()):
            _transition(request_id=request_id, target=S.FAILED, actor=None, reason=reason[:2000])

