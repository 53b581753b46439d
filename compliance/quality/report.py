"""The quality report as Markdown, for the dataset card: one line per gate, then flagged examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def quality_report_markdown(gates: Sequence[dict[str, Any]], *, examples_per_gate: int = 3) -> str:
    """Markdown for ``QualityReport.gates`` (entries without a name, such as the chart summary, are skipped)."""
    named = [g for g in gates if "name" in g]
    lines = ["## Quality gates", "", "| gate | verdict | metric | threshold | flagged | detail |",
             "|---|---|---|---|---|---|"]
    for g in named:
        verdict = "pass" if g["passed"] else "**FAIL**"
        detail = str(g.get("detail", "")).replace("|", "/")
        lines.append(f"| {g['name']} | {verdict} | {g['metric']} | {g.get('comparison', '')} {g['threshold']} | "
                     f"{g.get('flagged', 0)} | {detail} |")
    errors = [g["error"] for g in gates if "error" in g]
    if errors:
        lines += ["", "Gate errors (the dataset was held back): " + "; ".join(errors)]
    shown = [(g["name"], e) for g in named for e in g.get("examples", [])[:examples_per_gate]]
    if shown:
        lines += ["", "### Flagged examples (masked)", ""]
        for name, example in shown:
            for flag in example["flags"]:
                lines.append(f"- {name}, record {example['id']}: {flag['reason']} — `{flag['evidence'][:120]}`")
    summary = next((g["quality_report"] for g in gates if "quality_report" in g), None)
    if summary and summary.get("charts"):
        lines += ["", "Charts: " + ", ".join(sorted(summary["charts"]))]
    return "\n".join(lines) + "\n"
