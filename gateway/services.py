"""Every write in the dataset-request lifecycle.

Each service owns its transaction, checks who may act, changes state through ``_transition`` (which
refuses illegal moves) and writes its audit event inside the same transaction. Celery work is
enqueued with ``transaction.on_commit`` so a worker never sees uncommitted rows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_append
from compliance.models import PolicyVersion
from compliance.services import policy_version_lock

from .errors import Conflict, DownloadRefused, NotAllowed
from .models import (
    Approval,
    Dataset,
    DatasetRequest,
    GenerationJob,
    LegalBasis,
    Role,
    Source,
    Team,
    TeamMembership,
)
from .roles import has_role, user_team
from .states import RequestState, check_transition

S = RequestState


# --- teams and people -------------------------------------------------------------------------


def team_create(*, name: str, slug: str, actor: AbstractBaseUser | None) -> Team:
    with transaction.atomic():
        team = Team(name=name, slug=slug)
        team.full_clean()
        team.save()
        audit_event_append(actor=actor, action="team.create", object_type="team", object_id=team.pk,
                           payload={"slug": slug})
    return team


def team_member_add(*, user: Any, team: Team, roles: list[str], actor: AbstractBaseUser | None) -> TeamMembership:
    """Put ``user`` in ``team`` with ``roles`` (Django groups). Raises ValidationError for unknown roles."""
    unknown = set(roles) - set(Role.values)
    if unknown:
        raise ValidationError(f"unknown roles: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        membership, _ = TeamMembership.objects.update_or_create(user=user, defaults={"team": team})
        for role in roles:
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
        audit_event_append(actor=actor, action="team.member_add", object_type="team", object_id=team.pk,
                           payload={"user_id": user.pk, "roles": sorted(roles)})
    return membership


# --- sources ------------------------------------------------------------------------------------


def source_add(
    *,
    actor: Any,
    team: Team,
    name: str,
    content: str,
    licence: str,
    legal_basis: str,
    origin: str,
    policy_version: PolicyVersion,
    kind: str = Source.Kind.EXAMPLES,
) -> Source:
    """Screen ``content`` under ``policy_version`` and keep only its masked form.

    Records the PII found (counts per type) and the harmful-content rate (share of lines or sentences the
    safety filter does not pass). A source whose rate exceeds the policy's ``source_harmful_rate_limit``
    (default 5%, GB/T 45654), or that could not be screened, is held back and cannot be used.
    The raw content is hashed, never stored. Raises ValidationError for bad fields. Callers check
    that ``actor`` may add sources to ``team`` (a requester of the team, or a staff admin).
    """
    from compliance.screening import screen_source_content

    if legal_basis not in LegalBasis.values:
        raise ValidationError(f"legal_basis must be one of {', '.join(LegalBasis.values)}")
    screened = screen_source_content(content=content, policy_version=policy_version,
                                     pseudonym_scope=f"source:{team.pk}")
    limit = float(policy_version.source_harmful_rate_limit)
    if screened.error:
        reason = f"held back: {screened.error}"
    elif screened.harmful_rate > limit:
        reason = (f"harmful-content rate {screened.harmful_rate:.1%} exceeds the policy limit {limit:.1%} "
                  f"({screened.harmful_segments} of {screened.segments} segments)")
    else:
        reason = ""
    with transaction.atomic():
        policy_version_lock(version=policy_version, actor=actor)
        source = Source(
            team=team, name=name, kind=kind, licence=licence, legal_basis=legal_basis, origin=origin,
            content_hash=hashlib.sha256(content.encode()).hexdigest(),
            masked_content=screened.masked,
            pii_counts=screened.counts,
            screening=Source.Screening.HELD if reason else Source.Screening.PASSED,
            screening_reason=reason, screened_at=timezone.now(), policy_version=policy_version,
            harmful_rate=None if screened.error else screened.harmful_rate,
            safety_summary={"segments": screened.segments, "harmful_segments": screened.harmful_segments,
                            "risks": screened.risks, "limit": limit},
            created_by=actor,
        )
        source.full_clean()
        source.save()
        audit_event_append(
            actor=actor, action="source.add", object_type="source", object_id=source.pk,
            payload={"content_sha256": source.content_hash, "legal_basis": legal_basis, "licence": licence,
                     "pii_counts": screened.counts, "screening": source.screening, "reason": reason,
                     "harmful_rate": source.harmful_rate, "risks": screened.risks},
        )
    return source


# --- dataset requests ---------------------------------------------------------------------------


def _transition(
    *, request_id: int, target: str, actor: Any, reason: str = "", payload: dict[str, Any] | None = None
) -> DatasetRequest:
    """Move a request to ``target`` under a row lock, with its audit event. Raises IllegalTransition."""
    request = DatasetRequest.objects.select_for_update().get(pk=request_id)
    previous = request.state
    check_transition(previous, target)
    request.state = target
    request.state_reason = reason
    request.save(update_fields=["state", "state_reason", "updated_at"])
    audit_event_append(
        actor=actor, action=f"dataset_request.{target}", object_type="dataset_request", object_id=request.pk,
        payload={"from": previous, "to": target, "reason": reason, **(payload or {})},
    )
    return request


def dataset_request_create(
    *,
    actor: Any,
    title: str,
    purpose: str,
    domain: str,
    size: int,
    policy_version: PolicyVersion,
    language: str = "zh",
    kind: str = "dialogue",
    strategy: str = DatasetRequest.Strategy.PROMPT_TEMPLATE,
    backend: str = DatasetRequest.Backend.OFFLINE,
    task: str = "",
    seed: int = 0,
    sources: list[Source] | None = None,
    options: dict[str, Any] | None = None,
    budget_limit: Any = None,
) -> DatasetRequest:
    """Create a draft request for the actor's team. Raises NotAllowed or ValidationError."""
    team = user_team(actor)
    if team is None or not has_role(actor, Role.REQUESTER):
        raise NotAllowed("only a requester in a team can create dataset requests")
    sources = sources or []
    foreign = [s.pk for s in sources if s.team_id != team.pk]
    if foreign:
        raise NotAllowed(f"sources {foreign} belong to another team")
    unusable = [s.pk for s in sources if s.screening != Source.Screening.PASSED]
    if unusable:
        raise ValidationError(f"sources {unusable} were held back by screening and cannot be used")
    limit = float(policy_version.source_harmful_rate_limit)
    too_harmful = [s.pk for s in sources if s.harmful_rate is None or s.harmful_rate > limit]
    if too_harmful:
        raise ValidationError(
            f"sources {too_harmful} have a harmful-content rate above the policy limit {limit:.1%} (or none was "
            "measured) and cannot be used"
        )
    # Every kind but maths problems may carry personal information, unless the request says it will not.
    may_carry_pi = kind != "math" and (options or {}).get("personal_information", True) is not False
    no_basis = [s.pk for s in sources if s.legal_basis == LegalBasis.NONE]
    if may_carry_pi and no_basis:
        raise ValidationError(
            f"sources {no_basis} have no legal basis and cannot feed a request whose records may carry personal "
            "information (PIPL Art. 13; Interim Measures Art. 7)"
        )
    with transaction.atomic():
        request = DatasetRequest(
            team=team, requester=actor, title=title, purpose=purpose, domain=domain, size=size,
            policy_version=policy_version, language=language, kind=kind, strategy=strategy,
            backend=backend, task=task, seed=seed, options=options or {}, budget_limit=budget_limit,
        )
        request.full_clean()
        request.save()
        request.sources.set(sources)
        audit_event_append(
            actor=actor, action="dataset_request.create", object_type="dataset_request", object_id=request.pk,
            payload={"team": team.slug, "size": size, "domain": domain, "language": language, "kind": kind,
                     "strategy": strategy, "backend": backend, "policy_version_id": policy_version.pk,
                     "source_ids": sorted(s.pk for s in sources)},
        )
    return request


