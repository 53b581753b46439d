"""Duplicate gate: exact (normalised hash) and near duplicates (MinHash LSH), in the set and against earlier releases.

Shingles are token 3-grams from ``text.tokens``: character 3-grams for Chinese, word 3-grams for
English. Signatures are computed for the whole batch at once with numpy (datasketch's legacy
permutation scheme, so they are ordinary ``LeanMinHash`` objects) and indexed in a datasketch
``MinHashLSH``. An LSH candidate counts as a near duplicate only when the Jaccard similarity of
the two shingle sets, computed exactly, reaches the threshold (the LSH itself is tuned 0.1 lower
so that borderline pairs are not lost to banding or signature noise). The later record of a pair
is flagged; earlier released records are indexed first, so a record repeating one of them is
always flagged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from .text import tokens
from .types import GateOutcome, QualityItem, rate_outcome

NAME = "duplicate"
NUM_PERM = 64
SHINGLE = 3
_SEED = 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)


@dataclass(frozen=True)
class PriorText:
    """A record of an earlier released dataset: where it came from and its text."""

    dataset_id: int
    record_id: str
    text: str


def shingle_hashes(token_lists: Sequence[list[str]], *, n: int = SHINGLE) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every record's token n-grams, concatenated, and each record's [start, end) bounds.

    A record with fewer than ``n`` tokens has no shingles (an empty range).
    """
    vocab: dict[str, int] = {}
    ids: list[int] = []
    starts = np.zeros(len(token_lists) + 1, dtype=np.int64)
    for i, toks in enumerate(token_lists):
        ids.extend(vocab.setdefault(t, len(vocab) + 1) for t in toks)
        starts[i + 1] = len(ids)
    all_ids = np.asarray(ids, dtype=np.uint64)
    lengths = np.diff(starts)
    # Shingle i of record r covers tokens [i, i+n): combine ids with odd multipliers (wrapping uint64).
    total = len(all_ids)
    if total >= n:
        h = np.zeros(total - n + 1, dtype=np.uint64)
        for k, mult in enumerate((0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)[:n]):
            h = h * np.uint64(31) + all_ids[k : total - n + 1 + k] * np.uint64(mult)
    else:
        h = np.zeros(0, dtype=np.uint64)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    # A shingle belongs to record r if it starts in r and ends in r.
    valid_starts, bounds = [], [0]
    for r in range(len(token_lists)):
        s, length = int(starts[r]), int(lengths[r])
        if length >= n:
            valid_starts.append(np.arange(s, s + length - n + 1))
        bounds.append(bounds[-1] + (length - n + 1 if length >= n else 0))
    index = np.concatenate(valid_starts) if valid_starts else np.zeros(0, dtype=np.int64)
    return (h[index] if len(index) else np.zeros(0, dtype=np.uint64)), np.asarray(bounds, dtype=np.int64)


