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


def test_a_worker_takes_what_warm_up_loaded_out_of_the_collectors_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    from types import SimpleNamespace

    warmed: list[int] = []
    monkeypatch.setattr(tasks, "worker_warm_up", lambda: warmed.append(gc.get_freeze_count()))

    class ThreadPool:  # a threads/solo pool: tasks run in the worker process itself
        pass

    gc.unfreeze()
    try:
        tasks._warm_worker(sender=SimpleNamespace(pool=ThreadPool()))
        # Frozen after warm-up (not before): the loaded models are never walked by a full collection again.
        assert warmed == [0] and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_warm_up_draws_the_charts_once(settings, no_network, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from compliance.quality import charts

    drawn: list[int] = []
    real = charts.render_charts

    def render(directory: Path, **kwargs: object) -> dict[str, object]:
        result = real(directory, **kwargs)  # type: ignore[arg-type]
        drawn.append(sum(Path(str(p)).stat().st_size > 0 for p in result["files"].values()))  # type: ignore[union-attr]
        return result

    monkeypatch.setattr(charts, "render_charts", render)
    tasks.worker_warm_up()
    assert drawn == [len(charts.CHARTS)] and no_network == []
