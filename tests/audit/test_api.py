"""Auditor API: events by dataset, event detail, proofs, checkpoints, keys, verify; reads are logged."""

from __future__ import annotations

import pytest

from audit import merkle
from audit.checkpoints import checkpoint_create
from audit.models import AuditEvent
from audit.services import audit_event_append
from gateway.pipelines.release import release_execute
from tests.audit.factories import approved_request

pytestmark = pytest.mark.django_db


def _log(n: int = 6) -> list[AuditEvent]:
    """Append ``n`` events (after the user-setup events the ``people`` fixture already logged)."""
    return [
        audit_event_append(actor=None, action="test.event", object_type="thing", object_id=i, payload={"i": i})
        for i in range(n)
    ]


def _reads(what: str) -> list[dict]:
    return list(AuditEvent.objects.filter(action="audit.read", object_id=what).values_list("payload", flat=True))


def test_auditor_endpoints_are_for_auditors_only(api, people) -> None:
    _log()
    for url in (
        "/api/v1/audit/events/1/",
        "/api/v1/audit/proofs/inclusion/?seq=1&tree_size=2",
        "/api/v1/audit/checkpoints/",
        "/api/v1/audit/keys/",
    ):
        response = api(people["requester"]).get(url)
        assert response.status_code == 403, url
        assert response.json()["detail"] == "Only auditors can do this."
    assert AuditEvent.objects.filter(action="audit.read").count() == 0


def test_event_detail_gives_the_hashed_document_and_is_logged(api, people) -> None:
    event = _log()[2]
    body = api(people["auditor"]).get(f"/api/v1/audit/events/{event.seq}/").json()
    assert body["event"]["seq"] == event.seq and body["event"]["payload"] == {"i": 2}
    assert body["event_hash"] == event.event_hash
    from audit.canonical import canonical_json_bytes

    assert body["leaf_hash"] == merkle.leaf_hash(canonical_json_bytes(body["event"])).hex()
    read = AuditEvent.objects.filter(action="audit.read").get()
    assert (read.actor_name, read.object_id, read.payload) == ("aud", "event", {"seq": event.seq})
    assert api(people["auditor"]).get("/api/v1/audit/events/999/").status_code == 404


def test_inclusion_and_consistency_proofs_verify(api, people) -> None:
    n = _log(9)[-1].seq
    checkpoint = checkpoint_create(kind="manual")
    client = api(people["auditor"])
    body = client.get("/api/v1/audit/proofs/inclusion/?seq=4").json()
    leaf = bytes.fromhex(body["leaf_hash"])
    assert body["tree_size"] == n and body["checkpoint"]["root_hash"] == checkpoint.root_hash
    assert merkle.verify_inclusion(
        3, n, leaf, [bytes.fromhex(h) for h in body["audit_path"]], bytes.fromhex(checkpoint.root_hash)
    )
    c = client.get(f"/api/v1/audit/proofs/consistency/?first=3&second={n}").json()
    assert c["second_root"] == checkpoint.root_hash
    assert merkle.verify_consistency(
        3, n, bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"]), [bytes.fromhex(h) for h in c["proof"]]
    )
    assert _reads("inclusion_proof") == [{"seq": 4, "tree_size": n}]
    assert _reads("consistency_proof") == [{"first": 3, "second": n}]


def test_impossible_proofs_are_clear_4xx(api, people) -> None:
    n = _log(3)[-1].seq
    client = api(people["auditor"])
    response = client.get("/api/v1/audit/proofs/inclusion/?seq=2")
    assert response.status_code == 400
    assert "no checkpoint covers" in response.json()["detail"]
    response = client.get("/api/v1/audit/proofs/inclusion/?seq=5&tree_size=3")
    assert (response.status_code, response.json()["detail"]) == (
        400,
        f"event 5 is not in a tree of 3 events (the log holds {n})",
    )
    response = client.get("/api/v1/audit/proofs/inclusion/?seq=abc")
    assert response.status_code == 400
    response = client.get("/api/v1/audit/proofs/consistency/?first=3&second=2")
    assert response.status_code == 400


def test_checkpoints_and_keys(api, people, audit_key) -> None:
    first_size = _log(2)[-1].seq
    checkpoint_create(kind="manual")
    _log(1)
    second = checkpoint_create(kind="heartbeat")
    client = api(people["auditor"])
    listing = client.get("/api/v1/audit/checkpoints/").json()
    assert [(c["checkpoint"]["index"], c["checkpoint"]["tree_size"]) for c in listing] == [
        (2, first_size + 1),
        (1, first_size),
    ]
    assert listing[0]["checkpoint_hash"] == second.checkpoint_hash
    assert listing[0]["checkpoint"]["prev_checkpoint_hash"] == listing[1]["checkpoint_hash"]
    detail = client.get("/api/v1/audit/checkpoints/1/").json()
    assert detail == listing[1]
    keys = client.get("/api/v1/audit/keys/").json()
    assert [(k["key_id"], k["algorithm"], k["valid_until"]) for k in keys] == [(audit_key.key_id, "ed25519", None)]
    assert keys[0]["public_key_pem"] == audit_key.public_key_pem
    assert client.get("/api/v1/audit/checkpoints/?limit=0").status_code == 400


def test_events_filtered_by_dataset_and_the_read_is_logged(api, people, policy_version) -> None:
    _log(2)
    request = approved_request(people=people, policy_version=policy_version, records=3)
    dataset = release_execute(request_id=request.pk)
    response = api(people["auditor"]).get(f"/api/v1/audit/events/?dataset={dataset.pk}")
    assert response.status_code == 200
    results = response.json()
    results = results["results"] if isinstance(results, dict) else results
    kinds = {(e["object_type"], e["action"]) for e in results}
    assert ("dataset", "dataset.release") in kinds
    assert sum(1 for e in results if e["action"] == "record.create") == 3
    assert all(e["object_type"] != "thing" for e in results)
    assert _reads("events") == [{"filters": {"dataset": str(dataset.pk)}}]
    assert api(people["auditor"]).get("/api/v1/audit/events/?dataset=x").status_code == 400


def test_verify_covers_checkpoints(api, people) -> None:
    n = _log(3)[-1].seq
    checkpoint_create(kind="manual")
    body = api(people["auditor"]).post("/api/v1/audit/verify/").json()
    assert (body["ok"], body["events_checked"], body["checkpoints_checked"], body["first_bad_checkpoint"]) == (
        True,
        n,
        1,
        None,
    )
    event = AuditEvent.objects.filter(action="audit.verify").get()
    assert event.payload["checkpoints_checked"] == 1
