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
