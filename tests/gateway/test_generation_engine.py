"""The generation engine through the pipeline: strategies on a real HTTP endpoint, cache, budgets, cancel."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from audit.models import AuditEvent
from compliance.screening import ScreeningOutcome
from gateway import pipelines, services
from gateway.models import DatasetRequest, GenerationJob, Record
from generation.models import CachedResponse
from generation.services import model_price_set
from generation.types import TransientGenerationError
from tests.gateway.helpers import new_request, run_pipeline, without_proxies
from tests.generation.fake_openai_server import FakeOpenAIServer, running_fake_openai_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    without_proxies(monkeypatch)
    with running_fake_openai_server() as server:
        settings.GATEWAY = {**settings.GATEWAY, "OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "qwen-test",
                            "OPENAI_API_KEY": "k", "OPENAI_TIMEOUT_SECONDS": 2.0, "OPENAI_MAX_RETRIES": 2,
                            "GENERATION_CONCURRENCY": 4, "GENERATION_CHUNK_SIZE": 5}
        yield server


def _generate(request: DatasetRequest) -> DatasetRequest:
    """Run the generation steps only (the fake endpoint's fixed answers would fail the duplicate gate)."""
    for start, end in pipelines.generation_start(request_id=request.pk):
        pipelines.generation_chunk_execute(request_id=request.pk, start=start, end=end)
    request.refresh_from_db()
    return request


def _submit(people: dict[str, Any], policy_version: Any, **fields: Any) -> DatasetRequest:
    request = new_request(people["requester"], policy_version, **fields)
    services.dataset_request_submit(request=request, actor=people["requester"])
    return request


def test_knowledge_tree_job_on_an_endpoint_records_steps_cost_and_masked_critique(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer, django_capture_on_commit_callbacks: Any
) -> None:
    model_price_set(model="qwen-test", prompt_per_1k=Decimal("2"), completion_per_1k=Decimal("6"), actor=None)
    request = _submit(people, policy_version, size=6, kind="qa", strategy="knowledge_tree", backend="openai",
                      options={"nodes": ["tax"], "task_types": ["how_to"], "difficulty": ["hard"]})
    with django_capture_on_commit_callbacks() as callbacks:
        request = _generate(request)
    assert request.state == "screening"
    records = list(Record.objects.filter(request=request).order_by("slot_index"))
    assert [r.status for r in records] == ["accepted"] * 6
    first = records[0]
    assert [s["step"] for s in first.provenance["steps"]] == [
        "void_question", "void_answer", "refine_critique", "refine_rewrite"]
    assert first.provenance["tag"] in {"iit-annual", "special-deductions", "invoices"}
    assert first.provenance["tag_path"][:2] == ["政务服务", "税务"]
    assert (first.provenance["task_type"], first.provenance["difficulty"]) == ("how_to", "hard")
    assert first.provenance["model_texts"]["critique"] == "回答缺少办理时间，建议补充。"
    assert first.kind == "qa" and first.category == first.provenance["tag"]
    assert (first.content or {})["instruction"] == "个人所得税年度汇算需要准备哪些材料？"
    job = GenerationJob.objects.get(request=request)
    # 4 calls per record, 42 prompt + 17 completion tokens each: 24 × (42×2 + 17×6) / 1000 = 4.464
    assert (job.calls, job.cache_hits, job.retries) == (24, 0, 0)
    assert (job.prompt_tokens, job.completion_tokens) == (24 * 42, 24 * 17)
    assert job.cost == Decimal("4.464")
    assert first.provenance["usage"]["cost"] == "0.744000"
    assert len(endpoint.state.requests) == 24
    # The job finished: its cached answers (24, encrypted) are purged once that commits.
    assert CachedResponse.objects.filter(request_id=request.pk).count() == 24
    callbacks[-1]()  # the purge; the one before it enqueues screening
    assert CachedResponse.objects.filter(request_id=request.pk).count() == 0


def test_multi_step_fixed_mix_is_exact_and_category_is_recorded(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    request = _submit(people, policy_version, size=10, kind="dialogue", strategy="multi_step", backend="openai",
                      options={"theme": "家电维修咨询", "subcategories": {"冰箱": 3, "空调": 5, "洗衣机": 2}})
    _generate(request)
    categories = list(Record.objects.filter(request=request).values_list("category", flat=True))
    assert sorted(categories) == sorted(["冰箱"] * 3 + ["空调"] * 5 + ["洗衣机"] * 2)
    job = GenerationJob.objects.get(request=request)
    # one items list per subcategory (paid once per chunk at most) + one record call per slot
    bodies = [r["body"] for r in endpoint.state.requests]
    item_calls = [b for b in bodies if "OUTPUT_SCHEMA: items" in b["messages"][-1]["content"]]
    assert len({b["messages"][-1]["content"] for b in item_calls}) == 3
    assert job.calls == len(bodies) == 10 + len(item_calls)


def test_a_redelivered_chunk_pays_no_call_twice(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer, settings: Any
) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "OPENAI_MAX_RETRIES": 0, "GENERATION_CONCURRENCY": 1}
    request = _submit(people, policy_version, size=3, kind="qa", strategy="knowledge_tree", backend="openai")
    ranges = pipelines.generation_start(request_id=request.pk)
    assert ranges == [(0, 3)]
    # Slot 0 finishes (4 calls); slot 1's 3rd call fails for good this delivery.
    endpoint.state.fail_next(0)
    original = endpoint.state._take_failure
    count = {"n": 0}

    def fail_sixth() -> int | None:
        count["n"] += 1
        return 500 if count["n"] == 7 else original()

    endpoint.state._take_failure = fail_sixth  # type: ignore[method-assign]
    with pytest.raises(TransientGenerationError):
        pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=3)
    assert Record.objects.filter(request=request).count() == 2  # slots 0 and 2; slot 1 waits for the retry
    cached = CachedResponse.objects.filter(request_id=request.pk)
    assert cached.count() == 10 and all(b"\xe4\xb8\xaa" not in bytes(c.ciphertext) for c in cached)
    # The redelivery: slot 1's first two calls come from the cache, only the two missing ones are paid.
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=3)
    assert Record.objects.filter(request=request).count() == 3
    assert endpoint.state.duplicate_paid_calls == 0
    job = GenerationJob.objects.get(request=request)
    assert (job.calls, job.cache_hits) == (12, 2)
    request.refresh_from_db()
    assert request.state == "screening"


