"""Resume requests whose pipeline stalled, so a lost task never leaves a request stuck.

A step queues the next one after its transaction commits; a worker killed in between, or a broker that
lost a message, leaves a request in a working state with nothing queued to move it on. The watchdog
(``gateway.tasks.pipeline_watchdog``, scheduled with Celery beat, or ``manage.py pipeline_resume``) finds
working requests that have made no progress for ``PIPELINE_STALE_SECONDS`` and queues their step again.
That is always safe: every step checks the request's state first, a chunk skips finished slots and
answers paid calls from the cache, and ``step_lock`` stops a copy of a step that is still running
elsewhere. A request is resumed at most once per stale window, and each resume is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from audit.services import audit_event_append
from gateway.conf import gateway_setting
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.states import RequestState

from .generation import generation_finish_if_complete, unfinished_chunks

S = RequestState
WORKING = (S.SUBMITTED, S.GENERATING, S.SCREENING, S.GATED, S.APPROVED)
RESUMED_KEY = "resumed_at"  # in GenerationJob.stats: when the watchdog last resumed the request


def pipeline_resume(*, stale_seconds: float | None = None) -> list[dict[str, Any]]:
    """Queue again the step of every working request idle for ``stale_seconds``; returns what was resumed."""
    from gateway import tasks

    stale = float(gateway_setting("PIPELINE_STALE_SECONDS") if stale_seconds is None else stale_seconds)
    if stale < 0:
        raise ValueError("stale_seconds must not be negative")
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale)
    resumed = []
    for request in DatasetRequest.objects.filter(state__in=WORKING, updated_at__lt=cutoff).select_related("job"):
        job: GenerationJob | None = getattr(request, "job", None)
        last = request.updated_at
        if request.state == S.GENERATING:
            newest = Record.objects.filter(request_id=request.pk).aggregate(newest=Max("created_at"))["newest"]
            last = max(last, newest) if newest else last
        if job is not None and job.stats.get(RESUMED_KEY):
            last = max(last, datetime.fromisoformat(job.stats[RESUMED_KEY]))
        if last >= cutoff:
            continue
        queued = _queue_step(request, job, tasks)
        if job is not None:
            GenerationJob.objects.filter(pk=job.pk).update(stats={**job.stats, RESUMED_KEY: now.isoformat()})
        entry = {"request_id": request.pk, "state": request.state, "idle_seconds": round((now - last).total_seconds()),
                 "queued": queued}
        audit_event_append(actor=None, action="dataset_request.resumed", object_type="dataset_request",
                           object_id=request.pk, payload={k: v for k, v in entry.items() if k != "request_id"})
        resumed.append(entry)
    return resumed


def _queue_step(request: DatasetRequest, job: GenerationJob | None, tasks: Any) -> list[str]:
    if request.state == S.SUBMITTED:
        tasks.dataset_request_generate.delay(request.pk)
        return ["start"]
    if request.state == S.GENERATING:
        ranges = unfinished_chunks(job) if job is not None else []
        for start, end in ranges:
            tasks.generation_chunk_run.delay(request.pk, start, end)
        if not ranges:
            generation_finish_if_complete(request_id=request.pk)  # every slot is filled: it queues screening
            return ["finish"]
        return [f"chunk {start}-{end}" for start, end in ranges]
    steps: dict[str, Any] = {S.SCREENING: tasks.dataset_request_screen, S.GATED: tasks.dataset_request_gate,
                             S.APPROVED: tasks.dataset_release}
    step = steps[request.state]
    step.delay(request.pk)
    return [step.name.rsplit(".", 1)[-1]]
