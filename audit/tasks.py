"""Celery entry points for the audit log. Schedule ``audit_heartbeat`` with Celery beat, e.g.

CELERY_BEAT_SCHEDULE = {"audit-heartbeat": {"task": "audit.tasks.audit_heartbeat", "schedule": 600}}
"""

from __future__ import annotations

from celery import shared_task

from audit.checkpoints import checkpoint_create, checkpoint_heartbeat_due
from audit.services import audit_queue_drain


@shared_task(acks_late=True)
def audit_heartbeat() -> int | None:
    """Sequence events a crashed writer left queued, then sign a heartbeat checkpoint when one is
    due; return its index (None when not due)."""
    audit_queue_drain()
    if not checkpoint_heartbeat_due():
        return None
    return checkpoint_create(kind="heartbeat").index
