"""Signed checkpoints (tree heads) over the audit log's Merkle tree.

A checkpoint says: "at ``timestamp`` the log held ``tree_size`` events with RFC 6962 root
``root_hash``; the checkpoint before this one hashed to ``prev_checkpoint_hash``", signed with
Ed25519 over the RFC 8785 bytes of exactly that statement (see docs/audit-format.md). Checkpoints
are made every ``settings.AUDIT["CHECKPOINT_EVERY_EVENTS"]`` events, at every dataset release, on
key rotation, and by the heartbeat (``manage.py audit_checkpoint --heartbeat``) even when nothing
happened, so a stopped or truncated log shows as a missing or stale heartbeat.

Checkpoints are not themselves log events: a heartbeat must not change the tree it vouches for.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.canonical import canonical_json_bytes
from audit.conf import audit_setting
from audit.models import AuditChainHead, AuditCheckpoint
from audit.services import audit_head_locked, audit_pending_sequence, audit_queue_drain, tree_frontier_of
from audit.signing import ensure_public_key_registered, signing_key, sm2_signer

CHECKPOINT_FORMAT = "synthgate-checkpoint/1"


def checkpoint_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_body(
    *,
    origin: str,
    index: int,
    kind: str,
    tree_size: int,
    root_hash: str,
    created_at: datetime,
    prev_checkpoint_hash: str,
    key_id: str,
    sm2_key_id: str = "",
) -> dict[str, Any]:
    """The signed statement of a checkpoint (the exact object whose RFC 8785 bytes are signed)."""
    body: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "origin": origin,
        "index": index,
        "kind": kind,
        "tree_size": tree_size,
        "root_hash": root_hash,
        "timestamp": checkpoint_timestamp(created_at),
        "prev_checkpoint_hash": prev_checkpoint_hash,
        "key_id": key_id,
    }
    if sm2_key_id:
        body["sm2_key_id"] = sm2_key_id
    return body


def checkpoint_document(checkpoint: AuditCheckpoint, *, origin: str | None = None) -> dict[str, Any]:
    """The full signed checkpoint as exported: body plus signatures."""
    document = checkpoint_body(
        origin=origin or audit_setting("LOG_ORIGIN"),
        index=checkpoint.index,
        kind=checkpoint.kind,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        created_at=checkpoint.created_at,
        prev_checkpoint_hash=checkpoint.prev_checkpoint_hash,
        key_id=checkpoint.key_id,
        sm2_key_id=checkpoint.sm2_key_id,
    )
    document["signature"] = checkpoint.signature
    if checkpoint.sm2_signature:
        document["sm2_signature"] = checkpoint.sm2_signature
    return document


def checkpoint_hash_of(document: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 bytes of the full signed checkpoint; the next one links to it."""
    return hashlib.sha256(canonical_json_bytes(document)).hexdigest()


def checkpoint_create(*, kind: str) -> AuditCheckpoint:
    """Sign and store a checkpoint of the log as it stands; return it.

    Takes the chain head lock and first sequences every queued event this transaction can see
    (``audit.services.audit_pending_sequence``), so the checkpoint covers every event committed
    before it, and the caller's own event (a release checkpoint vouches for the release event).
    Raises ``ImproperlyConfigured`` when the signing key is missing or retired.
    """
    with transaction.atomic():
        head = audit_head_locked()
        audit_pending_sequence(head)
        # Writers that found the head locked meanwhile rely on its holder to drain the queue after.
        transaction.on_commit(audit_queue_drain, robust=True)
        return checkpoint_create_locked(head=head, kind=kind)


def checkpoint_create_locked(*, head: AuditChainHead, kind: str) -> AuditCheckpoint:
    """``checkpoint_create`` for a caller that already holds the head row locked."""
    if kind not in AuditCheckpoint.Kind.values:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    key = signing_key()
    ensure_public_key_registered()
    sm2 = sm2_signer()
    created_at = timezone.now().replace(microsecond=0)
    body = checkpoint_body(
        origin=audit_setting("LOG_ORIGIN"),
        index=head.checkpoint_count + 1,
        kind=kind,
        tree_size=head.last_seq,
        root_hash=tree_frontier_of(head).root().hex(),
        created_at=created_at,
        prev_checkpoint_hash=head.checkpoint_hash,
        key_id=key.key_id,
        sm2_key_id=sm2.key_id if sm2 else "",
    )
    message = canonical_json_bytes(body)
    document = {**body, "signature": key.private_key.sign(message).hex()}
    if sm2 is not None:
        document["sm2_signature"] = sm2.sign(message)
    checkpoint = AuditCheckpoint.objects.create(
        index=body["index"],
        kind=kind,
        tree_size=body["tree_size"],
        root_hash=body["root_hash"],
        created_at=created_at,
        prev_checkpoint_hash=body["prev_checkpoint_hash"],
        key_id=key.key_id,
        signature=document["signature"],
        sm2_key_id=body.get("sm2_key_id", ""),
        sm2_signature=document.get("sm2_signature", ""),
        checkpoint_hash=checkpoint_hash_of(document),
    )
    head.checkpoint_count = checkpoint.index
    head.checkpoint_hash = checkpoint.checkpoint_hash
    head.save(update_fields=["checkpoint_count", "checkpoint_hash"])
    return checkpoint


def checkpoint_heartbeat_due() -> bool:
    """True when no checkpoint exists or the newest is older than ``HEARTBEAT_SECONDS``."""
    latest = AuditCheckpoint.objects.order_by("-index").values_list("created_at", flat=True).first()
    if latest is None:
        return True
    return (timezone.now() - latest).total_seconds() >= audit_setting("HEARTBEAT_SECONDS")
