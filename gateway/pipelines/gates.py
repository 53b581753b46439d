"""Quality-gate step: run the gates and route the request to approval or failure."""

from __future__ import annotations

from django.db import transaction

from audit.services import audit_event_append
from compliance.gates import GateResult, exact_duplicate_gate, held_rate_gate, yield_gate
from gateway.models import DatasetRequest, QualityReport, Record
from gateway.services import _transition
from gateway.states import RequestState

S = RequestState


def gates_execute(*, request_id: int) -> QualityReport | None:
    """Run the quality gates; gated → awaiting_approval (or approved) if all pass, else failed."""
    from gateway.tasks import dataset_release

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
