"""``manage.py audit_checkpoint [--heartbeat]``: sign a checkpoint of the audit log now.

Schedule the heartbeat (cron, systemd timer or Celery beat task ``audit.tasks.audit_heartbeat``)
more often than ``settings.AUDIT["HEARTBEAT_SECONDS"]``: ``--heartbeat`` signs only when the
newest checkpoint is at least that old, so a stopped log shows as a missing heartbeat.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.checkpoints import checkpoint_create, checkpoint_heartbeat_due


class Command(BaseCommand):
    help = "Sign a checkpoint (tree size, root, time, previous checkpoint hash) of the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--heartbeat",
            action="store_true",
            help="Heartbeat: sign only when the newest checkpoint is older than HEARTBEAT_SECONDS.",
        )
        parser.add_argument("--force", action="store_true", help="With --heartbeat: sign even if not due.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["heartbeat"] and not options["force"] and not checkpoint_heartbeat_due():
            self.stdout.write("heartbeat not due: the newest checkpoint is recent")
            return
        checkpoint = checkpoint_create(kind="heartbeat" if options["heartbeat"] else "manual")
        self.stdout.write(
            f"checkpoint {checkpoint.index} ({checkpoint.kind}): tree size {checkpoint.tree_size}, "
            f"root {checkpoint.root_hash}, key {checkpoint.key_id}"
        )