def _require_own_team_requester(request: DatasetRequest, actor: Any, what: str) -> None:
    if not has_role(actor, Role.REQUESTER) or user_team(actor) != request.team:
        raise NotAllowed(f"only a requester of team '{request.team.slug}' can {what} this request")


def dataset_request_estimate(*, request: DatasetRequest) -> dict[str, Any]:
    """What the request's job is expected to cost before it starts: calls, tokens, cost, price source.

    Raises ``GenerationConfigError`` when the backend is misconfigured (e.g. no model for openai).
    """
    from generation.accounting import estimate
    from generation.backends import backend_from_settings

    model = backend_from_settings(request.backend, seed=request.seed).model
    return estimate(strategy=request.strategy, options=request.options or {}, size=request.size, model=model)


def dataset_request_submit(*, request: DatasetRequest, actor: Any) -> DatasetRequest:
    """draft → submitted; pins and locks the policy version, creates the job, enqueues generation.

    Refuses (ValidationError, audited) when the cost estimate exceeds the request's budget limit.
    """
    from gateway.conf import gateway_setting

    from .tasks import dataset_request_generate

    _require_own_team_requester(request, actor, "submit")
    estimate = dataset_request_estimate(request=request)
    if request.budget_limit is not None and estimate["cost"] > request.budget_limit:
        with transaction.atomic():
            audit_event_append(actor=actor, action="dataset_request.submit_refused", object_type="dataset_request",
                               object_id=request.pk, payload={"why": "estimate exceeds budget",
                                                              "estimated_cost": str(estimate["cost"]),
                                                              "budget_limit": str(request.budget_limit)})
        raise ValidationError(
            f"estimated cost {estimate['cost']} ({estimate['calls']} calls on {estimate['model']}) exceeds the "
            f"budget limit {request.budget_limit}: raise the limit or request fewer records"
        )
    with transaction.atomic():
        request = _transition(request_id=request.pk, target=S.SUBMITTED, actor=actor,
                              payload={"policy_version_id": request.policy_version_id,
                                       "estimated_cost": str(estimate["cost"]), "estimated_calls": estimate["calls"]})
        policy_version_lock(version=request.policy_version, actor=actor)
        GenerationJob.objects.create(
            request=request, total=request.size, chunk_size=int(gateway_setting("GENERATION_CHUNK_SIZE")),
            backend=request.backend, estimated_cost=estimate["cost"], model=estimate["model"],
            stats={"estimate": {**estimate, "cost": str(estimate["cost"])}},
        )
        request_id = request.pk
        transaction.on_commit(lambda: dataset_request_generate.delay(request_id))
    return request


