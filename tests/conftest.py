"""Shared fixtures: a team with one user per role, a policy version, API clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from audit.signing import generate_key_file
from compliance.services import policy_create, policy_version_create
from gateway import services
from gateway.models import Role


@pytest.fixture(scope="session")
def _session_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Tests run with DEBUG off, where a missing key is an error, so the session provisions one.
    path = tmp_path_factory.mktemp("keys") / "audit-ed25519.pem"
    generate_key_file(path)
    return path


@pytest.fixture(autouse=True)
def _isolated_paths(settings: Any, tmp_path_factory: pytest.TempPathFactory, _session_signing_key: Path) -> None:
    """Each test session signs with its own key and writes datasets under a temporary folder."""
    settings.GATEWAY = {
        **settings.GATEWAY,
        "AUDIT_SIGNING_KEY_PATH": str(_session_signing_key),
        "DATASET_DIR": str(tmp_path_factory.getbasetemp() / "datasets"),
        # A helper process cannot see what a test's transaction has not committed: tests that want the
        # screening helpers (and commit) turn them on.
        "SCREENING_PROCESSES": 0,
    }


@pytest.fixture(autouse=True)
def _audit_sequencing(request: pytest.FixtureRequest, settings: Any) -> None:
    """A test inside a rolled-back transaction never commits, so events queued for after-commit
    sequencing would never reach the log: such tests sequence inside the transaction. Tests that
    really commit (``django_db(transaction=True)``) keep the production default for their database.
    """
    marker = request.node.get_closest_marker("django_db")
    if (marker and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames:
        return
    settings.AUDIT = {**(getattr(settings, "AUDIT", None) or {}), "SEQUENCING": "in_transaction"}


def make_user(username: str, team: Any, roles: list[str]) -> Any:
    user = get_user_model().objects.create_user(username=username, password="pw-" + username + "-123456")
    if team is not None:
        services.team_member_add(user=user, team=team, roles=roles, actor=None)
    return user


@pytest.fixture
def team(db: Any) -> Any:
    return services.team_create(name="Retail Bank A", slug="bank-a", actor=None)


@pytest.fixture
def other_team(db: Any) -> Any:
    return services.team_create(name="Retail Bank B", slug="bank-b", actor=None)


@pytest.fixture
def people(team: Any, other_team: Any) -> dict[str, Any]:
    return {
        "requester": make_user("req", team, [Role.REQUESTER]),
        "requester2": make_user("req2", team, [Role.REQUESTER]),
        "approver": make_user("appr", team, [Role.APPROVER]),
        "maker_checker": make_user("both", team, [Role.REQUESTER, Role.APPROVER]),
        "auditor": make_user("aud", team, [Role.AUDITOR]),
        "policy_admin": make_user("padmin", team, [Role.POLICY_ADMIN]),
        "outsider_requester": make_user("oreq", other_team, [Role.REQUESTER]),
        "outsider_approver": make_user("oappr", other_team, [Role.APPROVER]),
        "nobody": make_user("nobody", None, []),
    }


@pytest.fixture
def policy_version(db: Any) -> Any:
    policy = policy_create(name="finance-test", actor=None)
    return policy_version_create(policy=policy, actor=None)


@pytest.fixture
def api() -> Any:
    def client_for(user: Any) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for
