from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from . import services
from .models import Policy, PolicyVersion, SafetyExemplar, SafetyTerm


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
    """Versions are edited here until they screen data; then they are frozen (published), their safety lexicon
    is pinned by ``lexicon_fingerprint``, and changes go into a new version."""

    list_display = ["policy", "version", "requires_human_approval", "locked_at", "lexicon_fingerprint", "created_at"]
    list_filter = ["policy"]
    actions = ["new_version_from"]

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        base = ["version", "locked_at", "lexicon_fingerprint", "created_by", "created_at"]
        if obj is not None and obj.is_locked:
            return [f.name for f in PolicyVersion._meta.fields]
        if obj is not None:
            return [*base, "policy"]
        return base

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in
                  ("pii_operators", "safety_actions", "gate_thresholds", "requires_human_approval", "notes",
                   *services.COPIED_SETTINGS)
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
            # Every setting of the selected version, not of the latest one, which may differ.
            created = services.policy_version_create(
                policy=version.policy, actor=request.user, pii_operators=dict(version.pii_operators),
                safety_actions=dict(version.safety_actions), gate_thresholds=dict(version.gate_thresholds),
                requires_human_approval=version.requires_human_approval, notes=f"copied from v{version.version}",
                **{name: getattr(version, name) for name in services.COPIED_SETTINGS},
            )
            self.message_user(request, f"Created {created}", messages.SUCCESS)


class _CsvImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with the columns shown in the export.")
    policy_version = forms.ModelChoiceField(
        queryset=PolicyVersion.objects.filter(locked_at__isnull=True), required=False,
        help_text="Leave empty to add to the shared base set.",
    )


class _SafetyRowsAdmin(admin.ModelAdmin):
    """Terms/exemplars: edit in place, export selected rows as CSV, import a CSV (audited)."""

    kind = ""
    value_field = ""
    list_filter = ["risk_code", "lang", "policy_version"]
    actions = ["export_csv"]
    change_list_template = "admin/compliance/safety_rows_change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path("import-csv/", self.admin_site.admin_view(self.import_csv), name=f"compliance_{self.kind}_import"),
            *super().get_urls(),
        ]

    @admin.action(description="Export selected rows as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="safety_{self.kind}.csv"'
        writer = csv.writer(response)
        writer.writerow(["risk_code", "lang", self.value_field])
        for row in queryset.order_by("risk_code", "lang", "pk"):
            writer.writerow([row.risk_code, row.lang, getattr(row, self.value_field)])
        return response

    def import_csv(self, request: HttpRequest) -> HttpResponse:
        form = _CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
            try:
                added = services.safety_rows_import(
                    kind=self.kind, rows=rows, actor=request.user, policy_version=form.cleaned_data["policy_version"]
                )
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"Imported {added} rows", messages.SUCCESS)
                return redirect(f"admin:compliance_{self.model._meta.model_name}_changelist")
        return render(request, "admin/compliance/safety_rows_import.html",
                      {**self.admin_site.each_context(request), "form": form, "title": f"Import safety {self.kind}"})


@admin.register(SafetyTerm)
class SafetyTermAdmin(_SafetyRowsAdmin):
    kind = "terms"
    value_field = "term"
    list_display = ["risk_code", "lang", "term", "policy_version"]
    search_fields = ["term"]


@admin.register(SafetyExemplar)
class SafetyExemplarAdmin(_SafetyRowsAdmin):
    kind = "exemplars"
    value_field = "text"
    list_display = ["risk_code", "lang", "text", "policy_version"]
    search_fields = ["text"]
