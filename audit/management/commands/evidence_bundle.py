"""``manage.py evidence_bundle --dataset ID --output FILE.zip``: write the offline evidence bundle."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.bundle import evidence_bundle_build
from gateway.errors import GatewayError


class Command(BaseCommand):
    help = "Write a dataset's evidence bundle (records, events with inclusion proofs, checkpoint, keys, verifier)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", type=int, required=True, help="Dataset id.")
        parser.add_argument("--output", required=True, help="Zip file to write.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = evidence_bundle_build(dataset_id=options["dataset"], output=options["output"])
        except GatewayError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"wrote {summary.path}: dataset {summary.dataset_id}, {summary.events} events proven against "
            f"checkpoint {summary.checkpoint_index} (tree size {summary.tree_size}), sha256 {summary.sha256}"
        )
        self.stdout.write(f"verify offline with: python verify_bundle.py {summary.path}")
