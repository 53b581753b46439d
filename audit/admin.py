"""Read-only admin pages for the audit log: the admin may look, never touch."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditCheckpoint, AuditEvent, AuditSigningKey


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete, for anyone: the log is changed only by ``audit_event_append``."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "actor_name", "action", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("object_id",)
    ordering = ("-seq",)
    # The head of a long log is what people look for; counting every row on each page is slow.
    show_full_result_count = False


@admin.register(AuditSigningKey)
class AuditSigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("key_id", "algorithm", "created_at", "retired_at")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("index", "kind", "tree_size", "root_hash", "created_at", "key_id")
    list_filter = ("kind",)
    ordering = ("-index",)