def test_malformed_then_truncated_output_fails_the_slot_not_the_job(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    request = _submit(people, policy_version, size=2, kind="qa", backend="openai")
    pipelines.generation_start(request_id=request.pk)
    endpoint.state.content = '{"instruction": "只有问题'
    endpoint.state.truncate_next(1)
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=2)
    records = list(Record.objects.filter(request=request).order_by("slot_index"))
    assert [r.status for r in records] == ["failed", "failed"]
    assert "MalformedOutputError" in records[0].reason and "after 2 attempts" in records[0].reason
    job = GenerationJob.objects.get(request=request)
    assert (job.failed, job.calls) == (2, 4)


def test_submit_refuses_a_request_whose_estimate_exceeds_its_budget(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    from django.core.exceptions import ValidationError

    model_price_set(model="qwen-test", prompt_per_1k=Decimal("1"), completion_per_1k=Decimal("1"), actor=None)
    request = new_request(people["requester"], policy_version, size=100, strategy="knowledge_tree", backend="openai",
                          budget_limit=Decimal("10"))
    estimate = services.dataset_request_estimate(request=request)
    # 400 calls × (600 + 400) tokens at 1 per 1k = 400
    assert (estimate["calls"], estimate["cost"], estimate["price_source"]) == (400, Decimal("400"), "admin")
    with pytest.raises(ValidationError, match="estimated cost 400.000000 .* exceeds the budget limit 10"):
        services.dataset_request_submit(request=request, actor=people["requester"])
    request.refresh_from_db()
    assert request.state == "draft"
    assert AuditEvent.objects.filter(action="dataset_request.submit_refused", object_id=str(request.pk)).exists()


def test_the_budget_cap_stops_a_running_job(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer, settings: Any
) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "GENERATION_CONCURRENCY": 1, "GENERATION_CHUNK_SIZE": 20}
    request = _submit(people, policy_version, size=20, kind="qa", backend="openai", budget_limit=Decimal("1"))
    # Priced after submit (the estimate saw no price): each call costs (42 + 17) × 10 / 1000 = 0.59
    model_price_set(model="qwen-test", prompt_per_1k=Decimal("10"), completion_per_1k=Decimal("10"), actor=None)
    pipelines.generation_start(request_id=request.pk)
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=20)
    request.refresh_from_db()
    assert request.state == "failed"
    assert request.state_reason == "budget limit reached: spent 1.180000 of 1.0000"
    assert Record.objects.filter(request=request).count() == 2
    assert len(endpoint.state.requests) == 2


