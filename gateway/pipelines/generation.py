"""Generation steps: start the job, run chunks of slots, finish when every slot has a record."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from audit.services import audit_event_append
from compliance.screening import content_text, pseudonym_key, screen_content
from gateway.models import DatasetRequest, GenerationJob, Record
from gateway.services import _transition
from gateway.states import RequestState
from generation.backends import backend_from_settings
from generation.strategies import strategy_for_name
from generation.types import GenerationError, GenerationSpec, TransientGenerationError

S = RequestState


DEFAULT_TASKS = {
    ("zh", "dialogue"): "生成银行零售客服与客户之间的多轮中文对话，客服专业、礼貌，遵守金融监管要求。",
    ("en", "dialogue"): "Write a multi-turn customer-service dialogue between a retail bank agent and a customer.",
    ("zh", "qa"): "写一条银行零售业务相关的指令和高质量回答。",
    ("en", "qa"): "Write an instruction about retail banking and a high-quality response.",
}


def chunk_ranges(total: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_size, total)) for start in range(0, total, max(1, chunk_size))]


def generation_start(*, request_id: int) -> list[tuple[int, int]]:
    """submitted → generating. Returns the slot ranges to enqueue (empty if already started)."""
    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if request.state != S.SUBMITTED:
            return []
        job = request.job
        _transition(request_id=request_id, target=S.GENERATING, actor=None,
                    payload={"chunks": len(chunk_ranges(job.total, job.chunk_size))})
        GenerationJob.objects.filter(pk=job.pk).update(started_at=timezone.now())
        return chunk_ranges(job.total, job.chunk_size)


def _spec_for(request: DatasetRequest) -> GenerationSpec:
    examples = tuple(s.masked_content for s in request.sources.all() if s.masked_content)[:3]
    task = request.task or DEFAULT_TASKS.get((request.language, request.kind), DEFAULT_TASKS[("zh", "dialogue")])
    return GenerationSpec(
        purpose=request.purpose, domain=request.domain, language=request.language, kind=request.kind,
        task=task, examples=examples, seed=request.seed,
    )


def generation_chunk_execute(*, request_id: int, start: int, end: int) -> int:
    """Generate, screen and store slots ``start..end-1``. Returns how many new records it wrote.

    Stops at once when the request has left the generating state (for example, cancelled).
    """
    request = DatasetRequest.objects.select_related("policy_version", "job").get(pk=request_id)
    if request.state != S.GENERATING:
        return 0
    existing = set(Record.objects.filter(request_id=request_id, slot_index__gte=start, slot_index__lt=end)
                   .values_list("slot_index", flat=True))
    spec = _spec_for(request)
    backend = backend_from_settings(request.backend, seed=request.seed)
    strategy = strategy_for_name(request.strategy)
    job = request.job
    if not job.model:
        GenerationJob.objects.filter(pk=job.pk, model="").update(model=backend.model)
    written = 0
    for slot in range(start, end):
        if slot in existing:
            continue
        if not DatasetRequest.objects.filter(pk=request_id, state=S.GENERATING).exists():
            break  # cancelled or failed while we worked: stop promptly
        written += _generate_slot(request=request, spec=spec, slot=slot, backend=backend, strategy=strategy)
    generation_finish_if_complete(request_id=request_id)
    return written


def _generate_slot(*, request: DatasetRequest, spec: GenerationSpec, slot: int, backend: Any, strategy: Any) -> int:
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    policy = request.policy_version
    base_provenance = {
        "request_id": request.pk,
        "policy": policy.policy.name,
        "policy_version": policy.version,
        "policy_version_id": policy.pk,
        "source_ids": sorted(request.sources.values_list("pk", flat=True)),
        "source_hashes": sorted(request.sources.values_list("content_hash", flat=True)),
    }
    try:
        generated = strategy.generate(spec=spec, slot_index=slot, backend=backend)
    except TransientGenerationError:
        raise  # the chunk task retries with back-off; finished slots are skipped then
    except GenerationError as exc:
        record = Record(request=request, slot_index=slot, status=Record.Status.FAILED,
                        reason=f"generation failed: {type(exc).__name__}: {exc}"[:2000],
                        provenance={**base_provenance, "backend": backend.name, "model": backend.model})
        return _store(record, job_id=request.job.pk, usage=usage, error=record.reason)
    usage = {k: int(generated.usage.get(k, 0)) for k in usage}
    outcome = screen_content(content=generated.content, policy_version=policy, pseudonym_scope=f"request:{request.pk}")
    # A keyed hash of the raw output ties a record to what the model said without being a PII oracle:
    # nobody without the key can test a guessed identifier against it.
    raw = json.dumps(generated.content, sort_keys=True, ensure_ascii=False).encode()
    raw_hmac = hmac.new(pseudonym_key(f"raw-output:{request.pk}"), raw, hashlib.sha256).hexdigest()
    provenance = {**base_provenance, **generated.provenance, "raw_output_hmac": raw_hmac}
    masked = outcome.masked_content if outcome.masked_content is not None else None
    text = content_text(masked) if masked is not None else ""
    record = Record(
        request=request, slot_index=slot,
        status=Record.Status.ACCEPTED if outcome.accepted else Record.Status.HELD,
        reason=outcome.reason, content=masked, text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest() if text else "",
        pii_findings=outcome.findings, pii_counts=outcome.counts, safety=outcome.safety, provenance=provenance,
    )
    return _store(record, job_id=request.job.pk, usage=usage, error="")


def _store(record: Record, *, job_id: int, usage: dict[str, int], error: str) -> int:
    """Insert the slot's record and bump progress in one transaction; a duplicate slot is a no-op."""
    try:
        with transaction.atomic():
            record.save()
            updates: dict[str, Any] = {
                "done": F("done") + 1,
                "prompt_tokens": F("prompt_tokens") + usage["prompt_tokens"],
                "completion_tokens": F("completion_tokens") + usage["completion_tokens"],
            }
            if record.status == Record.Status.FAILED:
                updates["failed"] = F("failed") + 1
                updates["last_error"] = error[:1000]
            elif record.status == Record.Status.HELD:
                updates["held"] = F("held") + 1
            GenerationJob.objects.filter(pk=job_id).update(**updates)
            audit_event_append(
                actor=None, action="record.create", object_type="record", object_id=record.pk,
                payload={"request_id": record.request_id, "slot": record.slot_index, "status": record.status,
                         "reason": record.reason, "content_sha256": record.content_hash,
                         "pii_counts": record.pii_counts, "safety": record.safety.get("verdict", ""),
                         "model": record.provenance.get("model", ""),
                         "prompt_hash": record.provenance.get("prompt_hash", "")},
            )
    except IntegrityError:
        return 0  # another delivery of this chunk stored the slot first
    return 1


def generation_chunk_give_up(*, request_id: int, start: int, end: int, reason: str) -> int:
    """Record every still-empty slot of a chunk as failed (its retries are spent), so the job can finish."""
    request = DatasetRequest.objects.select_related("job").get(pk=request_id)
    existing = set(Record.objects.filter(request_id=request_id, slot_index__gte=start, slot_index__lt=end)
                   .values_list("slot_index", flat=True))
    written = 0
    for slot in range(start, end):
        if slot not in existing:
            record = Record(request=request, slot_index=slot, status=Record.Status.FAILED,
                            reason=reason[:2000], provenance={"request_id": request_id, "backend": request.backend})
            written += _store(record, job_id=request.job.pk, usage={"prompt_tokens": 0, "completion_tokens": 0},
                              error=reason)
    generation_finish_if_complete(request_id=request_id)
    return written


def generation_finish_if_complete(*, request_id: int) -> bool:
    """generating → screening once every slot has a record; enqueues screening. Idempotent."""
    from gateway.tasks import dataset_request_screen

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
        _transition(request_id=request_id, target=S.SCREENING, actor=None, payload=counts)
        transaction.on_commit(lambda: dataset_request_screen.delay(request_id))
    return True
