"""Reads, scoped to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from compliance.models import PolicyVersion

from .models import Dataset, DatasetRequest, Role
from .roles import has_role, user_roles, user_team

# Auditors oversee every team; everyone else sees their own team only.
_TEAM_ROLES = frozenset({Role.REQUESTER, Role.APPROVER, Role.POLICY_ADMIN})


def dataset_request_list(*, user: Any, state: str | None = None) -> QuerySet[DatasetRequest]:
    qs = DatasetRequest.objects.select_related("team", "requester", "policy_version__policy", "job")
    if has_role(user, Role.AUDITOR):
        pass
    elif user_roles(user) & _TEAM_ROLES and user_team(user) is not None:
        qs = qs.filter(team=user_team(user))
    else:
        return qs.none()
    if state:
        qs = qs.filter(state=state)
    return qs


def user_can_view_request(user: Any, request: DatasetRequest) -> bool:
    return dataset_request_list(user=user).filter(pk=request.pk).exists()


def dataset_list(*, user: Any) -> QuerySet[Dataset]:
    return Dataset.objects.select_related("request", "team").filter(
        request__in=dataset_request_list(user=user).values("pk")
    )


def policy_version_list() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("policy").order_by("policy__name", "-version")


# --- summaries for the web pages (issue 7) -------------------------------------------------------


def request_pii_summary(*, request: DatasetRequest) -> dict[str, int]:
    """Masked entities by type, summed over the request's records, largest first."""
    from .models import Record

    totals: dict[str, int] = {}
    for counts in Record.objects.filter(request=request).values_list("pii_counts", flat=True):
        for entity, count in (counts or {}).items():
            totals[entity] = totals.get(entity, 0) + int(count)
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def request_safety_summary(*, request: DatasetRequest) -> dict[str, dict[str, int]]:
    """``{"verdicts": {"pass": n, "flag": n, ...}, "categories": {"A4": n, ...}}`` over the records."""
    from .models import Record

    verdicts: dict[str, int] = {}
    categories: dict[str, int] = {}
    for safety in Record.objects.filter(request=request).values_list("safety", flat=True):
        safety = safety or {}
        verdict = str(safety.get("verdict", ""))
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        for category in {str(hit.get("category", "")) for hit in safety.get("hits", []) if hit.get("category")}:
            categories[category] = categories.get(category, 0) + 1
    return {"verdicts": dict(sorted(verdicts.items())), "categories": dict(sorted(categories.items()))}


def request_record_sample(*, request: DatasetRequest, limit: int = 20) -> list[Any]:
    """Up to ``limit`` records spread evenly over the slots (masked text only), for a reviewer."""
    from .models import Record

    ids = list(Record.objects.filter(request=request).order_by("slot_index").values_list("pk", flat=True))
    if len(ids) > limit:
        step = len(ids) / limit
        ids = [ids[int(i * step)] for i in range(limit)]
    return list(Record.objects.filter(pk__in=ids).order_by("slot_index"))