def test_cancelling_stops_a_running_chunk_promptly(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer, settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.pipelines import generation as generation_pipeline

    settings.GATEWAY = {**settings.GATEWAY, "GENERATION_CONCURRENCY": 2, "GENERATION_CHUNK_SIZE": 40}
    endpoint.state.latency_seconds = 0.2
    request = _submit(people, policy_version, size=40, kind="qa", backend="openai")
    pipelines.generation_start(request_id=request.pk)
    started = time.monotonic()
    should_stop = generation_pipeline._should_stop

    def cancel_after_half_a_second(chunk: Any) -> bool:
        # The requester cancels 0.5 s in (on the chunk's thread: SQLite test transactions are per connection).
        if time.monotonic() - started > 0.5 and chunk.request.state == "generating":
            services.dataset_request_cancel(request=chunk.request, actor=people["requester"])
            chunk.request.state = "cancelled"
        return should_stop(chunk)

    monkeypatch.setattr(generation_pipeline, "_should_stop", cancel_after_half_a_second)
    # This test is about the generation loop: screening (seconds per record on a loaded machine) is
    # replaced by an instant pass so the timing below measures cancel latency only.
    monkeypatch.setattr(generation_pipeline, "screen_contents", lambda **kw: [ScreeningOutcome(
        accepted=True, reason="", masked_content=content, findings=[], counts={}, safety={})
        for content in kw["contents"]])
    started = time.monotonic()
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=40)
    elapsed = time.monotonic() - started
    # 40 slots at 2 × 0.2 s would take 4 s; the chunk stops within a poll plus the calls in flight.
    assert elapsed < 1.6
    assert len(endpoint.state.requests) < 12
    assert Record.objects.filter(request=request).count() < 12
    request.refresh_from_db()
    assert request.state == "cancelled"


def test_progress_api_shows_tokens_cost_cache_hits_and_eta(
    people: dict[str, Any], policy_version: Any, api: Any
) -> None:
    request = _submit(people, policy_version, size=4, kind="math", strategy="knowledge_tree")
    run_pipeline(request)
    body = api(people["requester"]).get(f"/api/v1/generation/requests/{request.pk}/progress/").json()
    assert (body["done"], body["total"], body["failed"], body["calls"]) == (4, 4, 0, 16)
    assert body["eta_seconds"] == 0.0 and body["cost"] == "0.000000" and body["model"] == "offline-template-v1"
    assert body["prompt_tokens"] > 0 and body["cache_hits"] == 0
    detail = api(people["requester"]).get(f"/api/v1/requests/{request.pk}/").json()
    assert detail["progress"]["calls"] == 16 and detail["progress"]["eta_seconds"] == 0.0
    record = Record.objects.get(request=request, slot_index=0)
    assert record.kind == "math" and record.status == "accepted", record.reason
    content = record.content or {}
    assert content["final_answer"].endswith(" 元")
    assert record.text.endswith("最终答案：" + content["final_answer"])
    usage = api(people["requester"]).get("/api/v1/generation/usage/").json()
    assert usage == [{"team": "bank-a", "jobs": 1, "calls": 16, "cache_hits": 0, "retries": 0,
                      "prompt_tokens": body["prompt_tokens"], "completion_tokens": body["completion_tokens"],
                      "cost": "0.000000"}]
    assert api(people["outsider_requester"]).get(f"/api/v1/generation/requests/{request.pk}/progress/").status_code \
        == 404


