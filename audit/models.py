"""The signed, hash-chained, append-only audit log.

Rows are written only by ``audit.services.audit_event_append``; nothing here has a workflow. Each
event carries the hash of the event before it and an Ed25519 signature over its own hash, so an
edited, deleted or inserted row is found by ``audit.verify.audit_chain_verify``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64
HEAD_PK = 1


class AuditSigningKey(models.Model):
    """A public key that signed audit events. The private key lives only in the key file."""

    key_id = models.CharField(
        max_length=16,
        primary_key=True,
        help_text="First 16 hex digits of the SHA-256 of the raw public key.",
    )
    algorithm = models.CharField(max_length=16, default="ed25519", help_text="ed25519 or sm2.")
    public_key_pem = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    # A retired key verifies what it signed before retirement and may sign nothing after it.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.key_id}"


class AuditChainHead(models.Model):
    """The single row that records the end of the chain.

    Appends lock it with ``select_for_update`` so concurrent writers queue instead of forking the
    chain, and the verifier compares it with the last event to notice rows deleted from the tail.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=HEAD_PK)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # The Merkle tree's compact range: hex hashes of the full subtrees that make up [0, last_seq).
    tree_frontier = models.JSONField(default=list, blank=True)
    checkpoint_count = models.BigIntegerField(default=0)
    checkpoint_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=HEAD_PK), name="audit_chain_head_singleton"),
        ]

    def __str__(self) -> str:
        return f"audit chain head at event {self.last_seq}"


class AuditEvent(models.Model):
    """One signed entry in the chain. Append-only: the model refuses to update or delete itself."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    # A plain integer, not a foreign key: deleting a user must never cascade into the log.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    event_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_event_object_idx"),
            models.Index(fields=["action"], name="audit_event_action_idx"),
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Guards the ORM's front door only; QuerySet.update() and raw SQL are what the verifier is for.
        if not self._state.adding:
            raise ValueError("audit events are append-only and cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("audit events are append-only and cannot be deleted")


class AuditTreeNode(models.Model):
    """The hash of one full subtree of the RFC 6962 tree over the events, stored once complete.

    ``key`` is ``level << 48 | index`` (see ``audit.merkle.node_key``); level 0 holds the leaf hash
    of event ``seq = index + 1``. Append-only, like the events.
    """

    key = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"tree node {self.key >> 48}/{self.key & ((1 << 48) - 1)}"


class AuditCheckpoint(models.Model):
    """A signed tree head: size, root, time and the hash of the previous checkpoint."""

    class Kind(models.TextChoices):
        INTERVAL = "interval"
        RELEASE = "release"
        HEARTBEAT = "heartbeat"
        MANUAL = "manual"
        KEY_ROTATION = "key_rotation"

    index = models.PositiveBigIntegerField(unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    prev_checkpoint_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)
    sm2_key_id = models.CharField(max_length=16, blank=True)
    sm2_signature = models.CharField(max_length=256, blank=True)
    checkpoint_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return f"checkpoint #{self.index} ({self.kind}) size {self.tree_size}"


class AuditPendingEvent(models.Model):
    """An event committed with the change it records, waiting to be sequenced into the log.

    ``audit_event_append`` writes one in the caller's transaction (so it commits or rolls back with
    that change); the sequencer then moves waiting events into ``AuditEvent`` in batches, under one
    head lock and one commit per batch. Normally a row lives for milliseconds: the writer sequences
    it right after its own commit, and any later append, checkpoint or heartbeat sweeps up rows a
    crashed writer left. Not part of the signed log until sequenced, so not append-only.
    """

    submitted_at = models.DateTimeField(default=timezone.now)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"pending {self.action} {self.object_type}:{self.object_id}"
