"""Small, composable permission classes: one role each."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from gateway.models import Role
from gateway.roles import has_role, user_roles


class _RolePermission(BasePermission):
    role: str = ""
    message = "This action needs a role you do not have."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, self.role)


class IsRequester(_RolePermission):
    """The user has the requester role."""

    role = Role.REQUESTER
    message = "Only requesters can do this."


class IsApprover(_RolePermission):
    """The user has the approver role."""

    role = Role.APPROVER
    message = "Only approvers can do this."


class IsAuditor(_RolePermission):
    """The user has the auditor role."""

    role = Role.AUDITOR
    message = "Only auditors can do this."


class HasAnyRole(BasePermission):
    """The user has at least one gateway role (requester, approver, auditor, policy admin)."""

    message = "Your account has no gateway role; ask an administrator to assign one."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(user_roles(request.user))
