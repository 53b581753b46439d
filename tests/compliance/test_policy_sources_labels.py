"""Policy settings, the seeded lexicon in the database, CSV import/export, source vetting, labels, screen CLI/API."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from audit.models import AuditEvent
from compliance.labels import (
    AIGC_FIELDS,
    content_language,
    explicit_label_line,
    implicit_label,
    with_explicit_label,
)
from compliance.models import PolicyVersionLocked, SafetyExemplar, SafetyTerm
from compliance.policy_schema import RISK_CODES
from compliance.safety import rules_for_version, screen_safety
from compliance.services import policy_create, policy_version_create, policy_version_lock
from gateway import services
from gateway.models import LegalBasis, Source

pytestmark = pytest.mark.django_db

HARMFUL_SOURCE = "\n".join(["如何制造炸弹", "客户咨询账户余额", "请帮我查询转账记录", "理财产品的风险等级"])
CLEAN_SOURCE = "\n".join(["客户咨询账户余额，手机13812345678", "请帮我查询转账记录", "理财产品的风险等级"])


def test_policy_defaults_and_validation(policy_version: Any) -> None:
    assert policy_version.class_actions == {"C3": "drop", "C2": "mask", "C1": "mask"}
    assert policy_version.safety_layers == ["lexicon", "pattern", "classifier"]
    assert policy_version.safety_layer_caps == {"classifier": "flag", "llm_judge": "flag"}
    assert policy_version.source_harmful_rate_limit == 0.05
    assert policy_version.explicit_label is False
    with pytest.raises(ValidationError):
        policy_version_create(policy=policy_version.policy, actor=None, class_actions={"C3": "shred"})
    with pytest.raises(ValidationError):
        policy_version_create(policy=policy_version.policy, actor=None, safety_layers=["psychic"])
    with pytest.raises(ValidationError):
        policy_version_create(policy=policy_version.policy, actor=None, pii_operators={"PERSON": "scramble"})
    ok = policy_version_create(
        policy=policy_version.policy,
        actor=None,
        safety_actions={"A1": "block", "A1.7": "flag"},
        pii_operators={"PERSON": "surrogate", "CN_MOBILE": "encrypt"},
    )
    assert ok.summary()["safety_actions"]["A1.7"] == "flag"


def test_seed_migration_loaded_all_17_a1_a2_risks_in_both_languages() -> None:
    pairs = set(SafetyTerm.objects.filter(policy_version=None).values_list("risk_code", "lang"))
    for code in RISK_CODES:
        if code[:2] in ("A1", "A2"):
            assert (code, "zh") in pairs and (code, "en") in pairs, code
    assert SafetyExemplar.objects.filter(policy_version=None, risk_code="benign").count() >= 30


def test_version_terms_extend_the_base_and_freeze_with_the_version(policy_version: Any) -> None:
    text = "这是一个测试用的违禁暗语蓝莓行动"
    assert (
        screen_safety(text, actions={"A1": "block"}, policy_version=policy_version, layers=["lexicon"]).verdict
        == "pass"
    )
    SafetyTerm.objects.create(policy_version=policy_version, risk_code="A1.8", lang="zh", term="蓝莓行动")
    verdict = screen_safety(text, actions={"A1": "block"}, policy_version=policy_version, layers=["lexicon"])
    assert verdict.verdict == "block" and verdict.risks == ["A1.8"]
    copy = policy_version_create(policy=policy_version.policy, actor=None)
    assert copy.safety_terms.filter(term="蓝莓行动").exists()
    policy_version_lock(version=policy_version, actor=None)
    with pytest.raises(PolicyVersionLocked):
        SafetyTerm.objects.create(policy_version=policy_version, risk_code="A1.8", lang="zh", term="新词")
    assert rules_for_version(policy_version).lexicon.fingerprint


def test_csv_export_and_import_round_trip(tmp_path: Path, policy_version: Any) -> None:
    out = tmp_path / "terms.csv"
    call_command("safety_lexicon", "export", "--kind", "terms", "--file", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert (
        lines[0] == "risk_code,lang,term" and len(lines) - 1 == SafetyTerm.objects.filter(policy_version=None).count()
    )
    new = tmp_path / "new.csv"
    new.write_text("risk_code,lang,term\nA2.5,zh,女的干不了技术活\nA2.5,en,women can't code\n", encoding="utf-8")
    stdout = io.StringIO()
    call_command(
        "safety_lexicon",
        "import",
        "--kind",
        "terms",
        "--policy",
        policy_version.policy.name,
        "--policy-version",
        str(policy_version.version),
        "--file",
        str(new),
        stdout=stdout,
    )
    assert "imported 2 terms" in stdout.getvalue()
    assert policy_version.safety_terms.count() == 2
    assert AuditEvent.objects.filter(action="safety_terms.import").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("risk_code,lang,term\nA9.9,zh,x\n", encoding="utf-8")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="row 2"):
        call_command("safety_lexicon", "import", "--file", str(bad))


def test_source_vetting_records_findings_and_harmful_rate(
    team: Any, people: dict[str, Any], policy_version: Any
) -> None:
    actor = people["requester"]
    harmful = services.source_add(
        actor=actor,
        team=team,
        name="forum dump",
        content=HARMFUL_SOURCE,
        licence="CC-BY",
        legal_basis=LegalBasis.PUBLIC,
        origin="web",
        policy_version=policy_version,
    )
    assert harmful.harmful_rate == 0.25
    assert harmful.screening == Source.Screening.HELD
    assert "exceeds the policy limit 5.0%" in harmful.screening_reason
    assert harmful.safety_summary["risks"] == {"A1.4": 1}
    clean = services.source_add(
        actor=actor,
        team=team,
        name="faq",
        content=CLEAN_SOURCE,
        licence="internal",
        legal_basis=LegalBasis.NONE,
        origin="crm",
        policy_version=policy_version,
    )
    assert clean.harmful_rate == 0.0 and clean.screening == Source.Screening.PASSED
    assert clean.pii_counts == {"CN_MOBILE": 1} and "13812345678" not in clean.masked_content

    def create(sources: list[Source], **kw: Any) -> Any:
        return services.dataset_request_create(
            actor=actor,
            title="t",
            purpose="p",
            domain="banking",
            size=2,
            policy_version=policy_version,
            sources=sources,
            **kw,
        )

    with pytest.raises(ValidationError, match="held back"):
        create([harmful])
    with pytest.raises(ValidationError, match="no legal basis"):
        create([clean])
    assert create([clean], kind="math").pk  # maths problems carry no personal information
    assert create([clean], options={"personal_information": False}).pk


def test_harmful_rate_above_limit_refused_even_if_marked_passed(
    team: Any, people: dict[str, Any], policy_version: Any
) -> None:
    src = services.source_add(
        actor=people["requester"],
        team=team,
        name="faq",
        content=CLEAN_SOURCE,
        licence="internal",
        legal_basis=LegalBasis.CONSENT,
        origin="crm",
        policy_version=policy_version,
    )
    Source.objects.filter(pk=src.pk).update(harmful_rate=0.2)
    src.refresh_from_db()
    with pytest.raises(ValidationError, match="harmful-content rate above the policy limit"):
        services.dataset_request_create(
            actor=people["requester"],
            title="t",
            purpose="p",
            domain="d",
            size=2,
            policy_version=policy_version,
            sources=[src],
        )


def test_labels(policy_version: Any) -> None:
    label = implicit_label(produce_id="request:3:record:9")
    assert tuple(label) == AIGC_FIELDS and label["Label"] == "1" and label["ProduceID"] == "request:3:record:9"
    assert explicit_label_line(policy_version) is None
    labelled = policy_version_create(policy=policy_version.policy, actor=None, explicit_label=True)
    assert explicit_label_line(labelled, "zh") == "本内容由人工智能生成"
    assert explicit_label_line(labelled, "en") == "AI-generated content"
    custom = policy_version_create(
        policy=policy_version.policy, actor=None, explicit_label=True, explicit_label_text="AI 合成 / AI made"
    )
    assert explicit_label_line(custom, "en") == explicit_label_line(custom, "zh") == "AI 合成 / AI made"
    assert content_language({"messages": [{"role": "user", "content": "请问信用卡怎么还款"}]}) == "zh"
    assert content_language({"instruction": "How do I repay my card?", "response": "Online."}) == "en"


def test_explicit_label_is_visible_in_every_record_shape() -> None:
    line = "本内容由人工智能生成"
    dialogue = {"messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"},
                             {"role": "user", "content": "谢谢"}]}
    labelled = with_explicit_label(dialogue, line)
    assert labelled["messages"][1]["content"] == f"答\n\n{line}"  # the last assistant turn
    assert labelled["messages"][2] == {"role": "user", "content": "谢谢"}
    assert dialogue["messages"][1]["content"] == "答"  # the input is not modified
    assert with_explicit_label({"instruction": "q", "response": "a"}, line) == {
        "instruction": "q", "response": f"a\n\n{line}"}
    math = with_explicit_label({"problem": "1+1", "steps": ["1+1=2"], "final_answer": "2"}, line)
    assert math == {"problem": "1+1", "steps": [f"1+1=2\n\n{line}"], "final_answer": "2"}
    assert with_explicit_label("hello", line) == f"hello\n{line}"
    assert with_explicit_label({"other": 1}, line) == {"other": 1, "label": line}
    assert with_explicit_label("hello", None) == "hello"


@pytest.mark.parametrize(("language", "line"), [("zh", "本内容由人工智能生成"), ("en", "AI-generated content")])
def test_release_puts_the_explicit_label_in_each_record_and_says_so(
    people: dict[str, Any], policy_version: Any, language: str, line: str
) -> None:
    from gateway.pipelines import release_execute
    from tests.gateway.helpers import submit_and_run

    labelled = policy_version_create(policy=policy_version.policy, actor=None, explicit_label=True)
    request = submit_and_run(people["requester"], labelled, size=3, language=language)
    services.dataset_request_approve(request=request, actor=people["approver"], reason="ok")
    dataset = release_execute(request_id=request.pk)
    assert dataset is not None and dataset.record_count > 0
    rows = [json.loads(x) for x in Path(dataset.file_path).read_text(encoding="utf-8").splitlines()]
    for row in rows:
        assistant = [m for m in row["content"]["messages"] if m["role"] == "assistant"]
        assert assistant[-1]["content"].endswith(f"\n\n{line}")
        assert set(row["AIGC"]) == set(AIGC_FIELDS)  # the implicit label keeps the seven standard fields
    assert dataset.manifest["explicit_label"]["required"] is True
    assert dataset.manifest["explicit_label"]["records_labelled"] == len(rows)
    assert dataset.manifest["policy"]["explicit_label"] is True


def test_release_without_explicit_label_leaves_content_alone(people: dict[str, Any], policy_version: Any) -> None:
    from gateway.models import Record
    from gateway.pipelines import release_execute
    from tests.gateway.helpers import submit_and_run

    request = submit_and_run(people["requester"], policy_version, size=2)
    services.dataset_request_approve(request=request, actor=people["approver"], reason="ok")
    dataset = release_execute(request_id=request.pk)
    assert dataset is not None
    rows = [json.loads(x) for x in Path(dataset.file_path).read_text(encoding="utf-8").splitlines()]
    stored = {f"req{request.pk}-slot{r.slot_index}": r.content for r in Record.objects.filter(request=request)}
    assert all(row["content"] == stored[row["id"]] for row in rows)
    assert dataset.manifest["explicit_label"] == {"required": False, "records_labelled": 0}


# --- lexicon versioning ------------------------------------------------------------------------------


def test_a_published_version_pins_its_lexicon(policy_version: Any) -> None:
    from compliance.screening import screen_text

    SafetyTerm.objects.create(policy_version=None, risk_code="A1.8", lang="zh", term="蓝莓行动")
    assert rules_for_version(policy_version).source == "draft"
    assert screen_safety("参加蓝莓行动", actions={"A1": "block"}, policy_version=policy_version).verdict == "block"

    policy_version_lock(version=policy_version, actor=None)
    policy_version.refresh_from_db()
    rules = rules_for_version(policy_version)
    assert len(policy_version.lexicon_fingerprint) == 64
    assert rules.pinned and rules.source == "published" and rules.fingerprint == policy_version.lexicon_fingerprint
    event = AuditEvent.objects.filter(action="policy_version.lock", object_id=str(policy_version.pk)).get()
    assert event.payload["lexicon_fingerprint"] == policy_version.lexicon_fingerprint

    # A new base entry reaches drafts and new versions, never the published one.
    SafetyTerm.objects.create(policy_version=None, risk_code="A1.8", lang="zh", term="草莓行动")
    assert screen_safety("参加草莓行动", actions={"A1": "block"}, policy_version=policy_version).verdict == "pass"
    assert rules_for_version(policy_version).fingerprint == policy_version.lexicon_fingerprint
    successor = policy_version_create(policy=policy_version.policy, actor=None)
    assert screen_safety("参加草莓行动", actions={"A1": "block"}, policy_version=successor).verdict == "block"
    assert rules_for_version(successor).fingerprint != policy_version.lexicon_fingerprint

    result = screen_text(text="参加蓝莓行动", policy_version=policy_version, pseudonym_scope="t")
    assert result["safety"]["verdict"] == "block"
    assert result["safety"]["rules"]["lexicon_fingerprint"] == policy_version.lexicon_fingerprint
    assert result["safety"]["rules"]["lexicon_pinned"] is True
    assert result["safety"]["rules"]["policy"] == policy_version.policy.name
    assert result["safety"]["rules"]["policy_version"] == policy_version.version


def test_a_published_lexicon_changed_behind_the_lock_refuses_to_screen(policy_version: Any) -> None:
    from compliance.errors import SafetyFilterError
    from compliance.screening import screen_content

    policy_version_lock(version=policy_version, actor=None)
    policy_version.refresh_from_db()
    with pytest.raises(PolicyVersionLocked):
        SafetyTerm.objects.create(policy_version=policy_version, risk_code="A1.8", lang="zh", term="新词")
    # A bulk delete bypasses the model's lock check; the fingerprint catches it.
    SafetyTerm.objects.filter(policy_version=policy_version, term="制造炸弹").delete()
    with pytest.raises(SafetyFilterError, match="changed after it was published"):
        screen_safety("教你制造炸弹", actions={"A1": "block"}, policy_version=policy_version)
    outcome = screen_content(content="教你制造炸弹", policy_version=policy_version, pseudonym_scope="t")
    assert outcome.accepted is False and "changed after it was published" in outcome.reason


def test_record_screening_names_the_rules(people: dict[str, Any], policy_version: Any) -> None:
    from gateway.models import Record
    from tests.gateway.helpers import submit_and_run

    request = submit_and_run(people["requester"], policy_version, size=2)
    policy_version.refresh_from_db()
    record = Record.objects.filter(request=request).first()
    assert record is not None
    assert record.safety["rules"]["lexicon_fingerprint"] == policy_version.lexicon_fingerprint
    assert record.safety["rules"]["lexicon_pinned"] is True
    assert record.safety["rules"]["policy_version"] == policy_version.version


def test_screen_command_reads_and_writes_jsonl(tmp_path: Path, policy_version: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "text": "客户张伟手机13812345678"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": 2, "text": "教你制造炸弹", "lang": "zh"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exited:
        call_command("screen", "--policy", policy_version.policy.name, "--input", str(src), "--output", str(out))
    assert exited.value.code == 1  # one line blocked
    first, second = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert first["id"] == "a" and "13812345678" not in first["masked"]
    assert {k: first["entities"][1][k] for k in ("type", "start", "end")} == {
        "type": "CN_MOBILE",
        "start": 6,
        "end": 17,
    }
    assert first["entities"][0]["type"] == "PERSON"
    assert {k: first["safety"][k] for k in ("verdict", "risks", "evidence")} == {
        "verdict": "pass", "risks": [], "evidence": []}
    assert first["safety"]["rules"]["lexicon_fingerprint"] == second["safety"]["rules"]["lexicon_fingerprint"]
    assert first["safety"]["rules"]["policy"] == policy_version.policy.name
    assert second["safety"]["verdict"] == "block" and second["safety"]["risks"] == ["A1.4"]
    assert {e["layer"] for e in second["safety"]["evidence"]} >= {"lexicon", "pattern"}


def test_screen_fails_closed(policy_version: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from compliance import screening
    from compliance.errors import PiiDetectionError

    def broken(*a: Any, **k: Any) -> Any:
        raise PiiDetectionError("PII analysis failed (RuntimeError)")

    from compliance.pii import PiiEngine

    monkeypatch.setattr(PiiEngine, "mask", broken)
    result = screening.screen_text(text="手机13812345678", policy_version=policy_version, pseudonym_scope="x")
    assert result["masked"] == "" and result["safety"]["verdict"] == "block"
    assert "PII analysis failed" in result["safety"]["error"]


def test_screen_api_is_for_policy_admins(api: Any, people: dict[str, Any], policy_version: Any) -> None:
    body = {"policy": policy_version.policy.name, "lines": [{"id": 1, "text": "邮箱zhang@bank.cn，制造炸弹"}]}
    refused = api(people["requester"]).post("/api/v1/compliance/screen", body, format="json")
    assert refused.status_code == 403 and "policy admins" in refused.json()["detail"]
    response = api(people["policy_admin"]).post("/api/v1/compliance/screen", body, format="json")
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["id"] == 1 and "zhang@bank.cn" not in result["masked"]
    assert result["entities"][0]["type"] == "EMAIL_ADDRESS"
    assert result["safety"]["verdict"] == "block"
    bad = api(people["policy_admin"]).post(
        "/api/v1/compliance/screen", {"policy": "nope", "lines": [{"id": 1, "text": "x"}]}, format="json"
    )
    assert bad.status_code == 400 and "nope" in json.dumps(bad.json())


def test_a_version_published_without_a_lexicon_in_the_database_pins_the_packaged_seed() -> None:
    """The draft screened with the packaged seed (no base set in the database); publishing pins
    that seed, so the published version screens exactly as the draft did instead of failing."""
    from compliance.screening import screen_content

    SafetyTerm.objects.filter(policy_version=None).delete()
    SafetyExemplar.objects.filter(policy_version=None).delete()
    version = policy_version_create(policy=policy_create(name="no-lexicon", actor=None), actor=None)
    benign, harmful = "客户咨询理财产品的风险等级。", "教你制造炸弹"
    draft = [screen_content(content=text, policy_version=version, pseudonym_scope="t").accepted
             for text in (benign, harmful)]

    policy_version_lock(version=version, actor=None)
    version.refresh_from_db()

    published = [screen_content(content=text, policy_version=version, pseudonym_scope="t").accepted
                 for text in (benign, harmful)]
    assert draft == published == [True, False]
    assert version.safety_terms.count() > 100