def signatures(
    texts: Sequence[str], *, num_perm: int = NUM_PERM, n: int = SHINGLE, token_lists: Sequence[list[str]] | None = None,
    shingles: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(len(texts), num_perm) MinHash signatures; a text too short for one shingle hashes its whole text."""
    token_lists = token_lists if token_lists is not None else [tokens(t) for t in texts]
    hashes, bounds = shingles if shingles is not None else shingle_hashes(token_lists, n=n)
    shingle_hash = hashes >> np.uint64(32)  # the well-mixed top 32 bits, as datasketch's 32-bit hash space
    perms = MinHash(num_perm=num_perm, seed=_SEED, scheme="legacy").permutations
    sig = np.full((len(texts), num_perm), _MAX32, dtype=np.uint64)
    nonempty = np.flatnonzero(np.diff(bounds) > 0)
    if len(shingle_hash):
        offsets = bounds[nonempty]
        for p in range(num_perm):
            a, b = perms[0][p], perms[1][p]
            permuted = ((a * shingle_hash + b) % _MERSENNE) & _MAX32
            sig[nonempty, p] = np.minimum.reduceat(permuted, offsets)
    for r in range(len(texts)):
        if bounds[r + 1] == bounds[r] and token_lists[r]:
            whole = hashlib.blake2b(" ".join(token_lists[r]).encode(), digest_size=4).digest()
            digest = int.from_bytes(whole, "little")
            sig[r] = ((perms[0] * np.uint64(digest) + perms[1]) % _MERSENNE) & _MAX32
    return sig


def _exact_key(toks: list[str]) -> str:
    """Hash of the normalised text: NFKC, lower case, punctuation and spacing dropped (see ``text.tokens``)."""
    return hashlib.blake2b(" ".join(toks).encode(), digest_size=16).hexdigest()


FEW_CANDIDATES = 16


class _ShingleSets:
    """Every record's distinct shingle hashes, sorted, in one flat array (``starts`` and ``sizes`` per record)."""

    def __init__(self, hashes: np.ndarray, bounds: np.ndarray) -> None:
        rows = [np.unique(hashes[bounds[r]:bounds[r + 1]]) for r in range(len(bounds) - 1)]
        self.sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)
        self.flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.uint64)
        self._sets: dict[int, frozenset[int]] = {}

    def _set(self, row: int) -> frozenset[int]:
        found = self._sets.get(row)
        if found is None:
            start = self.starts[row]
            found = self._sets[row] = frozenset(self.flat[start:start + self.sizes[row]].tolist())
        return found

    def closest(self, row: int, candidates: Sequence[int], jaccard: float) -> tuple[int, float] | None:
        """The candidate whose exact shingle Jaccard with ``row`` is highest and reaches ``jaccard`` (the first
        such in candidate order on a tie), with that Jaccard; None if there is none. All candidates at once:
        templated data (one phrasing, other details) makes a record a candidate of hundreds of others.
        """
        if not candidates or not self.sizes[row]:
            return None
        if len(candidates) <= FEW_CANDIDATES:  # the usual case: Python sets cost less than setting up numpy
            mine_set, best_row, best_j = self._set(row), -1, 0.0
            for candidate in candidates:
                theirs_set = self._set(candidate)
                common = len(mine_set & theirs_set)
                score = common / (len(mine_set) + len(theirs_set) - common)  # mine is not empty
                if score > best_j:
                    best_row, best_j = candidate, score
            return (best_row, best_j) if best_row >= 0 and best_j >= jaccard else None
        mine = self.flat[self.starts[row]:self.starts[row] + self.sizes[row]]
        rows = np.asarray(candidates, dtype=np.int64)
        rows = rows[self.sizes[rows] > 0]
        if not len(rows):
            return None
        sizes = self.sizes[rows]
        ends = np.cumsum(sizes)
        # The candidates' shingles laid end to end: position k of candidate j is flat[starts[j] + k].
        theirs = self.flat[np.arange(ends[-1]) + np.repeat(self.starts[rows] - (ends - sizes), sizes)]
        at = np.minimum(np.searchsorted(mine, theirs), len(mine) - 1)
        shared = np.add.reduceat((mine[at] == theirs).astype(np.int64), ends - sizes)
        scores = shared / (len(mine) + sizes - shared)
        best = int(np.argmax(scores))
        return (int(rows[best]), float(scores[best])) if scores[best] >= jaccard else None


def duplicate_gate(
    items: Sequence[QualityItem],
    *,
    max_rate: float,
    jaccard: float,
    prior: Iterable[PriorText] = (),
) -> GateOutcome:
    prior = list(prior)
    outcome = GateOutcome(NAME, True, 0.0, max_rate, "", drop=True)
    exact_seen: dict[str, str] = {}
    texts = [p.text for p in prior] + [item.text for item in items]
    token_lists = [tokens(t) for t in texts]
    for j, p in enumerate(prior):
        exact_seen.setdefault(_exact_key(token_lists[j]), f"dataset {p.dataset_id} record {p.record_id}")
    hashes, bounds = shingle_hashes(token_lists)
    sig = signatures(texts, token_lists=token_lists, shingles=(hashes, bounds))
    # The index casts a wider net than the verdict; candidates are confirmed on their exact shingle Jaccard
    # (64-bit shingle hashes: a collision between two different shingles is a 2^-64 event).
    lsh = MinHashLSH(threshold=max(0.3, jaccard - 0.1), num_perm=NUM_PERM)
    shingle_sets = _ShingleSets(hashes, bounds)

    labels = [f"dataset {p.dataset_id} record {p.record_id}" for p in prior]
    for j in range(len(prior)):
        lsh.insert(j, LeanMinHash(seed=_SEED, hashvalues=sig[j], scheme="legacy"), check_duplication=False)
    exact = near = against_prior = 0
    for i, item in enumerate(items):
        row = len(prior) + i
        key = _exact_key(token_lists[row])
        earlier = exact_seen.get(key)
        if earlier is not None:
            exact += 1
            against_prior += earlier.startswith("dataset ")
            outcome.flag(item.id, f"exact duplicate of {earlier}", item.text[:120])
            continue
        exact_seen[key] = f"record {item.id}"
        lean = LeanMinHash(seed=_SEED, hashvalues=sig[row], scheme="legacy")
        best = shingle_sets.closest(row, lsh.query(lean), jaccard)
        if best is not None:
            candidate, best_j = best
            near += 1
            source = labels[candidate] if candidate < len(prior) else f"record {items[candidate - len(prior)].id}"
            against_prior += candidate < len(prior)
            outcome.flag(item.id, f"near duplicate of {source} (shingle Jaccard {best_j:.2f})", item.text[:120])
            continue
        lsh.insert(row, lean, check_duplication=False)
    result = rate_outcome(NAME, flagged=exact + near, total=len(items), max_rate=max_rate,
                          what="duplicate another record or an earlier release", drop=True)
    result.flags = outcome.flags
    result.metrics = {"exact": exact, "near": near, "against_earlier_releases": against_prior,
                      "earlier_records_indexed": len(prior), "jaccard_threshold": jaccard, "num_perm": NUM_PERM}
    return result
