"""Generation steps: start the job, run chunks of slots, finish when every slot has a record.

A chunk runs its slots on a thread pool (``GENERATION_CONCURRENCY`` calls in flight per worker
process); the threads only talk to the model. Everything that touches the database (the response
cache, screening results, records, progress, audit events) happens on the chunk's own thread, so a
record and its accounting commit together and a redelivered chunk skips finished slots and answers
already-paid calls from the cache. Cancelling the request, or reaching its budget, stops the chunk
within one polling interval: no new call is sent after that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from audit.services import audit_event_append
from compliance.screening import ScreeningOutcome, content_text, pseudonym_key, screen_contents
from compliance.screening_pool import ScreeningPool, screening_pool
from gateway.conf import gateway_setting
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.services import _transition
from gateway.states import RequestState
from generation.accounting import Price, model_price
from generation.backends import backend_from_settings
from generation.cache import Meter, MeteredBackend, ResponseStore
from generation.strategies import flatten_content, strategy_for_name
from generation.types import (
    Backend,
    GeneratedRecord,
    GenerationCancelled,
    GenerationError,
    GenerationSpec,
    TransientGenerationError,
)

from .common import step_lock

S = RequestState

POLL_SECONDS = 0.25  # how often a chunk checks for cancel / budget

DEFAULT_TASKS = {
    ("zh", "dialogue"): "生成银行零售客服与客户之间的多轮中文对话，客服专业、礼貌，遵守金融监管要求。",
    ("en", "dialogue"): "Write a multi-turn customer-service dialogue between a retail bank agent and a customer.",
    ("zh", "qa"): "写一条银行零售业务相关的指令和高质量回答。",
    ("en", "qa"): "Write an instruction about retail banking and a high-quality response.",
    ("zh", "math"): "写一道与金融业务相关的应用数学题，给出逐步解答和明确的最终答案。",
    ("en", "math"): "Write an applied maths problem about finance with a step-by-step solution and a final answer.",
}
# Request options the strategies read; anything else in ``options`` is ignored by generation.
SPEC_OPTIONS = ("theme", "subcategories", "subcategory_count", "items_per_subcategory", "task_types", "difficulty",
                "refine")

logger = logging.getLogger(__name__)


def chunk_ranges(total: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_size, total)) for start in range(0, total, max(1, chunk_size))]


def generation_start(
    *, request_id: int, dispatch: Callable[[int, int], None] | None = None
) -> list[tuple[int, int]]:
    """Plan, then submitted → generating. Returns the slot ranges to run (empty if already started).

    With ``dispatch`` (the task passes one that queues a chunk), each range is handed to it after the
    transition has committed and the job is then marked dispatched. A start that died after the
    transition but before every chunk was queued is finished by its redelivered copy (or the watchdog):
    the job is generating but not dispatched, so the chunks that still have empty slots are returned
    again. Queuing a chunk twice is harmless: finished slots are skipped and a live copy holds the chunk.
    Raises what ``generation_plan`` raises; the request is still submitted then, so a retry plans again
    and answers the calls already paid from the cache.
    """
    with step_lock(request_id=request_id, step="start") as mine:
        if not mine:
            return []
        generation_plan(request_id=request_id)
        with transaction.atomic():
            request = DatasetRequest.objects.select_for_update().get(pk=request_id)
            job = request.job
            if request.state == S.GENERATING and job.dispatched_at is None:
                ranges = unfinished_chunks(job)
                audit_event_append(actor=None, action="generation.chunks_requeued", object_type="dataset_request",
                                   object_id=request_id, payload={"chunks": len(ranges), "why": "start redelivered"})
            elif request.state != S.SUBMITTED:
                return []
            else:
                ranges = chunk_ranges(job.total, job.chunk_size)
                _transition(request_id=request_id, target=S.GENERATING, actor=None, payload={"chunks": len(ranges)})
                GenerationJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
        if dispatch is not None:
            try:
                for start, end in ranges:
                    dispatch(start, end)
            except Exception as exc:  # e.g. the broker is down: the retried start queues what is unfinished
                raise ChunkDispatchError(f"queueing the job's chunks failed: {type(exc).__name__}: {exc}") from exc
            GenerationJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())
        return ranges


class ChunkDispatchError(TransientGenerationError):
    """The job started but not every chunk could be queued; a retry of the start queues the rest."""


def unfinished_chunks(job: GenerationJob) -> list[tuple[int, int]]:
    """The job's chunk ranges that still have a slot without a record."""
    filled = Counter(
        slot // job.chunk_size
        for slot in Record.objects.filter(request_id=job.request_id).values_list("slot_index", flat=True))
    return [(start, end) for start, end in chunk_ranges(job.total, job.chunk_size)
            if filled[start // job.chunk_size] < end - start]


def generation_plan(*, request_id: int) -> int:
    """Pay once for the calls every slot shares (multi-step lists) before the job's chunks fan out.

    Chunks start at once on several workers; if each paid for the shared steps it needed, the same call
    would be paid once per chunk. Here they are paid by the one task that starts the job, written to the
    response cache (request-wide entries, which every chunk loads) and booked on the job in one
    transaction, so a redelivered start answers them from the cache. Returns the calls paid now.
    Strategies without shared steps have nothing to plan. Raises ``TransientGenerationError`` when the
    endpoint kept failing (worth a retry) and ``GenerationError`` when a shared step stayed malformed.
    """
    request = DatasetRequest.objects.select_related("job").get(pk=request_id)
    if request.state != S.SUBMITTED:
        return 0
    strategy = strategy_for_name(request.strategy)
    plan = getattr(strategy, "plan", None)
    if plan is None:
        return 0
    backend = backend_from_settings(request.backend, seed=request.seed)
    store = ResponseStore.load(request_id=request_id, start=0, end=0)  # the request-wide entries only
    meter = Meter()
    metered = MeteredBackend(backend, store=store, slot_index=None, meter=meter)
    concurrency = 1 if backend.name == "offline" else max(1, int(gateway_setting("GENERATION_CONCURRENCY")))
    try:
        plan(spec=spec_for_request(request), backend=metered, concurrency=concurrency)
    finally:
        # Also after an error: what was paid is kept and booked, so the retry does not pay it again.
        with transaction.atomic():
            store.flush()
            _account(job_id=request.job.pk, usage=_usage(meter, model_price(backend.model)))
    return meter.calls


def spec_for_request(request: DatasetRequest) -> GenerationSpec:
    """The generation spec of ``request``: task, conditions, examples and strategy options."""
    from generation.services import SEED_TREE_SLUG, knowledge_tree_tags

    examples = tuple(s.masked_content for s in request.sources.all() if s.masked_content)[:3]
    task = request.task or DEFAULT_TASKS.get((request.language, request.kind), DEFAULT_TASKS[("zh", "dialogue")])
    options: dict[str, Any] = request.options or {}
    spec_options = {k: options[k] for k in SPEC_OPTIONS if k in options}
    spec_options["size"] = request.size
    if request.strategy == DatasetRequest.Strategy.KNOWLEDGE_TREE:
        spec_options["tags"] = knowledge_tree_tags(
            slug=str(options.get("tree") or SEED_TREE_SLUG), language=request.language, nodes=options.get("nodes")
        )
    conditions = options.get("conditions") or []
    return GenerationSpec(
        purpose=request.purpose, domain=request.domain, language=request.language, kind=request.kind,
        task=task, conditions=tuple(str(c) for c in conditions), examples=examples, seed=request.seed,
        options=spec_options,
    )


@dataclass
class _Outcome:
    slot: int
    meter: Meter
    record: GeneratedRecord | None = None
    error: GenerationError | None = None
    transient: TransientGenerationError | None = None
    cancelled: bool = False


@dataclass
class _Chunk:
    request: DatasetRequest
    spec: GenerationSpec
    backend: Backend
    strategy: Any
    store: ResponseStore
    price: Price
    base_provenance: dict[str, Any]
    screening: ScreeningPool | None = None  # None: screen on the chunk's thread
    cancel: threading.Event = field(default_factory=threading.Event)

    def attempt(self, slot: int) -> _Outcome:
        """Generate one slot (any thread): model calls only, no database."""
        meter = Meter()
        metered = MeteredBackend(self.backend, store=self.store, slot_index=slot, cancel=self.cancel, meter=meter)
        try:
            return _Outcome(slot, meter, record=self.strategy.generate(spec=self.spec, slot_index=slot,
                                                                       backend=metered))
        except GenerationCancelled:
            return _Outcome(slot, meter, cancelled=True)
        except TransientGenerationError as exc:
            return _Outcome(slot, meter, transient=exc)
        except GenerationError as exc:
            return _Outcome(slot, meter, error=exc)


def generation_chunk_execute(*, request_id: int, start: int, end: int) -> int:
    """Generate, screen and store slots ``start..end-1``. Returns how many new records it wrote.

    Raises ``TransientGenerationError`` when some slot's endpoint kept failing (the task retries the
    chunk; finished slots are skipped and paid calls come from the cache). Stops at once when the
    request leaves the generating state (cancelled, failed) or its budget is spent.
    """
    request = DatasetRequest.objects.select_related("policy_version__policy", "job").get(pk=request_id)
    if request.state != S.GENERATING:
        return 0
    with step_lock(request_id=request_id, step=start) as mine:
        if not mine:
            # Another live worker runs this very chunk (a duplicate delivery): running it too would pay twice.
            logger.info("chunk %s-%s of request %s is already running elsewhere; this copy stops",
                        start, end, request_id)
            return 0
        existing = set(Record.objects.filter(request_id=request_id, slot_index__gte=start, slot_index__lt=end)
                       .values_list("slot_index", flat=True))
        todo = [slot for slot in range(start, end) if slot not in existing]
        written = 0
        if todo:
            written = _run_chunk(request, todo, start, end)
    generation_finish_if_complete(request_id=request_id)
    return written


def _run_chunk(request: DatasetRequest, todo: list[int], start: int, end: int) -> int:
    # An older chunk's calls go first: this worker's chunks then finish one after another (see AdaptiveLimiter).
    backend = backend_from_settings(request.backend, seed=request.seed, priority=time.monotonic())
    policy = request.policy_version
    chunk = _Chunk(
        request=request, spec=spec_for_request(request), backend=backend,
        strategy=strategy_for_name(request.strategy),
        store=ResponseStore.load(request_id=request.pk, start=start, end=end), price=model_price(backend.model),
        base_provenance={
            "request_id": request.pk, "policy": policy.policy.name, "policy_version": policy.version,
            "policy_version_id": policy.pk, "source_ids": sorted(request.sources.values_list("pk", flat=True)),
            "source_hashes": sorted(request.sources.values_list("content_hash", flat=True)),
            # Which worker process made the records: read here, not at import (prefork forks).
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        },
    )
    job = request.job
    if not job.model:
        GenerationJob.objects.filter(pk=job.pk, model="").update(
            model=backend.model, stats={**job.stats, "price_source": chunk.price.source})
    # The offline backend is CPU-bound: threads would only add contention.
    concurrency = 1 if backend.name == "offline" else max(1, int(gateway_setting("GENERATION_CONCURRENCY")))
    if concurrency > 1 and len(todo) > 1:
        # Screening in helper processes keeps this process's GIL for the calls in flight.
        chunk.screening = screening_pool(int(gateway_setting("SCREENING_PROCESSES")))
    batch = _Batch(chunk)
    transient: TransientGenerationError | None = None
    try:
        if concurrency == 1 or len(todo) == 1:
            # A budget is checked before every call, so the cost it reads must be current: write each slot.
            for slot in todo:
                if _should_stop(chunk):
                    break
                outcome = chunk.attempt(slot)
                batch.add(_settle(chunk, outcome))
                batch.write()
                transient = transient or outcome.transient
        else:
            transient = _run_concurrently(chunk, batch, todo, concurrency)
    finally:
        batch.write()
    if transient is not None and not chunk.cancel.is_set():
        raise transient
    return batch.written


def _run_concurrently(
    chunk: _Chunk, batch: _Batch, todo: list[int], concurrency: int
) -> TransientGenerationError | None:
    """Calls on a thread pool; each finished slot is screened (in the screening helpers when the chunk has
    them, else on this thread) and written in batches.

    Screening and database writes overlap the calls still in flight, and a batch costs one transaction
    (records, progress, audit events) instead of one per record.
    """
    transient: TransientGenerationError | None = None
    last_check = time.monotonic()
    screening: dict[Future[list[ScreeningOutcome]], _Outcome] = {}
    with ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="gen") as pool:
        futures: set[Future[_Outcome]] = {pool.submit(chunk.attempt, slot) for slot in todo}
        while futures or screening:
            waiting: set[Future[Any]] = {*futures, *screening}
            done, _pending = wait(waiting, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                if future in screening:
                    outcome = screening.pop(future)
                    batch.add(_settle(chunk, outcome, screened=future.result()))
                    continue
                futures.discard(future)
                if future.cancelled():
                    continue
                outcome = future.result()
                transient = transient or outcome.transient
                if chunk.screening is not None and outcome.record is not None and not outcome.cancelled:
                    screening[chunk.screening.submit(contents=_screened_parts(outcome.record),
                                                     policy_version=chunk.request.policy_version,
                                                     pseudonym_scope=_pseudonym_scope(chunk))] = outcome
                else:
                    batch.add(_settle(chunk, outcome))
                if batch.due():
                    batch.write()
            if batch.due() or not (futures or screening):
                batch.write()
            if chunk.screening is not None and screening:
                chunk.screening.expire_overdue()
            # Screening takes a while: look for cancel / budget between records too, not only between waits.
            if not chunk.cancel.is_set() and time.monotonic() - last_check >= POLL_SECONDS:
                last_check = time.monotonic()
                batch.write()  # the budget check reads the cost the batch books
                if _should_stop(chunk):
                    for pending in futures:
                        pending.cancel()
    return transient


def _should_stop(chunk: _Chunk) -> bool:
    """True (and the chunk's cancel flag set) once the request left generating or its budget is spent."""
    request_id = chunk.request.pk
    state, limit, cost = (DatasetRequest.objects.filter(pk=request_id)
                          .values_list("state", "budget_limit", "job__cost").get())
    if state == S.GENERATING and limit is not None and cost >= limit:
        _stop_at_budget(request_id=request_id, limit=limit, cost=cost)
        state = S.FAILED
    if state != S.GENERATING:
        chunk.cancel.set()
    return chunk.cancel.is_set()


def _stop_at_budget(*, request_id: int, limit: Decimal, cost: Decimal) -> None:
    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if request.state == S.GENERATING:
            _transition(request_id=request_id, target=S.FAILED, actor=None,
                        reason=f"budget limit reached: spent {cost} of {limit}",
                        payload={"budget_limit": str(limit), "cost": str(cost)})


def _usage(meter: Meter, price: Price) -> dict[str, Any]:
    return {"calls": meter.calls, "cache_hits": meter.cache_hits, "retries": meter.retries,
            "prompt_tokens": meter.prompt_tokens, "completion_tokens": meter.completion_tokens,
            "cost": price.cost(meter.prompt_tokens, meter.completion_tokens)}


@dataclass
class _Settled:
    """A finished slot ready to write: its record (None: only its calls are booked) and what it cost."""

    record: Record | None
    usage: dict[str, Any]
    error: str = ""


def _settle(chunk: _Chunk, outcome: _Outcome, *, screened: list[ScreeningOutcome] | None = None) -> _Settled:
    """A finished slot ready to write (chunk thread, no writes): its record screened here unless ``screened``
    holds the outcomes of ``_screened_parts`` already; a cancelled or transiently failed slot only books calls."""
    usage = _usage(outcome.meter, chunk.price)
    request = chunk.request
    if outcome.cancelled or outcome.transient is not None:
        return _Settled(None, usage)
    if outcome.error is not None or outcome.record is None:
        reason = f"generation failed: {type(outcome.error).__name__}: {outcome.error}"[:2000]
        record = Record(request=request, slot_index=outcome.slot, status=Record.Status.FAILED, reason=reason,
                        kind=request.kind,
                        provenance={**chunk.base_provenance, "backend": chunk.backend.name,
                                    "model": chunk.backend.model, "usage": _jsonable(usage)})
        return _Settled(record, usage, error=reason)
    if screened is None:
        screened = screen_contents(contents=_screened_parts(outcome.record), policy_version=request.policy_version,
                                   pseudonym_scope=_pseudonym_scope(chunk))
    return _Settled(_screened_record(chunk, outcome.record, usage, outcome.meter, screened), usage)


def _jsonable(usage: dict[str, Any]) -> dict[str, Any]:
    return {**usage, "cost": str(usage["cost"])}


def _pseudonym_scope(chunk: _Chunk) -> str:
    return f"request:{chunk.request.pk}"


def _screened_parts(generated: GeneratedRecord) -> list[Any]:
    """What a record's screening judges: its content, then the model's other texts kept in its provenance."""
    model_texts = generated.provenance.get("model_texts")
    return [generated.content, model_texts] if model_texts else [generated.content]


def _screened_record(chunk: _Chunk, generated: GeneratedRecord, usage: dict[str, Any], meter: Meter,
                     screened: list[ScreeningOutcome]) -> Record:
    request = chunk.request
    outcome = screened[0]
    provenance = {**chunk.base_provenance, **generated.provenance}
    model_texts = provenance.pop("model_texts", None) or {}
    status = Record.Status.ACCEPTED if outcome.accepted else Record.Status.HELD
    reason = outcome.reason
    if model_texts:
        # Critiques, drafts and model-written category names are model output too: masked before storing.
        texts = screened[1]
        if texts.masked_content is None:
            status, reason = Record.Status.HELD, reason or f"provenance texts held back: {texts.reason}"
        else:
            provenance["model_texts"] = texts.masked_content
    # A keyed hash of the raw output ties a record to what the model said without being a PII oracle:
    # nobody without the key can test a guessed identifier against it.
    raw = json.dumps(generated.content, sort_keys=True, ensure_ascii=False).encode()
    provenance["raw_output_hmac"] = hmac.new(pseudonym_key(f"raw-output:{request.pk}"), raw,
                                             hashlib.sha256).hexdigest()
    provenance["usage"] = _jsonable(usage)
    provenance["calls"] = meter.log
    if "subcategory" in model_texts and isinstance(provenance.get("model_texts"), dict):
        provenance["category"] = provenance["model_texts"].get("subcategory", "")
    masked = outcome.masked_content
    text = content_text(masked) if masked is not None else ""
    if masked is not None and request.kind == "math":
        # Maths keeps its answer format in the text: numbered steps and a marked final answer.
        text = flatten_content(masked, "math", request.language)
    return Record(
        request=request, slot_index=generated.slot_index, status=status, reason=reason,
        kind=request.kind, category=str(provenance.get("category") or "")[:200],
        content=masked, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest() if text else "",
        pii_findings=outcome.findings, pii_counts=outcome.counts, safety=outcome.safety, provenance=provenance,
    )


BATCH_RECORDS = 32  # a batch is written once it holds this many slots ...
BATCH_SECONDS = 0.5  # ... or its oldest slot has waited this long


class _Batch:
    """Settled slots waiting to be written together, with the cache entries paid for meanwhile."""

    def __init__(self, chunk: _Chunk) -> None:
        self.chunk = chunk
        self.items: list[_Settled] = []
        self.since = time.monotonic()
        self.written = 0

    def add(self, item: _Settled) -> None:
        if not self.items:
            self.since = time.monotonic()
        self.items.append(item)

    def due(self) -> bool:
        return len(self.items) >= BATCH_RECORDS or (
            bool(self.items) and time.monotonic() - self.since >= BATCH_SECONDS)

    def write(self) -> None:
        # Cache first: should the records' transaction fail, a rerun still finds the calls it paid for.
        self.chunk.store.flush()
        items, self.items = self.items, []
        if items:
            self.written += _store_batch(items, job_id=self.chunk.request.job.pk)
            _embed_for_gates(self.chunk.request, [item.record for item in items if item.record is not None])


# Records the gates will probably sample are embedded ahead, with this many standard deviations of the sample's
# spread to spare (each record is in it with probability sample / records, decided by its text's hash).
GATE_SAMPLE_SIGMAS = 2.0


def gate_sample_share(sample: int, records: int) -> float:
    """The sample rank (``sample_rank``) below which a record is embedded ahead: the gates embed the ``sample``
    lowest-ranked of about ``records``; the count below this share falls short of that with probability ~2%."""
    if records <= sample:
        return 1.0
    p = sample / records
    return min(1.0, p + GATE_SAMPLE_SIGMAS * math.sqrt(p * (1 - p) / records))


def _embed_for_gates(request: DatasetRequest, records: list[Record]) -> None:
    """Embed the accepted records the quality gates' seeded sample will take, while this chunk's
    calls are still in flight, and keep the vectors for the gates (``EmbeddingVector``).

    The sample is chosen by a hash of each record's text (``embedding_sample``), so a record's
    chance of being in it is known here. Only an optimisation: on any error the gates compute the
    vectors themselves, so nothing is skipped.
    """
    from compliance.quality.embeddings import get_embedder, sample_rank
    from compliance.quality.thresholds import quality_thresholds
    from gateway.pipelines.gates import content_to_item

    try:
        sample = int(quality_thresholds(request.policy_version.gate_thresholds)["embedding_max_records"])
        share = gate_sample_share(sample, request.size)
        texts = [
            content_to_item(item_id=str(record.pk), content=record.content, text=record.text,
                            kind=record.kind or request.kind, category=record.category).text
            for record in records if record.status == Record.Status.ACCEPTED
        ]
        chosen = [text for text in texts if sample_rank(text, request.seed) < share]
        if chosen:
            # One thread: the calls and screening of this worker need the other core more than this needs speed.
            get_embedder().embed(chosen, threads=1)
    except Exception:  # noqa: BLE001 - the gates embed whatever is missing
        logger.exception("embedding ahead for the gates failed for request %s", request.pk)


def _account(*, job_id: int, usage: dict[str, Any]) -> None:
    """Book calls that produced no record (a cancelled or transiently failed slot)."""
    if usage["calls"] or usage["cache_hits"] or usage["retries"]:
        GenerationJob.objects.filter(pk=job_id).update(**_usage_updates(usage))


def _sum_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("calls", "cache_hits", "retries", "prompt_tokens", "completion_tokens")
    total: dict[str, Any] = {key: sum(u[key] for u in usages) for key in keys}
    total["cost"] = sum((u["cost"] for u in usages), Decimal(0))
    return total


def _usage_updates(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt_tokens": F("prompt_tokens") + usage["prompt_tokens"],
        "completion_tokens": F("completion_tokens") + usage["completion_tokens"],
        "calls": F("calls") + usage["calls"],
        "retries": F("retries") + usage["retries"],
        "cache_hits": F("cache_hits") + usage["cache_hits"],
        "cost": F("cost") + usage["cost"],
    }


def _progress_updates(stored: list[tuple[Record, str]]) -> dict[str, Any]:
    """The job's counters for records just stored, each with its error: done, failed (and the last
    error), held."""
    updates: dict[str, Any] = {}
    if stored:
        updates["done"] = F("done") + len(stored)
    errors = [error for record, error in stored if record.status == Record.Status.FAILED]
    if errors:
        updates["failed"] = F("failed") + len(errors)
        updates["last_error"] = errors[-1][:1000]
    held = sum(1 for record, _error in stored if record.status == Record.Status.HELD)
    if held:
        updates["held"] = F("held") + held
    return updates


def _audit_record_created(record: Record, usage: dict[str, Any]) -> None:
    audit_event_append(
        actor=None, action="record.create", object_type="record", object_id=record.pk,
        payload={"request_id": record.request_id, "slot": record.slot_index, "status": record.status,
                 "reason": record.reason, "content_sha256": record.content_hash,
                 "pii_counts": record.pii_counts, "safety": record.safety.get("verdict", ""),
                 "model": record.provenance.get("model", ""),
                 "prompt_hash": record.provenance.get("prompt_hash", ""),
                 "calls": usage["calls"], "cache_hits": usage["cache_hits"], "cost": str(usage["cost"])},
    )


def _store_batch(items: list[_Settled], *, job_id: int) -> int:
    """Insert a batch of records, book progress and usage, append their audit events: one transaction.

    Slots another delivery of the chunk already stored are skipped (only what this delivery paid is
    booked). Should a racing delivery store one of the slots between our check and our insert, the
    batch is rolled back and written one slot at a time instead.
    """
    records = [item.record for item in items if item.record is not None]
    try:
        with transaction.atomic():
            taken = set(Record.objects.filter(request_id=records[0].request_id,
                                              slot_index__in=[r.slot_index for r in records])
                        .values_list("slot_index", flat=True)) if records else set()
            fresh = [item for item in items if item.record is not None and item.record.slot_index not in taken]
            # A slot another delivery stored books only the calls this delivery paid, not its cache hits.
            booked = [{**item.usage, "cache_hits": 0} if item.record is not None and item.record.slot_index in taken
                      else item.usage for item in items]
            Record.objects.bulk_create([item.record for item in fresh if item.record is not None])
            updates = {**_usage_updates(_sum_usage(booked)),
                       **_progress_updates([(item.record, item.error) for item in fresh if item.record is not None])}
            GenerationJob.objects.filter(pk=job_id).update(**updates)
            for item in fresh:
                if item.record is not None:
                    _audit_record_created(item.record, item.usage)
    except IntegrityError:
        written = 0
        for item in items:
            if item.record is None:
                _account(job_id=job_id, usage=item.usage)
            else:
                item.record.pk = None
                written += _store(item.record, job_id=job_id, usage=item.usage, error=item.error)
        return written
    return len(fresh)


def _store(record: Record, *, job_id: int, usage: dict[str, Any], error: str) -> int:
    """Insert the slot's record and bump progress in one transaction; a duplicate slot is a no-op."""
    try:
        with transaction.atomic():
            record.save()
            GenerationJob.objects.filter(pk=job_id).update(
                **_usage_updates(usage), **_progress_updates([(record, error)]))
            _audit_record_created(record, usage)
    except IntegrityError:
        # Another delivery of this chunk stored the slot first; book only what this delivery paid.
        if usage["calls"]:
            GenerationJob.objects.filter(pk=job_id).update(**_usage_updates({**usage, "cache_hits": 0}))
        return 0
    return 1


def generation_chunk_give_up(*, request_id: int, start: int, end: int, reason: str) -> int:
    """Record every still-empty slot of a chunk as failed (its retries are spent), so the job can finish."""
    request = DatasetRequest.objects.select_related("job").get(pk=request_id)
    if request.state != S.GENERATING:
        return 0
    existing = set(Record.objects.filter(request_id=request_id, slot_index__gte=start, slot_index__lt=end)
                   .values_list("slot_index", flat=True))
    no_usage = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "retries": 0, "cache_hits": 0,
                "cost": Decimal(0)}
    written = 0
    for slot in range(start, end):
        if slot not in existing:
            record = Record(request=request, slot_index=slot, status=Record.Status.FAILED, kind=request.kind,
                            reason=reason[:2000], provenance={"request_id": request_id, "backend": request.backend})
            written += _store(record, job_id=request.job.pk, usage=no_usage, error=reason)
    generation_finish_if_complete(request_id=request_id)
    return written


def generation_finish_if_complete(*, request_id: int) -> bool:
    """generating → screening once every slot has a record; enqueues screening. Idempotent."""
    from gateway.tasks import dataset_request_screen
    from generation.services import response_cache_purge

    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if request.state != S.GENERATING:
            return False
        counts = Record.objects.filter(request_id=request_id).aggregate(
            total=Count("pk"),
            failed=Count("pk", filter=Q(status=Record.Status.FAILED)),
            held=Count("pk", filter=Q(status=Record.Status.HELD)),
        )
        if counts["total"] < request.size:
            return False
        GenerationJob.objects.filter(request_id=request_id).update(finished_at=timezone.now())
        job = GenerationJob.objects.get(request_id=request_id)
        _transition(request_id=request_id, target=S.SCREENING, actor=None,
                    payload={**counts, "calls": job.calls, "cache_hits": job.cache_hits, "retries": job.retries,
                             "cost": str(job.cost)})
        transaction.on_commit(lambda: dataset_request_screen.delay(request_id))
        # Every slot has its record: the cached model answers are no longer needed and are not kept.
        transaction.on_commit(lambda: response_cache_purge(request_id=request_id))
    return True


def generation_progress(job: GenerationJob) -> dict[str, Any]:
    """``job.progress()`` plus calls, retries, cache hits, cost, estimate and the ETA in seconds."""
    progress = dict(job.progress())
    eta: float | None = None
    if job.finished_at is not None:
        eta = 0.0
    elif job.started_at is not None and job.done:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        eta = round(elapsed / job.done * (job.total - job.done), 1)
    progress.update({
        "calls": job.calls, "retries": job.retries, "cache_hits": job.cache_hits, "cost": str(job.cost),
        "estimated_cost": str(job.estimated_cost) if job.estimated_cost is not None else None,
        "eta_seconds": eta, "model": job.model,
    })
    return progress
