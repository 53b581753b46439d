from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("requests/", views.RequestListCreate.as_view(), name="request-list"),
    path("requests/<int:pk>/", views.RequestDetail.as_view(), name="request-detail"),
    path("requests/<int:pk>/submit/", views.RequestSubmit.as_view(), name="request-submit"),
    path("requests/<int:pk>/cancel/", views.RequestCancel.as_view(), name="request-cancel"),
    path("requests/<int:pk>/approve/", views.RequestApprove.as_view(), name="request-approve"),
    path("requests/<int:pk>/reject/", views.RequestReject.as_view(), name="request-reject"),
    path("requests/<int:pk>/download/", views.RequestDownload.as_view(), name="request-download"),
    path("datasets/", views.DatasetList.as_view(), name="dataset-list"),
    path("datasets/<int:pk>/", views.DatasetDetail.as_view(), name="dataset-detail"),
    path("datasets/<int:pk>/download/", views.DatasetDownload.as_view(), name="dataset-download"),
    path("audit/events/", views.AuditEventList.as_view(), name="audit-events"),
    path("audit/verify/", views.AuditVerify.as_view(), name="audit-verify"),
    path("policies/", views.PolicyVersionList.as_view(), name="policy-list"),
    path("policies/<int:pk>/", views.PolicyVersionDetail.as_view(), name="policy-detail"),
    path("compliance/", include("gateway.api.compliance_urls")),
    path("quality/", include("gateway.api.quality_urls")),
    path("generation/", include("gateway.api.generation_urls")),
    path("audit/", include("gateway.api.audit_proofs_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
