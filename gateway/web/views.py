"""Server-rendered pages for requesters, approvers and auditors.

Each view validates, authorises (role via ``gateway.roles``, team via the selectors), calls one
service and renders. Pages of another team's request answer 404; pages of another role answer 403.
Features other issues add (cost estimate, review items, charts, inclusion proofs, evidence bundles)
are looked up when the page renders, and the page says so plainly when they are not there yet.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEvent
from audit.selectors import audit_event_list
from audit.services import audit_event_append
from audit.verify import audit_chain_verify
from gateway import selectors, services
from gateway.errors import DownloadRefused, NotAllowed
from gateway.models import Approval, Dataset, DatasetRequest, GenerationJob, Record, ReviewItem, Role
from gateway.roles import has_role, user_roles, user_team
from gateway.states import ACTIVE, TERMINAL, IllegalTransition, RequestState

from .forms import AuditFilterForm, DecisionForm, RequestForm
from .labels import CHART_LABELS, gate_label, risk_label, state_label
from .lineage import LineageNode, lineage_svg

S = RequestState
# Rough tokens per generated record, by kind, for the fallback estimate (prompt + completion).
_TOKENS_PER_RECORD = {"dialogue": 700, "qa": 450, "math": 600}
_AUDIT_PAGE_SIZE = 50


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


# --- helpers ----------------------------------------------------------------------------------------


def _require_role(user: Any, *roles: str) -> None:
    if not user_roles(user) & set(roles):
        raise PermissionDenied(_("Your role does not give access to this page."))


def _visible_request(user: Any, pk: int) -> DatasetRequest:
    """The request if the user's role and team let them see it; 404 otherwise (never reveal it exists)."""
    return get_object_or_404(selectors.dataset_request_list(user=user), pk=pk)


def _optional(candidates: list[tuple[str, str]]) -> Callable[..., Any] | None:
    """The first of ``(module, function)`` that exists: features other issues add, looked up late."""
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found = getattr(module, attribute, None)
        if callable(found):
            return found
    return None


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {k: v for k, v in vars(value).items() if not k.startswith("_")} if hasattr(value, "__dict__") else {}


def _url_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def cost_estimate(request: DatasetRequest) -> dict[str, Any]:
    """The cost estimate shown before submitting.

    Uses ``gateway.services.dataset_request_estimate`` when the generation engine provides it; until
    then a token-based estimate made here, labelled as such. The offline backend costs nothing.
    """
    estimate_service = getattr(services, "dataset_request_estimate", None)
    if estimate_service is not None:
        problem = ""
        try:
            data = _as_dict(estimate_service(request=request))
        except Exception as exc:  # noqa: BLE001 - e.g. a misconfigured backend: show why, estimate anyway
            data, problem = {}, f"{type(exc).__name__}: {exc}"
        if data:
            tokens = data.get("tokens")
            if tokens is None and ("prompt_tokens" in data or "completion_tokens" in data):
                tokens = int(data.get("prompt_tokens") or 0) + int(data.get("completion_tokens") or 0)
            return {"source": "service", "tokens": tokens, "cost": data.get("cost", data.get("estimated_cost")),
                    "currency": data.get("currency", ""),
                    "calls": data.get("calls"), "model": data.get("model", ""),
                    "price_source": data.get("price_source", ""), "problem": ""}
    else:
        problem = ""
    tokens = request.size * _TOKENS_PER_RECORD.get(request.kind, 600)
    cost: Decimal | None = Decimal("0") if request.backend == DatasetRequest.Backend.OFFLINE else None
    return {"source": "fallback", "tokens": tokens, "cost": cost, "currency": "", "calls": None, "model": "",
            "price_source": "", "problem": problem}


def progress_data(request: DatasetRequest) -> dict[str, Any]:
    """What the live progress bar shows: the job's counters, tokens, cost and a simple ETA."""
    job = GenerationJob.objects.filter(request=request).first()
    data: dict[str, Any] = {
        "id": request.pk, "state": request.state, "state_label": state_label(request.state),
        "terminal": request.state in TERMINAL or request.state in {S.RELEASED, S.AWAITING_APPROVAL},
        "active": request.state in ACTIVE, "done": 0, "total": request.size, "failed": 0, "held": 0,
        "tokens": 0, "cost": None, "eta_seconds": None, "percent": 0,
    }
    if job is None:
        return data
    data.update(done=job.done, total=job.total, failed=job.failed, held=job.held,
                tokens=job.prompt_tokens + job.completion_tokens,
                cost=str(job.cost) if job.cost else None)
    data["percent"] = round(100 * job.done / job.total) if job.total else 0
    if request.state in {S.APPROVED, S.RELEASED}:
        data["percent"] = 100
    eta = (job.stats or {}).get("eta_seconds")
    if eta is None and job.started_at and job.finished_at is None and 0 < job.done < job.total:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        eta = round(elapsed / job.done * (job.total - job.done))
    data["eta_seconds"] = eta
    return data


