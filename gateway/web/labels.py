"""Translated display names for values stored as codes: states, gates, risk categories, PII types.

The model choices carry English labels only; the pages show these lazily translated names instead,
so the Chinese interface never shows an English state or gate name.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from compliance.safety import SAFETY_CATEGORIES
from gateway.states import RequestState

S = RequestState

STATE_LABELS: dict[str, Promise] = {
    S.DRAFT: _("Draft"),
    S.SUBMITTED: _("Submitted"),
    S.GENERATING: _("Generating"),
    S.SCREENING: _("Screening"),
    S.GATED: _("Gated"),
    S.AWAITING_APPROVAL: _("Awaiting approval"),
    S.APPROVED: _("Approved"),
    S.RELEASED: _("Released"),
    S.REJECTED: _("Rejected"),
    S.FAILED: _("Failed"),
    S.CANCELLED: _("Cancelled"),
    S.REVOKED: _("Revoked"),
}

GATE_LABELS: dict[str, Promise] = {
    "exact_duplicate": _("Exact duplicates"),
    "near_duplicate": _("Near duplicates"),
    "held_rate": _("Held-back rate"),
    "yield": _("Yield"),
    "consistency": _("Internal consistency"),
    "diversity": _("Diversity"),
    "relevance": _("Relevance"),
    "accuracy": _("Accuracy"),
    "contamination": _("Benchmark contamination"),
    "arithmetic": _("Arithmetic check"),
    "safety_pass_rate": _("Safety pass rate"),
    "duplicate": _("Near duplicates"),
    "math": _("Maths check"),
    "novelty": _("Novelty"),
    "sampled_acceptance": _("Sampled acceptance"),
    "manual_review": _("Manual review"),
}

CHART_LABELS: dict[str, Promise] = {
    "category_mix": _("Category mix"),
    "length_distribution": _("Length distribution"),
    "similarity_histogram": _("Similarity histogram"),
    "flags_per_gate": _("Flags per gate"),
}

PII_LABELS: dict[str, Promise] = {
    "CN_RESIDENT_ID": _("Resident ID number"),
    "CN_MOBILE": _("Mobile number"),
    "CN_BANK_CARD": _("Bank card number"),
    "CN_USCC": _("Unified social credit code"),
    "CN_PASSPORT": _("Passport number"),
    "CN_LANDLINE": _("Landline number"),
    "CN_LICENSE_PLATE": _("Licence plate"),
    "EMAIL_ADDRESS": _("E-mail address"),
    "PERSON": _("Person name"),
    "LOCATION": _("Place"),
    "PHONE_NUMBER": _("Phone number"),
    "CREDIT_CARD": _("Credit card number"),
}

VERDICT_LABELS: dict[str, Promise] = {
    "pass": _("Pass"),
    "flag": _("Flagged"),
    "block": _("Blocked"),
    "fail": _("Fail"),
    "pending": _("Not reviewed yet"),
    "": _("Not screened"),
}

RECORD_STATUS_LABELS: dict[str, Promise] = {
    "accepted": _("Accepted"),
    "held": _("Held back"),
    "failed": _("Generation failed"),
}

KIND_LABELS: dict[str, Promise] = {
    "dialogue": _("Multi-turn dialogue"),
    "qa": _("Instruction / response"),
    "math": _("Maths problem with worked solution"),
}

STRATEGY_LABELS: dict[str, Promise] = {
    "prompt_template": _("Prompt template"),
    "multi_step": _("Multi-step (theme → subcategories → items)"),
    "knowledge_tree": _("Knowledge tree (Condor Void + Refine)"),
}

LEGAL_BASIS_LABELS: dict[str, Promise] = {
    "consent": _("Consent"),
    "contract": _("Contract"),
    "public": _("Publicly available"),
    "none": _("None"),
}


ROLE_LABELS: dict[str, Promise] = {
    "requester": _("Requester"),
    "approver": _("Approver"),
    "auditor": _("Auditor"),
    "policy_admin": _("Policy admin"),
}


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def gate_label(name: str) -> str:
    return str(GATE_LABELS.get(name, name))


def risk_label(code: str) -> str:
    """``A2`` or ``A2.3`` -> the category's name in the active language (the standard's own wording)."""
    category = SAFETY_CATEGORIES.get(code.split(".", 1)[0])
    if category is None:
        return code
    name = category.name_zh if (get_language() or "").startswith("zh") else category.name_en
    return f"{code} {name}"
