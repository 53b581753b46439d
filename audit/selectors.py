"""Reads from the audit log."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_event_list(
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    actor_name: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dataset_id: int | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching every filter given, oldest first.

    ``since`` is inclusive and ``until`` exclusive, so consecutive windows never count an event
    twice. ``object_id`` may be an int; it is stored as text. ``dataset_id`` keeps the events about a
    dataset, its request and the request's records (none for an unknown dataset).
    """
    events = AuditEvent.objects.all()
    if dataset_id is not None:
        events = events.filter(audit_dataset_events_q(dataset_id=dataset_id))
    if object_type is not None:
        events = events.filter(object_type=object_type)
    if object_id is not None:
        events = events.filter(object_id=str(object_id))
    if actor_name is not None:
        events = events.filter(actor_name=actor_name)
    if action is not None:
        events = events.filter(action=action)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("seq")


def audit_dataset_events_q(*, dataset_id: int) -> Q:
    """A filter for the events about a dataset, its request and that request's records."""
    from gateway.models import Dataset, Record

    request_id = Dataset.objects.filter(pk=dataset_id).values_list("request_id", flat=True).first()
    q = Q(object_type="dataset", object_id=str(dataset_id))
    if request_id is None:
        return q
    record_ids = [str(pk) for pk in Record.objects.filter(request_id=request_id).values_list("pk", flat=True)]
    return (
        q
        | Q(object_type="dataset_request", object_id=str(request_id))
        | Q(object_type="record", object_id__in=record_ids)
    )
