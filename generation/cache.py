"""The response cache and per-call metering: a retried or resumed job never pays twice for a call.

A call's key is the SHA-256 of everything that determines its answer (backend, model, messages,
temperature, max_tokens, seed, JSON mode). Answers are stored encrypted (AES-GCM under a key
derived from ``PII_HMAC_KEY``; the cache key is the associated data, so a row cannot be moved to
another key). Worker threads never touch the database: a chunk loads its slots' entries up front
(``ResponseStore.load``), threads read and add to memory, and the chunk's own thread writes new
entries (``flush``) every few hundred milliseconds, so a killed worker loses at most those.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from generation.types import Backend, Completion, GenerationCancelled


def call_key(*, backend: str, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int,
             seed: int | None, json_mode: bool) -> str:
    canonical = json.dumps(
        {"backend": backend, "model": model, "messages": messages, "temperature": temperature,
         "max_tokens": max_tokens, "seed": seed, "json_mode": json_mode},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _aead() -> AESGCM:
    key = hmac.new(settings.PII_HMAC_KEY.encode(), b"generation:response-cache", hashlib.sha256).digest()
    return AESGCM(key)


def seal(key: str, completion: Completion) -> bytes:
    plaintext = json.dumps(
        {"text": completion.text, "model": completion.model, "prompt_tokens": completion.prompt_tokens,
         "completion_tokens": completion.completion_tokens, "finish_reason": completion.finish_reason},
        ensure_ascii=False,
    ).encode("utf-8")
    nonce = os.urandom(12)
    return nonce + _aead().encrypt(nonce, plaintext, key.encode())


def unseal(key: str, blob: bytes | memoryview) -> Completion | None:
    """The cached completion, or None when the entry cannot be decrypted (another key, tampering)."""
    blob = bytes(blob)
    try:
        plaintext = _aead().decrypt(blob[:12], blob[12:], key.encode())
    except (InvalidTag, ValueError):
        return None
    data = json.loads(plaintext)
    return Completion(text=data["text"], model=data["model"], prompt_tokens=data["prompt_tokens"],
                      completion_tokens=data["completion_tokens"], finish_reason=data.get("finish_reason", "stop"))


@dataclass
class ResponseStore:
    """One chunk's view of the cache. ``get``/``put`` are thread-safe and never touch the database."""

    request_id: int | None
    entries: dict[str, Completion] = field(default_factory=dict)
    pending: list[tuple[str, int | None, Completion]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, *, request_id: int, start: int, end: int) -> ResponseStore:
        from django.db.models import Q

        from generation.models import CachedResponse

        store = cls(request_id=request_id)
        rows = CachedResponse.objects.filter(
            Q(slot_index__gte=start, slot_index__lt=end) | Q(slot_index__isnull=True), request_id=request_id
        ).values_list("key", "ciphertext")
        for key, blob in rows:
            completion = unseal(key, blob)
            if completion is not None:
                store.entries[key] = completion
        return store

    def get(self, key: str) -> Completion | None:
        with self._lock:
            return self.entries.get(key)

    def put(self, key: str, completion: Completion, slot_index: int | None) -> None:
        with self._lock:
            self.entries[key] = completion
            self.pending.append((key, slot_index, completion))

    def flush(self) -> int:
        """Write new entries to the database (caller's thread); returns how many."""
        from generation.models import CachedResponse

        with self._lock:
            pending, self.pending = self.pending, []
        if not pending or self.request_id is None:
            return 0
        CachedResponse.objects.bulk_create(
            [CachedResponse(key=key, request_id=self.request_id, slot_index=slot, model=c.model,
                            ciphertext=seal(key, c), prompt_tokens=c.prompt_tokens,
                            completion_tokens=c.completion_tokens)
             for key, slot, c in pending],
            ignore_conflicts=True,
        )
        return len(pending)


@dataclass
class Meter:
    """What one slot's calls cost: paid calls, cache hits, retries, paid tokens."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # One entry per call, paid or answered from the cache: tokens and retries (no text).
    log: list[dict[str, Any]] = field(default_factory=list)
    # A slot's calls run on one thread, but a job's shared steps are planned on several.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


class MeteredBackend:
    """Wraps a backend for one slot: answers from the cache first, meters what is paid, honours cancel."""

    def __init__(self, inner: Backend, *, store: ResponseStore, slot_index: int | None,
                 cancel: threading.Event | None = None, meter: Meter | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.store = store
        self.slot_index = slot_index
        self.cancel = cancel
        self.meter = meter or Meter()

    @property
    def shared(self) -> MeteredBackend:
        """The same backend for calls every slot shares (multi-step lists): cached request-wide."""
        return MeteredBackend(self.inner, store=self.store, slot_index=None, cancel=self.cancel, meter=self.meter)

    def complete(self, messages: list[dict[str, str]], *, temperature: float, max_tokens: int, seed: int | None,
                 json_mode: bool) -> Completion:
        key = call_key(backend=self.inner.name, model=self.inner.model, messages=messages, temperature=temperature,
                       max_tokens=max_tokens, seed=seed, json_mode=json_mode)
        hit = self.store.get(key)
        if hit is not None:
            with self.meter.lock:
                self.meter.cache_hits += 1
                self.meter.log.append({"cached": True, "prompt_tokens": hit.prompt_tokens,
                                       "completion_tokens": hit.completion_tokens})
            return replace(hit, cached=True)
        if self.cancel is not None and self.cancel.is_set():
            raise GenerationCancelled("the job was stopped before this call")
        completion = self.inner.complete(messages, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                         json_mode=json_mode)
        with self.meter.lock:
            self.meter.calls += 1
            self.meter.retries += completion.retries
            self.meter.prompt_tokens += completion.prompt_tokens
            self.meter.completion_tokens += completion.completion_tokens
            self.meter.log.append({"cached": False, "prompt_tokens": completion.prompt_tokens,
                                   "completion_tokens": completion.completion_tokens,
                                   "retries": completion.retries})
        self.store.put(key, completion, self.slot_index)
        return completion
