"""Knowledge trees and model prices in the Django admin; trees import/export as JSON or YAML."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path

from generation import services
from generation.models import KnowledgeNode, KnowledgeTree, ModelPrice
from generation.types import GenerationConfigError


class KnowledgeNodeInline(admin.TabularInline):
    model = KnowledgeNode
    fk_name = "tree"
    extra = 0
    fields = ["key", "level", "parent", "name_zh", "name_en", "weight", "position"]
    ordering = ["position", "pk"]


class TreeImportForm(forms.Form):
    document = forms.FileField(help_text="A knowledge tree as .json or .yaml (the export format).")


@admin.register(KnowledgeTree)
class KnowledgeTreeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "updated_at"]
    search_fields = ["slug", "name"]
    inlines = [KnowledgeNodeInline]
    actions = ["export_json", "export_yaml"]
    change_list_template = "admin/generation/knowledgetree/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("import/", self.admin_site.admin_view(self.import_view), name="generation_knowledgetree_import"),
        ]
        return urls + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        form = TreeImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            text = form.cleaned_data["document"].read().decode("utf-8")
            try:
                tree = services.knowledge_tree_import(text=text, actor=request.user)
            except GenerationConfigError as exc:
                form.add_error("document", str(exc))
            else:
                self.message_user(request, f"imported knowledge tree {tree.slug}", messages.SUCCESS)
                return redirect("admin:generation_knowledgetree_change", tree.pk)
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import a knowledge tree",
                   "opts": self.model._meta}
        return render(request, "admin/generation/knowledgetree/import.html", context)

    def _export(self, queryset: QuerySet[KnowledgeTree], fmt: str) -> HttpResponse:
        trees = list(queryset)
        text = "---\n".join(services.knowledge_tree_export(tree=t, fmt=fmt) for t in trees) if fmt == "yaml" else (
            services.knowledge_tree_export(tree=trees[0], fmt=fmt) if len(trees) == 1 else
            "[" + ",\n".join(services.knowledge_tree_export(tree=t, fmt=fmt) for t in trees) + "]\n"
        )
        response = HttpResponse(text.encode("utf-8"), content_type=f"application/{fmt}; charset=utf-8")
        name = trees[0].slug if len(trees) == 1 else "knowledge-trees"
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response

    @admin.action(description="Export selected trees as JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[KnowledgeTree]) -> HttpResponse:
        return self._export(queryset, "json")

    @admin.action(description="Export selected trees as YAML")
    def export_yaml(self, request: HttpRequest, queryset: QuerySet[KnowledgeTree]) -> HttpResponse:
        return self._export(queryset, "yaml")


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model", "prompt_per_1k", "completion_per_1k", "currency", "updated_at"]
    search_fields = ["model"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Through the service, so every price change is audited.
        services.model_price_set(model=obj.model, prompt_per_1k=obj.prompt_per_1k,
                                 completion_per_1k=obj.completion_per_1k, currency=obj.currency, actor=request.user)
