"""RFC 6962 / RFC 9162 Merkle tree arithmetic, pure and database-free.

Leaves are numbered from 0. ``leaf_hash(data) = SHA-256(0x00 || data)`` and
``node_hash(l, r) = SHA-256(0x01 || l || r)``. The log stores the hash of every *full* subtree
(aligned, power-of-two width) once it is complete; any tree head or proof is then a combination of
at most O(log n) stored nodes. A node is addressed by ``(level, index)``: it covers leaves
``[index * 2**level, (index + 1) * 2**level)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
# Full subtrees completed by ``Frontier.extend``: (level, index of the first, their hashes in order).
CompletedRun = tuple[int, int, list[bytes]]
_KEY_SHIFT = 48  # a node's storage key is level << 48 | index: one integer column, one IN query


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def node_key(level: int, index: int) -> int:
    return (level << _KEY_SHIFT) | index


def node_from_key(key: int) -> tuple[int, int]:
    return key >> _KEY_SHIFT, key & ((1 << _KEY_SHIFT) - 1)


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def full_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The full subtrees, left to right, whose hashes combine into MTH(leaves[start:end]).

    Valid for the ranges RFC 6962 proofs and tree heads ask about (``start`` aligned to the width of
    the tree it is cut from); returns ``(level, index)`` pairs.
    """
    nodes: list[tuple[int, int]] = []
    while start < end:
        width = end - start
        # The largest aligned power of two that starts at ``start`` and fits.
        level = width.bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine full-subtree hashes (largest first) into the RFC 6962 root of their range."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for value in reversed(hashes[:-1]):
        root = node_hash(value, root)
    return root


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[size]) (RFC 6962 section 2.1.1), leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start = start + k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(old_size, D[new_size]) (RFC 6962 section 2.1.2)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            return
        k = _largest_power_of_two_below(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            ranges.append((start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            ranges.append((start, start + k))

    if old_size < new_size:
        subproof(old_size, 0, new_size, True)
    return ranges


def completed_ranges(start: int, end: int) -> list[tuple[int, int, int]]:
    """``(level, first index, count)`` of the full subtrees that appending leaves ``start..end-1``
    completes: the runs ``Frontier.extend`` returns, without hashing anything."""
    ranges = []
    level = 0
    while end >> level:
        count = (end >> level) - (start >> level)
        if count:
            ranges.append((level, start >> level, count))
        level += 1
    return ranges


def ranges_node_keys(ranges: Iterable[tuple[int, int]]) -> set[int]:
    """The keys of the stored full subtrees ``resolve_ranges`` needs for these ranges."""
    return {node_key(level, index) for start, end in ranges for level, index in full_subtrees(start, end)}


def resolve_ranges(ranges: Iterable[tuple[int, int]], fetch: Callable[[set[int]], dict[int, bytes]]) -> list[bytes]:
    """MTH of each range, fetching every needed full-subtree hash with one ``fetch(keys)`` call."""
    plans = [full_subtrees(start, end) for start, end in ranges]
    wanted = {node_key(level, index) for plan in plans for level, index in plan}
    found = fetch(wanted) if wanted else {}
    missing = wanted - found.keys()
    if missing:
        level, index = node_from_key(min(missing))
        raise LookupError(f"tree node level {level} index {index} is missing from the log")
    return [fold_subtrees([found[node_key(level, index)] for level, index in plan]) for plan in plans]


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reference MTH over leaf hashes (RFC 6962 definition, recursive); for tests and small trees."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _largest_power_of_two_below(len(leaves))
    return node_hash(root_from_leaves(leaves[:k]), root_from_leaves(leaves[k:]))


class Frontier:
    """The compact range [0, size): hashes of the full subtrees of the binary decomposition of size.

    ``append`` returns the full subtrees it completed (the new leaf included), so the caller can store
    them; it costs O(log n) hashes.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        completed = [(0, self.size, leaf)]
        value, level, index = leaf, 0, self.size
        while (index & 1) == 1:
            value = node_hash(self.hashes.pop(), value)
            level += 1
            index >>= 1
            completed.append((level, index, value))
        self.hashes.append(value)
        self.size += 1
        return completed

    def extend(self, leaves: Sequence[bytes]) -> list[CompletedRun]:
        """Append many leaves at once, hashing level by level; return the full subtrees completed.

        The same nodes as ``append`` per leaf, grouped per level (lowest first) as runs of consecutive
        indices: ``(level, first index, hashes)``. Hashing a whole level in one comprehension is what
        makes verifying a long log fast.
        """
        runs: list[CompletedRun] = []
        leftovers: list[bytes] = []
        sha256 = hashlib.sha256
        nodes = list(leaves)
        start = self.size
        level = 0
        while nodes:
            runs.append((level, start, nodes))
            if start & 1:
                # The left sibling of the first node is the frontier's entry at this level.
                nodes = [self.hashes.pop(), *nodes]
                start -= 1
            if len(nodes) & 1:
                leftovers.append(nodes[-1])
            nodes = [
                sha256(b"\x01" + left + right).digest() for left, right in zip(nodes[0::2], nodes[1::2], strict=False)
            ]
            start >>= 1
            level += 1
        self.hashes.extend(reversed(leftovers))
        self.size += len(leaves)
        return runs

    def root(self) -> bytes:
        return fold_subtrees(self.hashes)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
