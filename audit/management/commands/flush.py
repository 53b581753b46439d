"""``flush`` that lifts the audit log's append-only triggers, on test databases only.

pytest-django's ``transaction=True`` tests end with ``flush``; on a test database the triggers are
lifted around it (they stay in place for the next test). Anywhere else the triggers refuse it, as
they should: the log of a real deployment is never emptied.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from audit.triggers import audit_triggers_disabled


def _is_test_database(alias: str) -> bool:
    settings_dict = connections[alias].settings_dict
    name = str(settings_dict.get("NAME") or "")
    test_name = str((settings_dict.get("TEST") or {}).get("NAME") or "")
    return name.startswith("test_") or (bool(test_name) and name == test_name)


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        alias = options.get("database") or DEFAULT_DB_ALIAS
        if not _is_test_database(alias):
            super().handle(**options)
            return
        with audit_triggers_disabled(alias):
            super().handle(**options)
