"""Prove the audit log is whole: every event present, unedited, linked, in the Merkle tree, and
vouched for by a chain of signed checkpoints."""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast

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
from audit.services import EVENT_COLUMNS, audit_event_canonical_bytes, audit_signature_message
from audit.signing import sm2_verify, verify_signature

# Events per fetch from the stream. A power of two, so a chunk's tree levels are mostly whole runs.
_CHUNK_SIZE = 16384
_MAX_SAFE_INTEGER = 2**53
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]
# Payload text with \u escapes or characters from U+E000 on takes the general encoder: object keys
# sort by UTF-16 code units, which differs from code-point order only there (and an escape could
# hide such a character). Everything else in the fast path is checked while decoding.
_NEEDS_GENERAL_ENCODER = re.compile("[\ue000-\U0010ffff]")

# seq, created_at (ISO text or datetime), actor_id, actor_name, action, object_type, object_id,
# payload (JSON text), prev_hash, event_hash, key_id, signature
_Row = tuple[int, Any, Any, str, str, str, str, Any, str, str, str, str]


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


class _NotPlain(Exception):
    """A float or non-finite constant in a payload: leave it to the general RFC 8785 encoder."""


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

    Problems are reported in log order: for each event, its own checks, then the tree nodes it
    completes, then the root of any checkpoint of exactly its size.
    """
    # Read the head first: every event it counts was committed before this point, so the stream
    # below must contain all of them. Events appended meanwhile may extend the stream or not.
    walk = _EventWalk(keys=_keys(), trusted_key_ids=trusted_key_ids, head_before=_head())
    checkpoints = list(AuditCheckpoint.objects.order_by("index"))
    problem = _check_checkpoint_chain(checkpoints, walk.keys, trusted_key_ids, walk.head_before)
    if problem is not None:
        return problem
    covered = max((cp.tree_size for cp in checkpoints), default=0)
    walk.signatures_from = 1 if all_signatures else covered + 1
    roots_due: dict[int, list[AuditCheckpoint]] = {}
    for cp in checkpoints:
        roots_due.setdefault(cp.tree_size, []).append(cp)
    if 0 in roots_due:
        for cp in roots_due.pop(0):
            if cp.root_hash != merkle.EMPTY_ROOT.hex():
                return _bad_cp(0, cp.index, f"checkpoint {cp.index}: root of the empty log is wrong")

    frontier = merkle.Frontier()
    # One ordered pass over the events (a server-side cursor on PostgreSQL), a chunk at a time.
    with transaction.atomic(), closing(_event_chunks(signatures_from=walk.signatures_from)) as chunks:
        for rows, stored_nodes in chunks:
            start_size = frontier.size
            earlier = dict(zip(merkle.full_subtrees(0, start_size), frontier.hashes, strict=True))
            leaves, event_problem = walk.check(rows)
            runs = frontier.extend(leaves)
            # Problems earlier in the log win: a node or checkpoint of event k before event k's successor.
            node_problem = _check_nodes(runs, stored_nodes)
            root_problem = _check_roots(roots_due, start_size, frontier.size, earlier, runs)
            found = [problem for problem in (node_problem, root_problem) if problem is not None]
            if found:
                return min(found, key=lambda problem: problem[0])[1]
            if event_problem is not None:
                return event_problem

    checked = last_seq = walk.expected_seq - 1
    if roots_due:
        size = min(roots_due)
        cp = roots_due[size][0]
        return _bad_cp(
            checked,
            cp.index,
            f"checkpoint {cp.index}: covers {size} events but the log ends at event {last_seq} (tail rows deleted?)",
        )
    head_before = walk.head_before
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
    if head_after[0] == last_seq and head_after[1] != walk.prev_hash:
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


class _EventWalk:
    """The per-event checks, carried from chunk to chunk: sequence, link, hash, key and signature."""

    def __init__(
        self,
        *,
        keys: dict[str, _Key],
        trusted_key_ids: Collection[str] | None,
        head_before: tuple[int, str, list[str], int, str] | None,
    ) -> None:
        self.keys = keys
        self.trusted_key_ids = trusted_key_ids
        self.head_before = head_before
        self.signatures_from = 1
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH

    def check(self, rows: Sequence[_Row]) -> tuple[list[bytes], ChainVerification | None]:
        """The leaf hashes of the events that pass, in order, and the first event that fails (if any)."""
        leaves: list[bytes] = []
        append = leaves.append
        sha256 = hashlib.sha256
        keys = self.keys
        trusted = self.trusted_key_ids
        signatures_from = self.signatures_from
        head_seq, head_hash = (self.head_before[0], self.head_before[1]) if self.head_before else (0, "")
        expected_seq = self.expected_seq
        prev_hash = self.prev_hash
        problem = None
        try:
            for row in rows:
                seq = row[0]
                stored_prev, event_hash, key_id, signature = row[8:]
                checked = expected_seq - 1
                if seq != expected_seq:
                    if seq > expected_seq:
                        gap = f"events {expected_seq}-{seq - 1} are" if seq - expected_seq > 1 else "the row is"
                        problem = _bad(checked, expected_seq, f"event {expected_seq}: missing, {gap} gone (deleted?)")
                    else:
                        problem = _bad(
                            checked, seq, f"event {seq}: unexpected sequence number, expected {expected_seq}"
                        )
                    break
                if stored_prev != prev_hash:
                    problem = _bad(checked, seq, f"event {seq}: prev_hash does not match the hash of event {seq - 1}")
                    break
                try:
                    data = _event_bytes(row)
                except (TypeError, ValueError) as exc:
                    problem = _bad(checked, seq, f"event {seq}: cannot be hashed ({exc}) (row edited?)")
                    break
                if sha256(data).hexdigest() != event_hash:
                    problem = _bad(checked, seq, f"event {seq}: hash mismatch (row edited?)")
                    break
                if trusted is not None and key_id not in trusted:
                    problem = _bad(checked, seq, f"event {seq}: signed with key {key_id!r}, which is not trusted")
                    break
                key = keys.get(key_id)
                if key is None:
                    # A key registered after the key table was read, by a concurrent first append.
                    keys = self.keys = _keys()
                    key = keys.get(key_id)
                if key is None:
                    problem = _bad(checked, seq, f"event {seq}: signed with unknown key {key_id!r}")
                    break
                if seq >= signatures_from and not verify_signature(
                    key.public_key_pem, signature, audit_signature_message(event_hash)
                ):
                    problem = _bad(
                        checked, seq, f"event {seq}: signature invalid under key {key_id} (forged or re-signed?)"
                    )
                    break
                if key.retired_at is not None and _created_datetime(row[1]) > key.retired_at:
                    problem = _bad(
                        checked,
                        seq,
                        f"event {seq}: signed with key {key_id} after it was retired at {key.retired_at.isoformat()}",
                    )
                    break
                if seq == head_seq and event_hash != head_hash:
                    problem = _bad(checked, seq, f"event {seq}: chain head records a different hash for this event")
                    break
                append(sha256(b"\x00" + data).digest())
                prev_hash = event_hash
                expected_seq = seq + 1
        finally:
            self.expected_seq = expected_seq
            self.prev_hash = prev_hash
        return leaves, problem


def _event_chunks(*, signatures_from: int) -> Generator[tuple[list[_Row], list[tuple[int, str]]]]:
    """Every event in ``seq`` order, ``_CHUNK_SIZE`` at a time, as plain tuples with the payload as JSON
    text; with each chunk, the stored tree nodes its events complete if they all pass (key order).

    On PostgreSQL the events come from one query through a server-side cursor (the index on ``seq``
    read once, whatever the planner's statistics say), with ``created_at`` formatted by the database
    exactly as the event document writes it and signatures only from event ``signatures_from`` on
    (the rest are not checked, and are a quarter of the bytes); the next chunk and its nodes are
    fetched in a thread while this one is checked, so the database works meanwhile instead of in
    turn (psycopg serialises the two cursors on the one connection). Elsewhere the ORM, with
    ``created_at`` a datetime. Neither decodes JSON through the ORM.
    """
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with (
            connection.chunked_cursor() as events,
            connection.cursor() as nodes,
            ThreadPoolExecutor(max_workers=1) as prefetch,
        ):
            events.execute(_POSTGRES_EVENTS_SQL.format(table=table), [signatures_from])

            def fetch(start: int) -> tuple[list[_Row], list[tuple[int, str]]]:
                rows = events.fetchmany(_CHUNK_SIZE)
                return rows, _stored_nodes(nodes, start, start + len(rows))

            start = 0
            pending = prefetch.submit(fetch, start)
            while (chunk := pending.result())[0]:
                start += len(chunk[0])
                pending = prefetch.submit(fetch, start)
                yield chunk
        return
    stream = (
        AuditEvent.objects.order_by("seq")
        .annotate(payload_text=Cast("payload", TextField()))
        .values_list(*("payload_text" if column == "payload" else column for column in EVENT_COLUMNS))
        .iterator(chunk_size=_CHUNK_SIZE)
    )
    start = 0
    with connection.cursor() as nodes:
        while rows := list(islice(stream, _CHUNK_SIZE)):
            yield rows, _stored_nodes(nodes, start, start + len(rows))
            start += len(rows)


def _stored_nodes(cursor: Any, start: int, end: int) -> list[tuple[int, str]]:
    """The stored tree nodes that appending leaves ``start..end-1`` completes, in key order: one query,
    a key range per level."""
    bounds = [
        bound
        for level, first, count in merkle.completed_ranges(start, end)
        for bound in (merkle.node_key(level, first), merkle.node_key(level, first + count - 1))
    ]
    if not bounds:
        return []
    table = connection.ops.quote_name(AuditTreeNode._meta.db_table)
    ranges = " OR ".join(['"key" BETWEEN %s AND %s'] * (len(bounds) // 2))
    cursor.execute(_NODES_SQL.format(table=table, ranges=ranges), bounds)
    return cursor.fetchall()


_NODES_SQL = 'SELECT "key", "hash" FROM {table} WHERE {ranges} ORDER BY "key"'


# isoformat() of the UTC datetime: whole seconds unless there is a fraction, then six digits.
_POSTGRES_EVENTS_SQL = """
SELECT seq,
       to_char(created_at AT TIME ZONE 'UTC',
               CASE WHEN date_trunc('second', created_at AT TIME ZONE 'UTC') = created_at AT TIME ZONE 'UTC'
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
                    ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END),
       actor_id, actor_name, action, object_type, object_id, payload::text,
       prev_hash, event_hash, key_id, CASE WHEN seq >= %s THEN signature END
FROM {table}
ORDER BY seq
"""


def _event_bytes(row: _Row) -> bytes:
    """RFC 8785 bytes of the event document a stored row stands for.

    Payloads made of strings, integers up to 15 digits, booleans, nulls, lists and objects (nearly
    all of them) are decoded and re-encoded by the C ``json`` module with sorted keys, which for
    those values is RFC 8785 exactly, and the top level is written in its fixed key order. Anything
    else, and anything that fails, goes through the general encoder, which raises as appends would.
    """
    seq, created_at, actor_id, actor_name, action, object_type, object_id, payload_text, prev_hash, _, key_id, _ = row
    if (
        created_at.__class__ is payload_text.__class__ is str
        and action.__class__ is actor_name.__class__ is key_id.__class__ is str
        and object_id.__class__ is object_type.__class__ is prev_hash.__class__ is str
        and seq.__class__ is int
        and 0 < seq <= _MAX_SAFE_INTEGER
        and (actor_id is None or (actor_id.__class__ is int and -_MAX_SAFE_INTEGER <= actor_id <= _MAX_SAFE_INTEGER))
        and "\\u" not in payload_text
        and (payload_text.isascii() or not _NEEDS_GENERAL_ENCODER.search(payload_text))
    ):
        try:
            payload, end = _scan_plain_json(payload_text, 0)
        except (_NotPlain, ValueError, StopIteration):
            payload = end = None
        if payload.__class__ is dict and end == len(payload_text):
            text = (
                f'{{"action":{_encode_string(action)},"actor_id":{"null" if actor_id is None else actor_id},'
                f'"actor_name":{_encode_string(actor_name)},"created_at":{_encode_string(created_at)},'
                f'"key_id":{_encode_string(key_id)},"object_id":{_encode_string(object_id)},'
                f'"object_type":{_encode_string(object_type)},"payload":{"".join(_encode_plain_json(payload, 0))},'
                f'"prev_hash":{_encode_string(prev_hash)},"seq":{seq}}}'
            )
            return text.encode("utf-8")
    return _event_bytes_general(row)


def _not_plain(_text: str) -> Any:
    raise _NotPlain


def _small_int(text: str) -> int:
    # Up to 15 digits is below 2**53, where RFC 8785 writes an integer as Python does.
    if len(text) > 15:
        raise _NotPlain
    return int(text)


# The scanner and encoder behind json.loads and json.dumps (C in CPython), built once: the scanner
# refuses floats, NaN, infinities and long integers; the encoder sorts keys and writes no spaces and
# no ASCII escapes. Each returns what ``_event_bytes`` joins: (value, end) and chunks of text.
_scan_plain_json = json.JSONDecoder(  # type: ignore[attr-defined]
    parse_float=_not_plain, parse_constant=_not_plain, parse_int=_small_int
).scan_once
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_plain_json = (
    _c_make_encoder(None, None, _encode_string, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else lambda value, _level: (json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True),)
)


def _event_bytes_general(row: _Row) -> bytes:
    """The same bytes the way appends compute them, raising what they raise for a row that has none."""
    seq, created_at, actor_id, actor_name, action, object_type, object_id, payload_text, prev_hash, _, key_id, _ = row
    return audit_event_canonical_bytes(
        seq=seq,
        created_at=_created_datetime(created_at),
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        payload=_decoded_payload(payload_text),
        prev_hash=prev_hash,
        key_id=key_id,
    )


def _decoded_payload(payload_text: Any) -> Any:
    """What the model's JSONField would return for this column value (text that is not JSON stays text)."""
    if payload_text is None:
        return None
    try:
        return json.loads(payload_text)
    except json.JSONDecodeError:
        return payload_text


def _created_datetime(created_at: Any) -> datetime:
    return datetime.fromisoformat(created_at) if isinstance(created_at, str) else created_at


def _check_nodes(
    runs: Sequence[merkle.CompletedRun], stored: Sequence[tuple[int, str]]
) -> tuple[int, ChainVerification] | None:
    """Compare the tree nodes these events completed with the stored ones (key order), a level at a time.

    Returns the first bad node as (sequence position, failure): the event that completed it, and
    lower levels first among nodes one event completes.
    """
    stored_keys = [key for key, _ in stored]
    first_bad: tuple[int, int, ChainVerification] | None = None
    for level, first, hashes in runs:
        low = merkle.node_key(level, first)
        high = low + len(hashes) - 1
        start = bisect_left(stored_keys, low)
        end = bisect_right(stored_keys, high, lo=start)
        expected = [value.hex() for value in hashes]
        found = [value for _, value in stored[start:end]]
        if found != expected or end - start != len(hashes):
            # Keys are unique, so equal counts mean every node is there; find the first bad one.
            by_key = dict(stored[start:end])
            for offset, value in enumerate(expected):
                got = by_key.get(low + offset)
                if got != value:
                    index = first + offset
                    seq = (index + 1) << level  # the event whose append completes this node
                    if first_bad is None or (seq, level) < first_bad[:2]:
                        what = "missing" if got is None else "wrong"
                        reason = f"event {seq}: tree node level {level} index {index} is {what}"
                        first_bad = (seq, level, _bad(seq - 1, seq, reason))
                    break
    return None if first_bad is None else (first_bad[0], first_bad[2])


def _check_roots(
    roots_due: dict[int, list[AuditCheckpoint]],
    start_size: int,
    end_size: int,
    earlier: dict[tuple[int, int], bytes],
    runs: Sequence[merkle.CompletedRun],
) -> tuple[float, ChainVerification] | None:
    """Check the root of every checkpoint whose size this chunk reached; pop them from ``roots_due``.

    A root is a fold of full subtrees: those completed in this chunk (``runs``) and, left of them,
    those of the frontier before it (``earlier``).
    """
    by_level = {level: (first, hashes) for level, first, hashes in runs}
    for size in sorted(size for size in roots_due if start_size < size <= end_size):
        parts = []
        for level, index in merkle.full_subtrees(0, size):
            first, hashes = by_level.get(level, (index + 1, []))
            parts.append(hashes[index - first] if index >= first else earlier[(level, index)])
        root = merkle.fold_subtrees(parts).hex()
        for cp in roots_due.pop(size):
            if root != cp.root_hash:
                reason = (
                    f"checkpoint {cp.index}: root does not match the first {size} events (events edited, "
                    "reordered or replaced since it was signed?)"
                )
                # After the nodes of the event that completes the tree, before the next event.
                return size + 0.5, _bad_cp(size - 1, cp.index, reason)
    return None


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
