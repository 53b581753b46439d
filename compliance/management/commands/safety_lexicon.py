"""Import or export the safety lexicon terms and classifier exemplars as CSV."""

from __future__ import annotations

import csv
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.models import PolicyVersion
from compliance.services import safety_rows_export, safety_rows_import

COLUMNS = {"terms": ["risk_code", "lang", "term"], "exemplars": ["risk_code", "lang", "text"]}


class Command(BaseCommand):
    help = "export/import safety terms (risk_code,lang,term) or exemplars (risk_code,lang,text) as CSV"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("--kind", choices=sorted(COLUMNS), default="terms")
        parser.add_argument("--policy", help="policy name; with --policy-version, that version's rows (else base set)")
        parser.add_argument("--policy-version", type=int, dest="policy_version")
        parser.add_argument("--file", default="-", help="CSV file, or - for stdin/stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        version = None
        if options["policy"]:
            version = PolicyVersion.objects.filter(
                policy__name=options["policy"], version=options["policy_version"]
            ).first()
            if version is None:
                raise CommandError(f"no version {options['policy_version']} of policy {options['policy']!r}")
        kind = options["kind"]
        if options["action"] == "export":
            rows = safety_rows_export(kind=kind, policy_version=version)
            handle: Any = self.stdout if options["file"] == "-" else open(  # noqa: SIM115
                options["file"], "w", encoding="utf-8", newline=""
            )
            writer = csv.DictWriter(handle, fieldnames=COLUMNS[kind])
            writer.writeheader()
            writer.writerows(rows)
            if options["file"] != "-":
                handle.close()
            self.stderr.write(f"exported {len(rows)} {kind}")
            return
        source: Any = sys.stdin if options["file"] == "-" else open(options["file"], encoding="utf-8", newline="")  # noqa: SIM115
        reader = csv.DictReader(source)
        if reader.fieldnames != COLUMNS[kind]:
            raise CommandError(f"columns must be {','.join(COLUMNS[kind])}")
        try:
            added = safety_rows_import(kind=kind, rows=list(reader), actor=None, policy_version=version)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"imported {added} {kind}")
