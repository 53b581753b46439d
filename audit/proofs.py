"""Inclusion and consistency proofs (RFC 6962) from the stored full-subtree hashes.

Every proof is assembled from O(log n) stored nodes fetched with one query, so it costs the same for
a log of a thousand or a million events.
"""

from __future__ import annotations

from typing import Any

from audit import merkle
from audit.checkpoints import checkpoint_document
from audit.models import HEAD_PK, AuditChainHead, AuditCheckpoint, AuditTreeNode
from gateway.errors import GatewayError


class ProofError(GatewayError):
    """A proof was asked for something the log cannot prove (no such event, size or checkpoint)."""


def _fetch(keys: set[int]) -> dict[int, bytes]:
    return {
        key: bytes.fromhex(value)
        for key, value in AuditTreeNode.objects.filter(key__in=keys).values_list("key", "hash")
    }


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
    if tree_size is None:
        checkpoint = checkpoint_for(tree_size=seq, index=checkpoint_index)
        tree_size = checkpoint.tree_size
    if not 1 <= seq <= tree_size:
        raise ProofError(f"event {seq} is not in a tree of {tree_size} events (the log holds {_log_size()})")
    index = seq - 1
    ranges = [(index, index + 1), *merkle.inclusion_proof_ranges(index, tree_size), (0, tree_size)]
    try:
        # One query; a tree larger than the log lacks the nodes over its last leaf and lands here.
        hashes = merkle.resolve_ranges(ranges, _fetch)
    except LookupError:
        raise ProofError(
            f"event {seq} is not in a tree of {tree_size} events (the log holds {_log_size()})"
        ) from None
    return {
        "seq": seq,
        "leaf_index": index,
        "tree_size": tree_size,
        "leaf_hash": hashes[0].hex(),
        "audit_path": [value.hex() for value in hashes[1:-1]],
        "root_hash": hashes[-1].hex(),
        "checkpoint": checkpoint_document(checkpoint) if checkpoint is not None else None,
    }


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
