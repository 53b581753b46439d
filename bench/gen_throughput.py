"""Generation throughput against a local OpenAI-compatible server that answers every call after 200 ms.

A job of N records (knowledge-tree strategy, 4 calls per record) at concurrency 32 runs generation,
screening, gates and audit writes; the ratio is wall time / ideal (records × calls per record × 0.2 s / 32).
Reported for 1 and 2 worker processes (2 processes split the job's chunks and share one job on PostgreSQL).

    .venv/bin/python bench/gen_throughput.py [--records 1000] [--concurrency 32] [--workers 1 2]
Needs PostgreSQL on 127.0.0.1 (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/issue4_bench).
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
os.environ.setdefault("GATEWAY_VAR_DIR", "/tmp/var-issue4-bench")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/issue4_bench")
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

LATENCY = 0.2


def _setup_django(base_url: str, concurrency: int, chunk_size: int) -> None:
    os.environ.update({"GENERATION_BACKEND": "openai", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "bench-model",
                       "OPENAI_API_KEY": "k", "GENERATION_CONCURRENCY": str(concurrency),
                       "GENERATION_CHUNK_SIZE": str(chunk_size), "OPENAI_TIMEOUT_SECONDS": "5",
                       "OPENAI_MAX_RETRIES": "5"})
    import django

    django.setup()


def _ensure_db() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _make_request(records: int) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from compliance.services import policy_create, policy_version_create
    from gateway import services
    from gateway.models import Role

    call_command("migrate", verbosity=0)
    team = services.team_create(name=f"bench {time.time()}", slug=f"bench-{int(time.time() * 1000)}", actor=None)
    user = get_user_model().objects.create_user(username=f"req-{team.slug}")
    services.team_member_add(user=user, team=team, roles=[Role.REQUESTER], actor=None)
    policy = policy_create(name=f"bench-{team.slug}", actor=None)
    version = policy_version_create(policy=policy, actor=None)
    request = services.dataset_request_create(
        actor=user, title="bench", purpose="benchmark", domain="government services", size=records,
        policy_version=version, kind="qa", strategy="knowledge_tree", backend="openai", seed=int(time.time()),
    )
    from unittest import mock

    with mock.patch("gateway.tasks.dataset_request_generate.delay"):
        services.dataset_request_submit(request=request, actor=user)
    return request.pk


def _worker(base_url: str, concurrency: int, chunk_size: int, request_id: int, ranges: list[tuple[int, int]]) -> None:
    _setup_django(base_url, concurrency, chunk_size)
    from unittest import mock

    from gateway import pipelines

    with mock.patch("gateway.tasks.dataset_request_screen.delay"):
        for start, end in ranges:
            for _attempt in range(6):
                try:
                    pipelines.generation_chunk_execute(request_id=request_id, start=start, end=end)
                    break
                except Exception as exc:  # noqa: BLE001 - a chunk failure is retried like the task does
                    print(f"chunk {start}-{end} raised {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
                    continue


def run(records: int, concurrency: int, workers: int, base_url: str) -> dict[str, float]:
    from unittest import mock

    from gateway import pipelines
    from gateway.models import GenerationJob, Record

    chunk_size = 128
    request_id = _make_request(records)
    started = time.monotonic()
    ranges = pipelines.generation_start(request_id=request_id)
    per_worker_concurrency = max(1, concurrency // workers)
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(base_url, per_worker_concurrency, chunk_size, request_id,
                                               ranges[i::workers])) for i in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    with mock.patch("gateway.tasks.dataset_request_gate.delay"):
        pipelines.generation_finish_if_complete(request_id=request_id)
        pipelines.screening_execute(request_id=request_id)
    with mock.patch("gateway.tasks.dataset_release.delay"):
        pipelines.gates_execute(request_id=request_id)
    elapsed = time.monotonic() - started
    job = GenerationJob.objects.get(request_id=request_id)
    calls_per_record = job.calls / max(1, records)
    ideal = records * calls_per_record * LATENCY / concurrency
    return {"records": Record.objects.filter(request_id=request_id).count(), "seconds": round(elapsed, 2),
            "ideal_seconds": round(ideal, 2), "ratio": round(elapsed / ideal, 3),
            "calls_per_record": round(calls_per_record, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from tests.generation.fake_openai_server import running_fake_openai_server

    _ensure_db()
    with running_fake_openai_server() as server:
        server.state.latency_seconds = LATENCY
        server.state.record_requests = False
        _setup_django(server.base_url, args.concurrency, 128)
        results = {}
        for workers in args.workers:
            results[f"workers_{workers}"] = run(args.records, args.concurrency, workers, server.base_url)
            print(f"{workers} worker(s): {results[f'workers_{workers}']}", flush=True)
        duplicates = server.state.duplicate_paid_calls
    print(json.dumps({"bench": "gen_throughput", "records": args.records, "concurrency": args.concurrency,
                      "latency_s": LATENCY, "limit_ratio": 1.3, **results, "duplicate_paid_calls": duplicates,
                      "machine": "shared 2-core, other engineers running"}))


if __name__ == "__main__":
    main()
