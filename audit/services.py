"""Writes to the audit log. ``audit_event_append`` is the only way events are created."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from audit import merkle
from audit.canonical import canonical_json_bytes, canonical_number, payload_check_storable
from audit.conf import audit_setting
from audit.models import GENESIS_HASH, HEAD_PK, AuditChainHead, AuditEvent, AuditPendingEvent, AuditTreeNode
from audit.signing import ensure_public_key_registered, signing_key

ACTION_PATTERN = re.compile(r"[a-z_]+(\.[a-z_]+)+")
SYSTEM_ACTOR_NAME = "system"
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]

_ACTION_MAX = AuditEvent._meta.get_field("action").max_length or 100
_OBJECT_TYPE_MAX = AuditEvent._meta.get_field("object_type").max_length or 64
_OBJECT_ID_MAX = AuditEvent._meta.get_field("object_id").max_length or 255
_PENDING_TABLE = AuditPendingEvent._meta.db_table


def audit_event_document(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any],
    prev_hash: str,
    key_id: str,
) -> dict[str, Any]:
    """The JSON document an event stands for; its RFC 8785 bytes are hashed into chain and tree.

    Raises ``ValueError`` for a naive ``created_at``.
    """
    if timezone.is_naive(created_at):
        raise ValueError("created_at must be timezone-aware")
    return {
        "seq": seq,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "payload": payload,
        "prev_hash": prev_hash,
        "key_id": key_id,
    }


def audit_event_canonical_bytes(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any],
    prev_hash: str,
    key_id: str,
) -> bytes:
    """``canonical_json_bytes(audit_event_document(...))``, written out in key order for speed.

    The verifier calls this for every event; the test suite checks it equals the general form.
    """
    if timezone.is_naive(created_at):
        raise ValueError("created_at must be timezone-aware")
    if actor_id is not None and (isinstance(actor_id, bool) or not isinstance(actor_id, int)):
        raise TypeError(f"actor_id must be an int or None, got {actor_id!r}")
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a JSON object, got {type(payload).__name__}")
    text = (
        '{"action":'
        + _encode_string(action)
        + ',"actor_id":'
        + ("null" if actor_id is None else canonical_number(actor_id))
        + ',"actor_name":'
        + _encode_string(actor_name)
        + ',"created_at":'
        + _encode_string(created_at.astimezone(UTC).isoformat())
        + ',"key_id":'
        + _encode_string(key_id)
        + ',"object_id":'
        + _encode_string(str(object_id))
        + ',"object_type":'
        + _encode_string(object_type)
        + ',"payload":'
    )
    return (
        text.encode("utf-8")
        + canonical_json_bytes(payload)
        + (',"prev_hash":' + _encode_string(prev_hash) + ',"seq":' + canonical_number(seq) + "}").encode("utf-8")
    )


def audit_hash_for_event_fields(**fields: Any) -> str:
    """The hex SHA-256 of an event's canonical JSON (its chain hash). Appending and verifying use this.

    Takes the keyword arguments of ``audit_event_document``. Raises ``ValueError`` for a naive
    ``created_at`` and ``TypeError``/``ValueError`` for a payload that has no canonical form.
    """
    return hashlib.sha256(audit_event_canonical_bytes(**fields)).hexdigest()


def audit_event_leaf_hash(event: AuditEvent) -> bytes:
    """The RFC 6962 leaf hash of a stored event: SHA-256(0x00 || RFC 8785 bytes of its document)."""
    return merkle.leaf_hash(canonical_json_bytes(audit_event_document_of(event)))


def audit_event_document_of(event: AuditEvent) -> dict[str, Any]:
    return audit_event_document(
        seq=event.seq,
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
        key_id=event.key_id,
    )


def audit_signature_message(event_hash: str) -> bytes:
    """The bytes an event's signature covers: its hash as ASCII hex."""
    return event_hash.encode("ascii")


