"""API routes for the compliance area (filled in by its issue)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
