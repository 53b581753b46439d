"""Quality-gate step: run the gates and route the request to approval or failure.

Two families of gates run: the foundation's counting gates (``compliance.gates``: exact duplicates,
held rate, yield) and the quality suite (``compliance.quality``: consistency, maths, near
duplicates against this set and the team's earlier releases, diversity, relevance,
decontamination, novelty, sampled acceptance). Records that a dropping gate flags are held back
with the reason; the report, a handful of flagged examples per gate and four charts are stored
on ``QualityReport.gates``. When the policy asks for a manual review, a sample is set aside for
approvers to judge item by item and the manual pass rate becomes part of the gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_append
from compliance.gates import GateResult, exact_duplicate_gate, held_rate_gate, yield_gate
from compliance.quality.acceptance import MANUAL, acceptance_sample, manual_review
from compliance.quality.charts import render_charts
from compliance.quality.contamination import BenchmarkIndex, build_index
from compliance.quality.dedup import PriorText
from compliance.quality.runner import SuiteContext, SuiteReport, run_quality_suite
from compliance.quality.thresholds import quality_thresholds
from compliance.quality.types import QualityItem
from gateway.errors import Conflict, NotAllowed
from gateway.models import BenchmarkSet, Dataset, DatasetRequest, QualityReport, Record, ReviewItem, Role
from gateway.roles import has_role, user_team
from gateway.services import _transition
from gateway.states import RequestState

from .common import runs_alone

S = RequestState
log = logging.getLogger(__name__)
REPORT_KEY = "quality_report"  # the non-gate entry of QualityReport.gates holding charts and summary


# --- turning stored records into what the gates read ------------------------------------------------


def content_to_item(*, item_id: str, content: Any, text: str, kind: str, category: str) -> QualityItem:
    """Instruction/response from a record's content: Q&A fields, or first user turn vs the rest of a dialogue."""
    if isinstance(content, dict) and isinstance(content.get("messages"), list):
        turns = [m for m in content["messages"] if isinstance(m, dict)]
        first_user = next((i for i, m in enumerate(turns) if m.get("role") == "user"), 0)
        instruction = str(turns[first_user].get("content", "")) if turns else ""
        response = "\n".join(str(m.get("content", "")) for i, m in enumerate(turns) if i != first_user)
        return QualityItem(item_id, instruction, response, kind or "dialogue", category)
    if isinstance(content, dict) and ("instruction" in content or "response" in content):
        return QualityItem(item_id, str(content.get("instruction", "")), str(content.get("response", "")),
                           kind or "qa", category, str(content.get("answer", "") or ""))
    return QualityItem(item_id, "", text, kind or "qa", category)


def _prior_texts(request: DatasetRequest) -> Iterator[PriorText]:
    """Records of the team's earlier released datasets, read from their JSONL files."""
    datasets = Dataset.objects.filter(team_id=request.team_id, status=Dataset.Status.RELEASED).exclude(
        request_id=request.pk)
    for dataset in datasets:
        path = Path(dataset.file_path)
        if not path.exists():
            raise FileNotFoundError(f"released dataset {dataset.pk} file is missing: {path}")
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle):
                row = json.loads(line)
                item = content_to_item(item_id=str(row.get("id", n)), content=row.get("content"), text="",
                                       kind=str(row.get("kind", "")), category="")
                yield PriorText(dataset_id=dataset.pk, record_id=item.id, text=item.text)


_INDEX_CACHE: dict[tuple[int, str], frozenset[int]] = {}


def benchmark_indexes() -> list[BenchmarkIndex]:
    indexes = []
    for bench in BenchmarkSet.objects.filter(active=True):
        key = (bench.pk, bench.sha256)
        if key not in _INDEX_CACHE:
            _INDEX_CACHE[key] = frozenset(int(h) for h in np.load(bench.index_path))
        indexes.append(BenchmarkIndex(name=bench.name, hashes=_INDEX_CACHE[key]))
    return indexes


def _judge(request: DatasetRequest) -> Any:
    if not request.options.get("consistency_llm_judge"):
        return None
    from generation.backends import backend_from_settings

    return backend_from_settings("openai")


