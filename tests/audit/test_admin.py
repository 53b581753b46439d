from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from audit.models import AuditEvent, AuditSigningKey
from audit.services import audit_event_append


@pytest.mark.django_db
@pytest.mark.parametrize("model", [AuditEvent, AuditSigningKey])
def test_audit_admin_is_read_only_even_for_superusers(model, django_user_model) -> None:
    superuser = django_user_model.objects.create_superuser(username="root", password="x-unused-123")
    request = RequestFactory().get("/admin/")
    request.user = superuser
    event = audit_event_append(actor=None, action="a.b", object_type="x", object_id=1)
    model_admin = admin.site._registry[model]
    obj = event if model is AuditEvent else AuditSigningKey.objects.get()

    assert model_admin.has_view_permission(request, obj) is True
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request, obj) is False
    assert model_admin.has_delete_permission(request, obj) is False
    assert "delete_selected" not in model_admin.get_actions(request)


def test_audit_event_admin_lists_and_filters() -> None:
    model_admin = admin.site._registry[AuditEvent]

    assert model_admin.list_display == (
        "seq",
        "created_at",
        "actor_name",
        "action",
        "object_type",
        "object_id",
    )
    assert model_admin.list_filter == ("action",)
    assert model_admin.search_fields == ("object_id",)