def audit_event_append(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Append one signed event to the log.

    ``actor`` is the user who acted, or ``None`` for the system (recorded as "system"). ``action``
    is dotted lower-case, e.g. ``"dataset_request.submit"``. ``payload`` holds ids, hashes, counts
    and masked text only, **never raw PII**: the log is kept for years and cannot be edited, so
    personal data written here could never be erased. Prefer ints and strings (see
    ``audit.canonical``).

    The event joins the caller's transaction: it commits or rolls back with the change it records.
    How it gets its place in the log depends on ``settings.AUDIT["SEQUENCING"]``:

    - ``after_commit`` (PostgreSQL's default): the event is queued (``AuditPendingEvent``) in the
      caller's transaction; right after that commits, this process sequences every queued event
      in batches under the head lock, unless another writer holds it, who then takes this event
      in before letting go. With many writers a batch costs one lock and one WAL flush for all of
      them (group commit). Returns ``None``: the event is durable when the caller's transaction
      commits and is in the log moments later (at once when no other writer is sequencing).
    - ``in_transaction`` (SQLite's default): the event is sequenced at once inside the caller's
      transaction, which then holds the head lock until it ends. Returns the saved event.

    Either way the log never forks or gaps: seq, prev_hash and the Merkle tree are only ever
    extended under the head row lock.

    Raises ``ValueError`` for a malformed action, object type or id, an anonymous actor or a payload
    that is not a JSON object storable unchanged; ``ImproperlyConfigured`` when the signing key is
    missing, unreadable or retired (checked before anything is written, so the action fails closed);
    database errors propagate unchanged.
    """
    if not isinstance(action, str) or len(action) > _ACTION_MAX or not ACTION_PATTERN.fullmatch(action):
        raise ValueError(
            f"audit action {action!r} must be dotted lower-case words such as 'dataset_request.submit' "
            f"(at most {_ACTION_MAX} characters)"
        )
    if not isinstance(object_type, str) or not object_type or len(object_type) > _OBJECT_TYPE_MAX:
        raise ValueError(f"audit object_type must be a non-empty string of at most {_OBJECT_TYPE_MAX} characters")
    if isinstance(object_id, bool) or not isinstance(object_id, str | int):
        raise ValueError(f"audit object_id must be a string or an int, got {type(object_id).__name__}")
    object_id_text = str(object_id)
    if not object_id_text or len(object_id_text) > _OBJECT_ID_MAX:
        raise ValueError(f"audit object_id must be 1 to {_OBJECT_ID_MAX} characters")
    actor_id, actor_name = _actor_identity(actor)
    submission = _Submission(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id_text,
        payload=_storable_payload(payload, action=action),
    )
    signing_key()  # Fail closed: an action whose event could not be signed does not happen.

    if audit_sequencing_mode() == "in_transaction":
        with transaction.atomic():
            events = _sequence_locked(audit_head_locked(), extra=[submission])
        return events[-1]
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        # Plain SQL: this insert is on every writer's path and the ORM would double its CPU cost.
        cursor.execute(
            f"INSERT INTO {_PENDING_TABLE} "  # noqa: S608 (the model's own table name)
            "(submitted_at, actor_id, actor_name, action, object_type, object_id, payload) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                connection.ops.adapt_datetimefield_value(timezone.now()),
                submission.actor_id,
                submission.actor_name,
                submission.action,
                submission.object_type,
                submission.object_id,
                json.dumps(submission.payload, ensure_ascii=False),
            ],
        )
    if not _drain_registered():
        # robust: the change and its queued event have committed; should sequencing fail now, the
        # event stays queued (logged) and the next append, checkpoint or heartbeat sequences it.
        transaction.on_commit(audit_queue_drain, robust=True)
    return None


def _drain_registered() -> bool:
    """True when this transaction already drains the queue on commit (one drain covers all its
    events). Django drops a callback with the savepoint it was registered in, so a drain found
    here still runs if and only if this event commits."""
    callbacks = getattr(transaction.get_connection(), "run_on_commit", None) or []
    return any(isinstance(entry, tuple) and audit_queue_drain in entry for entry in callbacks)


def audit_sequencing_mode() -> str:
    """``after_commit`` or ``in_transaction``: the configured mode, ``auto`` resolved by database."""
    mode = str(audit_setting("SEQUENCING"))
    if mode == "auto":
        return "after_commit" if transaction.get_connection().vendor == "postgresql" else "in_transaction"
    return mode


def audit_pending_sequence(head: AuditChainHead | None = None) -> int:
    """Sequence every queued event visible to this transaction into the log; return how many.

    ``head`` is the head row when the caller already holds it locked (a checkpoint), which is then
    updated in place. For sweeps: normally each writer sequences its own events.
    """
    total = 0
    with transaction.atomic():
        locked = head or audit_head_locked()
        while sequenced := _sequence_locked(locked):
            total += len(sequenced)
    return total


@dataclass(frozen=True)
class _Submission:
    actor_id: int | None
    actor_name: str
    action: str
    object_type: str
    object_id: str
    payload: dict[str, Any]


def audit_head_locked() -> AuditChainHead:
    """The chain head row, created for an empty log, locked until the current transaction ends."""
    head, _created = AuditChainHead.objects.select_for_update().get_or_create(
        pk=HEAD_PK, defaults={"last_seq": 0, "last_hash": GENESIS_HASH}
    )
    return head


def audit_queue_drain() -> None:
    """Sequence the queue unless another process is already doing it.

    Each writer calls it right after its commit; checkpoints and the heartbeat call it too. It
    never waits for another sequencer: whoever holds the sequencer lock looks at the queue again
    after releasing it, and an event whose writer found the lock taken committed before that
    release, so that holder (or the next) takes it in. Only a crash or a rolled-back lock holder
    can leave events queued; the next append, checkpoint or heartbeat sequences them.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Inside a caller's transaction nothing can be committed batch by batch: sequence the
        # queue there, holding the head lock until that transaction ends.
        audit_pending_sequence()
        return
    if connection.vendor == "postgresql":
        _drain_postgresql()
        return
    # Elsewhere (SQLite: one writer at a time anyway) wait for the head lock, one batch per commit.
    while True:
        with transaction.atomic():
            if not _sequence_locked(audit_head_locked()):
                return


# Session-level advisory lock naming "the sequencer is running" (any fixed 64-bit number).
_SEQUENCER_LOCK = 0x5347_4155_4449_5401


def _drain_postgresql() -> None:
    """``audit_queue_drain`` on PostgreSQL: a writer that finds the sequencer busy costs one query.

    The advisory lock only elects the sequencer; the batch itself still runs under the head row
    lock, which in-transaction appends and checkpoints take too.
    """
    with transaction.get_connection().cursor() as cursor:
        while True:
            # One round trip: NULL when nothing is queued (this writer's events are in already; a
            # transaction that appended many events calls this once per event and all but the first
            # stop here), else whether the sequencer lock was taken (CASE evaluates in order, so
            # the lock is only tried when something is queued).
            cursor.execute(
                f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {_PENDING_TABLE}) "  # noqa: S608 (the model's table)
                "THEN pg_try_advisory_lock(%s) END",
                [_SEQUENCER_LOCK],
            )
            if not cursor.fetchone()[0]:
                return  # Nothing queued, or another sequencer runs: it looks again after releasing.
            try:
                with transaction.atomic():
                    _sequence_locked(audit_head_locked())
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_SEQUENCER_LOCK])


