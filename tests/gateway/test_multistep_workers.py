"""A multi-step job's shared steps (subcategories, items lists) are paid once per job, however many
chunks run them at once: in threads of one process, or in two real ``celery worker`` processes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connections

from gateway import pipelines, services
from gateway.celery import app
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.pipelines.generation import generation_plan
from gateway.tasks import dataset_request_generate
from generation.models import CachedResponse
from tests.gateway.helpers import new_request, without_proxies
from tests.gateway.test_end_to_end import shared_redis_url
from tests.gateway.test_two_workers import DONE_STATES, _stop, start_openai_workers
from tests.generation.fake_openai_server import FakeOpenAIServer, running_fake_openai_server

SIZE, CHUNK = 20, 5
SUBCATEGORIES = 3  # the fake server answers every subcategories step with three names
# One subcategories call, one items call per subcategory, then one call per record.
EXPECTED_CALLS = 1 + SUBCATEGORIES + SIZE


@pytest.fixture
def endpoint(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    without_proxies(monkeypatch)
    with running_fake_openai_server() as server:
        # Slow enough that chunks started together are all waiting on the shared steps at once.
        server.state.latency_seconds = 0.1
        settings.GATEWAY = {**settings.GATEWAY, "OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "qwen-test",
                            "OPENAI_API_KEY": "k", "OPENAI_TIMEOUT_SECONDS": 5.0, "OPENAI_MAX_RETRIES": 1,
                            "GENERATION_CONCURRENCY": 4, "GENERATION_CHUNK_SIZE": CHUNK}
        yield server


def _submit(people: dict[str, Any], policy_version: Any) -> DatasetRequest:
    request = new_request(people["requester"], policy_version, size=SIZE, kind="qa", strategy="multi_step",
                          backend="openai", options={"theme": "家电维修咨询", "subcategory_count": SUBCATEGORIES})
    services.dataset_request_submit(request=request, actor=people["requester"])
    return request


def _assert_shared_steps_in_provenance(request: DatasetRequest) -> None:
    for provenance in Record.objects.filter(request=request).values_list("provenance", flat=True):
        steps = [step["step"] for step in provenance["steps"]]
        assert steps[:2] == ["subcategories", "items"], steps
        assert provenance["steps"][0]["shared"] and provenance["steps"][1]["shared"]
        assert provenance["steps"][0]["source"] == "model"
        assert provenance["category"], "the slot's subcategory is recorded (masked)"


@pytest.mark.django_db(transaction=True)
def test_concurrent_chunks_of_one_multistep_job_pay_each_shared_call_once(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    request = _submit(people, policy_version)
    ranges = pipelines.generation_start(request_id=request.pk)
    assert len(ranges) == SIZE // CHUNK
    planned = GenerationJob.objects.get(request=request)
    assert planned.calls == 1 + SUBCATEGORIES, "starting the job paid for the shared steps, and booked them"
    assert CachedResponse.objects.filter(request_id=request.pk, slot_index__isnull=True).count() == planned.calls

    # Every chunk at once, as on several workers: each has its own strategy and its own view of the cache.
    barrier = threading.Barrier(len(ranges))
    errors: list[BaseException] = []

    def run(start: int, end: int) -> None:
        try:
            barrier.wait()
            pipelines.generation_chunk_execute(request_id=request.pk, start=start, end=end)
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=bounds) for bounds in ranges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    request.refresh_from_db()
    job = GenerationJob.objects.get(request=request)
    assert request.state == "screening", request.state_reason
    assert sorted(Record.objects.filter(request=request).values_list("slot_index", flat=True)) == list(range(SIZE))
    assert endpoint.state.duplicate_paid_calls == 0, "no call was paid twice"
    assert sum(endpoint.state.paid.values()) == job.calls == EXPECTED_CALLS
    # Each chunk answered every shared call from the cache once (its slots after that share its memo).
    assert job.cache_hits == len(ranges) * (1 + SUBCATEGORIES)
    _assert_shared_steps_in_provenance(request)


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_start_answers_the_shared_steps_from_the_cache(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    request = _submit(people, policy_version)
    assert generation_plan(request_id=request.pk) == 1 + SUBCATEGORIES
    # The worker died before the request moved on: the redelivered start plans again, paying nothing.
    assert generation_plan(request_id=request.pk) == 0
    job = GenerationJob.objects.get(request=request)
    assert job.calls == sum(endpoint.state.paid.values()) == 1 + SUBCATEGORIES
    assert job.cache_hits == 1 + SUBCATEGORIES
    assert endpoint.state.duplicate_paid_calls == 0


@pytest.mark.django_db(transaction=True)
def test_a_shared_step_that_stays_malformed_fails_the_request_before_any_chunk_runs(
    people: dict[str, Any], policy_version: Any, endpoint: FakeOpenAIServer
) -> None:
    endpoint.state.content = "not json at all"
    request = _submit(people, policy_version)
    dataset_request_generate.apply(args=[request.pk])
    request.refresh_from_db()
    job = GenerationJob.objects.get(request=request)
    assert request.state == "failed"
    assert "generation planning failed" in request.state_reason and "subcategories" in request.state_reason
    # One call and one repair call, both booked; no slot paid for the same step again.
    assert job.calls == sum(endpoint.state.paid.values()) == 2
    assert not Record.objects.filter(request=request).exists()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_pay_a_multistep_jobs_shared_steps_once(
    people: dict[str, Any], policy_version: Any, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_url = shared_redis_url()
    without_proxies(monkeypatch)

    with running_fake_openai_server() as server:
        server.state.latency_seconds = 0.1
        server.state.record_requests = False
        workers = start_openai_workers(settings, server, tmp_path, redis_url, chunk=CHUNK, timeout="5", retries="1")
        try:
            request = new_request(people["requester"], policy_version, size=SIZE, kind="qa", strategy="multi_step",
                                  backend="openai",
                                  options={"theme": "家电维修咨询", "subcategory_count": SUBCATEGORIES})
            monkeypatch.setattr(dataset_request_generate, "delay", lambda *args: None)
            services.dataset_request_submit(request=request, actor=people["requester"])
            with app.connection_for_write(redis_url) as broker:
                dataset_request_generate.apply_async(args=[request.pk], connection=broker)
            deadline = time.monotonic() + 300
            while DatasetRequest.objects.get(pk=request.pk).state not in DONE_STATES | {"screening", "gated"}:
                assert time.monotonic() < deadline, "the job did not finish generating in 300 s"
                time.sleep(0.2)
        finally:
            _stop(workers)
        paid, duplicates = sum(server.state.paid.values()), server.state.duplicate_paid_calls

    request.refresh_from_db()
    job = GenerationJob.objects.get(request=request)
    records = Record.objects.filter(request=request)
    assert sorted(records.values_list("slot_index", flat=True)) == list(range(SIZE)), request.state_reason
    by_worker = Counter(str(p.get("worker")) for p in records.values_list("provenance", flat=True))
    assert len(by_worker) == 2, f"both worker processes should have run chunks: {dict(by_worker)}"
    assert duplicates == 0, "no call was paid twice"
    assert paid == job.calls == EXPECTED_CALLS
    _assert_shared_steps_in_provenance(request)
