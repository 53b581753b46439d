"""``manage.py audit_verify``: check the audit log, its Merkle tree, checkpoints and signatures; exit 1
when it is broken, naming the first bad event or checkpoint."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditPendingEvent
from audit.verify import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain, Merkle tree, signed checkpoints, signatures and head row. "
        "Exits 1 on the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--trusted-key-id",
            action="append",
            dest="trusted_key_ids",
            metavar="KEY_ID",
            help="Accept only events signed by this key (repeat for several). Take the ids from "
            "outside the database, e.g. from `audit_keygen` output, so a rewritten key table cannot "
            "vouch for itself.",
        )

        parser.add_argument(
            "--all-signatures",
            action="store_true",
            help="Also check the signature of every event a verified checkpoint already covers.",
        )
        parser.add_argument(
            "--max-checkpoint-age",
            type=int,
            metavar="SECONDS",
            help="Fail when the newest checkpoint is older than this (a stopped heartbeat or truncated log).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify(
            trusted_key_ids=options["trusted_key_ids"], all_signatures=options["all_signatures"]
        )
        if result.ok and options["max_checkpoint_age"] is not None:
            newest = AuditCheckpoint.objects.order_by("-index").first()
            age = None if newest is None else (timezone.now() - newest.created_at).total_seconds()
            if age is None or age > options["max_checkpoint_age"]:
                what = "no checkpoint exists" if age is None else f"the newest checkpoint is {int(age)} s old"
                self.stderr.write(f"audit log verification FAILED: {what} (heartbeat stopped?)")
                raise SystemExit(1)
        if result.ok:
            self.stdout.write(
                f"audit log verified: {result.events_checked} events, {result.checkpoints_checked} checkpoints"
            )
            self._report_queue()
            return
        if result.first_bad_checkpoint is not None:
            reason = result.reason.removeprefix(f"checkpoint {result.first_bad_checkpoint}: ")
            self.stderr.write(f"audit log verification FAILED at checkpoint {result.first_bad_checkpoint}: {reason}")
        elif result.first_bad_seq is None:
            self.stderr.write(f"audit log verification FAILED: {result.reason}")
        else:
            reason = result.reason.removeprefix(f"event {result.first_bad_seq}: ")
            self.stderr.write(f"audit log verification FAILED at event {result.first_bad_seq}: {reason}")
        # SystemExit rather than CommandError: the message above is the whole report, unprefixed.
        raise SystemExit(1)

    def _report_queue(self) -> None:
        """Events committed but not yet sequenced are not part of the signed log yet; say so."""
        queued = AuditPendingEvent.objects.order_by("id")
        count = queued.count()
        if not count:
            return
        oldest = queued.values_list("submitted_at", flat=True).first()
        age = 0 if oldest is None else int((timezone.now() - oldest).total_seconds())
        self.stdout.write(
            f"warning: {count} committed events are queued and not yet in the log (oldest {age} s); "
            "the next append, checkpoint or `audit_checkpoint --heartbeat` sequences them"
        )
