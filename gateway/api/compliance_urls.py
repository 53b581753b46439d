"""API routes for the compliance area."""

from django.urls import URLPattern, URLResolver, path

from .compliance_views import RevealView, ScreenView

urlpatterns: list[URLPattern | URLResolver] = [
    path("screen", ScreenView.as_view(), name="compliance-screen"),
    path("screen/", ScreenView.as_view()),
    path("reveal", RevealView.as_view(), name="compliance-reveal"),
    path("reveal/", RevealView.as_view()),
]
