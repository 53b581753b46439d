"""Inclusion-proof latency in a 1,000,000-event log (target <= 10 ms).

Builds the log with bulk COPY in a throwaway PostgreSQL database (events + every full-subtree node,
ten signed checkpoints), then times ``audit_inclusion_proof`` for random events:
against an explicit tree size, and against the latest checkpoint (what the API and CLI do by
default: one query fetches the proof's O(log n) nodes and confirms the cached latest checkpoint).
Each sample is interleaved with the ORM baseline, the first version's code path (a checkpoint query
and a node query through the ORM), so both see the same machine load. A second baseline recomputes
a proof from all leaf hashes read from the database (what a log without stored subtrees must do).
Prints a JSON line last.

    .venv/bin/python bench/audit_proof.py [--events N] [--samples K]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from audit_common import bulk_build_log, drop_database, setup_django

DB = "issue6_bench_proof"


def percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)

    def rank(p: float) -> float:  # nearest-rank percentile
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(rank(0.95), 3),
        "p99": round(rank(0.99), 3),
        "max": round(ordered[-1], 3),
    }


def proof_orm_baseline(seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """The inclusion proof as the first version built it: the checkpoint and the nodes through the ORM."""
    from audit import merkle
    from audit.checkpoints import checkpoint_document
    from audit.models import AuditCheckpoint, AuditTreeNode

    checkpoint = None
    if tree_size is None:
        checkpoint = AuditCheckpoint.objects.order_by("-index").filter(tree_size__gte=seq).first()
        assert checkpoint is not None
        tree_size = checkpoint.tree_size
    index = seq - 1
    ranges = [(index, index + 1), *merkle.inclusion_proof_ranges(index, tree_size), (0, tree_size)]
    hashes = merkle.resolve_ranges(
        ranges,
        lambda keys: {
            key: bytes.fromhex(value)
            for key, value in AuditTreeNode.objects.filter(key__in=keys).values_list("key", "hash")
        },
    )
    return {
        "leaf_hash": hashes[0].hex(),
        "audit_path": [value.hex() for value in hashes[1:-1]],
        "root_hash": hashes[-1].hex(),
        "checkpoint": checkpoint_document(checkpoint) if checkpoint is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    setup_django(DB, "/tmp/var-issue6-bench")
    try:
        from audit import merkle
        from audit.models import AuditTreeNode
        from audit.proofs import audit_consistency_proof, audit_inclusion_proof

        # Ten checkpoints, the last over the whole log, so every event has one to be proved against.
        checkpoint_every = args.events // 10 if args.events % 10 == 0 else args.events
        built = bulk_build_log(args.events, sign=False, checkpoint_every=checkpoint_every)
        print(f"built {args.events} events in {built:.1f} s")
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        load_before = os.getloadavg()
        rng = random.Random(6)
        seqs = [rng.randint(1, args.events) for _ in range(args.samples)]
        variants: dict[str, Callable[[int], dict[str, Any]]] = {
            "tree_size": lambda seq: audit_inclusion_proof(seq=seq, tree_size=args.events),
            "checkpoint": lambda seq: audit_inclusion_proof(seq=seq),
            "orm_baseline_tree_size": lambda seq: proof_orm_baseline(seq, args.events),
            "orm_baseline_checkpoint": lambda seq: proof_orm_baseline(seq),
        }
        for seq in seqs[:20]:  # warm connections, caches and code paths before timing
            for prove in variants.values():
                prove(seq)
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for seq in seqs:
            for name, prove in variants.items():
                started = time.perf_counter()
                proof = prove(seq)
                timings[name].append((time.perf_counter() - started) * 1000)
                root = proof["checkpoint"]["root_hash"] if proof["checkpoint"] else proof["root_hash"]
                assert merkle.verify_inclusion(
                    seq - 1,
                    args.events,
                    bytes.fromhex(proof["leaf_hash"]),
                    [bytes.fromhex(h) for h in proof["audit_path"]],
                    bytes.fromhex(root),
                ), (name, seq)
        consistency = []
        for _ in range(50):
            first = rng.randint(1, args.events)
            started = time.perf_counter()
            audit_consistency_proof(first=first, second=args.events)
            consistency.append((time.perf_counter() - started) * 1000)
        load_after = os.getloadavg()
        # Baseline: read every leaf hash and build the proof from them (no stored subtrees).
        started = time.perf_counter()
        leaves = [
            bytes.fromhex(h)
            for h in AuditTreeNode.objects.filter(key__lt=1 << 48)
            .order_by("key")
            .values_list("hash", flat=True)
            .iterator(chunk_size=50_000)
        ]
        store = {}
        for level_start, (lo, hi) in enumerate(merkle.inclusion_proof_ranges(12345, len(leaves))):
            store[level_start] = merkle.root_from_leaves(leaves[lo:hi])
        baseline_ms = (time.perf_counter() - started) * 1000
        stats = {name: percentiles(values) for name, values in timings.items()}
        ours = stats["tree_size"]
        print(
            json.dumps(
                {
                    "bench": "audit_proof",
                    "events": args.events,
                    "samples": args.samples,
                    "inclusion_ms_median": ours["median"],
                    "inclusion_ms_p95": ours["p95"],
                    "inclusion_ms_p99": ours["p99"],
                    "inclusion_ms_max": ours["max"],
                    "latest_checkpoint_ms": stats["checkpoint"],
                    "orm_baseline_ms": stats["orm_baseline_tree_size"],
                    "orm_baseline_latest_checkpoint_ms": stats["orm_baseline_checkpoint"],
                    "consistency_ms_median": round(statistics.median(consistency), 3),
                    "baseline": "proof from all leaf hashes, no stored subtrees",
                    "baseline_ms": round(baseline_ms, 1),
                    "target_ms": 10,
                    "meets_target": all(stats[name]["p95"] <= 10 for name in ("tree_size", "checkpoint")),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after],
                    "machine": "shared 2-core machine, other engineers running tests",
                }
            )
        )
    finally:
        drop_database(DB)


if __name__ == "__main__":
    main()
