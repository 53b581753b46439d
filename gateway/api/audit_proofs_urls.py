"""API routes for the audit proofs area, mounted at /api/v1/audit/."""

from django.urls import URLPattern, URLResolver, path

from . import audit_proofs_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("events/<int:seq>/", views.AuditEventDetail.as_view(), name="audit-event-detail"),
    path("proofs/inclusion/", views.AuditInclusionProof.as_view(), name="audit-proof-inclusion"),
    path("proofs/consistency/", views.AuditConsistencyProof.as_view(), name="audit-proof-consistency"),
    path("checkpoints/", views.AuditCheckpointList.as_view(), name="audit-checkpoints"),
    path("checkpoints/<int:index>/", views.AuditCheckpointDetail.as_view(), name="audit-checkpoint-detail"),
    path("keys/", views.AuditKeyList.as_view(), name="audit-keys"),
]