# --- the step ---------------------------------------------------------------------------------------


@runs_alone("gate")
def gates_execute(*, request_id: int) -> QualityReport | None:
    """Run the quality gates; gated → awaiting_approval (or approved) if all pass, else failed."""
    from gateway.tasks import dataset_release

    request = DatasetRequest.objects.select_related("policy_version").get(pk=request_id)
    if request.state != S.GATED:
        return None
    policy = request.policy_version
    records = list(Record.objects.filter(request_id=request_id).values_list(
        "pk", "status", "text", "content", "kind", "category"))
    accepted_rows = [r for r in records if r[1] == Record.Status.ACCEPTED]
    accepted = [(pk, text) for pk, _, text, *_ in accepted_rows]
    screening_held = sum(1 for r in records if r[1] == Record.Status.HELD)
    results: list[GateResult] = []
    suite: SuiteReport | None = None
    gate_error = ""
    thresholds: dict[str, float] = {}
    hold: dict[int, str] = {}
    try:
        thresholds = quality_thresholds(policy.gate_thresholds)
        dedup = exact_duplicate_gate(accepted, max_duplicate_rate=policy.threshold("max_duplicate_rate"))
        results.append(dedup)
        for pk in dedup.flagged_ids:
            hold[int(str(pk))] = "exact duplicate of an earlier record"
        items = [content_to_item(item_id=str(pk), content=content, text=text, kind=kind or request.kind,
                                 category=category) for pk, _, text, content, kind, category in accepted_rows]
        context = SuiteContext(
            topic=f"{request.domain}: {request.title}. {request.task}".strip(),
            requested_mix=request.options.get("subcategory_mix"),
            sources=[s.masked_content for s in request.sources.all() if s.masked_content],
            prior=list(_prior_texts(request)), benchmarks=benchmark_indexes(), screening_held=screening_held,
            judge=_judge(request), seed=request.seed,
        )
        suite = run_quality_suite(items, context=context, overrides=policy.gate_thresholds)
        flags = suite.flags_by_record()
        for item_id in suite.drop_ids():
            hold.setdefault(int(item_id), "; ".join(f"{f.gate}: {f.reason}" for f in flags[item_id])[:2000])
        # Held records never ship; the rates above say whether the generator was producing bad data.
        kept = len(accepted) - len(hold)
        results.append(held_rate_gate(total=len(records), held=len(records) - len(accepted),
                                      max_held_rate=policy.threshold("max_held_rate")))
        results.append(yield_gate(requested=request.size, accepted=kept, min_yield=policy.threshold("min_yield")))
    except Exception as exc:  # noqa: BLE001 - a gate that cannot run fails the dataset, never passes it
        gate_error = f"quality gate error: {type(exc).__name__}: {exc}"
    gates = [
        {"name": r.name, "passed": r.passed, "metric": round(float(r.metric), 6), "threshold": r.threshold,
         "flagged": len(r.flagged_ids), "detail": r.detail}
        for r in results
    ]
    if suite is not None:
        gates += suite.gates_as_dicts()
    passed = not gate_error and all(g["passed"] for g in gates)
    manual_required = bool(thresholds.get("manual_review")) and passed
    summary_entry = _summary_entry(request_id, suite, gates) if suite is not None else None
    with transaction.atomic():
        if hold:
            for pk, reason in hold.items():
                Record.objects.filter(pk=pk).update(status=Record.Status.HELD, reason=reason)
            audit_event_append(actor=None, action="record.hold", object_type="dataset_request", object_id=request_id,
                               payload={"reason": "quality gates", "record_ids": sorted(hold),
                                        "by_gate": _count_by_gate(suite, hold)})
        if manual_required:
            kept_ids = [str(pk) for pk, *_ in accepted_rows if pk not in hold]
            sample = acceptance_sample(kept_ids, size=int(thresholds["manual_review_sample_size"]), seed=request.seed)
            ReviewItem.objects.bulk_create(
                [ReviewItem(request_id=request_id, record_id=int(pk)) for pk in sample], ignore_conflicts=True)
            gates.append(manual_review(verdicts=[None] * len(sample),
                                       min_rate=thresholds["min_manual_pass_rate"]).as_dict())
        stored_gates = gates + ([summary_entry] if summary_entry else []) + (
            [{"error": gate_error}] if gate_error else [])
        report, _ = QualityReport.objects.update_or_create(
            request=request, defaults={"passed": passed and not manual_required, "gates": stored_gates},
        )
        summary = {"passed": passed, "gates": {g["name"]: g["passed"] for g in gates}, "error": gate_error,
                   "held_by_gates": len(hold)}
        if not passed:
            failing = ", ".join(str(g["name"]) for g in gates if not g["passed"]) or gate_error
            _transition(request_id=request_id, target=S.FAILED, actor=None,
                        reason=f"quality gates failed: {failing}", payload=summary)
        elif policy.requires_human_approval or manual_required:
            _transition(request_id=request_id, target=S.AWAITING_APPROVAL, actor=None, payload=summary)
        else:
            _transition(request_id=request_id, target=S.APPROVED, actor=None,
                        reason="policy needs no human approver", payload=summary)
            transaction.on_commit(lambda: dataset_release.delay(request_id))
    return report


