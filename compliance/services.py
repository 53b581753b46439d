"""Writes to policies. Each one audits itself inside its own transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event_append

from .models import Policy, PolicyVersion, SafetyExemplar, SafetyTerm

COPIED_SETTINGS = (
    "class_actions", "safety_layers", "safety_layer_caps", "source_harmful_rate_limit", "explicit_label",
    "explicit_label_text",
)


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
    **settings_: Any,
) -> PolicyVersion:
    """Add the next version of ``policy``; omitted settings are copied from the latest version.

    ``settings_`` may set ``class_actions``, ``safety_layers``, ``safety_layer_caps``,
    ``source_harmful_rate_limit``, ``explicit_label`` and ``explicit_label_text``. The latest version's own
    safety terms and exemplars are copied too, so a new version starts from the same rules.

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
        for name in COPIED_SETTINGS:
            if name in settings_:
                setattr(version, name, settings_.pop(name))
            elif latest:
                setattr(version, name, getattr(latest, name))
        if settings_:
            raise ValidationError(f"unknown policy settings: {', '.join(sorted(settings_))}")
        version.full_clean()
        version.save()
        if latest:
            SafetyTerm.objects.bulk_create(
                SafetyTerm(policy_version=version, risk_code=t.risk_code, lang=t.lang, term=t.term)
                for t in latest.safety_terms.all()
            )
            SafetyExemplar.objects.bulk_create(
                SafetyExemplar(policy_version=version, risk_code=e.risk_code, lang=e.lang, text=e.text)
                for e in latest.safety_exemplars.all()
            )
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
    """Freeze (publish) ``version`` (idempotent). Called when the version is first used to screen data.

    The shared base set of safety terms and exemplars is copied into the version and the fingerprint of the
    version's rules is pinned, so later edits to the base set never change what this version does
    (``compliance.safety.rules_for_version``).
    """
    from .safety import (
        EXEMPLAR_COLUMNS,
        EXEMPLARS_PATH,
        LEXICON_COLUMNS,
        LEXICON_PATH,
        read_csv_rows,
        rules_fingerprint,
    )

    with transaction.atomic():
        locked = PolicyVersion.objects.select_for_update().get(pk=version.pk)
        if locked.locked_at is None:
            own_terms = set(locked.safety_terms.values_list("risk_code", "lang", "term"))
            base_terms: Any = SafetyTerm.objects.filter(policy_version=None).values_list("risk_code", "lang", "term")
            if not own_terms and not base_terms.exists():
                # No lexicon in the database: the draft screened with the packaged seed, so pin that.
                base_terms = read_csv_rows(LEXICON_PATH, LEXICON_COLUMNS)
            SafetyTerm.objects.bulk_create(
                SafetyTerm(policy_version=locked, risk_code=r, lang=lang, term=t)
                for r, lang, t in dict.fromkeys(base_terms) if (r, lang, t) not in own_terms
            )
            own_exemplars = set(locked.safety_exemplars.values_list("risk_code", "lang", "text"))
            base_exemplars: Any = SafetyExemplar.objects.filter(policy_version=None).values_list(
                "risk_code", "lang", "text"
            )
            if not own_exemplars and not base_exemplars.exists():
                base_exemplars = read_csv_rows(EXEMPLARS_PATH, EXEMPLAR_COLUMNS)
            SafetyExemplar.objects.bulk_create(
                SafetyExemplar(policy_version=locked, risk_code=r, lang=lang, text=t)
                for r, lang, t in base_exemplars if (r, lang, t) not in own_exemplars
            )
            locked.lexicon_fingerprint = rules_fingerprint(
                locked.safety_terms.values_list("risk_code", "lang", "term"),
                locked.safety_exemplars.values_list("risk_code", "lang", "text"),
            )
            locked.locked_at = timezone.now()
            locked.save(update_fields=["locked_at", "lexicon_fingerprint"])
            audit_event_append(
                actor=actor, action="policy_version.lock", object_type="policy_version",
                object_id=locked.pk, payload={"policy": locked.policy.name, "version": locked.version,
                                              "lexicon_fingerprint": locked.lexicon_fingerprint,
                                              "safety_terms": locked.safety_terms.count(),
                                              "safety_exemplars": locked.safety_exemplars.count()},
            )
    version.locked_at = locked.locked_at
    version.lexicon_fingerprint = locked.lexicon_fingerprint
    return locked


