"""``manage.py audit_proof``: print an inclusion or consistency proof as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.proofs import ProofError, audit_consistency_proof, audit_inclusion_proof


class Command(BaseCommand):
    help = "Print an RFC 6962 inclusion proof (--seq) or consistency proof (--first/--second) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seq", type=int, help="Event to prove included.")
        parser.add_argument("--tree-size", type=int, help="Tree size to prove against (default: latest checkpoint).")
        parser.add_argument("--first", type=int, help="Older tree size, for a consistency proof.")
        parser.add_argument("--second", type=int, help="Newer tree size, for a consistency proof.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["seq"] is not None:
                proof = audit_inclusion_proof(seq=options["seq"], tree_size=options["tree_size"])
            elif options["first"] is not None and options["second"] is not None:
                proof = audit_consistency_proof(first=options["first"], second=options["second"])
            else:
                raise CommandError("give --seq N [--tree-size M] or --first M --second N")
        except ProofError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(proof, indent=1, sort_keys=True))
