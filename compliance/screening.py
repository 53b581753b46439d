"""Screening one piece of generated or submitted content under a policy version.

PII is masked first, so nothing downstream ever sees raw identifiers; then the masked text is
checked for harmful content. Any detector error holds the content back with the reason stated:
this module fails closed and never returns "accepted" for something it could not check.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .errors import ComplianceError
from .models import PolicyVersion


@dataclass(frozen=True)
class ScreeningOutcome:
    accepted: bool
    reason: str
    masked_content: Any = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)


def pseudonym_key(scope: str) -> bytes:
    """A key for the keyed-hash operator, derived per scope (e.g. one dataset request).

    The same customer maps to the same pseudonym inside one dataset, but pseudonyms cannot be
    linked across datasets.
    """
    return hmac.new(settings.PII_HMAC_KEY.encode(), f"pseudonym:{scope}".encode(), hashlib.sha256).digest()


def content_text(content: Any) -> str:
    """Flatten a record's structure into the text that safety and quality checks read."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and isinstance(content.get("messages"), list):
        return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in content["messages"])
    if isinstance(content, dict) and "instruction" in content:
        return f"{content.get('instruction', '')}\n{content.get('response', '')}"
    if isinstance(content, dict):
        return "\n".join(content_text(v) for v in content.values())
    if isinstance(content, list):
        return "\n".join(content_text(v) for v in content)
    return str(content)


def screen_content(*, content: Any, policy_version: PolicyVersion, pseudonym_scope: str) -> ScreeningOutcome:
    """Mask PII in ``content`` and check the result for harmful content.

    Returns an outcome whose ``masked_content`` is safe to store. A detector error yields
    ``accepted=False`` with the reason and no content at all (the raw text must not be kept).
    """
    from .pii import get_pii_engine
    from .safety import screen_safety

    try:
        masked, result = get_pii_engine().mask_content(
            content, operators=policy_version.pii_operators, hmac_key=pseudonym_key(pseudonym_scope)
        )
    except ComplianceError as exc:
        return ScreeningOutcome(accepted=False, reason=f"PII detection failed, held back: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure must hold the content back, never pass it
        return ScreeningOutcome(accepted=False, reason=f"PII detection failed, held back: {type(exc).__name__}")

    findings = [
        {"type": f.entity_type, "start": f.start, "end": f.end, "score": round(float(f.score), 3)}
        for f in result.findings
    ]
    counts = dict(result.counts)
    try:
        verdict = screen_safety(content_text(masked), actions=policy_version.safety_actions)
    except Exception as exc:  # noqa: BLE001 - same rule: an unchecked text is held back
        return ScreeningOutcome(
            accepted=False, reason=f"content-safety filter failed, held back: {type(exc).__name__}: {exc}",
            masked_content=masked, findings=findings, counts=counts,
        )
    safety = {
        "verdict": verdict.verdict,
        "hits": [{"risk": h.risk_code, "category": h.category, "term": h.term, "layer": h.layer} for h in verdict.hits],
    }
    if verdict.verdict == "block":
        risks = ", ".join(sorted({h.risk_code for h in verdict.hits}))
        return ScreeningOutcome(
            accepted=False, reason=f"blocked by content-safety policy ({risks})",
            masked_content=masked, findings=findings, counts=counts, safety=safety,
        )
    return ScreeningOutcome(
        accepted=True, reason="", masked_content=masked, findings=findings, counts=counts, safety=safety
    )


def residual_pii(*, text: str) -> list[str]:
    """Entity types still detectable in already-masked text (should be none). Raises on failure."""
    from .pii import get_pii_engine

    return sorted({f.entity_type for f in get_pii_engine().analyze(text)})