_REPORT_KEY = "quality_report"  # the non-gate entry of QualityReport.gates (charts, timings)


def _example_text(example: Any) -> str:
    if not isinstance(example, dict):
        return str(example)
    flags = "; ".join(f"{f.get('reason', '')} {f.get('evidence', '')}".strip() for f in example.get("flags", []))
    return f"#{example.get('id', '?')}: {flags}" if flags else json.dumps(example, ensure_ascii=False)


def _gate_rows(report: Any) -> list[dict[str, Any]]:
    if report is None:
        return []
    rows = []
    for gate in report.gates or []:
        if _REPORT_KEY in gate:
            continue
        if "name" not in gate:
            rows.append({"label": _("Gate error"), "error": gate.get("error", ""), "passed": False})
            continue
        charts = list(gate.get("charts") or [])
        if gate.get("chart_url"):
            charts.insert(0, gate["chart_url"])
        examples = gate.get("flagged_examples") or gate.get("examples") or []
        rows.append({**gate, "label": gate_label(gate["name"]), "charts": charts,
                     "examples": [_example_text(e) for e in examples]})
    return rows


def _report_charts(report: Any) -> list[dict[str, str]]:
    """The report's PNG charts, served by the quality API, when the quality engine drew them."""
    if report is None:
        return []
    summary: dict[str, Any] = next((g[_REPORT_KEY] for g in report.gates or [] if _REPORT_KEY in g), {})
    charts = []
    for name in summary.get("charts") or {}:
        url = f"/api/v1/quality/requests/{report.request_id}/charts/{name}.png"
        if _url_exists(url):
            charts.append({"url": url, "name": str(CHART_LABELS.get(name, name))})
    return charts


def _state_history(request: DatasetRequest) -> list[dict[str, Any]]:
    events = audit_event_list(object_type="dataset_request", object_id=str(request.pk))
    return [{"event": e, "to_label": state_label(e.payload.get("to", "")) if e.payload.get("to") else ""}
            for e in events]


# --- home and requests ------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    visible = selectors.dataset_request_list(user=user)
    context = {
        "team": user_team(user),
        "counts": {
            "mine_active": visible.filter(state__in=ACTIVE).count(),
            "awaiting": visible.filter(state=S.AWAITING_APPROVAL).count() if has_role(user, Role.APPROVER) else 0,
            "released": visible.filter(state=S.RELEASED).count(),
        },
        "recent": visible[:5],
    }
    return render(request, "web/home.html", context)


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    _require_role(request.user, *Role.values)
    state = request.GET.get("state") or None
    if state not in (None, *S.values):
        state = None
    requests = selectors.dataset_request_list(user=request.user, state=state)
    rows = [{"obj": r, "progress": progress_data(r)} for r in requests[:200]]
    return render(request, "web/request_list.html", {
        "rows": rows, "state": state, "states": [(s, state_label(s)) for s in S.values],
        "can_create": has_role(request.user, Role.REQUESTER) and user_team(request.user) is not None,
    })


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    _require_role(request.user, Role.REQUESTER)
    team = user_team(request.user)
    if team is None:
        raise PermissionDenied(_("You are not a member of any team."))
    form = RequestForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.dataset_request_create(actor=request.user, **form.service_fields())
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
        else:
            messages.success(request, _("Draft saved. Check the cost estimate, then submit."))
            return redirect("web:request-detail", pk=created.pk)
    return render(request, "web/request_new.html", {"form": form, "team": team})


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _visible_request(request.user, pk)
    user = request.user
    report = getattr(obj, "quality_report", None) if hasattr(obj, "quality_report") else None
    dataset = Dataset.objects.filter(request=obj).first()
    own_team_requester = has_role(user, Role.REQUESTER) and user_team(user) == obj.team
    return render(request, "web/request_detail.html", {
        "obj": obj,
        "progress": progress_data(obj),
        "report": report,
        "gates": _gate_rows(report),
        "report_charts": _report_charts(report),
        "history": _state_history(obj),
        "dataset": dataset,
        "estimate": cost_estimate(obj) if obj.state == S.DRAFT else None,
        "can_submit": own_team_requester and obj.state == S.DRAFT,
        "can_cancel": own_team_requester and obj.state in {S.DRAFT, *ACTIVE, S.AWAITING_APPROVAL},
        "can_review": has_role(user, Role.APPROVER) and obj.state == S.AWAITING_APPROVAL,
        "is_auditor": has_role(user, Role.AUDITOR),
        "sources": list(obj.sources.all()),
    })