def _claim_queued(limit: int) -> list[_Submission]:
    """Remove up to ``limit`` of the oldest queued events and return them, oldest first.

    One statement (DELETE … RETURNING): under the head lock, inside the sequencing transaction, so
    they are back in the queue if that transaction rolls back.
    """
    columns = "id, actor_id, actor_name, action, object_type, object_id, payload"
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_PENDING_TABLE} WHERE id IN "  # noqa: S608 (the model's own table name)
            f"(SELECT id FROM {_PENDING_TABLE} ORDER BY id LIMIT %s) RETURNING {columns}",
            [limit],
        )
        rows = sorted(cursor.fetchall())
    return [
        _Submission(
            actor_id=actor_id,
            actor_name=actor_name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            # PostgreSQL hands jsonb back decoded; SQLite stores JSON as text.
            payload=json.loads(payload) if isinstance(payload, str) else payload,
        )
        for _id, actor_id, actor_name, action, object_type, object_id, payload in rows
    ]


def _sequence_locked(head: AuditChainHead, *, extra: Sequence[_Submission] = ()) -> list[AuditEvent]:
    """Give queued events (oldest first, one batch) and then ``extra`` their place in the log.

    The caller holds ``head`` locked inside a transaction. Writes the signed events, the completed
    Merkle subtree nodes, interval checkpoints at exact multiples of the interval and the new head,
    and removes the sequenced rows from the queue. Returns the events, in log order.
    """
    submissions = _claim_queued(audit_setting("SEQUENCE_BATCH_SIZE"))
    submissions.extend(extra)
    if not submissions:
        return []
    key = signing_key()
    # Registered under the head lock, so concurrent first appends do not race on the key row.
    ensure_public_key_registered()
    interval = audit_setting("CHECKPOINT_EVERY_EVENTS")
    # Whole seconds: the stored value and its isoformat() are then identical on every backend.
    created_at = timezone.now().replace(microsecond=0)
    frontier = tree_frontier_of(head)
    events: list[AuditEvent] = []
    nodes: list[AuditTreeNode] = []
    for submission in submissions:
        fields: dict[str, Any] = {
            "seq": head.last_seq + 1,
            "created_at": created_at,
            "actor_id": submission.actor_id,
            "actor_name": submission.actor_name,
            "action": submission.action,
            "object_type": submission.object_type,
            "object_id": submission.object_id,
            "payload": submission.payload,
            "prev_hash": head.last_hash,
            "key_id": key.key_id,
        }
        document_bytes = audit_event_canonical_bytes(**fields)
        event_hash = hashlib.sha256(document_bytes).hexdigest()
        signature = key.private_key.sign(audit_signature_message(event_hash)).hex()
        events.append(AuditEvent(**fields, event_hash=event_hash, signature=signature))
        for level, index, value in frontier.append(merkle.leaf_hash(document_bytes)):
            nodes.append(AuditTreeNode(key=merkle.node_key(level, index), hash=value.hex()))
        head.last_seq = fields["seq"]
        head.last_hash = event_hash
        if interval and head.last_seq % interval == 0:
            # Imported here: audit.checkpoints imports this module.
            from audit.checkpoints import checkpoint_create_locked

            head.tree_frontier = [value.hex() for value in frontier.hashes]
            checkpoint_create_locked(head=head, kind="interval")
    head.tree_frontier = [value.hex() for value in frontier.hashes]
    _write_batch(events, nodes, head)
    if extra:
        # The in-transaction caller gets its event back as a saved row, primary key included.
        ids = dict(AuditEvent.objects.filter(seq__gte=events[0].seq).values_list("seq", "pk"))
        for event in events:
            event.pk = ids[event.seq]
    return events


