"""The one module that talks to an OpenAI-compatible server (vLLM, llama.cpp, OpenAI itself).

Every ``openai`` error becomes one of ours: ``TransientGenerationError`` for what may pass on the
next try, ``GenerationError`` for what never will. The API key stays inside the client: it is never
logged, never put in an error message, never part of provenance.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# openai looks up the legacy ``httpx`` module in sys.modules on every call: were a library imported lazily on
# another thread (screening models) importing httpx just then, the call would see it half-initialised.
import httpx  # noqa: F401
import openai
from openai.types.chat import ChatCompletion

from generation.types import Completion, GenerationError, TransientGenerationError

logger = logging.getLogger(__name__)

# Only what might pass on the next try; everything else (400, 401, 403, 404, 422) is permanent.
_TRANSIENT_ERRORS: tuple[type[openai.APIError], ...] = (
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.RateLimitError,
    openai.InternalServerError,
)
# 408/409 are "try again" answers too; everything else in 4xx is permanent.
_TRANSIENT_STATUSES = frozenset({408, 409})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


class AdaptiveLimiter:
    """How many calls may be in flight at once, shared by every thread of one backend.

    Additive increase / multiplicative decrease: a 429 halves the limit and pauses *all* callers until
    the server's Retry-After has passed; every ``limit`` successes in a row raise it by one again, up
    to the configured concurrency. So a job backs off together instead of 32 threads hammering a
    server that has said "slow down".

    A free slot goes to the waiting caller with the lowest ``priority`` (first come, first served among
    equals). Chunks sharing a worker's budget pass the time they started, so the oldest chunk runs at full
    speed and the younger ones fill its gaps: chunks then finish one after another, and while one writes
    its last records the next has the slots, instead of chunks that started together all draining at once
    and leaving the budget idle.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_flight = 0
        self.paused_until = 0.0
        self.throttled = 0
        self._successes = 0
        self._lock = threading.Lock()
        self._waiting: list[_Waiter] = []  # a heap, lowest (priority, arrival) first
        self._arrivals = itertools.count()

    def acquire(self, priority: float = 0.0) -> None:
        with self._lock:
            if not self._waiting and self._may_start():
                self.in_flight += 1
                return
            waiter = _Waiter(priority, next(self._arrivals))
            heapq.heappush(self._waiting, waiter)
            self._grant()
        try:
            while True:
                # A waiter is handed its slot by whoever frees one; during a pause nobody frees one for it, so it
                # also wakes at the pause's end and hands out the slots itself.
                waiter.granted.wait(timeout=max(0.01, min(0.5, self.paused_until - time.monotonic())))
                with self._lock:
                    if not waiter.granted.is_set():
                        self._grant()
                    if waiter.granted.is_set():
                        return
        except BaseException:  # interrupted while waiting: leave no slot taken and no waiter behind
            with self._lock:
                if waiter.granted.is_set():
                    self.in_flight -= 1
                    self._grant()
                else:
                    self._waiting.remove(waiter)
                    heapq.heapify(self._waiting)
            raise

    def release(self, *, throttled_for: float | None = None) -> None:
        with self._lock:
            self.in_flight -= 1
            if throttled_for is not None:
                self.throttled += 1
                self.limit = max(1, self.limit // 2)
                self._successes = 0
                self.paused_until = max(self.paused_until, time.monotonic() + throttled_for)
            else:
                self._successes += 1
                if self.limit < self.maximum and self._successes >= self.limit:
                    self.limit += 1
                    self._successes = 0
            self._grant()

    def _may_start(self) -> bool:
        return self.in_flight < self.limit and self.paused_until <= time.monotonic()

    def _grant(self) -> None:
        """Hand the free slots to the first waiters (lock held): each is woken alone, no stampede for the GIL."""
        while self._waiting and self._may_start():
            self.in_flight += 1
            heapq.heappop(self._waiting).granted.set()


@dataclass(order=True)
class _Waiter:
    priority: float
    arrival: int
    granted: threading.Event = field(default_factory=threading.Event, compare=False)


_shared_limiters: dict[tuple[str, str], AdaptiveLimiter] = {}
_shared_guard = threading.Lock()


def shared_limiter(base_url: str, model: str, concurrency: int) -> AdaptiveLimiter:
    """The limiter every backend for ``base_url`` and ``model`` in this process shares.

    A worker may run several chunks at once (a thread pool): they share one budget of calls in flight,
    so the next chunk fills the slots the last one is draining, and a 429 slows them all down.
    """
    with _shared_guard:
        limiter = _shared_limiters.get((base_url, model))
        if limiter is None or limiter.maximum != max(1, concurrency):
            limiter = _shared_limiters[(base_url, model)] = AdaptiveLimiter(concurrency)
        return limiter


_shared_clients: dict[tuple[str, str, float], openai.OpenAI] = {}


def openai_client(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    """A new client; ``max_retries=0``: we retry ourselves (transient errors only, honouring Retry-After), so that
    every retry is counted and a 429 slows down every thread of the job, not just the one that got it."""
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


def shared_client(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    """The client every backend for this endpoint, key and time-out in this process shares (it is thread-safe).

    One connection pool per worker process: a chunk reuses the connections of the chunks before it instead of
    building a client, an SSL context and new connections of its own.
    """
    key = (base_url, hashlib.sha256(api_key.encode()).hexdigest(), timeout)
    with _shared_guard:
        client = _shared_clients.get(key)
        if client is None:
            client = _shared_clients[key] = openai_client(base_url, api_key, timeout)
        return client


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's Retry-After (``retry-after-ms`` or ``retry-after`` in seconds), if it sent one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue  # an HTTP-date: fall back to our own back-off
        if 0 <= value <= 300:
            return value
    return None


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self, base_url: str, api_key: str, model: str, timeout: float, max_retries: int, concurrency: int = 8,
        limiter: AdaptiveLimiter | None = None, priority: float = 0.0, client: openai.OpenAI | None = None,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._secret = api_key
        self._client = client or openai_client(base_url, api_key, timeout)
        self.limiter = limiter or AdaptiveLimiter(concurrency)
        self.priority = priority  # lower goes first when the limiter is shared (see ``AdaptiveLimiter``)
        # Some local servers reject response_format; after the first such 400 we stop sending it.
        self.json_mode_supported = True
        self._rng = random.Random()  # noqa: S311 -- back-off jitter, not security

    def warm_up(self) -> None:
        """Load what the first call would load (the resource classes, the response model's validators); no network."""
        _ = self._client.chat.completions
        ChatCompletion.model_validate({
            "id": "warm-up", "object": "chat.completion", "created": 0, "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None,
        json_mode: bool,
    ) -> Completion:
        """One chat completion. Raises ``TransientGenerationError`` (retries spent) or ``GenerationError``.

        Transient failures (time-outs, connection errors, 408/409/429/5xx) are retried up to
        ``max_retries`` times with exponential back-off and jitter, or after the server's Retry-After.
        """
        retries = 0
        while True:
            throttled_for: float | None = None
            self.limiter.acquire(self.priority)
            try:
                completion = self._complete_once(messages, temperature, max_tokens, seed, json_mode)
            except TransientGenerationError as exc:
                delay = getattr(exc, "retry_after", None)
                if getattr(exc, "status", None) == 429:
                    throttled_for = delay if delay is not None else self._backoff(retries)
                if retries >= self.max_retries:
                    raise
                retries += 1
                wait = delay if delay is not None else self._backoff(retries - 1)
                logger.info("transient failure from %s (%s); retry %d in %.2fs", self.base_url, exc, retries, wait)
            else:
                return Completion(
                    text=completion.text, model=completion.model, prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens, retries=retries,
                    finish_reason=completion.finish_reason,
                )
            finally:
                self.limiter.release(throttled_for=throttled_for)
            if throttled_for is None:
                time.sleep(wait)  # a 429 pauses the limiter itself, so every thread waits together

    def _backoff(self, attempt: int) -> float:
        return float(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * (0.5 + self._rng.random() / 2))

    def _complete_once(
        self, messages: list[dict[str, str]], temperature: float, max_tokens: int, seed: int | None, json_mode: bool
    ) -> Completion:
        want_json = json_mode and self.json_mode_supported
        try:
            response = self._create(messages, temperature, max_tokens, seed, json_mode=want_json)
        except openai.BadRequestError as exc:
            if not want_json:
                raise self._translate(exc) from None
            # The 400 may be about response_format: try once without it before giving up.
            logger.info("endpoint %s rejected the request with json mode; retrying without it", self.base_url)
            try:
                response = self._create(messages, temperature, max_tokens, seed, json_mode=False)
            except openai.APIError as retry_exc:
                raise self._translate(retry_exc) from None
            self.json_mode_supported = False
            logger.warning("endpoint %s does not support response_format=json_object", self.base_url)
        except openai.APIError as exc:
            raise self._translate(exc) from None

        if not isinstance(response, ChatCompletion):  # e.g. a proxy answering 200 with an HTML page
            raise GenerationError(f"{self.base_url} did not return a chat completion")
        if not response.choices:
            raise GenerationError(f"{self.base_url} returned a completion with no choices")
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            model=response.model or self.model,
            prompt_tokens=(usage.prompt_tokens or 0) if usage is not None else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage is not None else 0,
            finish_reason=str(response.choices[0].finish_reason or "stop"),
        )

    def _create(
        self,
        messages: list[dict[str, str]],
        temperature: float,
        max_tokens: int,
        seed: int | None,
        *,
        json_mode: bool,
    ) -> ChatCompletion:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if seed is not None:
            kwargs["seed"] = seed
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        response: ChatCompletion = self._client.chat.completions.create(**kwargs)
        return response

    def _translate(self, exc: openai.APIError) -> GenerationError:
        """Our error for ``exc``. Callers raise it ``from None``: the openai error holds the request,
        headers and all, and must not ride along in tracebacks."""
        status = getattr(exc, "status_code", None)
        where = f"{self.base_url} (model {self.model})"
        detail = f"HTTP {status}: {exc.message}" if status is not None else exc.message
        # A server may echo request headers in its error body: never let the key through.
        if self._secret:
            detail = detail.replace(self._secret, "[redacted]")
        detail = detail[:500]
        if isinstance(exc, _TRANSIENT_ERRORS) or status in _TRANSIENT_STATUSES:
            error = TransientGenerationError(f"{type(exc).__name__} from {where}: {detail}")
            error.status = status  # type: ignore[attr-defined]
            error.retry_after = retry_after_seconds(exc)  # type: ignore[attr-defined]
            return error
        return GenerationError(f"{type(exc).__name__} from {where}: {detail}")
