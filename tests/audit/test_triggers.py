"""The log tables are append-only in the database itself, not only in the ORM."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from audit.checkpoints import checkpoint_create
from audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode
from audit.services import audit_event_append
from audit.triggers import LOG_TABLES, audit_triggers_disabled
from audit.verify import audit_chain_verify

pytestmark = pytest.mark.django_db


def _log() -> None:
    for i in range(3):
        audit_event_append(actor=None, action="test.event", object_type="thing", object_id=i, payload={"i": i})
    checkpoint_create(kind="manual")


@pytest.mark.parametrize(
    ("model", "change"),
    [
        (AuditEvent, lambda qs: qs.update(payload={"i": 9})),
        (AuditEvent, lambda qs: qs.delete()),
        (AuditTreeNode, lambda qs: qs.update(hash="0" * 64)),
        (AuditTreeNode, lambda qs: qs.delete()),
        (AuditCheckpoint, lambda qs: qs.update(root_hash="0" * 64)),
        (AuditCheckpoint, lambda qs: qs.delete()),
    ],
)
def test_update_and_delete_are_refused_by_the_database(model, change) -> None:
    _log()
    before = list(model.objects.values_list("pk", flat=True).order_by("pk"))
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        change(model.objects.all())
    assert list(model.objects.values_list("pk", flat=True).order_by("pk")) == before
    assert audit_chain_verify().ok


def test_raw_sql_is_refused_too() -> None:
    _log()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE seq = 1")
    assert AuditEvent.objects.get(seq=1).actor_name == "system"


def test_truncate_is_refused_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _log()
    for table in LOG_TABLES:
        with (
            pytest.raises(IntegrityError, match="append-only: TRUNCATE refused"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 3


def test_the_test_helper_lifts_and_restores_the_triggers() -> None:
    _log()
    with audit_triggers_disabled():
        AuditEvent.objects.filter(seq=2).update(actor_name="mallory")
    assert audit_chain_verify().first_bad_seq == 2
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=3).delete()


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_flush_the_log() -> None:
    # This test's teardown flushes every table, the log tables included, through audit's flush.
    _log()
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_after_the_flush_the_log_is_empty_and_triggers_are_back() -> None:
    assert AuditEvent.objects.count() == 0
    _log()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