@login_required
@require_GET
def request_progress(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(progress_data(_visible_request(request.user, pk)))


@login_required
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _visible_request(request.user, pk)
    try:
        services.dataset_request_submit(request=obj, actor=request.user)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except IllegalTransition:
        messages.error(request, _("This request can no longer be submitted."))
    else:
        messages.success(request, _("Submitted. Generation has started."))
    return redirect("web:request-detail", pk=pk)


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    obj = _visible_request(request.user, pk)
    try:
        services.dataset_request_cancel(request=obj, actor=request.user, reason=request.POST.get("reason", ""))
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except IllegalTransition:
        messages.error(request, _("This request can no longer be cancelled."))
    else:
        messages.success(request, _("Cancelled."))
    return redirect("web:request-detail", pk=pk)


@login_required
@require_GET
def request_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    obj = _visible_request(request.user, pk)
    try:
        path = services.dataset_download_authorize(request=obj, actor=request.user)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except DownloadRefused as exc:
        return render(request, "web/message.html", {"title": _("Download refused"), "text": str(exc)}, status=409)
    if request.GET.get("format") == "parquet":
        from gateway.exports import dataset_parquet_bytes

        body = dataset_parquet_bytes(jsonl_path=path, manifest=obj.dataset.manifest)
        response = HttpResponse(body, content_type="application/vnd.apache.parquet")
        response["Content-Disposition"] = f'attachment; filename="request-{obj.pk}.parquet"'
        return response
    return FileResponse(open(path, "rb"), as_attachment=True,  # noqa: SIM115 - FileResponse closes it
                        filename=f"request-{obj.pk}.jsonl", content_type="application/x-ndjson")


# --- approver ---------------------------------------------------------------------------------------


def _maker_checker_reason(user: Any, obj: DatasetRequest) -> str:
    if obj.requester_id == user.pk:
        return _("You requested this dataset, so you cannot approve or reject it: another approver of the "
                 "team must check it (maker-checker rule).")
    return ""


@login_required
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    _require_role(request.user, Role.APPROVER)
    queue = selectors.dataset_request_list(user=request.user, state=S.AWAITING_APPROVAL).select_related(
        "quality_report")
    rows = [{
        "obj": r,
        "gates": _gate_rows(getattr(r, "quality_report", None)),
        "pii_total": sum(selectors.request_pii_summary(request=r).values()),
        "blocked_reason": _maker_checker_reason(request.user, r),
    } for r in queue]
    return render(request, "web/approval_queue.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def approval_review(request: HttpRequest, pk: int) -> HttpResponse:
    _require_role(request.user, Role.APPROVER)
    obj = _visible_request(request.user, pk)
    blocked = _maker_checker_reason(request.user, obj)
    form = DecisionForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        decide = (services.dataset_request_approve if form.cleaned_data["decision"] == "approve"
                  else services.dataset_request_reject)
        try:
            decide(request=obj, actor=request.user, reason=form.cleaned_data["reason"])
        except NotAllowed as exc:
            form.add_error(None, str(exc))
            status = 403
        except IllegalTransition:
            form.add_error(None, _("This request is no longer awaiting approval."))
            status = 409
        except ValidationError as exc:
            form.add_error("reason", "; ".join(exc.messages))
        else:
            if form.cleaned_data["decision"] == "approve":
                messages.success(request, _("Approved. The dataset is being released."))
            else:
                messages.success(request, _("Rejected."))
            return redirect("web:request-detail", pk=pk)
    report = getattr(obj, "quality_report", None) if hasattr(obj, "quality_report") else None
    safety = selectors.request_safety_summary(request=obj)
    review_items = list(ReviewItem.objects.filter(request=obj).select_related("record", "reviewer"))
    sample = [] if review_items else selectors.request_record_sample(request=obj)
    return render(request, "web/approval_review.html", {
        "obj": obj,
        "form": form,
        "blocked_reason": blocked,
        "awaiting": obj.state == S.AWAITING_APPROVAL,
        "gates": _gate_rows(report),
        "report": report,
        "pii": selectors.request_pii_summary(request=obj),
        "verdicts": safety["verdicts"],
        "categories": [(risk_label(code), count) for code, count in safety["categories"].items()],
        "sample": sample,
        "review_items": review_items,
        "reviewed": sum(1 for i in review_items if i.verdict != ReviewItem.Verdict.PENDING),
        "progress": progress_data(obj),
    }, status=status)


@login_required
@require_POST
def review_item_verdict(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    """Pass or fail one sampled record, with a note (required to fail)."""
    from gateway.pipelines.gates import review_item_record_verdict

    _require_role(request.user, Role.APPROVER)
    obj = _visible_request(request.user, pk)
    item = get_object_or_404(ReviewItem.objects.select_related("request"), request=obj, pk=item_id)
    try:
        review_item_record_verdict(item=item, actor=request.user, verdict=request.POST.get("verdict", ""),
                                   note=request.POST.get("note", ""))
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    except Exception as exc:  # noqa: BLE001 - e.g. Conflict: the request moved on; say so on the page
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Verdict recorded."))
    return redirect(f"{reverse('web:approval-review', kwargs={'pk': pk})}#item-{item_id}")


# --- auditor ----------------------------------------------------------------------------------------


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_role(request.user, Role.AUDITOR)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.none()
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        events = audit_event_list(
            object_type=data.get("object_type") or None, object_id=data.get("object_id") or None,
            actor_name=data.get("actor") or None, action=data.get("action") or None,
            since=data.get("since"), until=data.get("until"),
        ).order_by("-seq")
    page = Paginator(events, _AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/audit_log.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "verification": request.session.pop("audit_verification", None),
    })


def _inclusion_proof(event: AuditEvent) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The event's inclusion proof and the checkpoint it is proved against, when audit provides them."""
    prove = _optional([("audit.proofs", "audit_inclusion_proof"), ("audit.merkle", "audit_inclusion_proof"),
                       ("audit.selectors", "audit_inclusion_proof"), ("audit.proofs", "inclusion_proof")])
    if prove is None:
        return None, None
    try:
        proof = _as_dict(prove(seq=event.seq))
    except Exception:  # noqa: BLE001 - a proof that cannot be built is shown as missing, never as valid
        return {"error": _("The inclusion proof could not be built.")}, None
    checkpoint = proof.pop("checkpoint", None)
    return proof, _as_dict(checkpoint) if checkpoint is not None else None


@login_required
@require_GET
def audit_event_detail(request: HttpRequest, seq: int) -> HttpResponse:
    _require_role(request.user, Role.AUDITOR)
    event = get_object_or_404(audit_event_list(), seq=seq)
    proof, checkpoint = _inclusion_proof(event)
    return render(request, "web/audit_event.html", {
        "event": event,
        "payload_json": json.dumps(event.payload, ensure_ascii=False, indent=2, sort_keys=True),
        "proof_json": json.dumps(proof, ensure_ascii=False, indent=2, sort_keys=True, default=str) if proof else "",
        "checkpoint_json": json.dumps(checkpoint, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        if checkpoint else "",
        "request_pk": event.object_id if event.object_type == "dataset_request" else "",
    })


@login_required
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    _require_role(request.user, Role.AUDITOR)
    result = audit_chain_verify()
    # Same record as the API's verify: who checked the chain, and what they found.
    with transaction.atomic():
        audit_event_append(actor=request.user, action="audit.verify", object_type="audit_log", object_id="chain",
                           payload={"ok": result.ok, "events_checked": result.events_checked,
                                    "first_bad_seq": result.first_bad_seq})
    request.session["audit_verification"] = {
        "ok": result.ok, "events_checked": result.events_checked, "first_bad_seq": result.first_bad_seq,
        "reason": result.reason, "at": timezone.now().isoformat(),
    }
    return redirect("web:audit-log")


def lineage_nodes(obj: DatasetRequest) -> list[LineageNode]:
    """The six stages of one request, filled from its rows and audit events."""
    actions = {e.action: e for e in audit_event_list(object_type="dataset_request", object_id=str(obj.pk))}
    job = GenerationJob.objects.filter(request=obj).first()
    records = Record.objects.filter(request=obj)
    report = getattr(obj, "quality_report", None) if hasattr(obj, "quality_report") else None
    approval = Approval.objects.filter(request=obj).select_related("approver").order_by("-created_at").first()
    dataset = Dataset.objects.filter(request=obj).first()
    failed_step = obj.state == S.FAILED
    sources = list(obj.sources.all())
    pii_total = sum(selectors.request_pii_summary(request=obj).values())

    def status(done: bool, failed: bool = False) -> str:
        return "failed" if failed else ("done" if done else "pending")

    gen_done = "dataset_request.screening" in actions
    screen_done = "dataset_request.gated" in actions
    return [
        LineageNode("sources", _("Sources"), "done",
                    [_("%(n)d sources") % {"n": len(sources)}, *[s.name for s in sources[:2]],
                     _("policy %(name)s v%(v)s") % {"name": obj.policy_version.policy.name,
                                                    "v": obj.policy_version.version}]),
        LineageNode("generation", _("Generation"), status(gen_done, failed_step and not gen_done and job is not None),
                    [f"{job.done}/{job.total}" if job else f"0/{obj.size}",
                     f"{obj.backend} · {obj.strategy}", _("%(n)d failed") % {"n": job.failed if job else 0}]),
        LineageNode("screening", _("Screening"), status(screen_done, failed_step and gen_done and not screen_done),
                    [_("%(n)d entities masked") % {"n": pii_total},
                     _("%(n)d held back") % {"n": records.filter(status=Record.Status.HELD).count()}]),
        LineageNode("gates", _("Quality gates"), status(report is not None and report.passed,
                                                       report is not None and not report.passed),
                    [f"{gate_label(g['name'])}: {'✓' if g['passed'] else '✗'}"
                     for g in (report.gates if report else []) if "name" in g]),
        LineageNode("approval", _("Approval"),
                    status(approval is not None and approval.decision == Approval.Decision.APPROVE
                           or "dataset_request.approved" in actions,
                           approval is not None and approval.decision == Approval.Decision.REJECT),
                    [approval.approver.get_username(), str(Approval.Decision(approval.decision).label)]
                    if approval else ([_("by policy")] if "dataset_request.approved" in actions else [])),
        LineageNode("release", _("Release"), status(dataset is not None, obj.state == S.REVOKED),
                    [_("%(n)d records") % {"n": dataset.record_count}, f"sha256 {dataset.content_hash[:12]}…"]
                    if dataset else []),
    ]


def _evidence_builder() -> Callable[..., Any] | None:
    return _optional([("audit.bundle", "evidence_bundle_build"), ("audit.evidence", "evidence_bundle_build")])


@login_required
@require_GET
def audit_lineage(request: HttpRequest, pk: int) -> HttpResponse:
    _require_role(request.user, Role.AUDITOR)
    obj = _visible_request(request.user, pk)
    return render(request, "web/audit_lineage.html", {
        "obj": obj, "svg": lineage_svg(lineage_nodes(obj)), "history": _state_history(obj),
        "evidence_available": _evidence_builder() is not None,
    })


@login_required
@require_GET
def audit_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    _require_role(request.user, Role.AUDITOR)
    obj = _visible_request(request.user, pk)
    build = _evidence_builder()
    if build is None:
        return render(request, "web/message.html", {
            "title": _("Evidence bundle"),
            "text": _("Evidence bundles are not available in this installation yet."),
        }, status=404)
    dataset = Dataset.objects.filter(request=obj).first()
    if dataset is None:
        return render(request, "web/message.html", {
            "title": _("Evidence bundle"), "text": _("Only a released dataset has an evidence bundle."),
        }, status=404)
    with tempfile.TemporaryDirectory(prefix="evidence-") as folder:
        target = Path(folder) / f"evidence-dataset-{dataset.pk}.zip"
        try:
            build(dataset_id=dataset.pk, output=target, actor=request.user)
        except Exception as exc:  # noqa: BLE001 - e.g. the file no longer matches its hash: say so, serve nothing
            return render(request, "web/message.html", {"title": _("Evidence bundle"), "text": str(exc)},
                          status=409)
        content = target.read_bytes()
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{target.name}"'
    return response
