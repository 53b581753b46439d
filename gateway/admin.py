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


# --- quality: benchmark sets and review items (issue 5) ------------------------------------------------


class BenchmarkSetAddForm(forms.ModelForm):
    upload = forms.FileField(help_text="JSONL (one item per line; all string fields are indexed) or plain text.")

    class Meta:
        from .models import BenchmarkSet

        model = BenchmarkSet
        fields = ["name", "description", "active"]


def _register_quality_admin() -> None:
    from .models import BenchmarkSet, ReviewItem

    @admin.register(BenchmarkSet)
    class BenchmarkSetAdmin(admin.ModelAdmin):
        """Upload a test set once; it is indexed (n-gram hashes) for the decontamination gate."""

        list_display = ["name", "item_count", "ngram_count", "active", "created_at"]
        readonly_fields = ["sha256", "item_count", "ngram_count", "index_path", "created_by", "created_at"]

        def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
            if obj is None:
                kwargs["form"] = BenchmarkSetAddForm
            return super().get_form(request, obj, change=change, **kwargs)

        def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
            if obj is None:
                return ["name", "description", "active", "upload"]
            return ["name", "description", "active", *self.readonly_fields]

        def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
            if change:
                super().save_model(request, obj, form, change)
                return
            from .pipelines.gates import benchmark_set_register

            created = benchmark_set_register(
                name=form.cleaned_data["name"], description=form.cleaned_data["description"],
                content=form.cleaned_data["upload"].read(), actor=request.user)
            obj.pk = created.pk

    @admin.register(ReviewItem)
    class ReviewItemAdmin(admin.ModelAdmin):
        """Read-only: verdicts are given through the API so they are checked and audited."""

        list_display = ["request", "record", "verdict", "reviewer", "reviewed_at"]
        list_filter = ["verdict"]

        def has_add_permission(self, request: HttpRequest) -> bool:
            return False

        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return False


_register_quality_admin()
