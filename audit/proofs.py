"""Inclusion and consistency proofs (RFC 6962) from the stored full-subtree hashes.

Every proof is assembled from O(log n) stored nodes fetched with one query, so it costs the same for
a log of a thousand or a million events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from django.db import connection

from audit import merkle
from audit.checkpoints import checkpoint_document
from audit.models import HEAD_PK, AuditChainHead, AuditCheckpoint, AuditTreeNode
from gateway.errors import GatewayError


class ProofError(GatewayError):
    """A proof was asked for something the log cannot prove (no such event, size or checkpoint)."""


# The latest checkpoint seen, as (index, checkpoint_hash) -> row. Checkpoints never change once
# written, so a proof against the latest one needs only its index and hash confirmed, and that
# rides along with the tree-node query: one round trip per proof (see _fetch_nodes).
_latest_checkpoint: dict[tuple[int, str], AuditCheckpoint] = {}


# Table and column names come from the models; every value is a bound parameter.
_NODES_SQL = 'SELECT "key", "hash" FROM {table} WHERE "key" IN ({placeholders})'
# Node keys are never negative, so the checkpoint's row is told apart by its key, -1 - index.
_LATEST_CHECKPOINT_SQL = (
    "SELECT -1 - latest.{index}, latest.checkpoint_hash "
    "FROM (SELECT {index}, checkpoint_hash FROM {table} ORDER BY {index} DESC LIMIT 1) latest"
)


def _fetch_nodes(keys: Collection[int], *, with_latest_checkpoint: bool = False) -> tuple[dict[int, bytes], Any]:
    """The stored hashes of these tree nodes, in one query; with the latest checkpoint's
    ``(index, checkpoint_hash)`` from the same query when asked (``None`` when there is none)."""
    quote = connection.ops.quote_name
    parts, params = [], list(keys)
    if params:
        placeholders = ", ".join(["%s"] * len(params))
        parts.append(_NODES_SQL.format(table=quote(AuditTreeNode._meta.db_table), placeholders=placeholders))
    if with_latest_checkpoint:
        parts.append(_LATEST_CHECKPOINT_SQL.format(table=quote(AuditCheckpoint._meta.db_table), index=quote("index")))
    if not parts:
        return {}, None
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    nodes: dict[int, bytes] = {}
    latest = None
    for key, value in rows:
        if key < 0:
            latest = (-1 - key, value)
        else:
            nodes[key] = bytes.fromhex(value)
    return nodes, latest


def _fetch(keys: set[int]) -> dict[int, bytes]:
    return _fetch_nodes(keys)[0]


def _log_size() -> int:
    return AuditChainHead.objects.filter(pk=HEAD_PK).values_list("last_seq", flat=True).first() or 0


def tree_root(*, tree_size: int) -> bytes:
    """The RFC 6962 root of the first ``tree_size`` events."""
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    return merkle.resolve_ranges([(0, tree_size)], _fetch)[0]


def checkpoint_for(*, tree_size: int | None = None, index: int | None = None) -> AuditCheckpoint:
    """The checkpoint with this index, or the latest one covering ``tree_size`` events, or the latest."""
    checkpoints = AuditCheckpoint.objects.order_by("-index")
    if index is not None:
        found = checkpoints.filter(index=index).first()
    elif tree_size is not None:
        found = checkpoints.filter(tree_size__gte=tree_size).first()
    else:
        found = checkpoints.first()
    if found is None:
        raise ProofError("no checkpoint covers that part of the log yet; make one with `audit_checkpoint`")
    return found


def audit_inclusion_proof(
    *, seq: int, tree_size: int | None = None, checkpoint_index: int | None = None
) -> dict[str, Any]:
    """Prove event ``seq`` is in the tree of ``tree_size`` events (default: the latest checkpoint
    covering it). Raises ``ProofError`` for an event or size the log does not hold."""
    checkpoint = None
    found: dict[int, bytes] | None = None
    if tree_size is None and checkpoint_index is not None:
        checkpoint = checkpoint_for(tree_size=seq, index=checkpoint_index)
        tree_size = checkpoint.tree_size
    elif tree_size is None:
        checkpoint, found = _latest_checkpoint_and_nodes(seq)
        tree_size = checkpoint.tree_size
    if not 1 <= seq <= tree_size:
        raise ProofError(f"event {seq} is not in a tree of {tree_size} events (the log holds {_log_size()})")
    index = seq - 1
    ranges = _inclusion_ranges(index, tree_size)
    try:
        # One query; a tree larger than the log lacks the nodes over its last leaf and lands here.
        hashes = merkle.resolve_ranges(ranges, _fetch if found is None else _already(found))
    except LookupError:
        raise ProofError(f"event {seq} is not in a tree of {tree_size} events (the log holds {_log_size()})") from None
    return {
        "seq": seq,
        "leaf_index": index,
        "tree_size": tree_size,
        "leaf_hash": hashes[0].hex(),
        "audit_path": [value.hex() for value in hashes[1:-1]],
        "root_hash": hashes[-1].hex(),
        "checkpoint": checkpoint_document(checkpoint) if checkpoint is not None else None,
    }


def _already(found: dict[int, bytes]) -> Callable[[set[int]], dict[int, bytes]]:
    return lambda _keys: found


def _inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf, PATH(index, D[tree_size]) and the root, as leaf ranges."""
    return [(index, index + 1), *merkle.inclusion_proof_ranges(index, tree_size), (0, tree_size)]


def _latest_checkpoint_and_nodes(seq: int) -> tuple[AuditCheckpoint, dict[int, bytes] | None]:
    """The latest checkpoint, which must cover event ``seq``, and, when the one seen last is still
    the latest, the tree nodes of the proof against it, fetched in the same query."""
    cached = next(iter(_latest_checkpoint.items()), None)
    keys: set[int] = set()
    if cached is not None and 1 <= seq <= cached[1].tree_size:
        keys = merkle.ranges_node_keys(_inclusion_ranges(seq - 1, cached[1].tree_size))
    nodes, latest = _fetch_nodes(keys, with_latest_checkpoint=True)
    if latest is None:
        raise ProofError("no checkpoint covers that part of the log yet; make one with `audit_checkpoint`")
    if cached is not None and cached[0] == latest:
        checkpoint = cached[1]
    else:
        checkpoint = checkpoint_for(index=latest[0])
        _latest_checkpoint.clear()
        _latest_checkpoint[(checkpoint.index, checkpoint.checkpoint_hash)] = checkpoint
        nodes, keys = {}, set()
    if checkpoint.tree_size < seq:
        raise ProofError("no checkpoint covers that part of the log yet; make one with `audit_checkpoint`")
    return checkpoint, nodes if keys else None


def audit_consistency_proof(*, first: int, second: int) -> dict[str, Any]:
    """Prove the tree of ``second`` events extends the tree of ``first`` events."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from {first} to {second} events (the log holds {_log_size()})")
    ranges = [(0, first), (0, second), *merkle.consistency_proof_ranges(first, second)]
    try:
        hashes = merkle.resolve_ranges(ranges, _fetch)
    except LookupError:
        raise ProofError(
            f"no consistency proof from {first} to {second} events (the log holds {_log_size()})"
        ) from None
    return {
        "first": first,
        "second": second,
        "first_root": hashes[0].hex(),
        "second_root": hashes[1].hex(),
        "proof": [value.hex() for value in hashes[2:]],
    }
