from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from audit.triggers import audit_triggers_disabled
from gateway import pipelines, services
from gateway.states import RequestState

from .helpers import new_request, run_pipeline

S = RequestState
pytestmark = pytest.mark.django_db


def create_payload(policy_version: Any, **overrides: Any) -> dict[str, Any]:
    payload = {"title": "客服对话", "purpose": "assistant fine-tuning", "domain": "retail banking",
               "size": 5, "policy_version_id": policy_version.pk}
    payload.update(overrides)
    return payload


def awaiting(people: dict[str, Any], policy_version: Any) -> Any:
    request = new_request(people["requester"], policy_version, size=3)
    services.dataset_request_submit(request=request, actor=people["requester"])
    return run_pipeline(request)


@pytest.mark.parametrize(
    ("role", "status"),
    [("requester", 201), ("approver", 403), ("auditor", 403), ("policy_admin", 403), ("nobody", 403)],
)
def test_create_request_by_role(api, people, policy_version, role: str, status: int) -> None:
    response = api(people[role]).post("/api/v1/requests/", create_payload(policy_version), format="json")
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["state"] == "draft"
        assert response.json()["team"] == "bank-a"
    else:
        assert response.json()["detail"]


def test_anonymous_is_refused(client, policy_version) -> None:
    response = client.get("/api/v1/requests/")
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"size": 0}, "size"), ({"size": "many"}, "size"), ({"language": "fr"}, "language"),
     ({"policy_version_id": 99999}, "policy_version_id"), ({"source_ids": [12345]}, "source_ids"),
     ({"title": ""}, "title")],
)
def test_bad_input_gets_a_400_with_a_message(api, people, policy_version, overrides, field) -> None:
    response = api(people["requester"]).post("/api/v1/requests/", create_payload(policy_version, **overrides),
                                             format="json")
    assert response.status_code == 400
    assert field in str(response.json()["detail"])


