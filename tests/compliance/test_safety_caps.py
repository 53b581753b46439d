"""What a safety layer's hit may do: ``PolicyVersion.safety_layer_caps`` (policy, screening, admin, API, provenance)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from compliance import safety
from compliance.errors import SafetyFilterError
from compliance.models import PolicyVersion
from compliance.policy_schema import DEFAULT_SAFETY_LAYER_CAPS, DEFAULT_SAFETY_LAYERS, validate_safety_layer_caps
from compliance.safety import SafetyHit, hit_action, hit_severity, screen_safety, screen_safety_many
from compliance.screening import screen_content, screen_text
from compliance.services import policy_version_create, policy_version_lock, policy_version_update

DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
# Written for these tests; neither the lexicon nor the rules catch it, the classifier does (A2).
PARAPHRASE = "那边来的家伙没一个靠得住，千万别雇"
LEXICON_HIT = "教你制造炸弹"  # A1.4 in the seed lexicon


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["classifier"], "must be an object"),
        ({"clasifier": "flag"}, "unknown safety layer 'clasifier'"),
        ({"classifier": "warn"}, "classifier: unknown cap 'warn' (known: block, flag, allow)"),
    ],
)
def test_caps_are_validated_with_clear_errors(value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_safety_layer_caps(value)
    assert any(message in text for text in raised.value.messages)


@pytest.mark.django_db
def test_a_new_version_has_the_classifier_capped_at_flag_and_copies_caps_to_its_successor(policy_version: Any) -> None:
    assert DEFAULT_SAFETY_LAYERS == ["lexicon", "pattern", "classifier"]
    assert policy_version.safety_layers == DEFAULT_SAFETY_LAYERS
    assert policy_version.safety_layer_caps == DEFAULT_SAFETY_LAYER_CAPS == {"classifier": "flag", "llm_judge": "flag"}
    with pytest.raises(ValidationError, match="unknown cap"):
        policy_version_create(policy=policy_version.policy, actor=None, safety_layer_caps={"pattern": "maybe"})
    stricter = policy_version_create(
        policy=policy_version.policy, actor=None, safety_layer_caps={"classifier": "allow", "pattern": "flag"}
    )
    assert stricter.summary()["safety_layer_caps"] == {"classifier": "allow", "pattern": "flag"}
    event = AuditEvent.objects.filter(action="policy_version.create", object_id=str(stricter.pk)).get()
    assert event.payload["safety_layer_caps"] == {"classifier": "allow", "pattern": "flag"}
    successor = policy_version_create(policy=policy_version.policy, actor=None)
    assert successor.safety_layer_caps == {"classifier": "allow", "pattern": "flag"}


def test_a_capped_hit_takes_the_lower_of_the_policy_action_and_the_cap() -> None:
    hit = SafetyHit("A1.4", "A1", "evidence", layer="classifier")
    assert hit_severity(hit, DEFAULTS, {}) == 2
    assert hit_action(hit, DEFAULTS, {"classifier": "flag"}) == "flag"
    assert hit_action(hit, DEFAULTS, {"classifier": "allow"}) == "allow"
    assert hit_action(hit, {"A1": "flag"}, {"classifier": "block"}) == "flag"  # a cap never raises an action
    assert hit_action(SafetyHit("A1.4", "A1", "t", layer="lexicon"), DEFAULTS, DEFAULT_SAFETY_LAYER_CAPS) == "block"
    # Counter-speech lowers the policy's action one step, then the cap bounds it.
    counter = SafetyHit("A1.4", "A1", "t", layer="classifier", context="counter")
    assert hit_action(counter, DEFAULTS, {"classifier": "flag"}) == "flag"
    assert hit_action(SafetyHit("A3.1", "A3", "t", layer="classifier", context="counter"), DEFAULTS, {}) == "allow"


@pytest.mark.django_db
def test_a_classifier_hit_flags_while_a_lexicon_hit_still_blocks(policy_version: Any) -> None:
    actions = policy_version.safety_actions
    paraphrase, term = screen_safety_many([PARAPHRASE, LEXICON_HIT], actions=actions, policy_version=policy_version)
    assert paraphrase.verdict == "flag"
    assert {h.layer for h in paraphrase.hits} == {"classifier"} and paraphrase.risks[0].startswith("A2")
    assert term.verdict == "block" and "lexicon" in {h.layer for h in term.hits}
    for verdict in (paraphrase, term):
        assert verdict.rules["layers"] == ["lexicon", "pattern", "classifier"]
        assert verdict.rules["layer_caps"] == {"classifier": "flag", "llm_judge": "flag"}

    policy_version_update(version=policy_version, actor=None, safety_layer_caps={"classifier": "block"})
    assert screen_safety(PARAPHRASE, actions=actions, policy_version=policy_version).verdict == "block"
    policy_version_update(version=policy_version, actor=None, safety_layer_caps={"classifier": "allow"})
    shadow = screen_safety(PARAPHRASE, actions=actions, policy_version=policy_version)
    assert shadow.verdict == "pass" and shadow.hits  # recorded, not acted on


def test_an_llm_judge_hit_is_capped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "llm_judge_hits", lambda text: (SafetyHit("A1.1", "A1", "judge", "llm_judge", 0.8),))
    assert screen_safety("任意文本", actions=DEFAULTS, layers=["llm_judge"]).verdict == "flag"
    assert screen_safety("任意文本", actions=DEFAULTS, layers=["llm_judge"], layer_caps={}).verdict == "block"


def test_invalid_caps_at_screening_fail_closed() -> None:
    with pytest.raises(SafetyFilterError, match="invalid safety layer caps: classifier='never'"):
        screen_safety("你好", actions=DEFAULTS, layers=["lexicon"], layer_caps={"classifier": "never"})
    with pytest.raises(SafetyFilterError, match="invalid safety layer caps: oracle='flag'"):
        screen_safety("你好", actions=DEFAULTS, layers=["lexicon"], layer_caps={"oracle": "flag"})


@pytest.mark.django_db
def test_screening_results_record_the_caps_and_the_capped_action(policy_version: Any) -> None:
    outcome = screen_content(content=PARAPHRASE, policy_version=policy_version, pseudonym_scope="t")
    assert outcome.accepted and outcome.safety["verdict"] == "flag"
    assert outcome.safety["rules"]["layer_caps"] == {"classifier": "flag", "llm_judge": "flag"}
    assert outcome.safety["rules"]["layers"] == ["lexicon", "pattern", "classifier"]
    result = screen_text(text=PARAPHRASE, policy_version=policy_version, pseudonym_scope="t")
    (evidence,) = result["safety"]["evidence"]
    assert evidence["layer"] == "classifier" and evidence["action"] == "flag"
    assert result["safety"]["rules"]["layer_caps"]["classifier"] == "flag"


@pytest.mark.django_db
def test_admin_edits_caps_and_shows_validation_errors(client: Any, policy_version: Any) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(admin)
    url = f"/admin/compliance/policyversion/{policy_version.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b"safety_layer_caps" in page.content
    form = {
        name: json.dumps(getattr(policy_version, name))
        for name in ("pii_operators", "class_actions", "safety_actions", "safety_layers", "gate_thresholds")
    }
    form.update({"source_harmful_rate_limit": "0.05", "explicit_label_text": policy_version.explicit_label_text,
                 "requires_human_approval": "on", "notes": ""})
    bad = client.post(url, {**form, "safety_layer_caps": json.dumps({"classifier": "sometimes"})})
    assert bad.status_code == 200 and "unknown cap" in bad.content.decode()
    good = client.post(url, {**form, "safety_layer_caps": json.dumps({"classifier": "block", "llm_judge": "flag"})})
    assert good.status_code == 302
    policy_version.refresh_from_db()
    assert policy_version.safety_layer_caps == {"classifier": "block", "llm_judge": "flag"}
    update = AuditEvent.objects.filter(action="policy_version.update").latest("pk")
    assert update.payload["safety_layer_caps"] == {"classifier": "block", "llm_judge": "flag"}

    changelist = "/admin/compliance/policyversion/"
    client.post(changelist, {"action": "new_version_from", "_selected_action": [policy_version.pk]})
    copy = PolicyVersion.objects.filter(policy=policy_version.policy).order_by("-version").first()
    assert copy is not None and copy.pk != policy_version.pk
    assert copy.safety_layer_caps == {"classifier": "block", "llm_judge": "flag"}


@pytest.mark.django_db
def test_the_policy_api_shows_layers_and_caps(api: Any, people: Any, policy_version: Any) -> None:
    detail = api(people["requester"]).get(f"/api/v1/policies/{policy_version.pk}/").json()
    assert detail["safety_layers"] == ["lexicon", "pattern", "classifier"]
    assert detail["safety_layer_caps"] == {"classifier": "flag", "llm_judge": "flag"}


@pytest.mark.django_db
def test_the_migration_keeps_published_versions_uncapped_and_drafts_on_the_default(policy_version: Any) -> None:
    draft = policy_version_create(policy=policy_version.policy, actor=None)
    policy_version_lock(version=policy_version, actor=None)
    migration = importlib.import_module("compliance.migrations.0007_policyversion_safety_layer_caps")
    migration.keep_published_versions_uncapped(apps, None)
    policy_version.refresh_from_db()
    draft.refresh_from_db()
    assert policy_version.safety_layer_caps == {"classifier": "block", "llm_judge": "block"}
    assert draft.safety_layer_caps == DEFAULT_SAFETY_LAYER_CAPS
    # Block caps limit nothing: the published version blocks a classifier hit as it did before caps existed.
    verdict = screen_safety(PARAPHRASE, actions=DEFAULTS, layers=["classifier"], policy_version=policy_version)
    assert verdict.verdict == "block"
