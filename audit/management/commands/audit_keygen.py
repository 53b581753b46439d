"""``manage.py audit_keygen --output PATH``: create an Ed25519 audit signing key file."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.signing import generate_key_file


class Command(BaseCommand):
    help = "Write a new Ed25519 audit signing key (PEM, PKCS8, mode 0600). Never overwrites a file."
    # Provisioning happens before the database or the rest of the project is ready.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", required=True, help="Path of the key file to create.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["output"]
        try:
            key = generate_key_file(path)
        except FileExistsError as exc:
            raise CommandError(f"{path} already exists; refusing to overwrite an audit signing key") from exc
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}") from exc
        self.stdout.write(f"wrote audit signing key to {path}")
        self.stdout.write(f"key id: {key.key_id}")
