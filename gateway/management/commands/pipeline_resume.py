"""Queue again the step of every working request that made no progress for a while (what the watchdog does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.pipelines.resume import pipeline_resume


class Command(BaseCommand):
    help = "Resume requests whose pipeline stalled (a lost task or a killed worker); each resume is audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-seconds", type=float, default=None,
                            help="idle time before a request counts as stalled (default: PIPELINE_STALE_SECONDS)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            resumed = pipeline_resume(stale_seconds=options["stale_seconds"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for entry in resumed:
            self.stdout.write(f"request {entry['request_id']} ({entry['state']}, idle {entry['idle_seconds']} s): "
                              f"queued {', '.join(entry['queued'])}")
        self.stdout.write(f"{len(resumed)} request(s) resumed")
