"""Helpers shared by the pipeline steps."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection, transaction

from gateway.models import DatasetRequest
from gateway.services import _transition
from gateway.states import TRANSITIONS, RequestState

S = RequestState
log = logging.getLogger(__name__)
T = TypeVar("T")

# The second key of a step's lock: a chunk uses its first slot index (>= 0), the other steps these.
STEP_KEYS = {"start": -1, "screen": -2, "gate": -3, "release": -4}
_local_lock = threading.Lock()
_local_held: set[tuple[int, int]] = set()


@contextmanager
def step_lock(*, request_id: int, step: str | int) -> Iterator[bool]:
    """Yield True if this process now runs ``step`` of the request alone, False if a live copy already runs it.

    A task can be delivered twice (its worker was killed and the broker redelivered it, a visibility timeout
    passed, the watchdog re-queued a step that looked stalled). The copy that finds the step held stops:
    the holder finishes the work, and if the holder dies its own unacknowledged message is redelivered.
    On PostgreSQL this is a session advisory lock on the step's own connection, so a killed worker frees
    it at once; elsewhere (SQLite: one process) an in-process registry. ``step`` is a name from
    ``STEP_KEYS`` or a chunk's first slot index.
    """
    key = (request_id & 0x7FFFFFFF, STEP_KEYS[step] if isinstance(step, str) else int(step))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                _advisory_unlock(key)
        return
    with _local_lock:
        held = key not in _local_held
        _local_held.add(key)
    try:
        yield held
    finally:
        if held:
            with _local_lock:
                _local_held.discard(key)


def runs_alone(step: str) -> Callable[[Callable[..., T]], Callable[..., T | None]]:
    """Decorate a step ``f(*, request_id, ...)`` so that a second live copy of it returns None at once."""

    def decorate(function: Callable[..., T]) -> Callable[..., T | None]:
        @functools.wraps(function)
        def run(*, request_id: int, **kwargs: Any) -> T | None:
            with step_lock(request_id=request_id, step=step) as mine:
                if not mine:
                    log.info("step %s of request %s is already running elsewhere; this copy stops", step, request_id)
                    return None
                return function(request_id=request_id, **kwargs)

        return run

    return decorate


def _advisory_unlock(key: tuple[int, int]) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    except Exception:  # noqa: BLE001 - e.g. the connection broke: PostgreSQL released the lock with it
        log.warning("could not release step lock %s; it goes with the connection", key, exc_info=True)


def request_fail(*, request_id: int, reason: str) -> None:
    """Move a request that hit an unexpected error to failed, keeping what it produced for inspection."""
    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if S.FAILED in TRANSITIONS.get(request.state, frozenset()):
            _transition(request_id=request_id, target=S.FAILED, actor=None, reason=reason[:2000])

