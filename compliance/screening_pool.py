"""Screening in helper processes, beside a process that is busy with other work.

A generation worker process spends its GIL on its model calls (the openai client's own work), its
writes and, unless it hands it off, on screening (PII masking and content safety, about 10 ms a
record). With dozens of calls in flight, screening on the same GIL delays every call and lets
finished slots pile up behind it. A ``ScreeningPool`` runs ``screen_contents`` in helper processes of
its own: spawned, so they inherit neither the caller's threads nor its database connections; each
loads the PII engine and the safety rules once and reads policy rows through its own connection.

Fail closed, and nothing lost:

- a helper that dies (the pool breaks): the content is screened in the calling process instead, and
  new helpers start once ``RESTART_AFTER_SECONDS`` have passed;
- a screening that raises in a helper, or is not back within ``timeout`` seconds: every part is held
  back with the reason, and the helpers are replaced (a hung one is killed).

Only data that is committed can be screened by a helper (it reads the policy version's lexicon
through its own connection), which is always so for generation workers.
"""

from __future__ import annotations

import functools
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .screening import ScreeningOutcome

# A helper imports this module before Django is set up (to find its initializer), so nothing here imports
# models at module level: ``.screening`` is imported inside the functions that use it.

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 120.0
RESTART_AFTER_SECONDS = 30.0
PARENT_CHECK_SECONDS = 1.0
# Settings a helper needs that may differ from what its environment gives it (a test database, keys set in code).
_HANDED_OVER_SETTINGS = ("DATABASES", "PII_HMAC_KEY", "PII_ENCRYPTION_KEY")


def inline_screening(
    *, contents: Sequence[Any], policy_version: Any, pseudonym_scope: str
) -> Future[list[ScreeningOutcome]]:
    """``screen_contents`` here and now, as a finished future (the same interface as ``ScreeningPool.submit``)."""
    from .screening import screen_contents

    future: Future[list[ScreeningOutcome]] = Future()
    future.set_result(screen_contents(contents=contents, policy_version=policy_version,
                                      pseudonym_scope=pseudonym_scope))
    return future


@dataclass
class _Job:
    contents: Sequence[Any]
    policy_version: Any
    pseudonym_scope: str
    submitted: float
    result: Future[list[ScreeningOutcome]]


class ScreeningPool:
    """``processes`` helper processes that screen content; ``submit`` returns a future of the outcomes.

    The future always resolves to one ``ScreeningOutcome`` per content part, never to an exception
    (see the module's notes on failures). Thread-safe.
    """

    def __init__(self, *, processes: int, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        if processes < 1:
            raise ValueError("a screening pool needs at least one process")
        self.processes = processes
        self.timeout = timeout
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._pending: dict[int, _Job] = {}
        self._next_id = 0
        self._inline_until = 0.0  # after a breakage, screen here until then
        self._fallback = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screen-fallback")
        self.restarts = 0

    def submit(
        self, *, contents: Sequence[Any], policy_version: Any, pseudonym_scope: str
    ) -> Future[list[ScreeningOutcome]]:
        job = _Job(list(contents), policy_version, pseudonym_scope, time.monotonic(), Future())
        with self._lock:
            executor = self._running_executor()
            if executor is not None:
                job_id = self._next_id
                self._next_id += 1
                self._pending[job_id] = job
        if executor is None:
            self._fallback.submit(self._screen_here, job)
            return job.result
        try:
            inner = executor.submit(_screen_in_helper, job.contents, policy_version, pseudonym_scope)
        except Exception as exc:  # noqa: BLE001 - broke, was shut down, or could not start a helper at all
            self._broken(executor, exc)
            self._settle(job_id, None, BrokenProcessPool(f"{type(exc).__name__}: {exc}"))
            return job.result
        inner.add_done_callback(functools.partial(self._done, job_id, executor=executor))
        return job.result

    def warm_up(self) -> None:
        """Start the helpers now (they load the screening models), not at the first submission."""
        with self._lock:
            executor = self._running_executor()
        if executor is None:
            return
        try:
            for _ in range(self.processes):
                executor.submit(_warm_helper)
        except Exception as exc:  # noqa: BLE001 - screening falls back to this process meanwhile, and says why
            self._broken(executor, exc)

    def helper_pids(self) -> list[int]:
        """Process ids of the running helpers (empty while screening falls back to this process)."""
        with self._lock:
            executor = self._executor
        return sorted(process.pid for process in getattr(executor, "_processes", {}).values()) if executor else []

    def expire_overdue(self) -> int:
        """Hold back every submission older than ``timeout`` (fail closed) and replace the helpers; returns
        how many were held. Callers waiting on results call this now and then."""
        now = time.monotonic()
        with self._lock:
            overdue = [job_id for job_id, job in self._pending.items() if now - job.submitted > self.timeout]
            executor = self._executor if overdue else None
        for job_id in overdue:
            self._settle(job_id, None, TimeoutError(f"screening took longer than {self.timeout:.0f} s"))
        if executor is not None:
            logger.error("screening helper did not answer within %.0f s; replacing the helpers", self.timeout)
            self._kill(executor)
        return len(overdue)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._fallback.shutdown(wait=True)

    # -- internals ------------------------------------------------------------------------------

    def _running_executor(self) -> ProcessPoolExecutor | None:
        """The helpers (started if need be), or None while screening falls back to this process (lock held)."""
        if self._executor is None and time.monotonic() >= self._inline_until:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_helper, initargs=(os.getpid(), _settings_for_helper()),
            )
        return self._executor

    def _done(self, job_id: int, inner: Future[list[ScreeningOutcome]], *, executor: ProcessPoolExecutor) -> None:
        if inner.cancelled():  # the helpers were replaced before this one ran: judge it here
            self._settle(job_id, None, BrokenProcessPool("the helpers were replaced before it ran"))
            return
        exc = inner.exception()
        if isinstance(exc, BrokenProcessPool):
            self._broken(executor, exc)
        self._settle(job_id, None if exc else inner.result(), exc)

    def _settle(self, job_id: int, outcomes: list[ScreeningOutcome] | None, exc: BaseException | None) -> None:
        with self._lock:
            job = self._pending.pop(job_id, None)
        if job is None:  # already held back as overdue
            return
        if outcomes is not None:
            job.result.set_result(outcomes)
        elif isinstance(exc, BrokenProcessPool):
            # The helper is gone, the content was never judged: judge it here rather than lose the record.
            self._fallback.submit(self._screen_here, job)
        else:
            _hold_back(job, f"screening in a helper process failed, held back: {type(exc).__name__}: {exc}"[:500])

    @staticmethod
    def _screen_here(job: _Job) -> None:
        from .screening import screen_contents

        try:
            job.result.set_result(screen_contents(contents=job.contents, policy_version=job.policy_version,
                                                  pseudonym_scope=job.pseudonym_scope))
        except Exception as exc:  # noqa: BLE001 - screen_contents fails closed itself; this is the last guard
            _hold_back(job, f"screening failed, held back: {type(exc).__name__}")
        finally:
            from django.db import connections

            connections.close_all()  # this thread's own connections: a fallback is rare, keep none open

    def _broken(self, executor: ProcessPoolExecutor, exc: BaseException) -> None:
        with self._lock:
            if self._executor is not executor:
                return
            self._executor = None
            self._inline_until = time.monotonic() + RESTART_AFTER_SECONDS
            self.restarts += 1
        logger.error("screening helper process failed (%s: %s); screening in this process for %.0f s",
                     type(exc).__name__, exc, RESTART_AFTER_SECONDS)
        executor.shutdown(wait=False, cancel_futures=True)

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
                self.restarts += 1
        # ProcessPoolExecutor has no public way to stop a helper that hangs (Python 3.14 adds one).
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)


