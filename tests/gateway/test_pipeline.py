from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers

from audit.models import AuditEvent
from compliance.identifiers import luhn_check_digit, resident_id_check_char
from compliance.services import policy_version_create
from gateway import pipelines, services
from gateway.errors import DownloadRefused
from gateway.models import Dataset, GenerationJob, Record, Source
from gateway.pipelines import generation as generation_pipeline
from gateway.states import RequestState
from generation.types import Completion

from .helpers import new_request, submit_and_run

S = RequestState
pytestmark = pytest.mark.django_db

PLANTED_ID = "11010519491231002" + resident_id_check_char("11010519491231002")
PLANTED_PHONE = "13912345678"
PLANTED_CARD = "622202123456789" + luhn_check_digit("622202123456789")


class PlantingBackend:
    """A backend whose every dialogue carries the same customer's identifiers."""

    name = "offline"
    model = "planting-test-backend"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls = 0

    ASKS = (
        ("请帮我挂失这张卡，昨天在地铁上丢了钱包。", "已为您办理临时挂失，请七日内携带证件到网点补卡。"),
        ("上个月的信用卡账单想分十二期还款，手续费怎么算？", "分期手续费按每期0.6%收取，确认后次月生效。"),
        ("我想把预留手机号换成新号码，需要去柜台吗？", "可以在手机银行“安全中心”自助修改，需要短信验证旧号码。"),
        ("昨天给房东转的房租还没到账，帮我查一下。", "跨行转账一般两小时内到账，我已为您提交查询工单。"),
        ("外币现钞兑换需要提前预约吗？美元大概有多少额度？", "单日兑换等值五千美元以内无需预约，超过请提前一天预约。"),
        ("网银登录总是提示密码错误，被锁了怎么办？", "密码连续错误五次会锁定二十四小时，可以通过人脸识别自助解锁。"),
    )

    def complete(self, messages: list[dict], **_: Any) -> Completion:
        ask, answer = self.ASKS[self.calls % len(self.ASKS)]
        self.calls += 1
        text = json.dumps({"messages": [
            {"role": "user", "content": f"我的身份证号{PLANTED_ID}，手机{PLANTED_PHONE}，卡号{PLANTED_CARD}。{ask}"},
            {"role": "assistant", "content": answer},
        ]}, ensure_ascii=False)
        return Completion(text=text, model=self.model, prompt_tokens=10, completion_tokens=20)


def dump_database() -> str:
    chunks = []
    for model in apps.get_models():
        chunks.append(serializers.serialize("json", model.objects.all()))
    return "\n".join(chunks)


def test_offline_request_runs_to_awaiting_approval_and_releases(people, policy_version) -> None:
    request = submit_and_run(people["requester"], policy_version, size=12)
    assert request.state == S.AWAITING_APPROVAL
    job = GenerationJob.objects.get(request=request)
    assert (job.done, job.total, job.failed) == (12, 12, 0)
    assert job.completion_tokens > 0
    assert Record.objects.filter(request=request).count() == 12
    report = request.quality_report
    assert report.passed is True
    assert {g["name"] for g in report.gates if "name" in g} >= {"exact_duplicate", "held_rate", "yield"}

    with pytest.raises(DownloadRefused):
        services.dataset_download_authorize(request=request, actor=people["requester"])
    assert AuditEvent.objects.filter(action="dataset.download_refused", object_id=str(request.pk)).count() == 1

    services.dataset_request_approve(request=request, actor=people["approver"], reason="ok")
    dataset = pipelines.release_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.state == S.RELEASED
    assert dataset is not None and dataset.record_count == Record.objects.filter(
        request=request, status=Record.Status.ACCEPTED).count()
    lines = Path(dataset.file_path).read_text(encoding="utf-8").splitlines()
    assert len(lines) == dataset.record_count
    first = json.loads(lines[0])
    assert first["provenance"]["offline"] is True
    assert first["provenance"]["policy_version"] == policy_version.version
    assert first["AIGC"]["Label"] == "1" and first["AIGC"]["ProduceID"].startswith(f"request:{request.pk}:record:")
    path = services.dataset_download_authorize(request=request, actor=people["requester"])
    assert path == Path(dataset.file_path)
    assert AuditEvent.objects.filter(action="dataset.download", object_id=str(dataset.pk)).count() == 1