# --- PII reversal ---------------------------------------------------------------------------------


def pii_reveal(*, actor: Any, token: str, reason: str, object_type: str = "", object_id: str = "") -> str:
    """Decrypt one ``<ENC:TYPE:…>`` token made by the ``encrypt`` operator and return the original value.

    Only a user with the ``compliance.reveal_pii`` permission may do it and a reason is required; every
    attempt, allowed or refused, is audited (with the token's hash, never the value). Raises
    ``PermissionDenied`` or ``ValidationError``.
    """
    import hashlib

    from .crypto import PiiRevealError, decrypt_token, pii_encryption_key

    token_hash = hashlib.sha256(token.encode()).hexdigest()
    where = {"object_type": object_type, "object_id": str(object_id)}
    allowed = actor is not None and getattr(actor, "is_active", False) and actor.has_perm("compliance.reveal_pii")
    if not allowed:
        with transaction.atomic():
            audit_event_append(actor=actor if getattr(actor, "pk", None) else None, action="pii.reveal_refused",
                               object_type="pii_token", object_id=token_hash[:16],
                               payload={"token_sha256": token_hash, "why": "missing permission compliance.reveal_pii",
                                        **where})
        raise PermissionDenied("revealing encrypted PII needs the compliance.reveal_pii permission")
    if not reason.strip():
        raise ValidationError("a reason is required to reveal encrypted PII")
    try:
        entity_type, value = decrypt_token(token, pii_encryption_key())
    except PiiRevealError as exc:
        raise ValidationError(str(exc)) from exc
    with transaction.atomic():
        audit_event_append(actor=actor, action="pii.reveal", object_type="pii_token", object_id=token_hash[:16],
                           payload={"token_sha256": token_hash, "entity_type": entity_type, "reason": reason, **where})
    return value


# --- safety lexicon and exemplars as CSV ------------------------------------------------------------


def safety_rows_import(
    *, kind: str, rows: list[dict[str, str]], actor: Any, policy_version: PolicyVersion | None = None
) -> int:
    """Add lexicon terms (``kind="terms"``: risk_code, lang, term) or exemplars (``kind="exemplars"``:
    risk_code, lang, text) to the base set or to one unlocked version. Rows already there are skipped.
    Returns how many rows were added. Raises ``ValidationError`` naming the first bad row (nothing is added).
    """
    if kind not in ("terms", "exemplars"):
        raise ValidationError("kind must be terms or exemplars")
    if policy_version is not None and policy_version.is_locked:
        raise ValidationError(f"{policy_version} is locked; add rows to a new version")
    model = SafetyTerm if kind == "terms" else SafetyExemplar
    field = "term" if kind == "terms" else "text"
    added = 0
    with transaction.atomic():
        for line, row in enumerate(rows, start=2):
            values = {"risk_code": (row.get("risk_code") or "").strip(), "lang": (row.get("lang") or "").strip(),
                      field: (row.get(field) or "").strip()}
            if model.objects.filter(policy_version=policy_version, **values).exists():
                continue
            obj = model(policy_version=policy_version, **values)
            try:
                obj.full_clean(validate_constraints=False)
            except ValidationError as exc:
                raise ValidationError(f"row {line}: {'; '.join(exc.messages)}") from exc
            obj.save()
            added += 1
        audit_event_append(
            actor=actor, action=f"safety_{kind}.import", object_type="policy_version",
            object_id=policy_version.pk if policy_version else 0, payload={"added": added, "rows": len(rows)},
        )
    return added


def safety_rows_export(*, kind: str, policy_version: PolicyVersion | None = None) -> list[dict[str, str]]:
    """The rows ``policy_version`` screens with, as CSV-ready dicts: a published version's own pinned snapshot;
    otherwise the base rows plus, with a draft ``policy_version``, that version's own rows."""
    from django.db.models import Q

    model = SafetyTerm if kind == "terms" else SafetyExemplar
    field = "term" if kind == "terms" else "text"
    scope = Q(policy_version__isnull=True)
    if policy_version is not None and policy_version.is_locked and policy_version.lexicon_fingerprint:
        scope = Q(policy_version=policy_version)
    elif policy_version is not None:
        scope |= Q(policy_version=policy_version)
    return [
        {"risk_code": r, "lang": lang, field: value}
        for r, lang, value in model.objects.filter(scope).order_by("risk_code", "lang", "pk").values_list(
            "risk_code", "lang", field
        )
    ]
