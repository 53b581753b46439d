"""Celery entry points: thin, take ids, call one pipeline step.

Tasks are idempotent (a slot has one record; a step whose request moved on does nothing; a copy of a
step that is still running elsewhere stops), so ``acks_late`` redelivery after a killed worker is safe.
Schedule the watchdog with Celery beat (``CELERY_BEAT_SCHEDULE`` in settings does so every 5 minutes).
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init, worker_ready

from generation.types import TransientGenerationError

from . import pipelines

log = logging.getLogger(__name__)


def _fail_closed(request_id: int, step: str, exc: BaseException) -> None:
    log.exception("step %s failed for request %s", step, request_id)
    pipelines.request_fail(request_id=request_id, reason=f"{step} failed: {type(exc).__name__}: {exc}")


CHUNK_MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=CHUNK_MAX_RETRIES)
def dataset_request_generate(self: Task, request_id: int) -> None:
    # Starting pays for the calls every slot shares (once per job), then fans the chunks out.
    try:
        pipelines.generation_start(request_id=request_id,
                                   dispatch=lambda start, end: generation_chunk_run.delay(request_id, start, end))
    except TransientGenerationError as exc:
        if self.request.retries >= CHUNK_MAX_RETRIES:
            _fail_closed(request_id, "generation planning", exc)
            return
        raise self.retry(exc=exc, countdown=min(60, 2 ** self.request.retries)) from exc
    except Exception as exc:
        _fail_closed(request_id, "generation planning", exc)


def worker_warm_up() -> None:
    """Load the screening, safety and gate models, the generation path and the chart drawing now: a first chunk
    (or gates step) does not pay.

    Nothing here calls the network. A part that fails to load is only logged: the step that needs it fails
    closed when it runs.
    """
    try:
        from compliance.quality.embeddings import get_embedder
        from compliance.safety import screen_safety
        from compliance.screening import residual_pii

        residual_pii(text="warm-up 13800138000")
        get_embedder()
        screen_safety("warm-up", actions={}, layers=["lexicon", "pattern", "classifier"])  # seed heads loaded
    except Exception:  # noqa: BLE001 - warming up is an optimisation; the real step reports the error
        log.exception("worker warm-up failed")
    try:
        _warm_generation()
    except Exception as exc:  # noqa: BLE001 - e.g. no endpoint configured on this worker: nothing to warm
        log.warning("generation warm-up skipped: %s: %s", type(exc).__name__, exc)
    try:
        _warm_charts()
    except Exception:  # noqa: BLE001 - the gates step renders (or reports failing to render) them itself
        log.exception("chart warm-up failed")


def _warm_generation() -> None:
    """Import the generation path and build the configured endpoint's client (about 1 s on a cold process)."""
    from gateway.conf import gateway_setting
    from generation.backends import backend_from_settings

    from .pipelines import generation  # noqa: F401 - the chunk's own imports: strategies, cache, screening

    backend_from_settings("offline")
    if gateway_setting("OPENAI_BASE_URL"):
        backend = backend_from_settings("openai")
        warm = getattr(backend, "warm_up", None)
        if warm is not None:
            warm()
        # Concurrent chunks screen in helper processes: start them (they load the models) before the first chunk.
        from compliance.screening_pool import screening_pool

        pool = screening_pool(int(gateway_setting("SCREENING_PROCESSES")))
        if pool is not None:
            pool.warm_up()


def _warm_charts() -> None:
    """Draw the quality charts once (matplotlib, the CJK font lookup) into a folder that is then removed."""
    import tempfile
    from pathlib import Path

    from compliance.quality.charts import render_charts

    with tempfile.TemporaryDirectory() as directory:
        render_charts(Path(directory), category_mix={"warm-up": 1.0}, lengths=[10, 20], similarities=[0.5],
                      flags_per_gate={"warm-up": 0})


def _freeze_warm_heap() -> None:
    """What warm-up loaded lives as long as the worker: take it out of the collector's sight. A full collection
    walked it every time, 160-370 ms with the GIL held, during which no call in flight was answered."""
    gc.collect()
    gc.freeze()


@worker_process_init.connect
def _warm_pool_process(**_kwargs: Any) -> None:
    worker_warm_up()  # a prefork child: models loaded after the fork, in the process that uses them
    _freeze_warm_heap()


@worker_ready.connect
def _warm_worker(sender: Any = None, **_kwargs: Any) -> None:
    pool = getattr(sender, "pool", None)
    if "prefork" not in type(pool).__module__:  # solo / threads: tasks run in this process
        worker_warm_up()
        _freeze_warm_heap()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=CHUNK_MAX_RETRIES)
def generation_chunk_run(self: Task, request_id: int, start: int, end: int) -> None:
    try:
        pipelines.generation_chunk_execute(request_id=request_id, start=start, end=end)
    except TransientGenerationError as exc:
        # Only what may pass on the next try is retried; finished slots are skipped on the rerun.
        if self.request.retries >= CHUNK_MAX_RETRIES:
            pipelines.generation_chunk_give_up(request_id=request_id, start=start, end=end,
                                               reason=f"endpoint kept failing: {exc}")
            return
        raise self.retry(exc=exc, countdown=min(60, 2 ** self.request.retries)) from exc
    except Exception as exc:
        _fail_closed(request_id, "generation", exc)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dataset_request_screen(request_id: int) -> None:
    try:
        pipelines.screening_execute(request_id=request_id)
    except Exception as exc:
        _fail_closed(request_id, "screening", exc)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dataset_request_gate(request_id: int) -> None:
    try:
        pipelines.gates_execute(request_id=request_id)
    except Exception as exc:
        _fail_closed(request_id, "quality gates", exc)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dataset_release(request_id: int) -> None:
    try:
        pipelines.release_execute(request_id=request_id)
    except Exception as exc:
        _fail_closed(request_id, "release", exc)


@shared_task
def pipeline_watchdog() -> int:
    """Queue again the step of every request that stalled (see ``pipelines.resume``); returns how many."""
    from .pipelines.resume import pipeline_resume

    return len(pipeline_resume())
