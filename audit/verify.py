"""Prove the audit log is whole: every event present, unedited, linked and signed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from audit.models import GENESIS_HASH, HEAD_PK, AuditChainHead, AuditEvent, AuditSigningKey
from audit.services import audit_hash_for_event_fields, audit_signature_message
from audit.signing import verify_signature

_CHUNK_SIZE = 2000
_EVENT_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "payload",
    "prev_hash",
    "event_hash",
    "key_id",
    "signature",
)


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    reason: str


@dataclass(frozen=True)
class _Key:
    public_key_pem: str
    retired_at: datetime | None


def audit_chain_verify(*, trusted_key_ids: Collection[str] | None = None) -> ChainVerification:
    """Check the whole chain and the head row; return the first problem found, or ``ok=True``.

    Finds edited rows (hash mismatch), deleted rows (a gap in ``seq``, or a head that records more
    events than exist), relinked rows (``prev_hash`` mismatch) and forged or re-signed rows (bad
    signature, unknown key, or a key used after its retirement). Safe to run while others append.

    The key table lives in the same database as the events, so someone who can write both could
    register a key of their own and re-sign a rewritten tail. ``trusted_key_ids``, taken from
    outside the database, closes that: an event signed by any other key fails.
    """
    keys: dict[str, _Key | None] = {
        key_id: _Key(public_key_pem=pem, retired_at=retired_at)
        for key_id, pem, retired_at in AuditSigningKey.objects.values_list(
            "key_id", "public_key_pem", "retired_at"
        )
    }
    # Read the head first: every event it counts was committed before this point, so the stream
    # below must contain all of them. Events appended meanwhile simply extend the stream.
    head_before = _head()

    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    rows = AuditEvent.objects.order_by("seq").values_list(*_EVENT_FIELDS).iterator(chunk_size=_CHUNK_SIZE)
    for (
        seq,
        created_at,
        actor_id,
        actor_name,
        action,
        object_type,
        object_id,
        payload,
        stored_prev_hash,
        event_hash,
        key_id,
        signature,
    ) in rows:
        if seq != expected_seq:
            if seq > expected_seq:
                gap = f"events {expected_seq}-{seq - 1} are" if seq - expected_seq > 1 else "the row is"
                return _bad(checked, expected_seq, f"event {expected_seq}: missing, {gap} gone (deleted?)")
            return _bad(checked, seq, f"event {seq}: unexpected sequence number, expected {expected_seq}")
        if stored_prev_hash != prev_hash:
            return _bad(checked, seq, f"event {seq}: prev_hash does not match the hash of event {seq - 1}")
        try:
            recomputed = audit_hash_for_event_fields(
                seq=seq,
                created_at=created_at,
                actor_id=actor_id,
                actor_name=actor_name,
                action=action,
                object_type=object_type,
                object_id=object_id,
                payload=payload,
                prev_hash=stored_prev_hash,
                key_id=key_id,
            )
        except (TypeError, ValueError) as exc:
            return _bad(checked, seq, f"event {seq}: cannot be hashed ({exc}) (row edited?)")
        if recomputed != event_hash:
            return _bad(checked, seq, f"event {seq}: hash mismatch (row edited?)")
        if trusted_key_ids is not None and key_id not in trusted_key_ids:
            return _bad(checked, seq, f"event {seq}: signed with key {key_id!r}, which is not trusted")
        key = keys.get(key_id)
        if key is None:
            # A key registered after the key table was read, by a concurrent first append.
            key = keys[key_id] = _key(key_id)
        if key is None:
            return _bad(checked, seq, f"event {seq}: signed with unknown key {key_id!r}")
        if not verify_signature(key.public_key_pem, signature, audit_signature_message(event_hash)):
            return _bad(
                checked, seq, f"event {seq}: signature invalid under key {key_id} (forged or re-signed?)"
            )
        if key.retired_at is not None and created_at > key.retired_at:
            return _bad(
                checked,
                seq,
                f"event {seq}: signed with key {key_id} after it was retired at {key.retired_at.isoformat()}",
            )
        if head_before is not None and seq == head_before[0] and event_hash != head_before[1]:
            return _bad(checked, seq, f"event {seq}: chain head records a different hash for this event")
        checked += 1
        prev_hash = event_hash
        expected_seq = seq + 1

    last_seq = expected_seq - 1
    if head_before is not None and head_before[0] > last_seq:
        return _bad(
            checked,
            last_seq + 1,
            f"event {last_seq + 1}: missing; the chain head records {head_before[0]} events but the log "
            f"ends at event {last_seq} (tail rows deleted?)",
        )
    if checked == 0:
        return ChainVerification(ok=True, events_checked=0, first_bad_seq=None, reason="audit log is empty")

    # Every append moves the head in the same transaction as its insert, so a head read now must
    # have reached the last event streamed; behind it means rows were added past the head.
    head_after = _head()
    if head_after is None:
        return _bad(checked, None, "the chain head row is missing")
    if head_after[0] < last_seq:
        return _bad(
            checked,
            head_after[0] + 1,
            f"event {head_after[0] + 1}: beyond the chain head, which records only {head_after[0]} events",
        )
    if head_after[0] == last_seq and head_after[1] != prev_hash:
        return _bad(
            checked, last_seq, f"event {last_seq}: chain head records a different hash for this event"
        )
    return ChainVerification(ok=True, events_checked=checked, first_bad_seq=None, reason="chain intact")


def _key(key_id: str) -> _Key | None:
    row = AuditSigningKey.objects.filter(key_id=key_id).values_list("public_key_pem", "retired_at").first()
    return None if row is None else _Key(public_key_pem=row[0], retired_at=row[1])


def _head() -> tuple[int, str] | None:
    return AuditChainHead.objects.filter(pk=HEAD_PK).values_list("last_seq", "last_hash").first()


def _bad(checked: int, seq: int | None, reason: str) -> ChainVerification:
    return ChainVerification(ok=False, events_checked=checked, first_bad_seq=seq, reason=reason)
