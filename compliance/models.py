"""Policies: what to detect and how to treat it, versioned so every dataset names the exact rules."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .policy_schema import (
    DEFAULT_GATE_THRESHOLDS,
    DEFAULT_PII_OPERATORS,
    DEFAULT_SAFETY_ACTIONS,
    GATE_THRESHOLDS,
    validate_gate_thresholds,
    validate_pii_operators,
    validate_safety_actions,
)


def _default_pii_operators() -> dict[str, str]:
    return dict(DEFAULT_PII_OPERATORS)


def _default_safety_actions() -> dict[str, str]:
    return dict(DEFAULT_SAFETY_ACTIONS)


def _default_gate_thresholds() -> dict[str, float]:
    return dict(DEFAULT_GATE_THRESHOLDS)


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
        help_text="Entity type -> operator: redact, replace (type tag), mask (keep last 4), hash (keyed).",
    )
    safety_actions = models.JSONField(
        default=_default_safety_actions,
        validators=[validate_safety_actions],
        help_text="GB/T 45654 category (A1..A5) -> block, flag or allow.",
    )
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
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy__name", "-version"]
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The database is the last line: even code that skips full_clean() cannot edit a locked version,
        # except for the single write that locks it.
        if self.pk is not None and kwargs.get("update_fields") != ["locked_at"]:
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
            "safety_actions": self.safety_actions,
            "gate_thresholds": self.gate_thresholds,
            "requires_human_approval": self.requires_human_approval,
        }