def dataset_request_cancel(*, request: DatasetRequest, actor: Any, reason: str = "") -> DatasetRequest:
    """Cancel a request that is not yet approved; running chunks see the state and stop."""
    _require_own_team_requester(request, actor, "cancel")
    with transaction.atomic():
        return _transition(request_id=request.pk, target=S.CANCELLED, actor=actor,
                           reason=reason or "cancelled by requester")


def _require_approver(request: DatasetRequest, actor: Any) -> None:
    if not has_role(actor, Role.APPROVER):
        raise NotAllowed("only a user with the approver role can decide on a request")
    if user_team(actor) != request.team:
        raise NotAllowed(f"only an approver of team '{request.team.slug}' can decide on this request")
    if request.requester_id == actor.pk:
        raise NotAllowed("the requester cannot approve or reject their own request (maker-checker rule)")


def dataset_request_approve(*, request: DatasetRequest, actor: Any, reason: str = "") -> DatasetRequest:
    """awaiting_approval → approved by an approver who is not the requester; enqueues the release."""
    from .pipelines.gates import quality_approval_blocker
    from .tasks import dataset_release

    _require_approver(request, actor)
    if why := quality_approval_blocker(request=request):
        raise Conflict(f"cannot approve yet: {why}")
    with transaction.atomic():
        request = _transition(request_id=request.pk, target=S.APPROVED, actor=actor, reason=reason)
        Approval.objects.create(request=request, approver=actor, decision=Approval.Decision.APPROVE, reason=reason)
        request_id = request.pk
        transaction.on_commit(lambda: dataset_release.delay(request_id))
    return request


def dataset_request_reject(*, request: DatasetRequest, actor: Any, reason: str) -> DatasetRequest:
    """awaiting_approval → rejected; a reason is required."""
    _require_approver(request, actor)
    if not reason.strip():
        raise ValidationError("a rejection needs a reason")
    with transaction.atomic():
        request = _transition(request_id=request.pk, target=S.REJECTED, actor=actor, reason=reason)
        Approval.objects.create(request=request, approver=actor, decision=Approval.Decision.REJECT, reason=reason)
    return request


def dataset_revoke(*, dataset: Dataset, actor: Any, reason: str) -> Dataset:
    """Withdraw a released dataset: downloads are refused from then on."""
    if not (has_role(actor, Role.APPROVER) or has_role(actor, Role.POLICY_ADMIN)) or user_team(actor) != dataset.team:
        raise NotAllowed("only an approver or policy admin of the dataset's team can revoke it")
    if not reason.strip():
        raise ValidationError("a revocation needs a reason")
    with transaction.atomic():
        _transition(request_id=dataset.request_id, target=S.REVOKED, actor=actor, reason=reason)
        dataset.status = Dataset.Status.REVOKED
        dataset.revoked_reason = reason
        dataset.save(update_fields=["status", "revoked_reason"])
    return dataset


def dataset_download_authorize(*, request: DatasetRequest, actor: Any) -> Path:
    """The released file's path for ``actor``; every attempt, allowed or refused, is audited.

    Raises DownloadRefused when the request has no released dataset, NotAllowed for another team.
    """
    from .selectors import user_can_view_request

    if not user_can_view_request(actor, request):
        with transaction.atomic():
            audit_event_append(actor=actor, action="dataset.download_refused", object_type="dataset_request",
                               object_id=request.pk, payload={"why": "not allowed for this user"})
        raise NotAllowed("you cannot download this team's datasets")
    dataset = Dataset.objects.filter(request=request).first()
    if request.state != S.RELEASED or dataset is None or dataset.status != Dataset.Status.RELEASED:
        with transaction.atomic():
            audit_event_append(actor=actor, action="dataset.download_refused", object_type="dataset_request",
                               object_id=request.pk, payload={"why": f"request is {request.state}"})
        raise DownloadRefused(f"request #{request.pk} is '{request.state}': only released datasets can be downloaded")
    with transaction.atomic():
        audit_event_append(actor=actor, action="dataset.download", object_type="dataset", object_id=dataset.pk,
                           payload={"sha256": dataset.content_hash})
    return Path(dataset.file_path)
