from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from audit.selectors import audit_event_list
from audit.services import audit_event_append

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_triggers_off")]


@pytest.fixture
def events(alice) -> list[AuditEvent]:
    return [
        audit_event_append(actor=alice, action="dataset_request.submit", object_type="dataset_request", object_id=1),
        audit_event_append(actor=None, action="generation_job.start", object_type="generation_job", object_id=1),
        audit_event_append(actor=alice, action="dataset_request.approve", object_type="dataset_request", object_id=1),
        audit_event_append(actor=alice, action="dataset_request.submit", object_type="dataset_request", object_id=2),
    ]


def _seqs(queryset) -> list[int]:
    return list(queryset.values_list("seq", flat=True))


def test_no_filters_lists_everything_oldest_first(events: list[AuditEvent]) -> None:
    assert _seqs(audit_event_list()) == [1, 2, 3, 4]


def test_filter_by_object(events: list[AuditEvent]) -> None:
    assert _seqs(audit_event_list(object_type="dataset_request", object_id=1)) == [1, 3]
    assert _seqs(audit_event_list(object_type="dataset_request", object_id="2")) == [4]


def test_filter_by_actor_and_action(events: list[AuditEvent]) -> None:
    assert _seqs(audit_event_list(actor_name="system")) == [2]
    assert _seqs(audit_event_list(actor_name="alice", action="dataset_request.submit")) == [1, 4]


def test_filter_by_time_window_is_half_open(events: list[AuditEvent]) -> None:
    start = events[0].created_at
    AuditEvent.objects.filter(seq__in=[3, 4]).update(created_at=start + timedelta(hours=1))

    assert _seqs(audit_event_list(since=start + timedelta(hours=1))) == [3, 4]
    assert _seqs(audit_event_list(until=start + timedelta(hours=1))) == [1, 2]
    assert _seqs(audit_event_list(since=start, until=start + timedelta(seconds=1))) == [1, 2]
