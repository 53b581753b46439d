"""``manage.py audit_key_rotate --new-key PATH``: hand signing over to a new Ed25519 key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.keys import audit_key_rotate


class Command(BaseCommand):
    help = (
        "Rotate the audit signing key: create the new key file, register it, log the rotation and sign a "
        "closing checkpoint with the old key, then retire the old key. Point AUDIT_SIGNING_KEY_PATH at the "
        "new file afterwards (appends fail closed until you do)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new-key", required=True, help="Path of the new key file to create (never overwritten).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = audit_key_rotate(new_key_path=options["new_key"])
        except FileExistsError as exc:
            raise CommandError(f"{options['new_key']} already exists; refusing to overwrite a key") from exc
        self.stdout.write(
            f"retired key {result.old_key_id}; new key {result.new_key_id} at {options['new_key']}; "
            f"closing checkpoint {result.checkpoint_index}"
        )
        self.stdout.write(f"now set AUDIT_SIGNING_KEY_PATH={options['new_key']} and restart the gateway and workers")
