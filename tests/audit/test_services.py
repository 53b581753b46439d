from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, AuditPendingEvent, AuditSigningKey
from audit.services import audit_event_append, audit_hash_for_event_fields
from audit.signing import LoadedKey, verify_signature
from audit.verify import audit_chain_verify


def test_hash_is_sha256_of_the_canonical_event_document() -> None:
    expected_document = (
        '{"action":"dataset_request.submit","actor_id":7,"actor_name":"alice",'
        '"created_at":"2025-01-02T03:04:05+00:00","key_id":"0123456789abcdef","object_id":"42",'
        '"object_type":"dataset_request","payload":{"from":"draft","to":"submitted"},'
        '"prev_hash":"' + "0" * 64 + '","seq":1}'
    )

    digest = audit_hash_for_event_fields(
        seq=1,
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        actor_id=7,
        actor_name="alice",
        action="dataset_request.submit",
        object_type="dataset_request",
        object_id=42,
        payload={"to": "submitted", "from": "draft"},
        prev_hash="0" * 64,
        key_id="0123456789abcdef",
    )

    assert digest == hashlib.sha256(expected_document.encode()).hexdigest()


def test_hash_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="created_at must be timezone-aware"):
        audit_hash_for_event_fields(
            seq=1,
            created_at=datetime(2025, 1, 2),  # noqa: DTZ001 - the point of the test
            actor_id=None,
            actor_name="system",
            action="a.b",
            object_type="x",
            object_id="1",
            payload={},
            prev_hash=GENESIS_HASH,
            key_id="k",
        )


@pytest.mark.django_db
def test_append_builds_a_signed_chain(alice, audit_key: LoadedKey) -> None:
    first = audit_event_append(
        actor=alice,
        action="dataset_request.submit",
        object_type="dataset_request",
        object_id=42,
        payload={"from": "draft", "to": "submitted"},
    )
    second = audit_event_append(
        actor=None, action="generation_job.start", object_type="generation_job", object_id="j-1"
    )

    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.event_hash
    assert (first.actor_id, first.actor_name) == (alice.pk, "alice")
    assert (second.actor_id, second.actor_name) == (None, "system")
    assert first.object_id == "42"
    assert second.payload == {}
    assert first.key_id == second.key_id == audit_key.key_id
    assert first.created_at.tzinfo is not None
    assert first.created_at.utcoffset().total_seconds() == 0
    assert first.created_at.microsecond == 0
    assert verify_signature(audit_key.public_key_pem, first.signature, first.event_hash.encode("ascii"))

    stored = AuditEvent.objects.get(seq=1)
    assert stored.payload == {"from": "draft", "to": "submitted"}
    assert stored.created_at == first.created_at
    assert stored.event_hash == audit_hash_for_event_fields(
        seq=1,
        created_at=stored.created_at,
        actor_id=alice.pk,
        actor_name="alice",
        action="dataset_request.submit",
        object_type="dataset_request",
        object_id="42",
        payload=stored.payload,
        prev_hash=GENESIS_HASH,
        key_id=audit_key.key_id,
    )
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (2, second.event_hash)
    assert list(AuditSigningKey.objects.values_list("key_id", "public_key_pem")) == [
        (audit_key.key_id, audit_key.public_key_pem)
    ]
    assert audit_chain_verify().events_checked == 2


