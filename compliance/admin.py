from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Policy, PolicyVersion


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]

    def save_model(self, request: HttpRequest, obj: Policy, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.policy_create(name=obj.name, description=obj.description, actor=request.user)
        obj.pk = created.pk


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Versions are edited here until they screen data; then they are frozen and a new version is made."""

    list_display = ["policy", "version", "requires_human_approval", "locked_at", "created_at"]
    list_filter = ["policy"]
    actions = ["new_version_from"]

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        base = ["version", "locked_at", "created_by", "created_at"]
        if obj is not None and obj.is_locked:
            return [f.name for f in PolicyVersion._meta.fields]
        if obj is not None:
            return [*base, "policy"]
        return base

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in
                  ("pii_operators", "safety_actions", "gate_thresholds", "requires_human_approval", "notes")
                  if name in form.cleaned_data}
        if change:
            services.policy_version_update(version=obj, actor=request.user, **fields)
        else:
            created = services.policy_version_create(policy=form.cleaned_data["policy"], actor=request.user, **fields)
            obj.pk = created.pk
            obj.version = created.version

    @admin.action(description="Create a new draft version from the selected version")
    def new_version_from(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for version in queryset:
            created = services.policy_version_create(
                policy=version.policy, actor=request.user, pii_operators=dict(version.pii_operators),
                safety_actions=dict(version.safety_actions), gate_thresholds=dict(version.gate_thresholds),
                requires_human_approval=version.requires_human_approval, notes=f"copied from v{version.version}",
            )
            self.message_user(request, f"Created {created}", messages.SUCCESS)
