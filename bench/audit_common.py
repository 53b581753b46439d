"""Shared set-up for the audit benchmarks: a throwaway database and a fast bulk log builder."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def setup_django(db_name: str | None, var_dir: str) -> None:
    """Point Django at a fresh PostgreSQL database ``db_name`` (or SQLite under var_dir) and migrate."""
    sys.path.insert(0, str(ROOT))
    os.environ["GATEWAY_VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    if db_name:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
        os.environ["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
    else:
        Path(var_dir).mkdir(parents=True, exist_ok=True)
        db = Path(var_dir) / "bench.sqlite3"
        db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database(db_name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def bulk_build_log(n: int, *, sign: bool = True, checkpoint_every: int = 1000) -> float:
    """Write ``n`` valid events, their tree nodes, head row and signed checkpoints with COPY / bulk
    inserts (the same hashing as ``audit_event_append``, without a transaction per event). Returns
    seconds taken."""
    from django.db import connection

    from audit import merkle
    from audit.canonical import canonical_json_bytes
    from audit.checkpoints import checkpoint_body, checkpoint_hash_of
    from audit.models import GENESIS_HASH, AuditChainHead
    from audit.services import audit_event_canonical_bytes
    from audit.signing import ensure_public_key_registered, signing_key

    started = time.perf_counter()
    key = signing_key()
    ensure_public_key_registered()
    frontier = merkle.Frontier()
    prev = GENESIS_HASH
    prev_cp = GENESIS_HASH
    cp_index = 0
    base = datetime(2026, 1, 1, tzinfo=UTC)
    events, nodes, checkpoints = [], [], []
    import json

    def flush() -> None:
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                "COPY audit_auditevent (seq, created_at, actor_id, actor_name, action, object_type, object_id, "
                "payload, prev_hash, event_hash, key_id, signature) FROM STDIN"
            ) as copy:
                for row in events:
                    copy.write_row(row)
            with raw.copy("COPY audit_audittreenode (key, hash) FROM STDIN") as copy:
                for row in nodes:
                    copy.write_row(row)
        events.clear()
        nodes.clear()

    for seq in range(1, n + 1):
        created = base + timedelta(seconds=seq // 50)
        payload = {"request_id": seq % 97, "slot": seq, "sha256": hashlib.sha256(str(seq).encode()).hexdigest()}
        data = audit_event_canonical_bytes(
            seq=seq,
            created_at=created,
            actor_id=None,
            actor_name="system",
            action="record.create",
            object_type="record",
            object_id=str(seq),
            payload=payload,
            prev_hash=prev,
            key_id=key.key_id,
        )
        event_hash = hashlib.sha256(data).hexdigest()
        signature = key.private_key.sign(event_hash.encode()).hex() if sign else "00" * 64
        events.append(
            (
                seq,
                created,
                None,
                "system",
                "record.create",
                "record",
                str(seq),
                json.dumps(payload),
                prev,
                event_hash,
                key.key_id,
                signature,
            )
        )
        for level, index, value in frontier.append(merkle.leaf_hash(data)):
            nodes.append((merkle.node_key(level, index), value.hex()))
        prev = event_hash
        if checkpoint_every and seq % checkpoint_every == 0:
            cp_index += 1
            body = checkpoint_body(
                origin="synthgate-audit",
                index=cp_index,
                kind="interval",
                tree_size=seq,
                root_hash=frontier.root().hex(),
                created_at=created,
                prev_checkpoint_hash=prev_cp,
                key_id=key.key_id,
            )
            signature_cp = key.private_key.sign(canonical_json_bytes(body)).hex()
            prev_cp = checkpoint_hash_of({**body, "signature": signature_cp})
            checkpoints.append(
                (
                    cp_index,
                    "interval",
                    seq,
                    body["root_hash"],
                    created,
                    body["prev_checkpoint_hash"],
                    key.key_id,
                    signature_cp,
                    "",
                    "",
                    prev_cp,
                )
            )
        if len(events) >= 20000:
            flush()
    flush()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY audit_auditcheckpoint (index, kind, tree_size, root_hash, created_at, prev_checkpoint_hash, key_id, "
            "signature, sm2_key_id, sm2_signature, checkpoint_hash) FROM STDIN"
        ) as copy,
    ):
        for row in checkpoints:
            copy.write_row(row)
    AuditChainHead.objects.update_or_create(
        pk=1,
        defaults={
            "last_seq": n,
            "last_hash": prev,
            "tree_frontier": [h.hex() for h in frontier.hashes],
            "checkpoint_count": cp_index,
            "checkpoint_hash": prev_cp,
        },
    )
    return time.perf_counter() - started
