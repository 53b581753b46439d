"""Several OS processes appending at once must leave one unbroken chain."""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connection, connections

from audit.models import AuditChainHead, AuditEvent, AuditPendingEvent
from audit.services import audit_event_append
from audit.verify import ChainVerification, audit_chain_verify

PROCESSES = 4
EVENTS_PER_PROCESS = 50


def _append_events(worker: int) -> None:
    # Never reuse the parent's socket: a child must open its own database connection.
    connections.close_all()
    for index in range(EVENTS_PER_PROCESS):
        audit_event_append(
            actor=None,
            action="load_test.append",
            object_type="worker",
            object_id=worker,
            payload={"index": index},
        )
    connections.close_all()


def _append_concurrently_and_check() -> None:
    # Close in the parent before forking too: a child closing an inherited connection would end
    # the parent's session on the server.
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    processes = [ctx.Process(target=_append_events, args=(worker,)) for worker in range(PROCESSES)]
    for process in processes:
        process.start()

    # Verifying while the children append must never report a problem that is not there.
    checks_during_appends = []
    while any(process.is_alive() for process in processes):
        checks_during_appends.append(audit_chain_verify())
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert [check for check in checks_during_appends if not check.ok] == []
    total = PROCESSES * EVENTS_PER_PROCESS
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    per_worker = {str(worker): AuditEvent.objects.filter(object_id=str(worker)).count() for worker in range(PROCESSES)}
    assert per_worker == {str(worker): EVENTS_PER_PROCESS for worker in range(PROCESSES)}
    assert AuditPendingEvent.objects.count() == 0
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (total, AuditEvent.objects.get(seq=total).event_hash)
    assert audit_chain_verify() == ChainVerification(
        ok=True, events_checked=total, first_bad_seq=None, reason="chain intact"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sequencing", ["after_commit", "in_transaction"])
def test_concurrent_processes_leave_one_unbroken_chain_on_postgresql(settings, sequencing: str) -> None:
    settings.AUDIT = {**(getattr(settings, "AUDIT", None) or {}), "SEQUENCING": sequencing}
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (row locks across processes): run with "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        )
    _append_concurrently_and_check()


@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_leave_one_unbroken_chain_on_sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant of the concurrency test; the PostgreSQL one runs instead")
    _append_concurrently_and_check()
