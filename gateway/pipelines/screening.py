"""Screening step: a second pass over stored records; nothing detectable may remain after masking."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_event_append
from compliance.screening import residual_pii
from gateway.models import DatasetRequest, Record
from gateway.services import _transition
from gateway.states import RequestState

from .common import runs_alone

S = RequestState


@runs_alone("screen")
def screening_execute(*, request_id: int) -> None:
    """Second screening pass over stored records: nothing detectable may remain after masking.

    A record with residual PII, or whose re-scan errors, is held back (fail closed).
    """
    from gateway.tasks import dataset_request_gate

    request = DatasetRequest.objects.get(pk=request_id)
    if request.state != S.SCREENING:
        return
    residual_held = 0
    for record in Record.objects.filter(request_id=request_id, status=Record.Status.ACCEPTED).iterator():
        try:
            leftovers = residual_pii(text=record.text)
            reason = f"residual PII after masking: {', '.join(leftovers)}" if leftovers else ""
        except Exception as exc:  # noqa: BLE001 - a re-scan that cannot run must not let the record pass
            reason = f"residual PII re-scan failed, held back: {type(exc).__name__}"
        if reason:
            with transaction.atomic():
                Record.objects.filter(pk=record.pk).update(status=Record.Status.HELD, reason=reason)
                audit_event_append(actor=None, action="record.hold", object_type="record", object_id=record.pk,
                                   payload={"request_id": request_id, "reason": reason})
            residual_held += 1
    with transaction.atomic():
        _transition(request_id=request_id, target=S.GATED, actor=None, payload={"residual_held": residual_held})
        transaction.on_commit(lambda: dataset_request_gate.delay(request_id))
