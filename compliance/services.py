"""Writes to policies. Each one audits itself inside its own transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event_append

from .models import Policy, PolicyVersion


def policy_create(*, name: str, description: str = "", actor: Any) -> Policy:
    with transaction.atomic():
        policy = Policy(name=name, description=description)
        policy.full_clean()
        policy.save()
        audit_event_append(
            actor=actor, action="policy.create", object_type="policy", object_id=policy.pk,
            payload={"name": name},
        )
    return policy


def policy_version_create(
    *,
    policy: Policy,
    actor: Any,
    pii_operators: dict[str, str] | None = None,
    safety_actions: dict[str, str] | None = None,
    gate_thresholds: dict[str, float] | None = None,
    requires_human_approval: bool = True,
    notes: str = "",
) -> PolicyVersion:
    """Add the next version of ``policy``; omitted settings are copied from the latest version.

    Raises ``ValidationError`` for unknown entity types, operators, categories or thresholds.
    """
    with transaction.atomic():
        Policy.objects.select_for_update().get(pk=policy.pk)
        latest = policy.latest_version()
        number = (policy.versions.aggregate(m=Max("version"))["m"] or 0) + 1
        version = PolicyVersion(
            policy=policy,
            version=number,
            notes=notes,
            requires_human_approval=requires_human_approval,
            created_by=actor if actor is not None and actor.pk else None,  # type: ignore[misc]
        )
        if pii_operators is not None:
            version.pii_operators = pii_operators
        elif latest:
            version.pii_operators = dict(latest.pii_operators)
        if safety_actions is not None:
            version.safety_actions = safety_actions
        elif latest:
            version.safety_actions = dict(latest.safety_actions)
        if gate_thresholds is not None:
            version.gate_thresholds = gate_thresholds
        elif latest:
            version.gate_thresholds = dict(latest.gate_thresholds)
        version.full_clean()
        version.save()
        audit_event_append(
            actor=actor, action="policy_version.create", object_type="policy_version",
            object_id=version.pk, payload=version.summary(),
        )
    return version


def policy_version_update(*, version: PolicyVersion, actor: Any, **changes: Any) -> PolicyVersion:
    """Change a version that has not screened data yet. Raises ``PolicyVersionLocked`` otherwise."""
    with transaction.atomic():
        for field, value in changes.items():
            setattr(version, field, value)
        version.full_clean()
        version.save()
        audit_event_append(
            actor=actor, action="policy_version.update", object_type="policy_version",
            object_id=version.pk, payload={**version.summary(), "changed": sorted(changes)},
        )
    return version


def policy_version_lock(*, version: PolicyVersion, actor: Any) -> PolicyVersion:
    """Freeze ``version`` (idempotent). Called when the version is first used to screen data."""
    with transaction.atomic():
        locked = PolicyVersion.objects.select_for_update().get(pk=version.pk)
        if locked.locked_at is None:
            locked.locked_at = timezone.now()
            locked.save(update_fields=["locked_at"])
            audit_event_append(
                actor=actor, action="policy_version.lock", object_type="policy_version",
                object_id=locked.pk, payload={"policy": locked.policy.name, "version": locked.version},
            )
    version.locked_at = locked.locked_at
    return locked
