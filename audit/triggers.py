"""Database triggers that make the log tables append-only, per database vendor.

PostgreSQL refuses UPDATE, DELETE and TRUNCATE; SQLite (which has no TRUNCATE) UPDATE and DELETE.
A table owner can still disable triggers; production runs as a role that owns nothing (see
docs/audit-format.md, "Append-only storage").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

LOG_TABLES = ("audit_auditevent", "audit_audittreenode", "audit_auditcheckpoint")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
"""


def _sqlite_create(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit log table {table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


def create_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [_PG_FUNCTION]
        for table in LOG_TABLES:
            statements += [
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
            ]
        return statements
    if vendor == "sqlite":
        return [sql for table in LOG_TABLES for sql in _sqlite_create(table)]
    return []


def drop_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in LOG_TABLES
            for suffix in ("append_only", "no_truncate")
        ]
        return [*statements, "DROP FUNCTION IF EXISTS audit_refuse_change()"]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in LOG_TABLES for op in ("update", "delete")]
    return []


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextlib.contextmanager
def audit_triggers_disabled(using: str = "default") -> Iterator[None]:
    """Lift the append-only triggers for the block: for tests that tamper and for the test flush.

    Needs table ownership on PostgreSQL, which the production role does not have.
    """
    connection = connections[using]
    vendor = connection.vendor
    if vendor == "postgresql":
        _execute(connection, [f"ALTER TABLE {table} DISABLE TRIGGER USER" for table in LOG_TABLES])
    elif vendor == "sqlite":
        _execute(connection, drop_sql(vendor))
    try:
        yield
    finally:
        if vendor == "postgresql":
            _execute(connection, [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in LOG_TABLES])
        elif vendor == "sqlite":
            _execute(connection, create_sql(vendor))
