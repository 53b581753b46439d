"""The audit app's own settings: ``settings.AUDIT`` (optional dict). Unknown keys are refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Six months and a few days: the floor the retention policy may not go below.
MINIMUM_RETENTION_DAYS = 183

DEFAULTS: dict[str, Any] = {
    # A signed "interval" checkpoint after every N events (0 turns them off).
    "CHECKPOINT_EVERY_EVENTS": 1000,
    # The heartbeat is due when the newest checkpoint is older than this; verify warns past 2x.
    "HEARTBEAT_SECONDS": 3600,
    # Events are kept at least this long; nothing in the gateway deletes them at all.
    "RETENTION_DAYS": 365,
    # Optional PEM file with an SM2 private key: checkpoints then carry an SM2-with-SM3 signature too.
    "SM2_KEY_PATH": "",
    # Name of the log, in every checkpoint.
    "LOG_ORIGIN": "synthgate-audit",
    # When an appended event gets its place in the log (see audit.services.audit_event_append):
    # "after_commit" queues it in the caller's transaction and sequences it in a batch right after
    # the commit (group commit: many writers share one head lock and one WAL flush); "in_transaction"
    # sequences it inside the caller's transaction, holding the head lock until that commits;
    # "auto" picks after_commit on PostgreSQL and in_transaction on SQLite, a one-writer database.
    "SEQUENCING": "auto",
    # At most this many queued events are sequenced per head-lock transaction.
    "SEQUENCE_BATCH_SIZE": 1000,
}

SEQUENCING_MODES = ("auto", "after_commit", "in_transaction")


def audit_setting(name: str) -> Any:
    configured = getattr(settings, "AUDIT", {}) or {}
    unknown = set(configured) - DEFAULTS.keys()
    if unknown:
        raise ImproperlyConfigured(f"Unknown keys in settings.AUDIT: {', '.join(sorted(unknown))}")
    if name not in DEFAULTS:
        raise ImproperlyConfigured(f"{name} is not an audit setting")
    value = configured.get(name, DEFAULTS[name])
    if name == "RETENTION_DAYS" and int(value) < MINIMUM_RETENTION_DAYS:
        raise ImproperlyConfigured(
            f"settings.AUDIT['RETENTION_DAYS'] is {value}; audit events must be kept at least "
            f"{MINIMUM_RETENTION_DAYS} days (six months)"
        )
    if name == "SEQUENCING" and value not in SEQUENCING_MODES:
        raise ImproperlyConfigured(
            f"settings.AUDIT['SEQUENCING'] is {value!r}; choose one of {', '.join(SEQUENCING_MODES)}"
        )
    if name == "SEQUENCE_BATCH_SIZE" and (not isinstance(value, int) or value < 1):
        raise ImproperlyConfigured(f"settings.AUDIT['SEQUENCE_BATCH_SIZE'] must be a positive int, got {value!r}")
    return value