def test_create_api_takes_options_and_budget_and_rejects_bad_options(
    people: dict[str, Any], policy_version: Any, api: Any
) -> None:
    client = api(people["requester"])
    base = {"title": "t", "purpose": "p", "domain": "government services", "size": 5, "kind": "qa",
            "strategy": "knowledge_tree", "policy_version_id": policy_version.pk}
    bad = client.post("/api/v1/requests/", {**base, "options": {"nodes": ["nope"], "colour": 1}}, format="json")
    assert bad.status_code == 400
    assert "unknown option 'colour'" in str(bad.json())
    bad_tree = client.post("/api/v1/requests/", {**base, "options": {"nodes": ["nope"]}}, format="json")
    assert "has no nodes ['nope']" in str(bad_tree.json())
    ok = client.post("/api/v1/requests/", {**base, "options": {"nodes": ["tax"]}, "budget_limit": "2.5"},
                     format="json")
    assert ok.status_code == 201, ok.json()
    assert ok.json()["options"] == {"nodes": ["tax"]} and ok.json()["budget_limit"] == "2.5000"
    estimate = client.get(f"/api/v1/generation/requests/{ok.json()['id']}/estimate/").json()
    assert estimate["calls"] == 20 and estimate["within_budget"] is True and estimate["price_source"] == "unknown"


@pytest.mark.django_db(transaction=True)
def test_concurrent_chunks_screen_in_a_helper_process_with_the_same_outcomes(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer, settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    import os

    from compliance.screening import screen_contents
    from compliance.screening_pool import screening_pool
    from gateway import tasks
    from tests.compliance.test_screening_pool import other_processes_can_open_the_database

    if not other_processes_can_open_the_database():
        pytest.skip("the screening helper reads the policy through its own connection: needs a shared database")
    for task in (tasks.dataset_request_generate, tasks.dataset_request_screen):
        monkeypatch.setattr(task, "delay", lambda *args: None)  # this test runs the steps itself
    settings.GATEWAY = {**settings.GATEWAY, "SCREENING_PROCESSES": 1}
    answer = {"instruction": "我叫王建国，身份证号 110101199003074573，手机 138-1234-5678，想查信用卡账单。",
              "response": "王先生您好，账单已发送到您的手机。"}
    endpoint.state.content = json.dumps(answer, ensure_ascii=False)
    pool = screening_pool(1)
    assert pool is not None
    try:
        request = _generate(_submit(people, policy_version, size=8, kind="qa", strategy="prompt_template",
                                    backend="openai"))
        records = list(Record.objects.filter(request=request).order_by("slot_index"))
        policy_version.refresh_from_db()  # published by the submit
        (expected,) = screen_contents(contents=[answer], policy_version=policy_version,
                                      pseudonym_scope=f"request:{request.pk}")
        assert request.state == "screening" and len(records) == 8
        assert {r.status for r in records} == {"accepted"}
        assert all(r.content == expected.masked_content and r.pii_counts == expected.counts for r in records)
        assert expected.counts == {"PERSON": 2, "CN_RESIDENT_ID": 1, "CN_MOBILE": 1}
        assert all(r.safety["rules"] == expected.safety["rules"] for r in records)
        helpers = pool.helper_pids()
        assert len(helpers) == 1 and os.getpid() not in helpers and pool.restarts == 0
    finally:
        pool.shutdown()
