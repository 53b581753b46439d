"""API routes for the audit proofs area (filled in by its issue)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
