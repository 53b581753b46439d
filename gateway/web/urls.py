from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_new, name="request-new"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/progress.json", views.request_progress, name="request-progress"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request-submit"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/download/", views.request_download, name="request-download"),
    path("approvals/", views.approval_queue, name="approval-queue"),
    path("approvals/<int:pk>/", views.approval_review, name="approval-review"),
    path("approvals/<int:pk>/items/<int:item_id>/", views.review_item_verdict, name="review-item-verdict"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/events/<int:seq>/", views.audit_event_detail, name="audit-event"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
    path("audit/requests/<int:pk>/lineage/", views.audit_lineage, name="audit-lineage"),
    path("audit/requests/<int:pk>/evidence/", views.audit_evidence, name="audit-evidence"),
]
