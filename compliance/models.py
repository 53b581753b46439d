"""Policies: what to detect and how to treat it, versioned so every dataset names the exact rules."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .policy_schema import (
    DEFAULT_CLASS_ACTIONS,
    DEFAULT_EXPLICIT_LABEL_TEXT,
    DEFAULT_GATE_THRESHOLDS,
    DEFAULT_PII_OPERATORS,
    DEFAULT_SAFETY_ACTIONS,
    DEFAULT_SAFETY_LAYER_CAPS,
    DEFAULT_SAFETY_LAYERS,
    DEFAULT_SOURCE_HARMFUL_RATE_LIMIT,
    GATE_THRESHOLDS,
    RISK_CODES,
    validate_class_actions,
    validate_gate_thresholds,
    validate_pii_operators,
    validate_safety_actions,
    validate_safety_layer_caps,
    validate_safety_layers,
)


def _default_pii_operators() -> dict[str, str]:
    return dict(DEFAULT_PII_OPERATORS)


def _default_safety_actions() -> dict[str, str]:
    return dict(DEFAULT_SAFETY_ACTIONS)


def _default_gate_thresholds() -> dict[str, float]:
    return dict(DEFAULT_GATE_THRESHOLDS)


def _default_class_actions() -> dict[str, str]:
    return dict(DEFAULT_CLASS_ACTIONS)


def _default_safety_layers() -> list[str]:
    return list(DEFAULT_SAFETY_LAYERS)


def _default_safety_layer_caps() -> dict[str, str]:
    return dict(DEFAULT_SAFETY_LAYER_CAPS)


class PolicyVersionLocked(Exception):
    """A policy version that has screened data is frozen; make a new version instead."""


class Policy(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> PolicyVersion | None:
        return self.versions.order_by("-version").first()


class PolicyVersion(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    pii_operators = models.JSONField(
        default=_default_pii_operators,
        validators=[validate_pii_operators],
        help_text="Entity type -> operator: redact, replace (type tag), mask (keep last 4), hash (keyed "
        "pseudonym), encrypt (reversible by a privileged role, audited), surrogate (valid fake of the same type).",
    )
    class_actions = models.JSONField(
        default=_default_class_actions,
        validators=[validate_class_actions],
        help_text="JR/T 0171 class (C3/C2/C1) -> drop (hold the whole record back) or mask.",
    )
    safety_actions = models.JSONField(
        default=_default_safety_actions,
        validators=[validate_safety_actions],
        help_text="GB/T 45654 category (A1..A5) or single risk (A1.4) -> block, flag or allow; a risk overrides "
        "its category.",
    )
    safety_layers = models.JSONField(
        default=_default_safety_layers,
        validators=[validate_safety_layers],
        help_text="Which content-safety layers run: lexicon, pattern, classifier, llm_judge.",
    )
    safety_layer_caps = models.JSONField(
        default=_default_safety_layer_caps,
        validators=[validate_safety_layer_caps],
        help_text="Layer -> the most one of its hits may do (block, flag or allow), whatever the safety actions say; "
        "a layer not named is not limited. Default: classifier and llm_judge flag for review, never block alone.",
    )
    source_harmful_rate_limit = models.FloatField(
        default=DEFAULT_SOURCE_HARMFUL_RATE_LIMIT,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A source whose harmful-content rate exceeds this cannot be used (GB/T 45654: 5%).",
    )
    explicit_label = models.BooleanField(
        default=False, help_text="Also put a visible AI-generated label line on every released record."
    )
    explicit_label_text = models.CharField(max_length=200, default=DEFAULT_EXPLICIT_LABEL_TEXT)
    gate_thresholds = models.JSONField(
        default=_default_gate_thresholds,
        validators=[validate_gate_thresholds],
        help_text="max_duplicate_rate, max_held_rate, min_yield (each 0..1).",
    )
    requires_human_approval = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    locked_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the version first screens data; it can no longer change."
    )
    lexicon_fingerprint = models.CharField(
        max_length=64, blank=True, default="",
        help_text="sha256 of the safety terms and exemplars the version was published with (set when it locks); "
        "screening refuses to run the version if its rule set no longer matches.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy__name", "-version"]
        permissions = [("reveal_pii", "Can decrypt reversibly encrypted PII (every reversal is audited)")]
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The database is the last line: even code that skips full_clean() cannot edit a locked version. The
        # single write that locks it (and pins its lexicon fingerprint) still finds it unlocked in the database.
        if self.pk is not None:
            stored = PolicyVersion.objects.filter(pk=self.pk).values_list("locked_at", flat=True).first()
            if stored is not None:
                raise PolicyVersionLocked(f"{self} is locked since {stored:%Y-%m-%d %H:%M} UTC")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.pk is not None:
            stored = PolicyVersion.objects.filter(pk=self.pk).values("locked_at").first()
            if stored and stored["locked_at"] is not None:
                raise ValidationError("This policy version has screened data and can no longer change.")

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def threshold(self, name: str) -> float:
        if name not in GATE_THRESHOLDS:
            raise KeyError(name)
        return float(self.gate_thresholds.get(name, GATE_THRESHOLDS[name][0]))

    def summary(self) -> dict[str, Any]:
        return {
            "policy": self.policy.name,
            "version": self.version,
            "pii_operators": self.pii_operators,
            "class_actions": self.class_actions,
            "safety_actions": self.safety_actions,
            "safety_layers": self.safety_layers,
            "safety_layer_caps": self.safety_layer_caps,
            "source_harmful_rate_limit": self.source_harmful_rate_limit,
            "explicit_label": self.explicit_label,
            "gate_thresholds": self.gate_thresholds,
            "requires_human_approval": self.requires_human_approval,
            "lexicon_fingerprint": self.lexicon_fingerprint,
        }


def _check_not_locked(version_id: int | None) -> None:
    if version_id is None:
        return
    locked = PolicyVersion.objects.filter(pk=version_id).values_list("locked_at", flat=True).first()
    if locked is not None:
        raise PolicyVersionLocked("the policy version has screened data; its safety lexicon is frozen")


class Language(models.TextChoices):
    ZH = "zh", "Chinese"
    EN = "en", "English"


RISK_CODE_CHOICES = [(code, code) for code in RISK_CODES]


class SafetyTerm(models.Model):
    """A lexicon term for one GB/T 45654 risk. Without a policy version it belongs to the shared base set.

    While a version is a draft, it screens with the base set plus its own terms. When it is published (locked,
    on first use), the base set is copied into the version and the version screens with its own copy only, so
    later edits to the base set reach drafts and new versions, never a published one (see
    ``compliance.safety.rules_for_version``).
    """

    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="safety_terms"
    )
    risk_code = models.CharField(max_length=6, choices=RISK_CODE_CHOICES)
    lang = models.CharField(max_length=2, choices=Language.choices)
    term = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["risk_code", "lang", "term"]
        constraints = [
            models.UniqueConstraint(fields=["policy_version", "risk_code", "lang", "term"], name="safety_term_unique")
        ]

    def __str__(self) -> str:
        return f"{self.risk_code} {self.lang}: {self.term}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _check_not_locked(self.policy_version_id)
        super().save(*args, **kwargs)


class SafetyExemplar(models.Model):
    """A labelled example for the nearest-neighbour classifier; risk_code ``benign`` marks a safe example."""

    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="safety_exemplars"
    )
    risk_code = models.CharField(max_length=6, choices=[*RISK_CODE_CHOICES, ("benign", "benign")])
    lang = models.CharField(max_length=2, choices=Language.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["risk_code", "lang", "pk"]

    def __str__(self) -> str:
        return f"{self.risk_code} {self.lang}: {self.text[:40]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _check_not_locked(self.policy_version_id)
        super().save(*args, **kwargs)


class EmbeddingVector(models.Model):
    """A sentence embedding computed once and kept for the quality gates of any process.

    Workers embed the records the gates will sample while generation waits on the network; the
    gates then read the vectors instead of computing them. ``key`` is the SHA-256 of the embedder
    name, the query/passage flag and the (masked, clipped) text; no text is stored.
    """

    key = models.CharField(max_length=64, primary_key=True)
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"embedding {self.key[:12]}"
