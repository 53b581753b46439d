"""``manage.py audit_verify``: check the audit chain; exit 1 when it is broken."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.verify import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, signatures and head row. Exits 1 on the first problem."

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

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify(trusted_key_ids=options["trusted_key_ids"])
        if result.ok:
            self.stdout.write(f"audit log verified: {result.events_checked} events")
            return
        if result.first_bad_seq is None:
            self.stderr.write(f"audit log verification FAILED: {result.reason}")
        else:
            reason = result.reason.removeprefix(f"event {result.first_bad_seq}: ")
            self.stderr.write(f"audit log verification FAILED at event {result.first_bad_seq}: {reason}")
        # SystemExit rather than CommandError: the message above is the whole report, unprefixed.
        raise SystemExit(1)
