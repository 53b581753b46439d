"""Reads from the audit log."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    actor_name: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching every filter given, oldest first.

    ``since`` is inclusive and ``until`` exclusive, so consecutive windows never count an event
    twice. ``object_id`` may be an int; it is stored as text.
    """
    events = AuditEvent.objects.all()
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
