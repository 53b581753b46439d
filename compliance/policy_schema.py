"""What a policy version may say, and its validation.

Kept free of Presidio imports so models, admin and API can validate a policy cheaply.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

# Entity types the PII engine detects (compliance.pii.PII_ENTITY_TYPES must agree; a test checks).
ENTITY_TYPES = (
    "AUTH_SECRET", "CN_RESIDENT_ID", "CN_USCC", "CN_MOBILE", "CN_LANDLINE", "CN_BANK_CARD", "CREDIT_CARD", "IBAN_CODE",
    "CN_PASSPORT", "CN_TRAVEL_PERMIT", "HK_ID_CARD", "CN_LICENSE_PLATE", "EMAIL_ADDRESS", "IP_ADDRESS",
    "PERSON", "LOCATION", "ORGANIZATION",
)
# hash = keyed HMAC pseudonym; encrypt = reversible (privileged reveal, audited); surrogate = valid-looking fake.
MASK_OPERATORS = ("redact", "replace", "mask", "hash", "encrypt", "surrogate")
SAFETY_CATEGORY_CODES = ("A1", "A2", "A3", "A4", "A5")
# The 31 risks of GB/T 45654 (A1.1 ... A5.2); names live in compliance.taxonomy.
RISK_COUNTS = {"A1": 8, "A2": 9, "A3": 5, "A4": 7, "A5": 2}
RISK_CODES = tuple(f"{cat}.{i}" for cat, n in RISK_COUNTS.items() for i in range(1, n + 1))
SAFETY_LAYERS = ("lexicon", "pattern", "classifier", "llm_judge")
# The classifier runs by default: paraphrase gets past terms and rules (recall ~0.2 without it on text written
# independently of them), and its n-gram gate keeps it to a few ms a record. The LLM judge is opted into.
DEFAULT_SAFETY_LAYERS = ["lexicon", "pattern", "classifier"]
# The most a hit of each layer may do (block > flag > allow); a layer not named is not limited. The statistical
# layers flag for a reviewer instead of blocking: their hits are judgements, not matched terms or rules.
DEFAULT_SAFETY_LAYER_CAPS = {"classifier": "flag", "llm_judge": "flag"}
# JR/T 0171-2020 personal financial information classes and what a policy does with each.
PII_CLASSES = ("C3", "C2", "C1")
CLASS_ACTIONS = ("drop", "mask")
DEFAULT_CLASS_ACTIONS = {"C3": "drop", "C2": "mask", "C1": "mask"}
DEFAULT_SOURCE_HARMFUL_RATE_LIMIT = 0.05
DEFAULT_EXPLICIT_LABEL_TEXT = "本内容由人工智能生成 / This content is AI-generated"
# GB 45438 explicit label line per record language; used while a policy keeps the default text above.
EXPLICIT_LABEL_TEXTS = {"zh": "本内容由人工智能生成", "en": "AI-generated content"}
SAFETY_ACTIONS = ("block", "flag", "allow")

# Threshold name -> (default, minimum, maximum).
GATE_THRESHOLDS: dict[str, tuple[float, float, float]] = {
    "max_duplicate_rate": (0.05, 0.0, 1.0),
    "max_held_rate": (0.2, 0.0, 1.0),
    "min_yield": (0.9, 0.0, 1.0),
}

DEFAULT_PII_OPERATORS = {
    "AUTH_SECRET": "redact",
    "CN_RESIDENT_ID": "hash",
    "CN_USCC": "replace",
    "CN_MOBILE": "mask",
    "CN_LANDLINE": "mask",
    "CN_BANK_CARD": "mask",
    "CREDIT_CARD": "mask",
    "IBAN_CODE": "mask",
    "CN_PASSPORT": "hash",
    "CN_TRAVEL_PERMIT": "hash",
    "HK_ID_CARD": "hash",
    "CN_LICENSE_PLATE": "replace",
    "EMAIL_ADDRESS": "replace",
    "IP_ADDRESS": "replace",
    "PERSON": "hash",
    "LOCATION": "replace",
    "ORGANIZATION": "replace",
}
# GB/T 45654: A1 and A2 are never acceptable in training data; the rest go to a reviewer.
DEFAULT_SAFETY_ACTIONS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
DEFAULT_GATE_THRESHOLDS = {name: spec[0] for name, spec in GATE_THRESHOLDS.items()}


def _validate_mapping(value: Any, *, what: str, keys: Any, key_name: str, values: Any, value_name: str) -> None:
    """``value`` must map known keys to known values; every problem is listed, with what is known."""
    if not isinstance(value, dict):
        raise ValidationError(what)
    errors = []
    for key, item in value.items():
        if key not in keys:
            errors.append(f"unknown {key_name} {key!r} (known: {', '.join(keys)})")
        if item not in values:
            errors.append(f"{key}: unknown {value_name} {item!r} (known: {', '.join(values)})")
    if errors:
        raise ValidationError(errors)


def validate_pii_operators(value: Any) -> None:
    _validate_mapping(value, what="PII operators must be an object mapping entity type to operator.",
                      keys=ENTITY_TYPES, key_name="entity type", values=MASK_OPERATORS, value_name="operator")


def validate_safety_actions(value: Any) -> None:
    """Keys are categories (``A1``) or single risks (``A1.4``); a risk's own action overrides its category's."""
    if not isinstance(value, dict):
        raise ValidationError("Safety actions must be an object mapping category or risk code to action.")
    errors = []
    for category, action in value.items():
        if category not in SAFETY_CATEGORY_CODES and category not in RISK_CODES:
            errors.append(f"unknown safety category or risk {category!r} (e.g. A1 or A1.4)")
        if action not in SAFETY_ACTIONS:
            errors.append(f"{category}: unknown action {action!r} (known: {', '.join(SAFETY_ACTIONS)})")
    if errors:
        raise ValidationError(errors)


def validate_gate_thresholds(value: Any) -> None:
    """Thresholds of the basic gates here, and of the quality suite (compliance.quality.thresholds)."""
    from compliance.quality.thresholds import QUALITY_THRESHOLDS, validate_quality_thresholds

    if not isinstance(value, dict):
        raise ValidationError("Gate thresholds must be an object mapping threshold name to a number.")
    errors = validate_quality_thresholds(value)
    for name, number in value.items():
        if name in QUALITY_THRESHOLDS:
            continue
        if name not in GATE_THRESHOLDS:
            known = ", ".join([*GATE_THRESHOLDS, *QUALITY_THRESHOLDS])
            errors.append(f"unknown gate threshold {name!r} (known: {known})")
            continue
        _, low, high = GATE_THRESHOLDS[name]
        if isinstance(number, bool) or not isinstance(number, int | float) or not low <= number <= high:
            errors.append(f"{name} must be a number from {low} to {high}, got {number!r}")
    if errors:
        raise ValidationError(errors)


def validate_class_actions(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Class actions must be an object mapping C3/C2/C1 to drop or mask.")
    errors = [
        f"{cls}={action!r}: classes are {', '.join(PII_CLASSES)}, actions {', '.join(CLASS_ACTIONS)}"
        for cls, action in value.items()
        if cls not in PII_CLASSES or action not in CLASS_ACTIONS
    ]
    if errors:
        raise ValidationError(errors)


def validate_safety_layers(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Safety layers must be a list of layer names.")
    unknown = [v for v in value if v not in SAFETY_LAYERS]
    if unknown:
        raise ValidationError(f"unknown safety layers {unknown} (known: {', '.join(SAFETY_LAYERS)})")
    if not value:
        raise ValidationError("at least one safety layer must run")


def validate_safety_layer_caps(value: Any) -> None:
    """Keys are layer names, values the most a hit of that layer may do; a layer not named is not limited."""
    _validate_mapping(value, what="Safety layer caps must be an object mapping layer name to block, flag or allow.",
                      keys=SAFETY_LAYERS, key_name="safety layer", values=SAFETY_ACTIONS, value_name="cap")
