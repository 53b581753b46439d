"""What a policy version may say, and its validation.

Kept free of Presidio imports so models, admin and API can validate a policy cheaply.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

# Entity types the PII engine detects (compliance.pii.PII_ENTITY_TYPES must agree; a test checks).
ENTITY_TYPES = ("CN_RESIDENT_ID", "CN_MOBILE", "CN_BANK_CARD", "EMAIL_ADDRESS", "IP_ADDRESS")
MASK_OPERATORS = ("redact", "replace", "mask", "hash")
SAFETY_CATEGORY_CODES = ("A1", "A2", "A3", "A4", "A5")
SAFETY_ACTIONS = ("block", "flag", "allow")

# Threshold name -> (default, minimum, maximum).
GATE_THRESHOLDS: dict[str, tuple[float, float, float]] = {
    "max_duplicate_rate": (0.05, 0.0, 1.0),
    "max_held_rate": (0.2, 0.0, 1.0),
    "min_yield": (0.9, 0.0, 1.0),
}

DEFAULT_PII_OPERATORS = {
    "CN_RESIDENT_ID": "hash",
    "CN_MOBILE": "mask",
    "CN_BANK_CARD": "mask",
    "EMAIL_ADDRESS": "replace",
    "IP_ADDRESS": "replace",
}
# GB/T 45654: A1 and A2 are never acceptable in training data; the rest go to a reviewer.
DEFAULT_SAFETY_ACTIONS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
DEFAULT_GATE_THRESHOLDS = {name: spec[0] for name, spec in GATE_THRESHOLDS.items()}


def validate_pii_operators(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("PII operators must be an object mapping entity type to operator.")
    errors = []
    for entity, operator in value.items():
        if entity not in ENTITY_TYPES:
            errors.append(f"unknown entity type {entity!r} (known: {', '.join(ENTITY_TYPES)})")
        if operator not in MASK_OPERATORS:
            errors.append(f"{entity}: unknown operator {operator!r} (known: {', '.join(MASK_OPERATORS)})")
    if errors:
        raise ValidationError(errors)


def validate_safety_actions(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Safety actions must be an object mapping category to action.")
    errors = []
    for category, action in value.items():
        if category not in SAFETY_CATEGORY_CODES:
            errors.append(f"unknown safety category {category!r} (known: {', '.join(SAFETY_CATEGORY_CODES)})")
        if action not in SAFETY_ACTIONS:
            errors.append(f"{category}: unknown action {action!r} (known: {', '.join(SAFETY_ACTIONS)})")
    if errors:
        raise ValidationError(errors)


def validate_gate_thresholds(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Gate thresholds must be an object mapping threshold name to a number.")
    errors = []
    for name, number in value.items():
        if name not in GATE_THRESHOLDS:
            errors.append(f"unknown gate threshold {name!r} (known: {', '.join(GATE_THRESHOLDS)})")
            continue
        _, low, high = GATE_THRESHOLDS[name]
        if isinstance(number, bool) or not isinstance(number, int | float) or not low <= number <= high:
            errors.append(f"{name} must be a number from {low} to {high}, got {number!r}")
    if errors:
        raise ValidationError(errors)