@pytest.mark.django_db
def test_payloads_survive_storage_and_verify() -> None:
    payload = {
        "ratio": 0.1,
        "one": 1.0,
        "tiny": 5e-05,
        "large": 1234567890123456.0,
        "big_int": 2**53,
        "masked": "患者 <CN_NAME> 已提交",
        "pair": (1, 2),
        "nested": {"b": [True, None], "a": "x"},
    }

    event = audit_event_append(actor=None, action="record.mask", object_type="record", object_id=1, payload=payload)

    assert event.payload["pair"] == [1, 2]  # stored exactly as hashed: the tuple became a list
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.payload == json.loads(json.dumps(payload))
    result = audit_chain_verify()
    assert (result.ok, result.events_checked, result.first_bad_seq) == (True, 1, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action",
    [
        "submit",
        "Dataset.submit",
        "dataset request.submit",
        "dataset.",
        ".submit",
        "a.b\n",
        "a.b2",
        "",
        "a" * 99 + ".b",
    ],
)
def test_malformed_actions_are_rejected(action: str) -> None:
    with pytest.raises(ValueError, match="must be dotted lower-case words"):
        audit_event_append(actor=None, action=action, object_type="x", object_id=1)

    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (["not", "a", "dict"], "must be a dict, got list"),
        ({"v": float("nan")}, "is nan; NaN and infinity are not JSON"),
        ({"v": object()}, "is a object, which is not JSON"),
        ({1: "int key"}, "non-string key 1"),
        ({"v": 1e20}, "the database returns as an integer"),
        ({"v": "nul\x00"}, "NUL character"),
    ],
)
def test_unstorable_payloads_are_rejected(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        audit_event_append(actor=None, action="a.b", object_type="x", object_id=1, payload=payload)  # type: ignore[arg-type]

    assert str(excinfo.value).startswith("audit payload for a.b ")
    assert AuditEvent.objects.count() == 0
    assert AuditChainHead.objects.get(pk=1).last_seq == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"object_type": ""}, "object_type must be a non-empty string"),
        ({"object_id": ""}, "object_id must be 1 to 255 characters"),
        ({"object_id": True}, "object_id must be a string or an int, got bool"),
        ({"object_id": "x" * 256}, "object_id must be 1 to 255 characters"),
        ({"actor": AnonymousUser()}, "actor must be an authenticated user"),
    ],
)
def test_malformed_fields_are_rejected(kwargs: dict, message: str) -> None:
    arguments = {"actor": None, "action": "a.b", "object_type": "x", "object_id": 1, **kwargs}

    with pytest.raises(ValueError, match=message):
        audit_event_append(**arguments)

    assert AuditEvent.objects.count() == 0


@pytest.fixture(params=["after_commit", "in_transaction"])
def sequencing(request: pytest.FixtureRequest, settings) -> str:
    settings.AUDIT = {**(getattr(settings, "AUDIT", None) or {}), "SEQUENCING": request.param}
    return str(request.param)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_outer_transaction_leaves_no_event_and_no_head_advance(sequencing: str) -> None:
    audit_event_append(actor=None, action="a.kept", object_type="x", object_id=1)
    kept = AuditEvent.objects.get(seq=1)

    with pytest.raises(RuntimeError, match="caller failed"), transaction.atomic():
        audit_event_append(actor=None, action="a.rolled_back", object_type="x", object_id=2)
        raise RuntimeError("caller failed")

    assert list(AuditEvent.objects.values_list("seq", "action")) == [(1, "a.kept")]
    assert AuditPendingEvent.objects.count() == 0
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (1, kept.event_hash)
    audit_event_append(actor=None, action="a.after", object_type="x", object_id=3)
    after = AuditEvent.objects.get(action="a.after")
    assert (after.seq, after.prev_hash) == (2, kept.event_hash)
    assert audit_chain_verify().ok is True


@pytest.mark.django_db(transaction=True)
def test_append_recreates_a_missing_head_row_for_an_empty_log(sequencing: str) -> None:
    AuditChainHead.objects.all().delete()

    audit_event_append(actor=None, action="a.b", object_type="x", object_id=1)

    event = AuditEvent.objects.get()
    assert (event.seq, event.prev_hash) == (1, GENESIS_HASH)
    assert AuditChainHead.objects.get(pk=1).last_seq == 1


@pytest.mark.django_db
def test_events_refuse_save_and_delete_through_the_model() -> None:
    event = audit_event_append(actor=None, action="a.b", object_type="x", object_id=1)
    event.payload = {"edited": True}

    with pytest.raises(ValueError, match="append-only and cannot be changed"):
        event.save()
    with pytest.raises(ValueError, match="append-only and cannot be deleted"):
        event.delete()

    assert AuditEvent.objects.get(seq=1).payload == {}
