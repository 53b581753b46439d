"""Run the quality gates over a JSONL file and write a JSON report.

    python manage.py quality_check --input records.jsonl --output report.json [--policy NAME]

Input lines: {"id", "instruction", "response", "kind"?: "qa"|"dialogue"|"math", "category"?, "answer"?}.
The report has per-gate metrics, thresholds and pass/fail, and per-record flags
{"id", "flags": [{"gate", "reason", "evidence"}]}. Exit status 1 when a gate fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.quality.runner import GATE_NAMES, SuiteContext, run_quality_suite
from compliance.quality.types import QualityGateError, QualityItem

KINDS = ("qa", "dialogue", "math")


def read_items(path: Path) -> list[QualityItem]:
    items, seen = [], set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CommandError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise CommandError(f"{path}:{number}: each line must be a JSON object")
            missing = [k for k in ("id", "instruction", "response") if not isinstance(row.get(k), str | int)]
            if missing:
                raise CommandError(f"{path}:{number}: missing or non-text field(s): {', '.join(missing)}")
            kind = row.get("kind") or "qa"
            if kind not in KINDS:
                raise CommandError(f"{path}:{number}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
            item_id = str(row["id"])
            if item_id in seen:
                raise CommandError(f"{path}:{number}: id {item_id!r} appears twice")
            seen.add(item_id)
            items.append(QualityItem(item_id, str(row["instruction"]), str(row["response"]), kind,
                                     str(row.get("category") or ""), str(row.get("answer") or "")))
    if not items:
        raise CommandError(f"{path}: no records")
    return items


class Command(BaseCommand):
    help = "Run the quality gates (consistency, math, duplicate, diversity, relevance, contamination) on a JSONL file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, type=Path, help="JSONL records")
        parser.add_argument("--output", required=True, type=Path, help="where to write the JSON report")
        parser.add_argument("--policy", help="policy name: its latest version's gate_thresholds override defaults")
        parser.add_argument("--topic", default="", help="task/domain the records should be about (relevance)")
        parser.add_argument("--mix", default="", help='requested category mix as JSON, e.g. {"loans": 0.5, ...}')
        parser.add_argument("--gates", default=",".join(GATE_NAMES), help="comma-separated gates to run")
        parser.add_argument("--no-embeddings", action="store_true", help="skip embedding spread and relevance")
        parser.add_argument("--no-benchmarks", action="store_true", help="do not load registered benchmark sets")
        parser.add_argument("--charts", type=Path, help="folder for the four chart PNGs")

    def handle(self, *args: Any, **options: Any) -> None:
        items = read_items(options["input"])
        overrides = self._policy_thresholds(options.get("policy"))
        gates = [g.strip() for g in options["gates"].split(",") if g.strip()]
        unknown = sorted(set(gates) - set(GATE_NAMES))
        if unknown:
            raise CommandError(f"unknown gate(s) {', '.join(unknown)} (known: {', '.join(GATE_NAMES)})")
        try:
            mix = json.loads(options["mix"]) if options["mix"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--mix is not valid JSON: {exc.msg}") from None
        benchmarks = [] if options["no_benchmarks"] or "contamination" not in gates else self._benchmarks()
        context = SuiteContext(topic=options["topic"], requested_mix=mix, benchmarks=benchmarks, gates=gates,
                               use_embeddings=not options["no_embeddings"])
        if options["no_embeddings"]:
            context.gates = [g for g in gates if g != "relevance"]
        try:
            report = run_quality_suite(items, context=context, overrides=overrides)
        except QualityGateError as exc:
            raise CommandError(str(exc)) from None
        body = report.as_dict()
        body["policy"] = options.get("policy") or "(defaults)"
        if options.get("charts"):
            from compliance.quality.charts import render_charts

            diversity = report.outcome("diversity")
            body["charts"] = render_charts(
                options["charts"], category_mix=diversity.metrics.get("category_mix", {}) if diversity else {},
                lengths=report.lengths, similarities=report.similarities,
                flags_per_gate={o.name: len(o.flags) for o in report.outcomes})
        options["output"].write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
        for gate in body["gates"]:
            verdict = "pass" if gate["passed"] else "FAIL"
            self.stdout.write(f"{gate['name']}: {verdict} (metric {gate['metric']} {gate['comparison']} "
                              f"{gate['threshold']}, flagged {gate['flagged']}) {gate['detail']}")
        self.stdout.write(f"{len(body['flags'])} of {len(items)} records flagged; report: {options['output']}")
        if not report.passed:
            sys.exit(1)

    def _policy_thresholds(self, name: str | None) -> dict[str, Any]:
        if not name:
            return {}
        from compliance.models import Policy

        policy = Policy.objects.filter(name=name).first()
        version = policy.latest_version() if policy else None
        if version is None:
            raise CommandError(f"no policy called {name!r} with a version")
        return dict(version.gate_thresholds)

    def _benchmarks(self) -> list[Any]:
        from django.db import DatabaseError

        from gateway.pipelines.gates import benchmark_indexes

        try:
            return benchmark_indexes()
        except DatabaseError as exc:
            raise CommandError(f"cannot read registered benchmark sets ({exc}); use --no-benchmarks") from None
