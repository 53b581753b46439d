"""API routes for the quality area, mounted at /api/v1/quality/."""

from django.urls import URLPattern, URLResolver, path

from . import quality_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/<int:pk>/report/", views.QualityReportDetail.as_view(), name="quality-report"),
    path("requests/<int:pk>/charts/<str:chart>.png", views.QualityChart.as_view(), name="quality-chart"),
    path("requests/<int:pk>/review-items/", views.ReviewItems.as_view(), name="quality-review-items"),
    path("benchmarks/", views.BenchmarkSetList.as_view(), name="quality-benchmarks"),
]
