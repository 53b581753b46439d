"""Screening one piece of generated or submitted content under a policy version.

PII is masked first, so nothing downstream ever sees raw identifiers; then the masked text is
checked for harmful content. Any detector error holds the content back with the reason stated:
this module fails closed and never returns "accepted" for something it could not check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
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
    from .crypto import pii_encryption_key
    from .pii import get_pii_engine
    from .pii_classes import entity_class
    from .safety import screen_safety

    try:
        encryption_key = pii_encryption_key() if "encrypt" in policy_version.pii_operators.values() else None
        masked, result = get_pii_engine().mask_content(
            content, operators=policy_version.pii_operators, hmac_key=pseudonym_key(pseudonym_scope),
            encryption_key=encryption_key,
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
    class_actions = getattr(policy_version, "class_actions", None) or {}
    dropped = sorted({t for t in counts if class_actions.get(entity_class(t)) == "drop"})
    if dropped:
        classes = ", ".join(sorted({entity_class(t) for t in dropped}))
        return ScreeningOutcome(
            accepted=False,
            reason=f"dropped by policy: carries {classes} personal financial information ({', '.join(dropped)})",
            masked_content=masked, findings=findings, counts=counts,
        )
    try:
        verdict = screen_safety(
            content_text(masked), actions=policy_version.safety_actions, policy_version=policy_version
        )
    except Exception as exc:  # noqa: BLE001 - same rule: an unchecked text is held back
        return ScreeningOutcome(
            accepted=False, reason=f"content-safety filter failed, held back: {type(exc).__name__}: {exc}",
            masked_content=masked, findings=findings, counts=counts,
        )
    safety = {
        "verdict": verdict.verdict,
        "risks": verdict.risks,
        "hits": [
            {"risk": h.risk_code, "category": h.category, "term": h.term, "layer": h.layer, "context": h.context}
            for h in verdict.hits
        ],
        # Which rules judged it: lexicon fingerprint (pinned for a published version), policy version, the layers
        # that ran and the caps on what each layer's hit may do.
        "rules": dict(verdict.rules),
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


def screen_contents(
    *, contents: Sequence[Any], policy_version: PolicyVersion, pseudonym_scope: str
) -> list[ScreeningOutcome]:
    """``screen_content`` of each part (a record's content, the model texts kept in its provenance), in order."""
    return [screen_content(content=content, policy_version=policy_version, pseudonym_scope=pseudonym_scope)
            for content in contents]


def residual_pii(*, text: str, include_names: bool = False) -> list[str]:
    """Entity types still detectable in already-masked text (should be none). Raises on failure.

    Our own format-preserving surrogates (recognised by their keyed tag) are not residual PII. Names are
    left out unless ``include_names``: the name models read context, and masking changes the context, so a
    second pass would hold records on model noise; names are masked in the first pass.
    """
    from .pii import PII_ENTITY_TYPES, get_pii_engine, surrogate_tag_key
    from .surrogates import is_surrogate

    names = {"PERSON", "LOCATION", "ORGANIZATION"}
    entities = [t for t in PII_ENTITY_TYPES if include_names or t not in names]
    tag_key = surrogate_tag_key()
    return sorted({
        f.entity_type for f in get_pii_engine().analyze(text, entities=entities)
        if not is_surrogate(f.entity_type, text[f.start : f.end], tag_key)
    })


def screen_text(
    *, text: str, policy_version: PolicyVersion, pseudonym_scope: str, language: str | None = None
) -> dict[str, Any]:
    """One dry-run screening result, as ``manage.py screen`` and ``POST /api/v1/compliance/screen`` emit it.

    ``{"masked", "entities": [{"type", "start", "end", "score"}], "safety": {"verdict", "risks", "evidence",
    "rules"}}``; offsets index the input text; ``safety.rules`` names the policy version and the lexicon
    fingerprint that produced the verdict. Fails closed: any detector error gives verdict ``block`` with the
    reason in ``safety.error`` and an empty ``masked`` (raw text is never echoed back).
    """
    from .crypto import pii_encryption_key
    from .pii import get_pii_engine
    from .pii_classes import entity_class
    from .safety import hit_action, screen_safety

    try:
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        encryption_key = pii_encryption_key() if "encrypt" in policy_version.pii_operators.values() else None
        result = get_pii_engine().mask(
            text, operators=policy_version.pii_operators, hmac_key=pseudonym_key(pseudonym_scope),
            language=language, encryption_key=encryption_key,
        )
        verdict = screen_safety(
            result.masked_text, actions=policy_version.safety_actions, policy_version=policy_version
        )
    except Exception as exc:  # noqa: BLE001 - fail closed with the reason, whatever the detector raised
        return {
            "masked": "", "entities": [],
            "safety": {"verdict": "block", "risks": [], "evidence": [], "error": f"screening failed, blocked: {exc}",
                       "rules": _version_names(policy_version)},
        }
    entities = [
        {"type": f.entity_type, "start": f.start, "end": f.end, "score": round(float(f.score), 3),
         "class": entity_class(f.entity_type)}
        for f in result.findings
    ]
    evidence = [
        {**hit.as_dict(), "action": hit_action(hit, policy_version.safety_actions, verdict.rules.get("layer_caps"))}
        for hit in verdict.hits
    ]
    safety: dict[str, Any] = {
        "verdict": verdict.verdict, "risks": verdict.risks, "evidence": evidence, "rules": dict(verdict.rules),
    }
    class_actions = policy_version.class_actions or {}
    dropped = sorted({str(e["type"]) for e in entities if class_actions.get(str(e["class"])) == "drop"})
    if dropped:
        safety["pii_drop"] = dropped
    return {"masked": result.masked_text, "entities": entities, "safety": safety}


def _version_names(policy_version: PolicyVersion) -> dict[str, Any]:
    policy = policy_version.policy.name if policy_version.policy_id else ""
    return {"policy": policy, "policy_version": policy_version.version}


@dataclass(frozen=True)
class SourceScreening:
    masked: str
    counts: dict[str, int]
    harmful_rate: float
    segments: int
    harmful_segments: int
    risks: dict[str, int]
    error: str = ""


def screen_source_content(*, content: str, policy_version: PolicyVersion, pseudonym_scope: str) -> SourceScreening:
    """Mask a source's text and measure its harmful-content rate: the share of its non-empty lines (or
    sentences) that the safety filter does not pass under ``policy_version``. Fails closed: on any error the
    rate is 1.0 and ``error`` says why.
    """
    import re

    from .pii import get_pii_engine
    from .safety import screen_safety

    try:
        result = get_pii_engine().mask(
            content, operators=policy_version.pii_operators, hmac_key=pseudonym_key(pseudonym_scope)
        )
        pieces = [p for p in re.split(r"[\n。！？!?]+|(?<=\.)\s+", result.masked_text) if p.strip()]
        risks: dict[str, int] = {}
        harmful = 0
        for piece in pieces:
            verdict = screen_safety(piece, actions=policy_version.safety_actions, policy_version=policy_version)
            if verdict.verdict != "pass":
                harmful += 1
                for code in verdict.risks:
                    risks[code] = risks.get(code, 0) + 1
    except Exception as exc:  # noqa: BLE001 - an unscreened source counts as entirely harmful
        return SourceScreening(masked="", counts={}, harmful_rate=1.0, segments=0, harmful_segments=0, risks={},
                               error=f"source screening failed: {type(exc).__name__}: {exc}")
    rate = harmful / len(pieces) if pieces else 0.0
    return SourceScreening(masked=result.masked_text, counts=dict(result.counts), harmful_rate=round(rate, 4),
                           segments=len(pieces), harmful_segments=harmful, risks=risks)