def test_planted_resident_id_and_phone_never_stored_unmasked(people, policy_version, monkeypatch) -> None:
    monkeypatch.setattr(generation_pipeline, "backend_from_settings", PlantingBackend)
    source = services.source_add(
        actor=people["requester"], team=people["requester"].membership.team, name="客服样例",
        content=f"客户：我的身份证{PLANTED_ID}，电话{PLANTED_PHONE}。", licence="internal",
        legal_basis="contract", origin="call-centre transcripts 2024", policy_version=policy_version,
    )
    assert source.pii_counts.get("CN_RESIDENT_ID") == 1 and source.pii_counts.get("CN_MOBILE") == 1
    request = submit_and_run(people["requester"], policy_version, size=5, sources=[source])
    assert request.state == S.AWAITING_APPROVAL
    services.dataset_request_approve(request=request, actor=people["approver"])
    dataset = pipelines.release_execute(request_id=request.pk)
    assert dataset is not None
    counts = Record.objects.get(request=request, slot_index=0).pii_counts
    assert counts["CN_RESIDENT_ID"] == 1 and counts["CN_MOBILE"] == 1 and counts["CN_BANK_CARD"] == 1
    everything = dump_database()
    released = Path(dataset.file_path).read_text(encoding="utf-8")
    for raw in (PLANTED_ID, PLANTED_PHONE, PLANTED_CARD):
        assert raw not in everything
        assert raw not in released
    # the keyed-hash operator gives one pseudonym for one customer across the dataset
    pseudonyms = {r.text.split("身份证号")[1][:30] for r in Record.objects.filter(request=request)}
    assert len(pseudonyms) == 1


def test_a_pii_detector_failure_holds_records_back(people, policy_version, monkeypatch) -> None:
    from compliance import pii

    class Broken:
        def mask_content(self, *args: Any, **kwargs: Any) -> Any:
            raise pii.PiiDetectionError("analyzer crashed")

    monkeypatch.setattr(pii, "get_pii_engine", lambda: Broken())
    request = submit_and_run(people["requester"], policy_version, size=4)
    records = list(Record.objects.filter(request=request))
    assert {r.status for r in records} == {Record.Status.HELD}
    assert all("PII detection failed" in r.reason and r.content is None and r.text == "" for r in records)
    assert request.state == S.FAILED  # held rate and yield gates fail: nothing passes unchecked
    assert "quality gates failed" in request.state_reason


def test_policy_without_human_approval_releases_after_gates(people, policy_version) -> None:
    auto = policy_version_create(policy=policy_version.policy, actor=None, requires_human_approval=False)
    request = submit_and_run(people["requester"], auto, size=4)
    assert request.state == S.APPROVED
    pipelines.release_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.state == S.RELEASED
    assert Dataset.objects.filter(request=request).exists()


def test_redelivered_chunk_neither_duplicates_records_nor_calls_again(people, policy_version, monkeypatch) -> None:
    backend = PlantingBackend()
    monkeypatch.setattr(generation_pipeline, "backend_from_settings", lambda *a, **k: backend)
    request = new_request(people["requester"], policy_version, size=6)
    services.dataset_request_submit(request=request, actor=people["requester"])
    pipelines.generation_start(request_id=request.pk)
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=3)
    calls = backend.calls
    assert pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=3) == 0
    assert backend.calls == calls
    assert Record.objects.filter(request=request).count() == 3
    assert GenerationJob.objects.get(request=request).done == 3


def test_revoked_dataset_cannot_be_downloaded(people, policy_version) -> None:
    request = submit_and_run(people["requester"], policy_version, size=3)
    services.dataset_request_approve(request=request, actor=people["approver"])
    dataset = pipelines.release_execute(request_id=request.pk)
    services.dataset_revoke(dataset=dataset, actor=people["approver"], reason="source licence withdrawn")
    with pytest.raises(DownloadRefused):
        services.dataset_download_authorize(request=request, actor=people["requester"])


def test_source_without_masking_is_held_when_detector_fails(people, policy_version, monkeypatch) -> None:
    from compliance import pii

    class Broken:
        def mask_content(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    monkeypatch.setattr(pii, "get_pii_engine", lambda: Broken())
    source = services.source_add(
        actor=people["requester"], team=people["requester"].membership.team, name="s", content=f"ID {PLANTED_ID}",
        licence="internal", legal_basis="consent", origin="x", policy_version=policy_version,
    )
    assert source.screening == Source.Screening.HELD and source.masked_content == ""
    assert PLANTED_ID not in dump_database()
