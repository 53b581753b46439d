"""Every page for every role through Django's test client: who sees what, and what each action does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from gateway import services
from gateway.models import DatasetRequest, Role
from gateway.web.views import cost_estimate
from tests.conftest import make_user
from tests.gateway.helpers import new_request

pytestmark = pytest.mark.django_db

ROLES = ["requester", "approver", "auditor", "policy_admin", "nobody"]


def _pages(awaiting: Any, released: Any) -> dict[str, str]:
    return {
        "home": "/",
        "requests": "/requests/",
        "new": "/requests/new/",
        "detail": f"/requests/{awaiting.pk}/",
        "progress": f"/requests/{awaiting.pk}/progress.json",
        "download": f"/requests/{released.pk}/download/",
        "queue": "/approvals/",
        "review": f"/approvals/{awaiting.pk}/",
        "audit": "/audit/",
        "event": "/audit/events/1/",
        "lineage": f"/audit/requests/{released.pk}/lineage/",
    }


# What each role gets on each page (team A's requests; every role below is in team A except nobody).
EXPECTED = {
    "requester": {"home": 200, "requests": 200, "new": 200, "detail": 200, "progress": 200, "download": 200,
                  "queue": 403, "review": 403, "audit": 403, "event": 403, "lineage": 403},
    "approver": {"home": 200, "requests": 200, "new": 403, "detail": 200, "progress": 200, "download": 200,
                 "queue": 200, "review": 200, "audit": 403, "event": 403, "lineage": 403},
    "auditor": {"home": 200, "requests": 200, "new": 403, "detail": 200, "progress": 200, "download": 200,
                "queue": 403, "review": 403, "audit": 200, "event": 200, "lineage": 200},
    "policy_admin": {"home": 200, "requests": 200, "new": 403, "detail": 200, "progress": 200, "download": 200,
                     "queue": 403, "review": 403, "audit": 403, "event": 403, "lineage": 403},
    "nobody": {"home": 200, "requests": 403, "new": 403, "detail": 404, "progress": 404, "download": 404,
               "queue": 403, "review": 403, "audit": 403, "event": 403, "lineage": 403},
}


def test_each_page_answers_each_role_as_its_role_and_team_allow(
    people: dict[str, Any], awaiting: Any, released: Any, client_for: Any, client: Any
) -> None:
    pages = _pages(awaiting, released)
    for role in ROLES:
        role_client = client_for(people[role])
        got = {name: role_client.get(url).status_code for name, url in pages.items()}
        assert got == EXPECTED[role], role
    # Anonymous users are sent to the login page.
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/?next="), name
    # Another team sees 404 for every request page, and none of team A's requests in its list.
    for role in ("outsider_requester", "outsider_approver"):
        outsider = client_for(people[role])
        for url in (f"/requests/{awaiting.pk}/", f"/requests/{awaiting.pk}/progress.json",
                    f"/requests/{released.pk}/download/"):
            assert outsider.get(url).status_code == 404, (role, url)
        listing = outsider.get("/requests/").content.decode()
        assert f'data-request="{awaiting.pk}"' not in listing
    assert client_for(people["outsider_approver"]).get(f"/approvals/{awaiting.pk}/").status_code == 404


def test_login_page_logs_in_and_navigation_follows_the_roles(people: dict[str, Any], client: Any) -> None:
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "appr", "password": "pw-appr-123456"})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/").content.decode()
    assert 'id="nav-approvals"' in home and 'id="nav-audit"' not in home and 'id="nav-new"' not in home
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_requester_creates_a_draft_sees_a_zero_estimate_and_submits(
    people: dict[str, Any], policy_version: Any, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(people["requester"])
    form = client.get("/requests/new/").content.decode()
    assert 'name="legal_basis"' in form and 'name="policy_version"' in form and 'name="strategy"' in form
    response = client.post("/requests/new/", {
        "title": "信用卡客服", "purpose": "train a support assistant", "legal_basis": "contract",
        "domain": "credit cards", "language": "zh", "kind": "qa", "strategy": "prompt_template",
        "backend": "offline", "size": 40, "task": "", "policy_version": policy_version.pk,
    })
    assert response.status_code == 302
    draft = DatasetRequest.objects.get(title="信用卡客服")
    assert response["Location"] == f"/requests/{draft.pk}/"
    assert (draft.state, draft.size, draft.kind, draft.requester) == ("draft", 40, "qa", people["requester"])
    assert draft.purpose.endswith("[legal basis: contract]")
    page = client.get(f"/requests/{draft.pk}/").content.decode()
    estimate = cost_estimate(draft)
    assert f'<dd id="estimate-tokens">{estimate["tokens"]}</dd>' in page and estimate["tokens"] > 0
    assert estimate["cost"] == 0 and '<dd id="estimate-cost">0</dd>' in page  # the offline backend is free
    assert 'id="submit-request"' in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/requests/{draft.pk}/submit/")
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.state == "submitted" and len(callbacks) == 1


def test_invalid_request_form_shows_errors_and_creates_nothing(
    people: dict[str, Any], policy_version: Any, client_for: Any
) -> None:
    response = client_for(people["requester"]).post("/requests/new/", {"title": "", "size": 0})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert DatasetRequest.objects.count() == 0


def test_estimate_for_an_openai_backend_has_tokens_but_no_invented_price(
    people: dict[str, Any], policy_version: Any
) -> None:
    draft = new_request(people["requester"], policy_version, size=10, backend="openai")
    estimate = cost_estimate(draft)
    if estimate["source"] == "fallback":
        # 10 dialogues × 700 tokens; no price is invented for a remote model.
        assert estimate["tokens"] == 7000 and estimate["cost"] is None
        assert bool(estimate["problem"]) == hasattr(services, "dataset_request_estimate")
    else:
        assert estimate["tokens"] > 0 and estimate["calls"] >= 10


def test_pages_of_a_request_awaiting_approval(people: dict[str, Any], awaiting: Any, client_for: Any) -> None:
    requester = client_for(people["requester"])
    data = requester.get(f"/requests/{awaiting.pk}/progress.json").json()
    assert data["state"] == "awaiting_approval" and data["state_label"] == "Awaiting approval"
    assert (data["done"], data["total"], data["percent"]) == (6, 6, 100)
    assert data["failed"] == 0 and data["held"] == awaiting.job.held

    page = requester.get(f"/requests/{awaiting.pk}/").content.decode()
    for gate in ("exact_duplicate", "held_rate", "yield"):
        assert f'data-gate="{gate}"' in page
    assert "Exact duplicates" in page and "Yield" in page
    assert "dataset_request.awaiting_approval" in page and "dataset_request.submitted" in page

    response = requester.get(f"/requests/{awaiting.pk}/download/")
    assert response.status_code == 409
    assert AuditEvent.objects.filter(action="dataset.download_refused", object_id=str(awaiting.pk)).exists()

    lineage = client_for(people["auditor"]).get(f"/audit/requests/{awaiting.pk}/lineage/").content.decode()
    assert 'lineage-done" data-node="gates"' in lineage
    assert 'lineage-pending" data-node="approval"' in lineage and 'lineage-pending" data-node="release"' in lineage


def _released_download_and_card(
    people: dict[str, Any], released: Any, client_for: Any
) -> None:
    client = client_for(people["requester"])
    page = client.get(f"/requests/{released.pk}/").content.decode()
    assert 'id="download"' in page
    if released.dataset.card:
        assert 'id="dataset-card"' in page
    response = client.get(f"/requests/{released.pk}/download/")
    body = b"".join(response.streaming_content).decode()
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert len(lines) == released.dataset.record_count == 5
    assert AuditEvent.objects.filter(action="dataset.download", object_id=str(released.dataset.pk)).count() == 1
    assert 'id="download-parquet"' in page
    parquet = client.get(f"/requests/{released.pk}/download/?format=parquet")
    assert parquet.status_code == 200 and parquet["Content-Type"] == "application/vnd.apache.parquet"
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 5
    assert table.column("id").to_pylist() == [line["id"] for line in lines]
    assert json.loads(table.column("content")[0].as_py()) == lines[0]["content"]
    assert json.loads(table.schema.metadata[b"AIGC"])["Label"] == "1"
    assert AuditEvent.objects.filter(action="dataset.download", object_id=str(released.dataset.pk)).count() == 2


def _queue_and_review(
    people: dict[str, Any], awaiting: Any, client_for: Any
) -> None:
    queue = client_for(people["approver"]).get("/approvals/").content.decode()
    assert f'data-request="{awaiting.pk}"' in queue
    passed_gates = sum(1 for g in awaiting.quality_report.gates if g.get("name") and g.get("passed"))
    assert passed_gates >= 3 and queue.count("badge-pass") == passed_gates
    page = client_for(people["approver"]).get(f"/approvals/{awaiting.pk}/").content.decode()
    pii: dict[str, int] = {}
    for counts in awaiting.records.values_list("pii_counts", flat=True):
        for kind, n in counts.items():
            pii[kind] = pii.get(kind, 0) + n
    for kind, n in pii.items():
        assert f'data-entity="{kind}">' in page
        assert f"</th><td>{n}</td>" in page
    review_items = awaiting.review_items.count() if hasattr(awaiting, "review_items") else 0
    assert page.count('class="review-item"') == (review_items or 6)
    assert 'id="approve"' in page and 'id="reject"' in page
    # Only masked text is shown: the records' stored text is what the page prints.
    first = awaiting.records.order_by("slot_index").first()
    assert first.text[:20] in page


def test_approver_approves_with_a_reason(people: dict[str, Any], awaiting: Any, client_for: Any,
                                         django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(people["approver"]).post(f"/approvals/{awaiting.pk}/",
                                                       {"decision": "approve", "reason": "sample checked"})
    assert response.status_code == 302 and response["Location"] == f"/requests/{awaiting.pk}/"
    awaiting.refresh_from_db()
    assert awaiting.state == "approved" and len(callbacks) == 1
    approval = awaiting.approvals.get()
    assert (approval.approver, approval.decision, approval.reason) == (people["approver"], "approve", "sample checked")


def test_reject_needs_a_reason(people: dict[str, Any], awaiting: Any, client_for: Any) -> None:
    client = client_for(people["approver"])
    response = client.post(f"/approvals/{awaiting.pk}/", {"decision": "reject", "reason": "  "})
    assert response.status_code == 200 and "A rejection needs a reason." in response.content.decode()
    awaiting.refresh_from_db()
    assert awaiting.state == "awaiting_approval"
    client.post(f"/approvals/{awaiting.pk}/", {"decision": "reject", "reason": "too many duplicates"})
    awaiting.refresh_from_db()
    assert (awaiting.state, awaiting.state_reason) == ("rejected", "too many duplicates")


def test_maker_checker_the_requester_cannot_approve_and_the_page_says_why(
    people: dict[str, Any], policy_version: Any, client_for: Any
) -> None:
    from tests.gateway.helpers import submit_and_run

    own = submit_and_run(people["maker_checker"], policy_version, size=4)
    client = client_for(people["maker_checker"])
    page = client.get(f"/approvals/{own.pk}/").content.decode()
    assert 'id="maker-checker"' in page and "maker-checker rule" in page and 'id="approve"' not in page
    assert "Your own request" in client.get("/approvals/").content.decode()
    response = client.post(f"/approvals/{own.pk}/", {"decision": "approve", "reason": ""})
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.state == "awaiting_approval"


def _auditor_filters(people: dict[str, Any], awaiting: Any, released: Any, client_for: Any) -> None:
    client = client_for(people["auditor"])
    page = client.get("/audit/", {"object_type": "dataset_request", "object_id": str(awaiting.pk)}).content.decode()
    expected = list(AuditEvent.objects.filter(object_type="dataset_request", object_id=str(awaiting.pk))
                    .order_by("-seq").values_list("seq", flat=True))
    shown = [int(s) for s in __import__("re").findall(r'<tr data-seq="(\d+)">', page)]
    assert shown == expected and len(shown) >= 5
    by_actor = client.get("/audit/", {"actor": "appr"}).content.decode()
    actor_seqs = set(AuditEvent.objects.filter(actor_name="appr").values_list("seq", flat=True))
    assert {int(s) for s in __import__("re").findall(r'<tr data-seq="(\d+)">', by_actor)} == actor_seqs
    by_action = client.get("/audit/", {"action": "dataset_request.released"}).content.decode()
    assert by_action.count("<tr data-seq=") == 1
    future = client.get("/audit/", {"since": "2999-01-01T00:00"}).content.decode()
    assert "<tr data-seq=" not in future


def _auditor_verifies(
    people: dict[str, Any], released: Any, client_for: Any
) -> None:
    client = client_for(people["auditor"])
    before = AuditEvent.objects.count()
    response = client.post("/audit/verify/")
    assert response.status_code == 302
    page = client.get("/audit/").content.decode()
    assert f"Chain intact: {before} events checked" in page
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == "audit.verify" and event.payload["ok"] is True and event.actor_name == "aud"
    assert client_for(people["requester"]).post("/audit/verify/").status_code == 403


def _event_detail(
    people: dict[str, Any], released: Any, client_for: Any
) -> None:
    event = AuditEvent.objects.filter(action="dataset_request.released").get()
    page = client_for(people["auditor"]).get(f"/audit/events/{event.seq}/").content.decode()
    assert event.event_hash in page and event.prev_hash in page and event.signature in page
    assert 'id="proof"' in page or 'id="no-proof"' in page


def _lineage_released(
    people: dict[str, Any], released: Any, client_for: Any
) -> None:
    page = client_for(people["auditor"]).get(f"/audit/requests/{released.pk}/lineage/").content.decode()
    assert "<svg" in page
    for node in ("sources", "generation", "screening", "gates", "approval", "release"):
        assert f'class="lineage-node lineage-done" data-node="{node}"' in page, node
    assert "appr" in page and released.dataset.content_hash[:12] in page


def _evidence(people: dict[str, Any], released: Any, client_for: Any) -> None:
    from gateway.web.views import _evidence_builder

    response = client_for(people["auditor"]).get(f"/audit/requests/{released.pk}/evidence/")
    if _evidence_builder() is None:
        assert response.status_code == 404 and "not available" in response.content.decode()
    else:
        assert response.status_code == 200 and response["Content-Type"] == "application/zip"
        assert response.content[:2] == b"PK"
        assert AuditEvent.objects.filter(action="evidence_bundle.create", actor_name="aud").count() == 1


def _chinese(people: dict[str, Any], awaiting: Any, client_for: Any) -> None:
    client = client_for(people["approver"], language="zh-hans")
    page = client.get(f"/approvals/{awaiting.pk}/").content.decode()
    assert '<html lang="zh-hans">' in page
    for label in ("质量门禁", "待审批", "完全重复", "产出率", "个人信息摘要", "批准", "驳回", "跳到主要内容"):
        assert label in page, label
    data = client.get(f"/requests/{awaiting.pk}/progress.json").json()
    assert data["state_label"] == "待审批"


def test_language_switch_sets_chinese_for_the_session(people: dict[str, Any], client_for: Any) -> None:
    client = client_for(people["requester"])
    assert "New request" in client.get("/").content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    page = client.get("/").content.decode()
    assert "新建申请" in page and "合成数据网关" in page


def test_risk_categories_are_named_in_the_active_language() -> None:
    from django.utils import translation

    from gateway.web.labels import risk_label

    with translation.override("zh-hans"):
        assert risk_label("A2.3") == "A2.3 歧视性内容"
    with translation.override("en"):
        assert risk_label("A4") == "A4 Infringes the lawful rights of others"


def test_a_user_without_a_role_sees_why(client_for: Any, db: Any) -> None:
    user = make_user("newbie", None, [])
    page = client_for(user).get("/").content.decode()
    assert 'id="no-role"' in page


def test_static_assets_are_served(client: Any, people: dict[str, Any]) -> None:
    from django.contrib.staticfiles import finders

    assert finders.find("web/app.css") and finders.find("web/app.js")
    assert Role.REQUESTER == "requester"


def test_released_request_download_card_event_lineage_and_evidence(
    people: dict[str, Any], released: Any, client_for: Any
) -> None:
    _released_download_and_card(people, released, client_for)
    _event_detail(people, released, client_for)
    _lineage_released(people, released, client_for)
    _evidence(people, released, client_for)


def test_auditor_filters_and_verifies_the_log(
    people: dict[str, Any], awaiting: Any, released: Any, client_for: Any
) -> None:
    _auditor_filters(people, awaiting, released, client_for)
    _auditor_verifies(people, released, client_for)


def test_approver_queue_and_review_page_in_english_and_chinese(
    people: dict[str, Any], awaiting: Any, client_for: Any
) -> None:
    _queue_and_review(people, awaiting, client_for)
    _chinese(people, awaiting, client_for)
