"""API routes for the generation area, mounted at /api/v1/generation/."""

from django.urls import URLPattern, URLResolver, path

from . import generation_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/<int:pk>/estimate/", views.RequestEstimate.as_view(), name="generation-estimate"),
    path("requests/<int:pk>/progress/", views.RequestProgress.as_view(), name="generation-progress"),
    path("usage/", views.TeamUsage.as_view(), name="generation-usage"),
    path("trees/", views.TreeList.as_view(), name="generation-trees"),
    path("trees/import/", views.TreeImport.as_view(), name="generation-tree-import"),
    path("trees/<slug:slug>/export/", views.TreeExport.as_view(), name="generation-tree-export"),
    path("prices/", views.PriceList.as_view(), name="generation-prices"),
]
