"""The steps a submitted request runs through, each run by a Celery task.

Every step advances recorded state, so a redelivered or retried task resumes instead of repeating
work: a slot that already has a record is skipped, and a step whose request has already moved on
returns without doing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from audit.services import audit_event_append
from compliance.gates import GateResult, exact_duplicate_gate, held_rate_gate, yield_gate
from compliance.screening import content_text, pseudonym_key, residual_pii, screen_content
from gateway.conf import gateway_setting
from generation.backends import backend_from_settings
from generation.strategies import strategy_for_name
from generation.types import GenerationError, GenerationSpec, TransientGenerationError

from .models import Dataset, DatasetRequest, GenerationJob, QualityReport, Record
from .services import _transition
from .states import RequestState

S = RequestState
log = logging.getLogger(__name__)

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
    from .tasks import dataset_request_screen

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


def screening_execute(*, request_id: int) -> None:
    """Second screening pass over stored records: nothing detectable may remain after masking.

    A record with residual PII, or whose re-scan errors, is held back (fail closed).
    """
    from .tasks import dataset_request_gate

    request = DatasetRequest.objects.get(pk=request_id)
    if request.state != S.SCREENING:
        return
    residual_held = 0
    for record in Record.objects.filter(request_id=request_id, status=Record.Status.ACCEPTED).iterator():
        try:
            leftovers = residual_pii(text=record.text)
            reason = f"residual PII after masking: {', '.join(leftovers)}" if leftovers else ""
        except Exception as exc:  # noqa: BLE001 - a re-scan that cannot run must not let the record pass
            reason = f"residual PII re-scan failed, held back: {type(exc).__name__}"
        if reason:
            with transaction.atomic():
                Record.objects.filter(pk=record.pk).update(status=Record.Status.HELD, reason=reason)
                audit_event_append(actor=None, action="record.hold", object_type="record", object_id=record.pk,
                                   payload={"request_id": request_id, "reason": reason})
            residual_held += 1
    with transaction.atomic():
        _transition(request_id=request_id, target=S.GATED, actor=None, payload={"residual_held": residual_held})
        transaction.on_commit(lambda: dataset_request_gate.delay(request_id))


def gates_execute(*, request_id: int) -> QualityReport | None:
    """Run the quality gates; gated → awaiting_approval (or approved) if all pass, else failed."""
    from .tasks import dataset_release

    request = DatasetRequest.objects.select_related("policy_version").get(pk=request_id)
    if request.state != S.GATED:
        return None
    policy = request.policy_version
    records = list(Record.objects.filter(request_id=request_id).values_list("pk", "status", "text"))
    accepted = [(pk, text) for pk, status, text in records if status == Record.Status.ACCEPTED]
    results: list[GateResult] = []
    gate_error = ""
    try:
        dedup = exact_duplicate_gate(accepted, max_duplicate_rate=policy.threshold("max_duplicate_rate"))
        results.append(dedup)
        # Duplicates never ship; the gate's rate says whether the generator was producing filler.
        kept = len(accepted) - len(dedup.flagged_ids)
        results.append(held_rate_gate(total=len(records), held=len(records) - len(accepted),
                                      max_held_rate=policy.threshold("max_held_rate")))
        results.append(yield_gate(requested=request.size, accepted=kept, min_yield=policy.threshold("min_yield")))
    except Exception as exc:  # noqa: BLE001 - a gate that cannot run fails the dataset, never passes it
        gate_error = f"quality gate error: {type(exc).__name__}: {exc}"
    passed = not gate_error and all(r.passed for r in results)
    gates = [
        {"name": r.name, "passed": r.passed, "metric": round(float(r.metric), 6), "threshold": r.threshold,
         "flagged": len(r.flagged_ids), "detail": r.detail}
        for r in results
    ]
    duplicates = next((r.flagged_ids for r in results if r.name == "exact_duplicate"), ())
    with transaction.atomic():
        if duplicates:
            Record.objects.filter(pk__in=list(duplicates)).update(
                status=Record.Status.HELD, reason="exact duplicate of an earlier record")
            audit_event_append(actor=None, action="record.hold", object_type="dataset_request", object_id=request_id,
                               payload={"reason": "exact duplicate", "record_ids": sorted(duplicates)})
        stored_gates = gates + ([{"error": gate_error}] if gate_error else [])
        report, _ = QualityReport.objects.update_or_create(
            request=request, defaults={"passed": passed, "gates": stored_gates},
        )
        summary = {"passed": passed, "gates": {g["name"]: g["passed"] for g in gates}, "error": gate_error}
        if not passed:
            failing = ", ".join(g["name"] for g in gates if not g["passed"]) or gate_error
            _transition(request_id=request_id, target=S.FAILED, actor=None,
                        reason=f"quality gates failed: {failing}", payload=summary)
        elif policy.requires_human_approval:
            _transition(request_id=request_id, target=S.AWAITING_APPROVAL, actor=None, payload=summary)
        else:
            _transition(request_id=request_id, target=S.APPROVED, actor=None,
                        reason="policy needs no human approver", payload=summary)
            transaction.on_commit(lambda: dataset_release.delay(request_id))
    return report


def aigc_label(*, produce_id: str) -> dict[str, str]:
    """Implicit AI-content label (GB 45438) carried by every released record and the manifest."""
    return {
        "Label": "1",  # 1 = the content is AI-generated
        "ContentProducer": "synthgate",
        "ProduceID": produce_id,
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }


def release_execute(*, request_id: int) -> Dataset | None:
    """approved → released: write the JSONL snapshot atomically, hash it, record the Dataset."""
    request = DatasetRequest.objects.select_related("team", "policy_version__policy").get(pk=request_id)
    if request.state != S.APPROVED:
        return None
    records = list(Record.objects.filter(request_id=request_id, status=Record.Status.ACCEPTED).order_by("slot_index"))
    directory = Path(gateway_setting("DATASET_DIR")) / request.team.slug
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".request-{request_id}-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                line = json.dumps({
                    "id": f"req{request_id}-slot{record.slot_index}",
                    "kind": request.kind,
                    "language": request.language,
                    "content": record.content,
                    "provenance": record.provenance,
                    "screening": {"pii_counts": record.pii_counts, "safety": record.safety.get("verdict", "")},
                    "AIGC": aigc_label(produce_id=f"request:{request_id}:record:{record.pk}"),
                }, ensure_ascii=False, sort_keys=True) + "\n"
                handle.write(line)
                digest.update(line.encode())
        final = directory / f"request-{request_id}-{digest.hexdigest()[:12]}.jsonl"
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    manifest = {
        "request_id": request_id,
        "title": request.title,
        "purpose": request.purpose,
        "records": len(records),
        "sha256": digest.hexdigest(),
        "policy": request.policy_version.summary(),
        "AIGC": aigc_label(produce_id=f"request:{request_id}"),
    }
    with transaction.atomic():
        locked = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if locked.state != S.APPROVED:
            final.unlink(missing_ok=True)
            return None
        dataset = Dataset.objects.create(
            request=request, team=request.team, file_path=str(final), content_hash=digest.hexdigest(),
            record_count=len(records), manifest=manifest, released_at=timezone.now(),
        )
        _transition(request_id=request_id, target=S.RELEASED, actor=None,
                    payload={"dataset_id": dataset.pk, "sha256": dataset.content_hash, "records": len(records)})
        audit_event_append(actor=None, action="dataset.release", object_type="dataset", object_id=dataset.pk,
                           payload={"request_id": request_id, "sha256": dataset.content_hash, "records": len(records)})
    return dataset


def request_fail(*, request_id: int, reason: str) -> None:
    """Move a request that hit an unexpected error to failed, keeping what it produced for inspection."""
    with transaction.atomic():
        request = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if S.FAILED in _targets(request.state):
            _transition(request_id=request_id, target=S.FAILED, actor=None, reason=reason[:2000])


def _targets(state: str) -> frozenset[str]:
    from .states import TRANSITIONS

    return TRANSITIONS.get(state, frozenset())
