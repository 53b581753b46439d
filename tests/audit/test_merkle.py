"""RFC 6962 arithmetic: roots, inclusion and consistency proofs, and the attacks proof verifiers must refuse."""

from __future__ import annotations

import hashlib

import pytest

from audit import merkle
from audit.verifier import verify_bundle

LEAVES = [merkle.leaf_hash(f"event {i}".encode()) for i in range(40)]


def _store(n: int) -> dict[int, bytes]:
    store: dict[int, bytes] = {}
    frontier = merkle.Frontier()
    for leaf in LEAVES[:n]:
        for level, index, value in frontier.append(leaf):
            store[merkle.node_key(level, index)] = value
    return store


STORE = _store(40)


def fetch(keys: set[int]) -> dict[int, bytes]:
    return {key: STORE[key] for key in keys if key in STORE}


def inclusion(index: int, size: int) -> list[bytes]:
    return merkle.resolve_ranges(merkle.inclusion_proof_ranges(index, size), fetch)


def consistency(m: int, n: int) -> list[bytes]:
    return merkle.resolve_ranges(merkle.consistency_proof_ranges(m, n), fetch)


def test_hashes_use_the_rfc_6962_domain_separation() -> None:
    assert merkle.leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_frontier_root_and_stored_nodes_match_the_recursive_definition() -> None:
    frontier = merkle.Frontier()
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root() == merkle.root_from_leaves(LEAVES[:n]) == verify_bundle.merkle_root(LEAVES[:n])
        assert merkle.resolve_ranges([(0, n)], fetch)[0] == frontier.root()
    assert len(frontier.hashes) == bin(40).count("1") == 2


def test_every_inclusion_and_consistency_proof_verifies() -> None:
    for n in range(1, 41):
        root = merkle.root_from_leaves(LEAVES[:n])
        for i in range(n):
            proof = inclusion(i, n)
            assert merkle.verify_inclusion(i, n, LEAVES[i], proof, root)
            assert verify_bundle.verify_inclusion(i, n, LEAVES[i], proof, root)
        for m in range(1, n + 1):
            assert merkle.verify_consistency(m, n, merkle.root_from_leaves(LEAVES[:m]), root, consistency(m, n))


def test_known_proof_shape_for_leaf_5_of_7() -> None:
    # RFC 6962 2.1.3 example: the path for d in the 7-leaf tree is [c, g, i]-like; here leaf 5 -> [4, 6, (0..4)]
    assert merkle.inclusion_proof_ranges(5, 7) == [(4, 5), (6, 7), (0, 4)]
    assert merkle.consistency_proof_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]
    assert merkle.consistency_proof_ranges(4, 7) == [(4, 7)]


INCLUSION_ATTACKS = {
    "flipped bit in proof": lambda i, n, leaf, proof, root: (
        i,
        n,
        leaf,
        [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]],
        root,
    ),
    "flipped bit in leaf": lambda i, n, leaf, proof, root: (i, n, bytes([leaf[0] ^ 1]) + leaf[1:], proof, root),
    "wrong index": lambda i, n, leaf, proof, root: (i + 1, n, leaf, proof, root),
    "wrong size": lambda i, n, leaf, proof, root: (i, n * 2, leaf, proof, root),
    "truncated proof": lambda i, n, leaf, proof, root: (i, n, leaf, proof[:-1], root),
    "extended proof": lambda i, n, leaf, proof, root: (i, n, leaf, [*proof, proof[-1]], root),
    "reordered proof": lambda i, n, leaf, proof, root: (i, n, leaf, proof[::-1], root),
    "swapped root": lambda i, n, leaf, proof, root: (i, n, leaf, proof, merkle.root_from_leaves(LEAVES[: n - 1])),
    "index out of range": lambda i, n, leaf, proof, root: (n, n, leaf, proof, root),
}


