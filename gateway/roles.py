"""Who may do what: roles are Django groups, teams come from the membership row."""

from __future__ import annotations

from typing import Any

from .models import Role, Team


def user_roles(user: Any) -> frozenset[str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_gateway_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) & frozenset(Role.values)
        user._gateway_roles = cached
    return cached


def has_role(user: Any, role: str) -> bool:
    return role in user_roles(user)


def user_team(user: Any) -> Team | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    membership = getattr(user, "membership", None)
    return membership.team if membership is not None else None