def test_malformed_json_body_is_a_400(api, people) -> None:
    response = api(people["requester"]).post("/api/v1/requests/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_list_is_scoped_to_team_and_auditors_see_all(api, people, policy_version) -> None:
    mine = new_request(people["requester"], policy_version)
    theirs = new_request(people["outsider_requester"], policy_version)
    ids = {r["id"] for r in api(people["requester"]).get("/api/v1/requests/").json()}
    assert ids == {mine.pk}
    ids = {r["id"] for r in api(people["approver"]).get("/api/v1/requests/").json()}
    assert ids == {mine.pk}
    ids = {r["id"] for r in api(people["auditor"]).get("/api/v1/requests/").json()}
    assert ids == {mine.pk, theirs.pk}
    assert api(people["requester"]).get(f"/api/v1/requests/{theirs.pk}/").status_code == 404
    assert api(people["nobody"]).get("/api/v1/requests/").status_code == 403
    assert api(people["requester"]).get("/api/v1/requests/?state=bogus").status_code == 400


def test_submit_and_cancel_by_role(api, people, policy_version, django_capture_on_commit_callbacks) -> None:
    request = new_request(people["requester"], policy_version)
    assert api(people["approver"]).post(f"/api/v1/requests/{request.pk}/submit/").status_code == 403
    assert api(people["outsider_requester"]).post(f"/api/v1/requests/{request.pk}/submit/").status_code == 404
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(people["requester"]).post(f"/api/v1/requests/{request.pk}/submit/")
    assert response.status_code == 202 and response.json()["state"] == "submitted"
    assert len(callbacks) == 1  # generation is enqueued only after the commit
    assert response.json()["progress"]["total"] == 6
    again = api(people["requester"]).post(f"/api/v1/requests/{request.pk}/submit/")
    assert again.status_code == 409 and "submitted" in again.json()["detail"]
    assert api(people["approver"]).post(f"/api/v1/requests/{request.pk}/cancel/").status_code == 403
    response = api(people["requester"]).post(f"/api/v1/requests/{request.pk}/cancel/", {"reason": "dup"})
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


def test_approve_and_reject_by_role(api, people, policy_version) -> None:
    request = awaiting(people, policy_version)
    url = f"/api/v1/requests/{request.pk}/approve/"
    assert api(people["requester"]).post(url).status_code == 403
    assert api(people["auditor"]).post(url).status_code == 403
    assert api(people["outsider_approver"]).post(url).status_code == 404
    refused = api(people["approver"]).post(f"/api/v1/requests/{request.pk}/reject/", {}, format="json")
    assert refused.status_code == 400 and "reason" in str(refused.json()["detail"])
    response = api(people["approver"]).post(url, {"reason": "looks good"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "approved"
    assert api(people["approver"]).post(url).status_code == 409


def test_self_approval_is_refused_by_the_api(api, people, policy_version) -> None:
    maker = people["maker_checker"]
    request = new_request(maker, policy_version, size=3)
    services.dataset_request_submit(request=request, actor=maker)
    run_pipeline(request)
    response = api(maker).post(f"/api/v1/requests/{request.pk}/approve/")
    assert response.status_code == 403
    assert "own request" in response.json()["detail"]


def test_download_refused_before_release_then_allowed(api, people, policy_version) -> None:
    request = awaiting(people, policy_version)
    response = api(people["requester"]).get(f"/api/v1/requests/{request.pk}/download/")
    assert response.status_code == 409 and "awaiting_approval" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="dataset.download_refused").count() == 1
    services.dataset_request_approve(request=request, actor=people["approver"])
    dataset = pipelines.release_execute(request_id=request.pk)
    response = api(people["requester"]).get(f"/api/v1/datasets/{dataset.pk}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert len(body.strip().splitlines()) == dataset.record_count
    assert api(people["outsider_requester"]).get(f"/api/v1/datasets/{dataset.pk}/download/").status_code == 403
    assert api(people["outsider_requester"]).get(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
    listed = api(people["approver"]).get("/api/v1/datasets/").json()
    assert [d["id"] for d in listed["results"]] == [dataset.pk]


def test_audit_endpoints_are_for_auditors(api, people, policy_version) -> None:
    new_request(people["requester"], policy_version)
    for role in ("requester", "approver", "policy_admin"):
        assert api(people[role]).get("/api/v1/audit/events/").status_code == 403
        assert api(people[role]).post("/api/v1/audit/verify/").status_code == 403
    events = api(people["auditor"]).get("/api/v1/audit/events/?action=dataset_request.create").json()
    assert events["count"] == 1 and events["results"][0]["actor_name"] == "req"
    assert api(people["auditor"]).get("/api/v1/audit/events/?since=yesterday").status_code == 400
    result = api(people["auditor"]).post("/api/v1/audit/verify/").json()
    assert result["ok"] is True and result["events_checked"] > 5 and result["first_bad_seq"] is None


def test_audit_verify_endpoint_names_the_edited_event(api, people, policy_version) -> None:
    new_request(people["requester"], policy_version)
    target = AuditEvent.objects.filter(action="dataset_request.create").get()
    with audit_triggers_disabled():  # play the attacker who got past the append-only triggers
        AuditEvent.objects.filter(pk=target.pk).update(payload={"size": 1})
    response = api(people["auditor"]).post("/api/v1/audit/verify/")
    assert response.status_code == 409
    assert response.json()["first_bad_seq"] == target.seq


def test_policies_are_readable_by_every_role(api, people, policy_version) -> None:
    for role in ("requester", "approver", "auditor", "policy_admin"):
        response = api(people[role]).get("/api/v1/policies/")
        assert response.status_code == 200
        assert response.json()["results"][0]["policy"] == "finance-test"
    detail = api(people["requester"]).get(f"/api/v1/policies/{policy_version.pk}/").json()
    assert detail["pii_operators"]["CN_RESIDENT_ID"] == "hash"
    assert api(people["nobody"]).get("/api/v1/policies/").status_code == 403


def test_openapi_schema_and_swagger_ui(api, people) -> None:
    schema = api(people["requester"]).get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/requests/{id}/approve/" in schema.content
    assert api(people["requester"]).get("/api/v1/docs/").status_code == 200
