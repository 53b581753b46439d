"""Template filters of the web pages (loaded with ``{% load web %}``)."""

from __future__ import annotations

from typing import Any

from django import template

from gateway.models import Role
from gateway.roles import user_roles, user_team

from . import labels

register = template.Library()


@register.filter
def state_label(value: str) -> str:
    return labels.state_label(value)


@register.filter
def gate_label(value: str) -> str:
    return labels.gate_label(value)


@register.filter
def risk_label(value: str) -> str:
    return labels.risk_label(value)


@register.filter
def pii_label(value: str) -> str:
    return str(labels.PII_LABELS.get(value, value))


@register.filter
def verdict_label(value: str) -> str:
    return str(labels.VERDICT_LABELS.get(value, value))


@register.filter
def record_status_label(value: str) -> str:
    return str(labels.RECORD_STATUS_LABELS.get(value, value))


@register.filter
def kind_label(value: str) -> str:
    return str(labels.KIND_LABELS.get(value, value))


@register.filter
def strategy_label(value: str) -> str:
    return str(labels.STRATEGY_LABELS.get(value, value))


@register.simple_tag
def nav_for(user: Any) -> dict[str, Any]:
    """Which parts of the navigation this user sees."""
    roles = user_roles(user)
    return {
        "requests": bool(roles),
        "new_request": Role.REQUESTER in roles and user_team(user) is not None,
        "approvals": Role.APPROVER in roles,
        "audit": Role.AUDITOR in roles,
        "roles": sorted(roles),
        "team": user_team(user),
    }


@register.filter
def role_label(value: str) -> str:
    return str(labels.ROLE_LABELS.get(value, value))
