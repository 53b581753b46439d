from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError

from audit.models import AuditEvent
from compliance.models import PolicyVersionLocked
from compliance.services import policy_version_create, policy_version_lock, policy_version_update
from gateway.conf import check_gateway_settings, gateway_setting

from .helpers import new_request


def _start_without(*missing: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in missing and k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_DEBUG": "false", "SECRET_KEY": "s3cret", "PII_HMAC_KEY": "k3y",
                "AUDIT_SIGNING_KEY_PATH": "/tmp/never-read.pem"})
    for name in missing:
        env.pop(name, None)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("secret", ["SECRET_KEY", "PII_HMAC_KEY", "AUDIT_SIGNING_KEY_PATH"])
def test_outside_debug_a_missing_secret_stops_start_up_and_names_it(secret: str) -> None:
    result = _start_without(secret)
    assert result.returncode != 0
    assert f"{secret} is not set" in result.stderr


def test_unknown_gateway_setting_is_refused(settings: Any) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "OPENAI_MODLE": "typo"}
    with pytest.raises(ImproperlyConfigured, match="OPENAI_MODLE"):
        check_gateway_settings()
    with pytest.raises(ImproperlyConfigured):
        gateway_setting("NOT_A_SETTING")


@pytest.mark.django_db
def test_a_locked_policy_version_cannot_change(policy_version, people) -> None:
    policy_version_update(version=policy_version, actor=None, notes="tuned before use")
    new_request(people["requester"], policy_version)
    policy_version_lock(version=policy_version, actor=None)
    with pytest.raises((PolicyVersionLocked, ValidationError)):
        policy_version_update(version=policy_version, actor=None, requires_human_approval=False)
    policy_version.refresh_from_db()
    assert policy_version.requires_human_approval is True
    assert AuditEvent.objects.filter(action="policy_version.lock").count() == 1
    successor = policy_version_create(policy=policy_version.policy, actor=None)
    assert successor.version == policy_version.version + 1
    assert successor.pii_operators == policy_version.pii_operators and successor.locked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [("pii_operators", {"CN_MOBILE": "shred"}), ("pii_operators", {"SHOE_SIZE": "mask"}),
     ("safety_actions", {"A9": "block"}), ("gate_thresholds", {"min_yield": 1.5})],
)
def test_policy_version_validation(policy_version, field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        policy_version_create(policy=policy_version.policy, actor=None, **{field: value})


@pytest.mark.django_db
def test_admin_pages_render_and_audit_events_are_read_only(client, people, policy_version) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(admin)
    new_request(people["requester"], policy_version)
    for url in ["/admin/gateway/team/", "/admin/gateway/source/", "/admin/gateway/source/add/",
                "/admin/gateway/datasetrequest/", "/admin/compliance/policy/", "/admin/compliance/policyversion/",
                f"/admin/compliance/policyversion/{policy_version.pk}/change/", "/admin/audit/auditevent/"]:
        assert client.get(url).status_code == 200, url
    event = AuditEvent.objects.first()
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    response = client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_admin_adds_a_source_storing_only_masked_text(client, team, policy_version) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(admin)
    response = client.post("/admin/gateway/source/add/", {
        "team": team.pk, "name": "call notes", "kind": "examples", "licence": "internal",
        "legal_basis": "contract", "origin": "CRM export", "policy_version": policy_version.pk,
        "content": "客户电话13912345678，邮箱li.lei@example.com",
    })
    assert response.status_code == 302
    from gateway.models import Source

    source = Source.objects.get(name="call notes")
    assert "13912345678" not in source.masked_content and "li.lei@example.com" not in source.masked_content
    assert source.pii_counts == {"CN_MOBILE": 1, "EMAIL_ADDRESS": 1}


@pytest.mark.django_db
def test_policy_accepts_quality_suite_thresholds_and_checks_their_ranges(policy_version) -> None:
    thresholds = {"min_yield": 0.8, "manual_review": 1, "min_sample_pass_rate": 0.97}
    version = policy_version_create(policy=policy_version.policy, actor=None, gate_thresholds=thresholds)
    assert version.gate_thresholds["manual_review"] == 1
    with pytest.raises(ValidationError, match="manual_review_sample_size"):
        policy_version_create(policy=policy_version.policy, actor=None,
                              gate_thresholds={"manual_review_sample_size": 2.5})