@pytest.mark.parametrize("attack", sorted(INCLUSION_ATTACKS))
def test_inclusion_attacks_are_refused_by_both_verifiers(attack: str) -> None:
    i, n = 5, 23
    root = merkle.root_from_leaves(LEAVES[:n])
    args = INCLUSION_ATTACKS[attack](i, n, LEAVES[i], inclusion(i, n), root)
    assert merkle.verify_inclusion(*args) is False
    assert verify_bundle.verify_inclusion(*args) is False


CONSISTENCY_ATTACKS = {
    "flipped bit": lambda m, n, a, b, p: (m, n, a, b, [bytes([p[0][0] ^ 0x80]) + p[0][1:], *p[1:]]),
    "truncated": lambda m, n, a, b, p: (m, n, a, b, p[:-1]),
    "extended": lambda m, n, a, b, p: (m, n, a, b, [*p, p[0]]),
    "reordered": lambda m, n, a, b, p: (m, n, a, b, p[::-1]),
    "swapped roots": lambda m, n, a, b, p: (m, n, b, a, p),
    "wrong old size": lambda m, n, a, b, p: (m + 1, n, a, b, p),
    "wrong new size": lambda m, n, a, b, p: (m, n * 2, a, b, p),
    "old root of another log": lambda m, n, a, b, p: (m, n, merkle.leaf_hash(b"x"), b, p),
    "rolled back (new smaller than old)": lambda m, n, a, b, p: (n, m, b, a, p),
}


@pytest.mark.parametrize("attack", sorted(CONSISTENCY_ATTACKS))
def test_consistency_attacks_are_refused(attack: str) -> None:
    m, n = 11, 29
    args = CONSISTENCY_ATTACKS[attack](
        m, n, merkle.root_from_leaves(LEAVES[:m]), merkle.root_from_leaves(LEAVES[:n]), consistency(m, n)
    )
    assert merkle.verify_consistency(*args) is False


def test_missing_node_is_reported_not_guessed() -> None:
    with pytest.raises(LookupError, match="tree node level 0 index 3 is missing"):
        merkle.resolve_ranges([(3, 4)], lambda keys: {})


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 8, 13, 40])
def test_extend_completes_the_same_nodes_as_append_from_any_start_and_says_which(batch: int) -> None:
    for start in range(0, 17):
        one_by_one, bulk = merkle.Frontier(), merkle.Frontier()
        for leaf in LEAVES[:start]:
            one_by_one.append(leaf)
            bulk.append(leaf)
        expected: set[tuple[int, int, bytes]] = set()
        got: set[tuple[int, int, bytes]] = set()
        for offset in range(start, len(LEAVES), batch):
            leaves = LEAVES[offset : offset + batch]
            for leaf in leaves:
                expected.update(one_by_one.append(leaf))
            runs = bulk.extend(leaves)
            assert [(level, first, len(hashes)) for level, first, hashes in runs] == merkle.completed_ranges(
                offset, offset + len(leaves)
            )
            for level, first, hashes in runs:
                assert hashes, "a run is never empty"
                got.update((level, first + i, value) for i, value in enumerate(hashes))
            assert (bulk.size, bulk.hashes) == (one_by_one.size, one_by_one.hashes)
        assert got == expected
        assert {merkle.node_key(level, index): value for level, index, value in got}.items() <= STORE.items()


def test_extend_with_nothing_changes_nothing() -> None:
    frontier = merkle.Frontier()
    frontier.extend(LEAVES[:5])
    assert frontier.extend([]) == [] and frontier.size == 5 and frontier.root() == merkle.root_from_leaves(LEAVES[:5])


def test_ranges_node_keys_are_what_resolve_ranges_fetches() -> None:
    ranges = [(5, 6), *merkle.inclusion_proof_ranges(5, 23), (0, 23)]
    asked: list[set[int]] = []
    merkle.resolve_ranges(ranges, lambda keys: asked.append(set(keys)) or fetch(keys))
    assert asked == [merkle.ranges_node_keys(ranges)]
