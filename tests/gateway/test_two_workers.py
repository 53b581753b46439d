"""Two real ``celery worker`` processes share one generation job against a server that injects faults."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from gateway import services
from gateway.celery import app
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.tasks import dataset_request_generate
from generation.knowledge import parse_tree_document
from generation.models import KnowledgeTree
from generation.services import SEED_TREE_PATH, SEED_TREE_SLUG, tree_store
from tests.gateway.helpers import new_request, without_proxies
from tests.gateway.test_end_to_end import _database_url_for_subprocess, clean_env, shared_redis_url
from tests.generation.fake_openai_server import running_fake_openai_server

ROOT = Path(settings.BASE_DIR)
SIZE, CHUNK = 60, 5
DONE_STATES = {"awaiting_approval", "approved", "released", "failed", "cancelled"}


def _start_workers(env: dict[str, str], logs: list[Path]) -> list[subprocess.Popen[Any]]:
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"share{i}@%h",
             "--logfile", str(log)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i, log in enumerate(logs)
    ]
    # Both must be consuming before the chunks are queued, or the first one up could take them all.
    deadline = time.monotonic() + 240
    while not all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            _stop(workers)
            pytest.fail("celery workers did not start:\n" + "\n".join(
                log.read_text(errors="replace")[-2000:] for log in logs if log.exists()))
        time.sleep(0.2)
    return workers


def _stop(workers: list[subprocess.Popen[Any]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def start_openai_workers(
    settings: Any, server: Any, tmp_path: Path, redis_url: str, *, chunk: int, timeout: str, retries: str
) -> list[subprocess.Popen[Any]]:
    """Point this process and two fresh worker processes (empty queue) at the fake OpenAI server."""
    endpoint = {"GENERATION_BACKEND": "openai", "OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "qwen-test",
                "OPENAI_API_KEY": "k", "OPENAI_TIMEOUT_SECONDS": timeout, "OPENAI_MAX_RETRIES": retries,
                "GENERATION_CONCURRENCY": "4", "GENERATION_CHUNK_SIZE": str(chunk)}
    settings.GATEWAY = {**settings.GATEWAY, "OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "qwen-test",
                        "GENERATION_CHUNK_SIZE": chunk}
    env = clean_env(DATABASE_URL=_database_url_for_subprocess(), CELERY_BROKER_URL=redis_url,
                    GATEWAY_VAR_DIR=str(tmp_path), GATEWAY_DATASET_DIR=str(tmp_path / "datasets"),
                    AUDIT_SIGNING_KEY_PATH=str(settings.GATEWAY["AUDIT_SIGNING_KEY_PATH"]), **endpoint)
    subprocess.run([sys.executable, "-m", "celery", "-A", "gateway", "purge", "-f"], cwd=ROOT, env=env,  # noqa: S603
                   capture_output=True, timeout=60, check=False)
    return _start_workers(env, [tmp_path / f"worker-{i}.log" for i in range(2)])


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_one_job_without_duplicates(
    people: dict[str, Any], policy_version: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_url = shared_redis_url()
    if not KnowledgeTree.objects.filter(slug=SEED_TREE_SLUG).exists():
        # An earlier transactional test flushed the tables, seed data included.
        tree_store(parse_tree_document(SEED_TREE_PATH.read_text(encoding="utf-8")))
    without_proxies(monkeypatch)

    with running_fake_openai_server() as server:
        # 10% of calls fail: 429 with Retry-After, 500, or a stall past the client's 1 s time-out.
        server.state.latency_seconds = 0.05
        server.state.fault_rate, server.state.fault_seed, server.state.stall_seconds = 0.1, 7, 1.5
        server.state.distinct_content = True
        server.state.record_requests = False
        workers = start_openai_workers(settings, server, tmp_path, redis_url, chunk=CHUNK, timeout="1", retries="5")
        try:
            request = new_request(people["requester"], policy_version, size=SIZE, kind="qa",
                                  strategy="knowledge_tree", backend="openai")
            monkeypatch.setattr(dataset_request_generate, "delay", lambda *args: None)
            services.dataset_request_submit(request=request, actor=people["requester"])
            with app.connection_for_write(redis_url) as broker:
                dataset_request_generate.apply_async(args=[request.pk], connection=broker)
            deadline = time.monotonic() + 300
            while DatasetRequest.objects.get(pk=request.pk).state not in DONE_STATES:
                assert time.monotonic() < deadline, "the job did not finish in 300 s"
                time.sleep(0.2)
        finally:
            _stop(workers)
        paid, duplicates = sum(server.state.paid.values()), server.state.duplicate_paid_calls
        faults = dict(server.state.faults)

    request.refresh_from_db()
    job = GenerationJob.objects.get(request=request)
    records = Record.objects.filter(request=request)
    slots = list(records.values_list("slot_index", flat=True))
    assert sorted(slots) == list(range(SIZE)), f"one record per slot; request {request.state}: {request.state_reason}"
    assert records.filter(status=Record.Status.FAILED).count() == 0, records.exclude(reason="").values_list(
        "reason", flat=True)[:3]
    by_worker = Counter(str(p.get("worker")) for p in records.values_list("provenance", flat=True))
    assert len(by_worker) == 2, f"both worker processes should have run chunks: {dict(by_worker)}"
    assert sum(faults.values()) > 0 and job.retries > 0, "the server injected faults and the client retried them"
    assert duplicates == 0, "no request body was paid twice"
    assert paid == job.calls == SIZE * 4, "every paid call was booked once; 4 calls per knowledge-tree record"
    assert request.state != "failed" or "quality gates" in request.state_reason, request.state_reason
