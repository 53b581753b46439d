"""Append rate on PostgreSQL with 8 concurrent writers (target >= 2,000 events/s, zero forks or gaps).

Each writer process calls ``audit_event_append`` in its own transaction per event. Measured with
the production setting (``SEQUENCING = "after_commit"``: the event is queued in the writer's
transaction and sequenced right after commit in batches shared by the writers: one head lock, one
signature per event, Merkle leaves and subtree nodes, interval checkpoint every 1,000 events).
Baselines in the same run: the same 8 writers with ``in_transaction`` sequencing (each event holds
the head lock until its commit, the earlier design) and one writer. Afterwards the whole log is
verified (no gap, no fork: seqs contiguous, every prev_hash links, tree and checkpoints match) and
the queue must be empty. Prints a JSON line last.

    .venv/bin/python bench/audit_append.py [--writers 8] [--events-per-writer 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

from audit_common import drop_database, setup_django

DB = "issue6_bench_append"


def _writer(worker: int, count: int, start_at: float) -> None:
    from django.db import connections

    from audit.services import audit_event_append

    connections.close_all()
    while time.time() < start_at:
        time.sleep(0.001)
    for i in range(count):
        audit_event_append(
            actor=None,
            action="bench.append",
            object_type="writer",
            object_id=worker,
            payload={"i": i, "worker": worker},
        )
    connections.close_all()


def _run(writers: int, per_writer: int, offset: int) -> float:
    from django.db import connections

    connections.close_all()
    start_at = time.time() + 0.5
    procs = [multiprocessing.Process(target=_writer, args=(offset + w, per_writer, start_at)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return time.time() - start_at


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events-per-writer", type=int, default=1000)
    parser.add_argument(
        "--synchronous-commit-off",
        action="store_true",
        help="Measure without waiting for the WAL flush (shows the CPU-bound rate; loses durability).",
    )
    args = parser.parse_args()
    multiprocessing.set_start_method("fork")
    setup_django(DB, "/tmp/var-issue6-bench")
    if args.synchronous_commit_off:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{DB}" SET synchronous_commit = off')
    try:
        from django.conf import settings

        from audit.models import AuditCheckpoint, AuditEvent, AuditPendingEvent
        from audit.services import audit_event_append
        from audit.verify import audit_chain_verify

        audit_event_append(actor=None, action="bench.start", object_type="bench", object_id=0, payload={})

        def run_with(mode: str, writers: int, per_writer: int, offset: int) -> float:
            settings.AUDIT = {**(getattr(settings, "AUDIT", None) or {}), "SEQUENCING": mode}
            return _run(writers, per_writer, offset)

        baseline_events = args.events_per_writer
        single_seconds = run_with("after_commit", 1, baseline_events, 100)
        locked_events = args.writers * args.events_per_writer
        locked_seconds = run_with("in_transaction", args.writers, args.events_per_writer, 200)
        concurrent_events = args.writers * args.events_per_writer
        seconds = run_with("after_commit", args.writers, args.events_per_writer, 0)
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        total = 1 + baseline_events + locked_events + concurrent_events
        gaps = total - len(set(seqs))
        pending = AuditPendingEvent.objects.count()
        result = audit_chain_verify()
        rate = concurrent_events / seconds
        print(
            json.dumps(
                {
                    "bench": "audit_append",
                    "database": "postgresql",
                    "synchronous_commit": "off" if args.synchronous_commit_off else "on",
                    "sequencing": "after_commit",
                    "writers": args.writers,
                    "events": concurrent_events,
                    "seconds": round(seconds, 3),
                    "events_per_s": round(rate),
                    "baseline_in_transaction_8_writers_events_per_s": round(locked_events / locked_seconds),
                    "baseline_1_writer_events_per_s": round(baseline_events / single_seconds),
                    "speedup_vs_in_transaction": round(rate / (locked_events / locked_seconds), 2),
                    "log_events": len(seqs),
                    "gaps_or_missing": gaps,
                    "contiguous": seqs == list(range(1, total + 1)),
                    "left_queued": pending,
                    "forks": 0 if result.ok else 1,
                    "verify_ok": result.ok,
                    "verify_reason": result.reason,
                    "checkpoints": AuditCheckpoint.objects.count(),
                    "target_events_per_s": 2000,
                    "meets_target": rate >= 2000 and result.ok and gaps == 0 and pending == 0,
                    "load_average_1m": round(os.getloadavg()[0], 2),
                }
            )
        )
    finally:
        drop_database(DB)


if __name__ == "__main__":
    main()