def _count_by_gate(suite: SuiteReport | None, hold: dict[int, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in hold.values():
        gate = reason.split(":", 1)[0] if not reason.startswith("exact duplicate") else "exact_duplicate"
        counts[gate] = counts.get(gate, 0) + 1
    return counts


def _summary_entry(request_id: int, suite: SuiteReport, gates: list[dict[str, Any]]) -> dict[str, Any]:
    """Charts, timings and the full per-record flags file; a chart failure is recorded, not fatal."""
    directory = Path(settings.MEDIA_ROOT) / "quality" / f"request-{request_id}"
    entry: dict[str, Any] = {REPORT_KEY: {"records": suite.total, "timings_seconds": suite.as_dict()["timings_seconds"],
                                          "thresholds": suite.thresholds}}
    body = entry[REPORT_KEY]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        flags_path = directory / "flags.json"
        flags_path.write_text(json.dumps(suite.as_dict()["flags"], ensure_ascii=False), encoding="utf-8")
        body["flags_file"] = str(flags_path)
        diversity = suite.outcome("diversity")
        charts = render_charts(
            directory,
            category_mix=(diversity.metrics.get("category_mix") or {}) if diversity else {},
            lengths=suite.lengths,
            similarities=suite.similarities,
            flags_per_gate={g["name"]: int(g.get("flagged", 0)) for g in gates},
        )
        body["charts"] = charts["files"]
        body["chart_legend"] = charts["legend"]
        # Enough to say how a chart was drawn: which CJK font (None: names shown as codes), the caption under
        # it, and any character no font could draw.
        body["chart_font"] = charts["font"]
        body["chart_caption"] = charts["caption"]
        body["chart_missing_glyphs"] = charts["missing_glyphs"]
    except Exception as exc:  # noqa: BLE001 - pictures are a convenience; the gates above decided
        log.exception("quality charts failed for request %s", request_id)
        body["charts_error"] = f"{type(exc).__name__}: {exc}"
    return entry


# --- benchmark sets --------------------------------------------------------------------------------


def _benchmark_texts(content: bytes) -> list[str]:
    text = content.decode("utf-8")
    items = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"benchmark line is not valid JSON: {exc}") from None
            items.append(" ".join(str(v) for v in _strings(row)))
        else:
            items.append(line)
    if not items:
        raise ValidationError("the benchmark file has no items")
    return items


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def benchmark_set_register(*, name: str, content: bytes, actor: Any, description: str = "",
                           instance: BenchmarkSet | None = None) -> BenchmarkSet:
    """Store an uploaded benchmark and its n-gram index. Raises ValidationError for an empty or bad file."""
    from django.core.files.base import ContentFile

    texts = _benchmark_texts(content)
    hashes = np.array(sorted(build_index(texts)), dtype=np.uint64)
    digest = hashlib.sha256(content).hexdigest()
    directory = Path(settings.MEDIA_ROOT) / "benchmarks"
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / f"index-{digest[:16]}.npy"
    np.save(index_path, hashes)
    with transaction.atomic():
        bench = instance or BenchmarkSet()
        bench.name, bench.description, bench.sha256 = name, description, digest
        bench.item_count, bench.ngram_count, bench.index_path = len(texts), len(hashes), str(index_path)
        bench.created_by = bench.created_by or actor
        bench.source_file.save(f"{digest[:16]}.jsonl", ContentFile(content), save=False)
        bench.full_clean()
        bench.save()
        audit_event_append(actor=actor, action="benchmark_set.register", object_type="benchmark_set",
                           object_id=bench.pk, payload={"name": name, "sha256": digest, "items": len(texts),
                                                        "ngrams": len(hashes)})
    return bench


# --- manual review ---------------------------------------------------------------------------------


def _refresh_manual_gate(request_id: int) -> dict[str, Any]:
    report = QualityReport.objects.select_for_update().get(request_id=request_id)
    policy = DatasetRequest.objects.select_related("policy_version").get(pk=request_id).policy_version
    thresholds = quality_thresholds(policy.gate_thresholds)
    verdicts = [None if v == ReviewItem.Verdict.PENDING else v == ReviewItem.Verdict.PASS
                for v in ReviewItem.objects.filter(request_id=request_id).values_list("verdict", flat=True)]
    manual = manual_review(verdicts=verdicts, min_rate=thresholds["min_manual_pass_rate"]).as_dict()
    gates = [g for g in report.gates if g.get("name") != MANUAL]
    insert_at = next((i for i, g in enumerate(gates) if "name" not in g), len(gates))
    gates.insert(insert_at, manual)
    report.gates = gates
    report.passed = all(g["passed"] for g in gates if "name" in g) and not any("error" in g for g in gates)
    report.save(update_fields=["gates", "passed"])
    return manual


def review_item_record_verdict(*, item: ReviewItem, actor: Any, verdict: str, note: str = "") -> ReviewItem:
    """An approver's pass/fail on one sampled record; refreshes the manual-review gate.

    When the last item is judged and the pass rate is below the policy's minimum, the request is
    rejected with that reason. Raises NotAllowed, Conflict or ValidationError.
    """
    request = item.request
    if not has_role(actor, Role.APPROVER) or user_team(actor) != request.team:
        raise NotAllowed(f"only an approver of team '{request.team.slug}' can review this request's items")
    if request.requester_id == actor.pk:
        raise NotAllowed("the requester cannot review their own request (maker-checker rule)")
    if verdict not in (ReviewItem.Verdict.PASS, ReviewItem.Verdict.FAIL):
        raise ValidationError("verdict must be 'pass' or 'fail'")
    if verdict == ReviewItem.Verdict.FAIL and not note.strip():
        raise ValidationError("a fail verdict needs a note saying what is wrong")
    with transaction.atomic():
        locked = DatasetRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != S.AWAITING_APPROVAL:
            raise Conflict(f"request #{locked.pk} is '{locked.state}': items are reviewed while awaiting approval")
        ReviewItem.objects.filter(pk=item.pk).update(verdict=verdict, note=note, reviewer=actor,
                                                     reviewed_at=timezone.now())
        audit_event_append(actor=actor, action="review_item.verdict", object_type="dataset_request",
                           object_id=request.pk, payload={"record_id": item.record_id, "verdict": verdict,
                                                          "note_sha256": hashlib.sha256(note.encode()).hexdigest()})
        manual = _refresh_manual_gate(request.pk)
        if manual["metrics"]["pending"] == 0 and not manual["passed"]:
            _transition(request_id=request.pk, target=S.REJECTED, actor=actor,
                        reason=f"manual review failed: {manual['detail']}", payload={"manual_review": manual})
    item.refresh_from_db()
    return item


def quality_approval_blocker(*, request: DatasetRequest) -> str | None:
    """Why ``request`` may not be approved yet (manual review pending or failed), or None."""
    manual = next((g for g in getattr(getattr(request, "quality_report", None), "gates", None) or []
                   if g.get("name") == MANUAL), None)
    if manual is not None and not manual["passed"]:
        return f"manual review: {manual['detail']}"
    return None
