from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from . import services
from .models import DatasetRequest, LegalBasis, Source, Team, TeamMembership


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team"]
    list_filter = ["team"]


class SourceAddForm(forms.ModelForm):
    content = forms.CharField(widget=forms.Textarea, help_text="Screened for PII; only the masked text is kept.")

    class Meta:
        model = Source
        fields = ["team", "name", "kind", "licence", "legal_basis", "origin", "policy_version"]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "legal_basis", "licence", "screening", "screened_at"]
    list_filter = ["team", "legal_basis", "screening"]
    readonly_fields = ["content_hash", "masked_content", "pii_counts", "screening", "screening_reason",
                       "screened_at", "created_by", "created_at"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = SourceAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        # A screened source is evidence: it cannot be edited, only replaced by a new one.
        return [f.name for f in Source._meta.fields]

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        created = services.source_add(
            actor=request.user, team=data["team"], name=data["name"], kind=data["kind"], licence=data["licence"],
            legal_basis=data["legal_basis"] or LegalBasis.NONE, origin=data["origin"], content=data["content"],
            policy_version=data["policy_version"],
        )
        obj.pk = created.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DatasetRequest)
class DatasetRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change state only through the API and its audited services."""

    list_display = ["id", "title", "team", "requester", "state", "size", "created_at"]
    list_filter = ["state", "team"]
    search_fields = ["title"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
