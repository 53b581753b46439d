"""Dry-run a policy over JSONL text: PII masking and content safety, one JSON line out per line in."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.models import Policy, PolicyVersion
from compliance.screening import screen_text

BATCH = 256


def policy_version_named(name: str | None) -> PolicyVersion:
    """The latest version of policy ``name``; without a name, an unsaved version with the default settings."""
    if not name:
        return PolicyVersion(version=0)
    policy = Policy.objects.filter(name=name).first()
    version = policy.latest_version() if policy is not None else None
    if version is None:
        raise CommandError(f"no policy named {name!r} with a version")
    return version


def screen_lines(lines: list[dict[str, Any]], policy_version: PolicyVersion) -> list[dict[str, Any]]:
    """Screen parsed input lines (``{"id", "text", "lang"?}``) and return the output lines, in order."""
    from compliance.pii import get_pii_engine

    get_pii_engine().prime([line["text"] for line in lines if isinstance(line.get("text"), str)])
    out = []
    for line in lines:
        lang = line.get("lang")
        result = screen_text(
            text=line.get("text"),  # type: ignore[arg-type]  # a non-string is blocked by screen_text
            policy_version=policy_version, pseudonym_scope="screen:dry-run",
            language=lang if lang in ("zh", "en") else None,
        )
        out.append({"id": line.get("id"), **result})
    return out


class Command(BaseCommand):
    help = (
        'Screen JSONL lines {"id", "text", "lang"?} under a policy; writes {"id", "masked", "entities", "safety"} '
        "per line. Exit status 1 if any line is blocked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", help="policy name (its latest version); default: the built-in defaults")
        parser.add_argument("--input", default="-", help="JSONL file, or - for stdin")
        parser.add_argument("--output", default="-", help="JSONL file, or - for stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        version = policy_version_named(options["policy"])
        source: TextIO = sys.stdin if options["input"] == "-" else open(options["input"], encoding="utf-8")  # noqa: SIM115
        sink: TextIO = self.stdout if options["output"] == "-" else open(options["output"], "w", encoding="utf-8")  # type: ignore[assignment]  # noqa: SIM115
        blocked = 0
        try:
            batch: list[dict[str, Any]] = []
            for number, raw in enumerate(source, start=1):
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise CommandError(f"line {number}: not JSON ({exc.msg})") from exc
                if not isinstance(item, dict) or "text" not in item:
                    raise CommandError(f'line {number}: expected an object with "id" and "text"')
                batch.append(item)
                if len(batch) >= BATCH:
                    blocked += self._emit(batch, version, sink)
                    batch = []
            blocked += self._emit(batch, version, sink)
        finally:
            if source is not sys.stdin:
                source.close()
            if options["output"] != "-":
                sink.close()
        if blocked:
            self.stderr.write(f"{blocked} line(s) blocked")
            raise SystemExit(1)

    def _emit(self, batch: list[dict[str, Any]], version: PolicyVersion, sink: TextIO) -> int:
        blocked = 0
        for line in screen_lines(batch, version):
            blocked += line["safety"]["verdict"] == "block"
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
        return blocked
