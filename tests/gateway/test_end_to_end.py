"""The README's main job and the real multi-process set-up, run as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from gateway.models import Dataset, DatasetRequest, Record
from gateway.states import RequestState

ROOT = Path(settings.BASE_DIR)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "GATEWAY_VAR_DIR", "DJANGO_SETTINGS_MODULE"}}
    env.update(extra)
    return env


def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    """`python manage.py demo` with no services: SQLite, filesystem broker, one worker process."""
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--records", "12"],
        cwd=ROOT, env=clean_env(GATEWAY_VAR_DIR=str(tmp_path)), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "records generated: 12 of 12" in out
    assert "entities masked by type:" in out and "CN_RESIDENT_ID" in out
    assert "gate exact_duplicate: pass" in out
    assert "state: released" in out
    assert "audit log verified:" in out
    dataset_line = next(line for line in out.splitlines() if line.startswith("dataset: "))
    assert Path(dataset_line.split()[1]).is_file()
    assert (tmp_path / "gateway.sqlite3").is_file()


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return url
    except OSError:
        return None


def shared_redis_url() -> str:
    """The Redis broker URL for tests that start worker processes; skips (fails in CI) without
    Redis, and skips on an in-memory SQLite database that worker processes cannot share."""
    redis_url = _redis_url()
    if redis_url is None:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable in CI; .ci/run should have started it")
        pytest.skip("Redis is not reachable at REDIS_URL; start it to run this test")
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:"):
        pytest.skip("in-memory SQLite cannot be shared with worker processes")
    return redis_url


def _database_url_for_subprocess() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_celery_worker_processes_run_a_job_through_redis(tmp_path: Path) -> None:
    redis_url = shared_redis_url()
    env = clean_env(DATABASE_URL=_database_url_for_subprocess(), CELERY_BROKER_URL=redis_url,
                    GATEWAY_VAR_DIR=str(tmp_path), GATEWAY_DATASET_DIR=str(tmp_path / "datasets"),
                    AUDIT_SIGNING_KEY_PATH=str(tmp_path / "audit.pem"))
    subprocess.run([sys.executable, "-m", "celery", "-A", "gateway", "purge", "-f"], cwd=ROOT, env=env,
                   capture_output=True, timeout=60, check=False)
    workers: list[subprocess.Popen[Any]] = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool", "solo", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test{i}@%h"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--records", "30", "--workers", "0", "--timeout", "300"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broker redis" in result.stdout
    request = DatasetRequest.objects.get()
    assert request.state == RequestState.RELEASED
    assert Record.objects.filter(request=request).count() == 30
    assert Dataset.objects.get(request=request).record_count > 0
