"""``manage.py audit_keys_export [--output FILE]``: the public keys, with validity, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.bundle import audit_keys_export


class Command(BaseCommand):
    help = "Export every audit public key (key id, algorithm, PEM, valid from/until) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="File to write (default: stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(audit_keys_export(), indent=1, sort_keys=True)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
            self.stdout.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text)
