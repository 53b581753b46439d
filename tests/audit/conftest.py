from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from audit.signing import LoadedKey, generate_key_file


@pytest.fixture(scope="session", autouse=True)
def _sqlite_test_database_dir() -> None:
    # The SQLite test database is a file under var/, which a fresh checkout does not have yet.
    database = django_settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = database.get("TEST", {}).get("NAME")
        if name:
            Path(name).parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def audit_key(settings, tmp_path: Path) -> LoadedKey:
    """A fresh signing key file per test. signing_key() caches per path, so no cache clearing."""
    path = tmp_path / "keys" / "audit-ed25519.pem"
    key = generate_key_file(path)
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}
    return key


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="not-used-here-123")


@pytest.fixture
def audit_triggers_off(db):
    """Lift the append-only triggers inside this test's transaction, for tests that play the attacker."""
    from audit.triggers import audit_triggers_disabled

    with audit_triggers_disabled():
        yield
