"""A request never stays stuck: a start that died mid-dispatch, duplicate deliveries, and the watchdog."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from gateway import pipelines, services, tasks
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.pipelines.common import step_lock
from gateway.pipelines.generation import ChunkDispatchError
from gateway.pipelines.resume import pipeline_resume
from tests.gateway.helpers import new_request


@pytest.fixture
def submitted(people: dict[str, Any], policy_version: Any, settings: Any) -> DatasetRequest:
    settings.GATEWAY = {**settings.GATEWAY, "GENERATION_CHUNK_SIZE": 2}
    request = new_request(people["requester"], policy_version, size=6, kind="qa")
    services.dataset_request_submit(request=request, actor=people["requester"])
    return request


def _actions(request: DatasetRequest, action: str) -> list[dict[str, Any]]:
    return [e.payload for e in AuditEvent.objects.filter(object_id=str(request.pk), action=action)]


def test_a_start_that_died_while_queueing_is_finished_by_its_redelivery(submitted: DatasetRequest) -> None:
    queued: list[tuple[int, int]] = []

    def broker_dies_after_one(start: int, end: int) -> None:
        if queued:
            raise ConnectionError("broker went away")
        queued.append((start, end))

    with pytest.raises(ChunkDispatchError, match="broker went away"):
        pipelines.generation_start(request_id=submitted.pk, dispatch=broker_dies_after_one)
    job = GenerationJob.objects.get(request=submitted)
    assert job.request.state == "generating" and job.dispatched_at is None
    pipelines.generation_chunk_execute(request_id=submitted.pk, start=0, end=2)  # the one chunk that was queued

    again: list[tuple[int, int]] = []
    assert pipelines.generation_start(request_id=submitted.pk, dispatch=lambda s, e: again.append((s, e))) == again
    assert again == [(2, 4), (4, 6)]  # only the chunks with empty slots
    assert GenerationJob.objects.get(request=submitted).dispatched_at is not None
    assert _actions(submitted, "generation.chunks_requeued") == [{"chunks": 2, "why": "start redelivered"}]
    # Once dispatched, a further copy of the start does nothing.
    assert pipelines.generation_start(request_id=submitted.pk, dispatch=lambda s, e: again.append((s, e))) == []
    assert len(again) == 2


def _hold_elsewhere(request_id: int, step: str | int) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """Hold a step's lock from another thread (its own database connection) until ``release`` is set."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        from django.db import connection

        try:
            with step_lock(request_id=request_id, step=step) as mine:
                assert mine
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    return held, release, thread


def test_a_copy_of_a_chunk_that_is_running_elsewhere_stops_without_calling(submitted: DatasetRequest) -> None:
    pipelines.generation_start(request_id=submitted.pk)
    _, release, thread = _hold_elsewhere(submitted.pk, 0)
    try:
        assert pipelines.generation_chunk_execute(request_id=submitted.pk, start=0, end=2) == 0
        assert not Record.objects.filter(request=submitted).exists()
        assert GenerationJob.objects.get(request=submitted).calls == 0
        # Another chunk of the same request is not held.
        assert pipelines.generation_chunk_execute(request_id=submitted.pk, start=2, end=4) == 2
    finally:
        release.set()
        thread.join()
    assert pipelines.generation_chunk_execute(request_id=submitted.pk, start=0, end=2) == 2


def test_a_copy_of_a_running_step_stops_and_does_not_fail_the_request(submitted: DatasetRequest) -> None:
    for start, end in pipelines.generation_start(request_id=submitted.pk):
        pipelines.generation_chunk_execute(request_id=submitted.pk, start=start, end=end)
    _, release, thread = _hold_elsewhere(submitted.pk, "screen")
    try:
        assert pipelines.screening_execute(request_id=submitted.pk) is None
        assert DatasetRequest.objects.get(pk=submitted.pk).state == "screening"
    finally:
        release.set()
        thread.join()
    pipelines.screening_execute(request_id=submitted.pk)
    assert DatasetRequest.objects.get(pk=submitted.pk).state == "gated"


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("dataset_request_generate", "generation_chunk_run", "dataset_request_screen", "dataset_request_gate",
                 "dataset_release"):
        monkeypatch.setattr(getattr(tasks, name), "delay", lambda *args, _n=name: calls.append((_n, args)))
    return calls


def _age(request: DatasetRequest, seconds: float) -> None:
    then = timezone.now() - timedelta(seconds=seconds)
    DatasetRequest.objects.filter(pk=request.pk).update(updated_at=then)
    Record.objects.filter(request=request).update(created_at=then)


def test_the_watchdog_requeues_each_stalled_step_once_per_window(
    people: dict[str, Any], policy_version: Any, submitted: DatasetRequest, queued: list[Any]
) -> None:
    # submitted: the start task was lost.
    _age(submitted, 120)
    # generating: a chunk was lost after one chunk finished.
    generating = new_request(people["requester"], policy_version, size=6, kind="qa")
    services.dataset_request_submit(request=generating, actor=people["requester"])
    pipelines.generation_start(request_id=generating.pk)
    pipelines.generation_chunk_execute(request_id=generating.pk, start=2, end=4)
    _age(generating, 120)
    # screening: the screening task was lost; and one that is recent, so left alone.
    screening = new_request(people["requester"], policy_version, size=2, kind="qa")
    services.dataset_request_submit(request=screening, actor=people["requester"])
    for start, end in pipelines.generation_start(request_id=screening.pk):
        pipelines.generation_chunk_execute(request_id=screening.pk, start=start, end=end)
    _age(screening, 120)
    fresh = new_request(people["requester"], policy_version, size=2, kind="qa")
    services.dataset_request_submit(request=fresh, actor=people["requester"])

    resumed = {entry["request_id"]: entry for entry in pipeline_resume(stale_seconds=60)}
    assert set(resumed) == {submitted.pk, generating.pk, screening.pk}
    assert resumed[submitted.pk]["queued"] == ["start"]
    assert resumed[generating.pk]["queued"] == ["chunk 0-2", "chunk 4-6"]
    assert resumed[screening.pk]["queued"] == ["dataset_request_screen"]
    assert sorted(queued) == sorted([
        ("dataset_request_generate", (submitted.pk,)), ("generation_chunk_run", (generating.pk, 0, 2)),
        ("generation_chunk_run", (generating.pk, 4, 6)), ("dataset_request_screen", (screening.pk,)),
    ])
    payload = _actions(generating, "dataset_request.resumed")
    assert payload == [{"state": "generating", "idle_seconds": 120, "queued": ["chunk 0-2", "chunk 4-6"]}]
    # Resumed at most once per stale window.
    assert pipeline_resume(stale_seconds=60) == []
    assert len(queued) == 4


def test_a_generating_request_whose_chunks_made_progress_lately_is_left_alone(
    submitted: DatasetRequest, queued: list[Any]
) -> None:
    pipelines.generation_start(request_id=submitted.pk)
    _age(submitted, 120)
    pipelines.generation_chunk_execute(request_id=submitted.pk, start=0, end=2)  # records written just now
    assert pipeline_resume(stale_seconds=60) == []
    assert queued == []


def test_the_command_reports_and_refuses_bad_input(submitted: DatasetRequest, queued: list[Any], capsys: Any) -> None:
    _age(submitted, 120)
    call_command("pipeline_resume", "--stale-seconds", "60")
    out = capsys.readouterr().out
    assert f"request {submitted.pk} (submitted, idle 120 s): queued start" in out and "1 request(s) resumed" in out
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("pipeline_resume", "--stale-seconds", "-1")