# The stored columns of an event, in the order the batch insert writes them (the verifier reads the same).
EVENT_COLUMNS = (
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


def _write_batch(events: list[AuditEvent], nodes: list[AuditTreeNode], head: AuditChainHead) -> None:
    """Insert a batch's events and tree nodes and move the head: three statements, plain SQL.

    The sequencer runs this once per batch on every append path; the ORM's per-statement cost
    was most of a small batch's time. Values are adapted by the backend's own operations, so the
    rows read back through the models exactly as if the ORM had written them.
    """
    connection = transaction.get_connection()
    ops = connection.ops
    event_sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608 (model's table)
        f"VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})"
    )
    event_rows = [
        (
            event.seq,
            ops.adapt_datetimefield_value(event.created_at),
            event.actor_id,
            event.actor_name,
            event.action,
            event.object_type,
            event.object_id,
            json.dumps(event.payload, ensure_ascii=False),
            event.prev_hash,
            event.event_hash,
            event.key_id,
            event.signature,
        )
        for event in events
    ]
    with connection.cursor() as cursor:
        cursor.executemany(event_sql, event_rows)
        if nodes:
            cursor.executemany(
                f"INSERT INTO {AuditTreeNode._meta.db_table} ({ops.quote_name('key')}, {ops.quote_name('hash')}) "  # noqa: S608
                "VALUES (%s, %s)",
                [(node.key, node.hash) for node in nodes],
            )
        cursor.execute(
            f"UPDATE {AuditChainHead._meta.db_table} "  # noqa: S608 (the model's own table name)
            "SET last_seq = %s, last_hash = %s, tree_frontier = %s WHERE id = %s",
            [head.last_seq, head.last_hash, json.dumps(head.tree_frontier), head.pk],
        )
    for event in events:
        event._state.adding = False
        event._state.db = connection.alias


def tree_frontier_of(head: AuditChainHead) -> merkle.Frontier:
    """The head's compact range as a ``Frontier`` (raises ``ValueError`` if it does not fit the size)."""
    return merkle.Frontier(head.last_seq, [bytes.fromhex(value) for value in head.tree_frontier or []])


def _actor_identity(actor: AbstractBaseUser | AnonymousUser | None) -> tuple[int | None, str]:
    if actor is None:
        return None, SYSTEM_ACTOR_NAME
    if not actor.is_authenticated:
        raise ValueError("audit actor must be an authenticated user, or None for the system")
    if not isinstance(actor.pk, int):
        raise ValueError(f"audit actor must have an integer primary key, got {actor.pk!r}")
    return actor.pk, actor.get_username()


def _storable_payload(payload: dict[str, Any] | None, *, action: str) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValueError(f"audit payload for {action} must be a dict, got {type(payload).__name__}")
    try:
        payload_check_storable(payload)
        # Store exactly what was hashed: tuples become lists, str/int enums their plain values.
        normalised: dict[str, Any] = json.loads(canonical_json_bytes(payload))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit payload for {action} is not storable JSON: {exc}") from exc
    return normalised
