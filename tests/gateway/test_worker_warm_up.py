"""A worker warms the generation path at start without touching the network."""

from __future__ import annotations

import logging
import socket

import pytest

from gateway import tasks


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    attempts: list[tuple[object, ...]] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append((address,))
        raise OSError("network use during warm-up")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_warm_up_builds_the_openai_client_without_calling_it(settings, no_network) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "warm"}
    tasks._warm_generation()
    assert no_network == []


def test_a_misconfigured_endpoint_only_logs_at_warm_up(settings, no_network, caplog) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": ""}
    with caplog.at_level(logging.WARNING, logger="gateway.tasks"):
        tasks.worker_warm_up()
    assert "generation warm-up skipped: GenerationConfigError" in caplog.text
    assert no_network == []


@pytest.mark.parametrize(("argv", "expected"), [(["celery", "-A", "gateway", "worker"], "1"),
                                                 (["manage.py", "runserver"], "unset")])
def test_worker_processes_run_single_threaded_blas_unless_told_otherwise(argv: list[str], expected: str) -> None:
    import os
    import subprocess
    import sys

    code = (f"import sys; sys.argv = {argv!r}; import gateway, os; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == expected
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "2"
