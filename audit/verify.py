"""Prove the audit log is whole: every event present, unedited, linked, in the Merkle tree, and
vouched for by a chain of signed checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from audit import merkle
from audit.canonical import canonical_json_bytes
from audit.checkpoints import checkpoint_body, checkpoint_hash_of
from audit.conf import audit_setting
from audit.models import (
    GENESIS_HASH,
    HEAD_PK,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditSigningKey,
    AuditTreeNode,
)
from audit.services import audit_event_canonical_bytes, audit_signature_message
from audit.signing import sm2_verify, verify_signature

_CHUNK_SIZE = 5000
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
    checkpoints_checked: int = 0
    first_bad_checkpoint: int | None = None


@dataclass(frozen=True)
class _Key:
    algorithm: str
    public_key_pem: str
    created_at: datetime
    retired_at: datetime | None


def audit_chain_verify(
    *, trusted_key_ids: Collection[str] | None = None, all_signatures: bool = False
) -> ChainVerification:
    """Check the whole log, its tree and its checkpoints; return the first problem, or ``ok=True``.

    Finds edited rows (hash mismatch), deleted rows (a gap in ``seq``, a head that records more
    events than exist, a checkpoint over more events than exist), relinked or reordered rows
    (``prev_hash`` mismatch), tampered tree nodes, checkpoints whose root is not the root of the
    events, deleted, reordered or rolled-back checkpoints, and forged or re-signed events and
    checkpoints (bad signature, unknown or untrusted key, or a key used outside its validity).

    Events covered by a checkpoint whose signature and root check out are authenticated by it (the
    root commits to their every byte), so their own signatures are checked only with
    ``all_signatures=True``; events past the last checkpoint are checked one by one.

    ``trusted_key_ids``, taken from outside the database, means a rewritten key table cannot vouch
    for itself: an event or checkpoint signed by any other key fails.
    """
    keys = _keys()
    # Read the head first: every event it counts was committed before this point, so the stream
    # below must contain all of them. Events appended meanwhile simply extend the stream.
    head_before = _head()
    checkpoints = list(AuditCheckpoint.objects.order_by("index"))
    problem = _check_checkpoint_chain(checkpoints, keys, trusted_key_ids, head_before)
    if problem is not None:
        return problem
    covered = max((cp.tree_size for cp in checkpoints), default=0)
    roots_due: dict[int, list[AuditCheckpoint]] = {}
    for cp in checkpoints:
        roots_due.setdefault(cp.tree_size, []).append(cp)
    if 0 in roots_due:
        for cp in roots_due.pop(0):
            if cp.root_hash != merkle.EMPTY_ROOT.hex():
                return _bad_cp(0, cp.index, f"checkpoint {cp.index}: root of the empty log is wrong")

    frontier = merkle.Frontier()
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    last_seq = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq").values_list(*_EVENT_FIELDS)[:_CHUNK_SIZE]
        )
        if not rows:
            break
        completed: dict[int, tuple[int, str]] = {}
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
            last_seq = seq
            if seq != expected_seq:
                if seq > expected_seq:
                    gap = f"events {expected_seq}-{seq - 1} are" if seq - expected_seq > 1 else "the row is"
                    return _first_failure(
                        completed, _bad(checked, expected_seq, f"event {expected_seq}: missing, {gap} gone (deleted?)")
                    )
                return _first_failure(
                    completed, _bad(checked, seq, f"event {seq}: unexpected sequence number, expected {expected_seq}")
                )
            if stored_prev_hash != prev_hash:
                return _first_failure(
                    completed, _bad(checked, seq, f"event {seq}: prev_hash does not match the hash of event {seq - 1}")
                )
            try:
                data = audit_event_canonical_bytes(
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
                return _first_failure(
                    completed, _bad(checked, seq, f"event {seq}: cannot be hashed ({exc}) (row edited?)")
                )
            if hashlib.sha256(data).hexdigest() != event_hash:
                return _first_failure(completed, _bad(checked, seq, f"event {seq}: hash mismatch (row edited?)"))
            if trusted_key_ids is not None and key_id not in trusted_key_ids:
                return _first_failure(
                    completed, _bad(checked, seq, f"event {seq}: signed with key {key_id!r}, which is not trusted")
                )
            key = keys.get(key_id)
            if key is None:
                # A key registered after the key table was read, by a concurrent first append.
                keys = _keys()
                key = keys.get(key_id)
            if key is None:
                return _first_failure(completed, _bad(checked, seq, f"event {seq}: signed with unknown key {key_id!r}"))
            if (all_signatures or seq > covered) and not verify_signature(
                key.public_key_pem, signature, audit_signature_message(event_hash)
            ):
                return _first_failure(
                    completed,
                    _bad(checked, seq, f"event {seq}: signature invalid under key {key_id} (forged or re-signed?)"),
                )
            if key.retired_at is not None and created_at > key.retired_at:
                return _first_failure(
                    completed,
                    _bad(
                        checked,
                        seq,
                        f"event {seq}: signed with key {key_id} after it was retired at {key.retired_at.isoformat()}",
                    ),
                )
            if head_before is not None and seq == head_before[0] and event_hash != head_before[1]:
                return _first_failure(
                    completed, _bad(checked, seq, f"event {seq}: chain head records a different hash for this event")
                )
            for level, index, value in frontier.append(merkle.leaf_hash(data)):
                completed[merkle.node_key(level, index)] = (seq, value.hex())
            for cp in roots_due.pop(seq, ()):
                if frontier.root().hex() != cp.root_hash:
                    return _first_failure(
                        completed,
                        _bad_cp(
                            checked,
                            cp.index,
                            f"checkpoint {cp.index}: root does not match the first {seq} events (events edited, "
                            "reordered or replaced since it was signed?)",
                        ),
                    )
            checked += 1
            prev_hash = event_hash
            expected_seq = seq + 1
        node_problem = _check_nodes(completed, checked)
        if node_problem is not None:
            return node_problem

    last_seq = expected_seq - 1
    if roots_due:
        size = min(roots_due)
        cp = roots_due[size][0]
        return _bad_cp(
            checked,
            cp.index,
            f"checkpoint {cp.index}: covers {size} events but the log ends at event {last_seq} (tail rows deleted?)",
        )
    if head_before is not None and head_before[0] > last_seq:
        return _bad(
            checked,
            last_seq + 1,
            f"event {last_seq + 1}: missing; the chain head records {head_before[0]} events but the log "
            f"ends at event {last_seq} (tail rows deleted?)",
        )
    if checked == 0:
        return ChainVerification(
            ok=True,
            events_checked=0,
            first_bad_seq=None,
            reason="audit log is empty",
            checkpoints_checked=len(checkpoints),
        )

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
        return _bad(checked, last_seq, f"event {last_seq}: chain head records a different hash for this event")
    if head_after[0] == last_seq and head_after[2] != [value.hex() for value in frontier.hashes]:
        return _bad(checked, last_seq, f"event {last_seq}: the chain head's tree frontier does not match the events")
    return ChainVerification(
        ok=True,
        events_checked=checked,
        first_bad_seq=None,
        reason="chain intact",
        checkpoints_checked=len(checkpoints),
    )


def _check_checkpoint_chain(
    checkpoints: list[AuditCheckpoint],
    keys: dict[str, _Key],
    trusted_key_ids: Collection[str] | None,
    head: tuple[int, str, list[str], int, str] | None,
) -> ChainVerification | None:
    origin = audit_setting("LOG_ORIGIN")
    prev_hash = GENESIS_HASH
    prev: AuditCheckpoint | None = None
    for expected_index, cp in enumerate(checkpoints, start=1):
        where = f"checkpoint {cp.index}"
        if cp.index != expected_index:
            missing = expected_index if cp.index > expected_index else cp.index
            return _bad_cp(0, missing, f"checkpoint {missing}: missing or out of order (deleted?)")
        if cp.prev_checkpoint_hash != prev_hash:
            return _bad_cp(0, cp.index, f"{where}: does not link to the hash of checkpoint {cp.index - 1}")
        if prev is not None and cp.tree_size < prev.tree_size:
            return _bad_cp(0, cp.index, f"{where}: tree shrank from {prev.tree_size} to {cp.tree_size} events")
        if prev is not None and cp.created_at < prev.created_at:
            return _bad_cp(0, cp.index, f"{where}: dated before checkpoint {prev.index} (back-dated?)")
        body = checkpoint_body(
            origin=origin,
            index=cp.index,
            kind=cp.kind,
            tree_size=cp.tree_size,
            root_hash=cp.root_hash,
            created_at=cp.created_at,
            prev_checkpoint_hash=cp.prev_checkpoint_hash,
            key_id=cp.key_id,
            sm2_key_id=cp.sm2_key_id,
        )
        message = canonical_json_bytes(body)
        document = {**body, "signature": cp.signature}
        if cp.sm2_signature:
            document["sm2_signature"] = cp.sm2_signature
        if checkpoint_hash_of(document) != cp.checkpoint_hash:
            return _bad_cp(0, cp.index, f"{where}: stored hash does not match its contents (row edited?)")
        if trusted_key_ids is not None and cp.key_id not in trusted_key_ids:
            return _bad_cp(0, cp.index, f"{where}: signed with key {cp.key_id!r}, which is not trusted")
        key = keys.get(cp.key_id)
        if key is None or key.algorithm != "ed25519":
            return _bad_cp(0, cp.index, f"{where}: signed with unknown key {cp.key_id!r}")
        if not verify_signature(key.public_key_pem, cp.signature, message):
            return _bad_cp(0, cp.index, f"{where}: signature invalid under key {cp.key_id} (forged or re-signed?)")
        if key.retired_at is not None and cp.created_at > key.retired_at:
            return _bad_cp(0, cp.index, f"{where}: signed with key {cp.key_id} after it was retired")
        if cp.sm2_key_id:
            sm2_key = keys.get(cp.sm2_key_id)
            if sm2_key is None or not sm2_verify(sm2_key.public_key_pem, cp.sm2_signature, message):
                return _bad_cp(0, cp.index, f"{where}: SM2 signature invalid under key {cp.sm2_key_id}")
        prev_hash = cp.checkpoint_hash
        prev = cp
    if head is not None and head[3] > len(checkpoints):
        return _bad_cp(
            0,
            len(checkpoints) + 1,
            f"checkpoint {len(checkpoints) + 1}: missing; the head records {head[3]} checkpoints but only "
            f"{len(checkpoints)} exist (rolled back?)",
        )
    if head is not None and checkpoints and head[3] == len(checkpoints) and head[4] != prev_hash:
        return _bad_cp(0, len(checkpoints), f"checkpoint {len(checkpoints)}: the head records a different hash")
    return None


def _first_failure(completed: dict[int, tuple[int, str]], failure: ChainVerification) -> ChainVerification:
    """``failure``, unless a tree node of an earlier event in this chunk is already bad: report that first."""
    return _check_nodes(completed, failure.events_checked) or failure


def _check_nodes(completed: dict[int, tuple[int, str]], checked: int) -> ChainVerification | None:
    stored = _stored_nodes(completed)
    for node_key_value in sorted(completed, key=lambda k: completed[k][0]):
        seq, node_hex = completed[node_key_value]
        if stored.get(node_key_value) != node_hex:
            level, index = merkle.node_from_key(node_key_value)
            what = "missing" if node_key_value not in stored else "wrong"
            return _bad(seq - 1, seq, f"event {seq}: tree node level {level} index {index} is {what}")
    return None


def _stored_nodes(completed: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The stored hashes for these node keys: one range per tree level instead of thousands of ids."""
    bounds: dict[int, tuple[int, int]] = {}
    for key in completed:
        level = key >> 48
        low, high = bounds.get(level, (key, key))
        bounds[level] = (min(low, key), max(high, key))
    if not bounds:
        return {}
    ranges = Q()
    for low, high in bounds.values():
        ranges |= Q(key__gte=low, key__lte=high)
    return dict(AuditTreeNode.objects.filter(ranges).values_list("key", "hash"))


def _keys() -> dict[str, _Key]:
    return {
        key_id: _Key(algorithm=algorithm, public_key_pem=pem, created_at=created_at, retired_at=retired_at)
        for key_id, algorithm, pem, created_at, retired_at in AuditSigningKey.objects.values_list(
            "key_id", "algorithm", "public_key_pem", "created_at", "retired_at"
        )
    }


def _head() -> tuple[int, str, list[str], int, str] | None:
    return (
        AuditChainHead.objects.filter(pk=HEAD_PK)
        .values_list("last_seq", "last_hash", "tree_frontier", "checkpoint_count", "checkpoint_hash")
        .first()
    )


def _bad(checked: int, seq: int | None, reason: str) -> ChainVerification:
    return ChainVerification(ok=False, events_checked=checked, first_bad_seq=seq, reason=reason)


def _bad_cp(checked: int, index: int, reason: str) -> ChainVerification:
    return ChainVerification(
        ok=False, events_checked=checked, first_bad_seq=None, reason=reason, first_bad_checkpoint=index
    )