def _hold_back(job: _Job, reason: str) -> None:
    from .screening import ScreeningOutcome

    job.result.set_result([ScreeningOutcome(accepted=False, reason=reason) for _ in job.contents])


def _settings_for_helper() -> dict[str, Any]:
    from django.conf import settings

    return {name: getattr(settings, name) for name in _HANDED_OVER_SETTINGS if hasattr(settings, name)}


def _init_helper(parent: int, handed_over: dict[str, Any]) -> None:
    """Runs first in each helper: Django with the caller's settings, then the screening models."""
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django
    from django.conf import settings

    for name, value in handed_over.items():  # before setup: the database connections are made from them
        setattr(settings, name, value)
    django.setup()
    _warm_helper()
    gc.collect()
    gc.freeze()  # the loaded models are never garbage: a full collection need not walk them (see gateway.tasks)


def _exit_with_parent(parent: int) -> None:
    """A helper whose worker was killed (SIGKILL, OOM) would wait for work forever: it leaves with it."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _warm_helper() -> None:
    from .pii import get_pii_engine
    from .safety import screen_safety

    get_pii_engine().analyze("warm-up 13800138000")
    screen_safety("warm-up", actions={}, layers=["lexicon", "pattern", "classifier"])


def _screen_in_helper(contents: Sequence[Any], policy_version: Any, pseudonym_scope: str) -> list[ScreeningOutcome]:
    from django.db import close_old_connections

    from .screening import screen_contents

    close_old_connections()  # a connection the database dropped since the last call is replaced, not reused
    return screen_contents(contents=contents, policy_version=policy_version, pseudonym_scope=pseudonym_scope)


_pool: ScreeningPool | None = None
_pool_guard = threading.Lock()


def screening_pool(processes: int) -> ScreeningPool | None:
    """This process's screening pool of ``processes`` helpers (None for 0: screen in this process).

    Also None in a daemonic process, such as a child of Celery's prefork pool: it may not start processes of
    its own, and it is one of several worker processes already.
    """
    global _pool
    if processes < 1 or multiprocessing.current_process().daemon:
        return None
    with _pool_guard:
        if _pool is None or _pool.processes != processes:
            if _pool is not None:
                _pool.shutdown()
            _pool = ScreeningPool(processes=processes)
        return _pool
