"""Queue-then-sequence: events commit with their change, then join the log in batches.

These tests commit for real (``transaction=True``) because after-commit sequencing runs only when
a transaction commits.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from django.db import connection, transaction

from audit import services
from audit.checkpoints import checkpoint_create
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPendingEvent
from audit.services import audit_event_append, audit_pending_sequence, audit_queue_drain, audit_sequencing_mode
from audit.tasks import audit_heartbeat
from audit.verify import audit_chain_verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def after_commit(settings) -> None:
    settings.AUDIT = {**(getattr(settings, "AUDIT", None) or {}), "SEQUENCING": "after_commit"}


def queue_as_a_crashed_writer(count: int, *, start: int = 0) -> None:
    """Committed queue rows whose writer died before sequencing them."""
    AuditPendingEvent.objects.bulk_create(
        AuditPendingEvent(actor_name="system", action="crashed.writer", object_type="x", object_id=str(start + i),
                          payload={"i": start + i})
        for i in range(count)
    )


def logged_actions() -> list[tuple[int, str, str]]:
    return list(AuditEvent.objects.order_by("seq").values_list("seq", "action", "object_id"))


def test_auto_mode_queues_on_postgresql_and_sequences_in_the_transaction_on_sqlite(settings) -> None:
    settings.AUDIT = {**settings.AUDIT, "SEQUENCING": "auto"}
    expected = "after_commit" if connection.vendor == "postgresql" else "in_transaction"
    assert audit_sequencing_mode() == expected


def test_event_joins_the_log_only_when_the_change_it_records_commits() -> None:
    with transaction.atomic():
        result = audit_event_append(actor=None, action="a.inside", object_type="x", object_id=1)
        assert result is None
        assert AuditEvent.objects.count() == 0
        assert AuditPendingEvent.objects.count() == 1

    assert logged_actions() == [(1, "a.inside", "1")]
    assert AuditPendingEvent.objects.count() == 0
    assert audit_chain_verify().ok


def test_events_a_crashed_writer_left_queued_are_sequenced_first_by_the_next_append() -> None:
    queue_as_a_crashed_writer(3)

    audit_event_append(actor=None, action="a.next", object_type="x", object_id=9)

    assert logged_actions() == [
        (1, "crashed.writer", "0"), (2, "crashed.writer", "1"), (3, "crashed.writer", "2"), (4, "a.next", "9")
    ]
    assert AuditPendingEvent.objects.count() == 0
    assert audit_chain_verify().ok


def test_checkpoints_and_the_heartbeat_sequence_the_queue_before_signing(settings) -> None:
    queue_as_a_crashed_writer(2)
    checkpoint = checkpoint_create(kind="manual")
    assert (checkpoint.tree_size, AuditPendingEvent.objects.count()) == (2, 0)

    queue_as_a_crashed_writer(3, start=2)
    settings.AUDIT = {**settings.AUDIT, "HEARTBEAT_SECONDS": 0}
    index = audit_heartbeat()

    assert AuditCheckpoint.objects.get(index=index).tree_size == 5
    assert AuditPendingEvent.objects.count() == 0
    assert audit_chain_verify().ok


def test_interval_checkpoints_fall_on_exact_multiples_inside_one_batch(settings) -> None:
    settings.AUDIT = {**settings.AUDIT, "CHECKPOINT_EVERY_EVENTS": 3}
    queue_as_a_crashed_writer(7)

    audit_queue_drain()

    assert list(AuditCheckpoint.objects.values_list("kind", "tree_size")) == [("interval", 3), ("interval", 6)]
    result = audit_chain_verify()
    assert (result.ok, result.events_checked, result.checkpoints_checked) == (True, 7, 2)


def test_a_long_queue_is_sequenced_in_batches_of_the_configured_size(settings, monkeypatch) -> None:
    settings.AUDIT = {**settings.AUDIT, "SEQUENCE_BATCH_SIZE": 2}
    batches: list[int] = []
    original = services._sequence_locked

    def counting(head, **kwargs):
        events = original(head, **kwargs)
        batches.append(len(events))
        return events

    monkeypatch.setattr(services, "_sequence_locked", counting)
    queue_as_a_crashed_writer(5)

    audit_queue_drain()

    assert batches[:3] == [2, 2, 1]
    assert [seq for seq, _action, _id in logged_actions()] == [1, 2, 3, 4, 5]
    assert audit_chain_verify().ok


def test_a_failure_after_commit_keeps_the_event_queued_for_the_next_append(monkeypatch, caplog) -> None:
    original = services._sequence_locked
    calls = {"n": 0}

    def failing_once(head, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full while sequencing")
        return original(head, **kwargs)

    monkeypatch.setattr(services, "_sequence_locked", failing_once)
    with caplog.at_level(logging.ERROR):
        # The change committed: the caller is not told it failed, the event is not lost.
        assert audit_event_append(actor=None, action="a.first", object_type="x", object_id=1) is None
    assert "disk full while sequencing" in caplog.text
    assert (AuditEvent.objects.count(), AuditPendingEvent.objects.count()) == (0, 1)

    audit_event_append(actor=None, action="a.second", object_type="x", object_id=2)

    assert logged_actions() == [(1, "a.first", "1"), (2, "a.second", "2")]
    assert audit_chain_verify().ok


def test_draining_inside_a_transaction_sequences_the_queue_in_that_transaction() -> None:
    queue_as_a_crashed_writer(2)
    with transaction.atomic():
        audit_queue_drain()
        assert [seq for seq, _action, _id in logged_actions()] == [1, 2]
        assert AuditPendingEvent.objects.count() == 0
    assert audit_chain_verify().ok


def test_pending_sequence_in_a_transaction_takes_in_the_callers_own_queued_event() -> None:
    with transaction.atomic():
        audit_event_append(actor=None, action="a.mine", object_type="x", object_id=1)
        assert audit_pending_sequence() == 1
        assert logged_actions() == [(1, "a.mine", "1")]
    assert AuditPendingEvent.objects.count() == 0
    assert AuditChainHead.objects.get(pk=1).last_seq == 1


@pytest.mark.postgres
def test_a_writer_that_finds_the_sequencer_busy_returns_and_the_holder_takes_its_event_in() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; run with DATABASE_URL=postgres://…")
    audit_event_append(actor=None, action="a.first", object_type="x", object_id=1)
    settings_dict = connection.settings_dict
    other = psycopg.connect(
        host=settings_dict["HOST"] or None, port=settings_dict["PORT"] or None, user=settings_dict["USER"],
        dbname=settings_dict["NAME"], password=settings_dict["PASSWORD"] or None, autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [services._SEQUENCER_LOCK])
        audit_event_append(actor=None, action="a.while_busy", object_type="x", object_id=2)
        # Returned without waiting: the event is committed and queued, not yet in the log.
        assert (AuditEvent.objects.count(), AuditPendingEvent.objects.count()) == (1, 1)
    finally:
        other.execute("SELECT pg_advisory_unlock(%s)", [services._SEQUENCER_LOCK])
        other.close()
    # The holder (here played by the other connection) drains after releasing; so does this call.
    audit_queue_drain()
    assert logged_actions() == [(1, "a.first", "1"), (2, "a.while_busy", "2")]


def test_a_queued_payload_reaches_the_log_unchanged() -> None:
    payload = {"名称": "脱敏文本 <PERSON>", "counts": [1, 0, {"held": None, "ok": True}], "sha256": "ab" * 32}

    audit_event_append(actor=None, action="a.payload", object_type="x", object_id="r-1", payload=payload)

    assert AuditEvent.objects.get().payload == payload
    assert audit_chain_verify().ok


def test_one_drain_per_transaction_and_none_lost_with_a_rolled_back_savepoint(monkeypatch) -> None:
    drains = {"n": 0}
    original = services.audit_queue_drain

    def counting() -> None:
        drains["n"] += 1
        original()

    monkeypatch.setattr(services, "audit_queue_drain", counting)
    with transaction.atomic():
        for index in range(3):
            audit_event_append(actor=None, action="a.many", object_type="x", object_id=index)
    assert drains["n"] == 1

    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_event_append(actor=None, action="a.rolled_back", object_type="x", object_id=9)
            raise RuntimeError("inner step failed")
        # The drain registered inside the rolled-back savepoint went with it; this one registers anew.
        audit_event_append(actor=None, action="a.kept", object_type="x", object_id=10)

    assert drains["n"] == 2
    assert [action for _seq, action, _id in logged_actions()] == ["a.many"] * 3 + ["a.kept"]
    assert AuditPendingEvent.objects.count() == 0
