from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from audit import merkle, verify
from audit.canonical import canonical_json_bytes
from audit.checkpoints import checkpoint_body, checkpoint_create, checkpoint_hash_of
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditSigningKey, AuditTreeNode
from audit.services import audit_event_append, audit_event_document, audit_hash_for_event_fields
from audit.signing import LoadedKey, generate_key_file, signing_key
from audit.verify import ChainVerification, audit_chain_verify

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_triggers_off")]


def _append_events(count: int) -> list[AuditEvent]:
    return [
        audit_event_append(
            actor=None,
            action="dataset_request.submit",
            object_type="dataset_request",
            object_id=index,
            payload={"index": index, "to": "submitted"},
        )
        for index in range(1, count + 1)
    ]


def _resign(event: AuditEvent, key: LoadedKey) -> str:
    """Rewrite ``event`` as an attacker holding ``key`` would: new key id, new hash, new signature."""
    new_hash = audit_hash_for_event_fields(
        seq=event.seq,
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
        key_id=key.key_id,
    )
    AuditEvent.objects.filter(seq=event.seq).update(
        key_id=key.key_id,
        event_hash=new_hash,
        signature=key.private_key.sign(new_hash.encode("ascii")).hex(),
    )
    return new_hash


def test_intact_chain_verifies() -> None:
    _append_events(5)

    assert audit_chain_verify() == ChainVerification(
        ok=True, events_checked=5, first_bad_seq=None, reason="chain intact"
    )


def test_empty_log_verifies() -> None:
    assert audit_chain_verify() == ChainVerification(
        ok=True, events_checked=0, first_bad_seq=None, reason="audit log is empty"
    )


def test_edited_payload_is_found() -> None:
    _append_events(5)
    AuditEvent.objects.filter(seq=3).update(payload={"index": 3, "to": "approved"})

    assert audit_chain_verify() == ChainVerification(
        ok=False, events_checked=2, first_bad_seq=3, reason="event 3: hash mismatch (row edited?)"
    )


def test_edited_actor_is_found() -> None:
    _append_events(4)
    AuditEvent.objects.filter(seq=4).update(actor_name="mallory")

    result = audit_chain_verify()

    assert (result.ok, result.first_bad_seq, result.reason) == (
        False,
        4,
        "event 4: hash mismatch (row edited?)",
    )


def test_deleted_middle_row_is_found_as_a_gap() -> None:
    _append_events(5)
    AuditEvent.objects.filter(seq=3).delete()

    assert audit_chain_verify() == ChainVerification(
        ok=False, events_checked=2, first_bad_seq=3, reason="event 3: missing, the row is gone (deleted?)"
    )


def test_several_deleted_rows_name_the_first() -> None:
    _append_events(6)
    AuditEvent.objects.filter(seq__in=[2, 3, 4]).delete()

    result = audit_chain_verify()

    assert (result.first_bad_seq, result.reason) == (2, "event 2: missing, events 2-4 are gone (deleted?)")


def test_deleted_first_row_is_found() -> None:
    _append_events(3)
    AuditEvent.objects.filter(seq=1).delete()

    assert audit_chain_verify().first_bad_seq == 1


def test_deleted_last_row_is_found_by_the_head() -> None:
    _append_events(5)
    AuditEvent.objects.filter(seq=5).delete()

    assert audit_chain_verify() == ChainVerification(
        ok=False,
        events_checked=4,
        first_bad_seq=5,
        reason="event 5: missing; the chain head records 5 events but the log ends at event 4 (tail rows deleted?)",
    )


def test_deleted_everything_is_found_by_the_head() -> None:
    _append_events(2)
    AuditEvent.objects.all().delete()

    result = audit_chain_verify()

    assert (result.ok, result.events_checked, result.first_bad_seq) == (False, 0, 1)


def test_tail_deleted_with_head_rewound_is_still_found_if_the_hash_differs() -> None:
    events = _append_events(3)
    AuditEvent.objects.filter(seq=3).delete()
    # The attacker rewinds the count but cannot know which hash to write without event 2's row.
    AuditChainHead.objects.filter(pk=1).update(last_seq=2, last_hash=events[2].event_hash)

    result = audit_chain_verify()

    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.reason == "event 2: chain head records a different hash for this event"


def test_event_beyond_the_head_is_found() -> None:
    events = _append_events(3)
    AuditChainHead.objects.filter(pk=1).update(last_seq=2, last_hash=events[1].event_hash)

    assert audit_chain_verify() == ChainVerification(
        ok=False,
        events_checked=3,
        first_bad_seq=3,
        reason="event 3: beyond the chain head, which records only 2 events",
    )


def test_missing_head_row_with_events_is_found() -> None:
    _append_events(2)
    AuditChainHead.objects.all().delete()

    assert audit_chain_verify() == ChainVerification(
        ok=False, events_checked=2, first_bad_seq=None, reason="the chain head row is missing"
    )


def test_tampered_signature_is_found() -> None:
    events = _append_events(3)
    signature = events[1].signature
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    AuditEvent.objects.filter(seq=2).update(signature=flipped)

    result = audit_chain_verify()

    assert (result.ok, result.events_checked, result.first_bad_seq) == (False, 1, 2)
    assert result.reason == f"event 2: signature invalid under key {events[1].key_id} (forged or re-signed?)"


def test_relinked_prev_hash_is_found() -> None:
    _append_events(3)
    AuditEvent.objects.filter(seq=3).update(prev_hash="f" * 64)

    result = audit_chain_verify()

    assert (result.first_bad_seq, result.reason) == (
        3,
        "event 3: prev_hash does not match the hash of event 2",
    )


def test_event_resigned_with_an_unregistered_key_is_found(tmp_path: Path) -> None:
    _append_events(3)
    mallory = generate_key_file(tmp_path / "mallory.pem")
    _resign(AuditEvent.objects.get(seq=2), mallory)

    result = audit_chain_verify()

    assert (result.ok, result.events_checked, result.first_bad_seq) == (False, 1, 2)
    assert result.reason == f"event 2: signed with unknown key {mallory.key_id!r}"


def test_event_signed_by_another_key_under_the_original_key_id_is_found(tmp_path: Path, audit_key: LoadedKey) -> None:
    events = _append_events(3)
    mallory = generate_key_file(tmp_path / "mallory.pem")
    AuditEvent.objects.filter(seq=2).update(
        signature=mallory.private_key.sign(events[1].event_hash.encode("ascii")).hex()
    )

    result = audit_chain_verify()

    assert (result.first_bad_seq, result.reason) == (
        2,
        f"event 2: signature invalid under key {audit_key.key_id} (forged or re-signed?)",
    )


def test_resigned_tail_with_a_registered_key_breaks_the_next_link(tmp_path: Path) -> None:
    _append_events(3)
    mallory = generate_key_file(tmp_path / "mallory.pem")
    AuditSigningKey.objects.create(key_id=mallory.key_id, public_key_pem=mallory.public_key_pem)
    _resign(AuditEvent.objects.get(seq=2), mallory)

    result = audit_chain_verify()

    # The chain breaks at event 3, but the Merkle leaf of event 2 already disagrees: event 2 is named.
    assert (result.first_bad_seq, result.reason) == (
        2,
        "event 2: tree node level 0 index 1 is wrong",
    )


def test_trusted_key_ids_catch_a_fully_rewritten_tail(tmp_path: Path, audit_key: LoadedKey) -> None:
    _append_events(3)
    mallory = generate_key_file(tmp_path / "mallory.pem")
    AuditSigningKey.objects.create(key_id=mallory.key_id, public_key_pem=mallory.public_key_pem)
    new_hash = _resign(AuditEvent.objects.get(seq=3), mallory)
    AuditChainHead.objects.filter(pk=1).update(last_hash=new_hash)

    # Chain, signature and key table agree, but the Merkle tree still holds the old leaf ...
    assert audit_chain_verify().reason == "event 3: tree node level 0 index 2 is wrong"
    # ... and the trusted key ids, taken from outside the database, catch the key too.
    result = audit_chain_verify(trusted_key_ids={audit_key.key_id})
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason == f"event 3: signed with key {mallory.key_id!r}, which is not trusted"


def test_key_used_after_its_retirement_is_found(audit_key: LoadedKey) -> None:
    events = _append_events(2)
    AuditSigningKey.objects.filter(key_id=audit_key.key_id).update(
        retired_at=events[0].created_at - timedelta(seconds=1)
    )

    result = audit_chain_verify()

    assert result.first_bad_seq == 1
    assert result.reason.startswith(f"event 1: signed with key {audit_key.key_id} after it was retired at ")


def test_key_retired_after_its_events_still_verifies(audit_key: LoadedKey) -> None:
    _append_events(2)
    AuditSigningKey.objects.filter(key_id=audit_key.key_id).update(retired_at=timezone.now() + timedelta(days=1))

    assert audit_chain_verify().ok is True


def test_rotated_keys_both_verify(settings, tmp_path: Path, audit_key: LoadedKey) -> None:
    _append_events(2)
    new_key = generate_key_file(tmp_path / "rotated.pem")
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "rotated.pem")}
    later = audit_event_append(actor=None, action="a.after_rotation", object_type="x", object_id=1)

    assert later.key_id == new_key.key_id != audit_key.key_id
    assert audit_chain_verify() == ChainVerification(
        ok=True, events_checked=3, first_bad_seq=None, reason="chain intact"
    )


# Payloads the fast path must write exactly as RFC 8785 does, or hand to the general encoder.
AWKWARD_PAYLOADS: list[dict[str, Any]] = [
    {},
    {"f": 0.5, "tiny": 1e-7, "third": 1 / 3, "neg": -0.25, "denormal": 5e-324, "large": 1.5e15},
    {"max": 2**53, "min": -(2**53), "fifteen": 999_999_999_999_999, "sixteen": 1_000_000_000_000_000},
    {"\U0001f600": "astral key", "\ufb33": "sorts after it in UTF-16", "\ue000": "private use", "z": 1},
    {"text": "é中文😀", "controls": "a\nb\t\x01\x1f\x7f\u2028", "quote": '"', "backslash": "\\u0041"},
    {"nested": [1, [True, False, None, {"b": [], "a": {}}]], "digits": "12345678901234567890"},
    {"aa": 1, "a": 2, "b": 3, "B": 4, "": 5},
]


def _as_postgres_writes_it(value: Any) -> str:
    """jsonb text output: keys ordered by length then bytes, spaces after separators, no ASCII escaping."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: (len(item[0].encode()), item[0].encode()))
        return (
            "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_as_postgres_writes_it(v)}" for k, v in items) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_as_postgres_writes_it(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("payload", AWKWARD_PAYLOADS)
@pytest.mark.parametrize("storage", ["postgres", "sqlite"])
def test_event_bytes_from_stored_text_are_rfc_8785(payload: dict[str, Any], storage: str) -> None:
    fields: dict[str, Any] = {
        "seq": 12,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "actor_id": 7,
        "actor_name": "zoë",
        "action": "record.create",
        "object_type": "record",
        "object_id": "42",
        "payload": payload,
        "prev_hash": "ab" * 32,
        "key_id": "0123456789abcdef",
    }
    text = _as_postgres_writes_it(payload) if storage == "postgres" else json.dumps(payload)
    created = "2026-01-02T03:04:05+00:00" if storage == "postgres" else fields["created_at"]
    row = (12, created, 7, "zoë", "record.create", "record", "42", text, "ab" * 32, "", "0123456789abcdef", "")

    assert json.loads(text) == payload
    assert verify._event_bytes(row) == canonical_json_bytes(audit_event_document(**fields))


def test_events_with_awkward_payloads_verify_and_an_edit_to_one_is_found() -> None:
    for index, payload in enumerate(AWKWARD_PAYLOADS, start=1):
        audit_event_append(actor=None, action="test.awkward", object_type="thing", object_id=index, payload=payload)
    assert audit_chain_verify().ok is True

    AuditEvent.objects.filter(seq=2).update(payload={**AWKWARD_PAYLOADS[1], "tiny": 1.0000001e-7})

    assert audit_chain_verify() == ChainVerification(
        ok=False, events_checked=1, first_bad_seq=2, reason="event 2: hash mismatch (row edited?)"
    )


@pytest.mark.parametrize("shift", [timedelta(microseconds=1), timedelta(microseconds=500_000), timedelta(seconds=-1)])
def test_created_at_moved_by_any_amount_is_found(shift: timedelta) -> None:
    _append_events(3)
    AuditEvent.objects.filter(seq=2).update(created_at=F("created_at") + shift)

    assert audit_chain_verify() == ChainVerification(
        ok=False, events_checked=1, first_bad_seq=2, reason="event 2: hash mismatch (row edited?)"
    )


def _node_tampered(n: int) -> None:
    AuditTreeNode.objects.filter(key=merkle.node_key(1, 4)).update(hash="0" * 64)


def _checkpoint_root_resigned(n: int) -> None:
    """Checkpoint 1 re-signed, by the real key, over a root that is not the events': only the root check sees it."""
    cp = AuditCheckpoint.objects.get(index=1)
    body = checkpoint_body(
        origin="synthgate-audit",
        index=1,
        kind=cp.kind,
        tree_size=cp.tree_size,
        root_hash=merkle.EMPTY_ROOT.hex(),
        created_at=cp.created_at,
        prev_checkpoint_hash=cp.prev_checkpoint_hash,
        key_id=cp.key_id,
    )
    signature = signing_key().private_key.sign(canonical_json_bytes(body)).hex()
    new_hash = checkpoint_hash_of({**body, "signature": signature})
    AuditCheckpoint.objects.filter(index=1).update(
        root_hash=body["root_hash"], signature=signature, checkpoint_hash=new_hash
    )
    if AuditCheckpoint.objects.count() == 1:
        AuditChainHead.objects.update(checkpoint_hash=new_hash)
    else:
        AuditCheckpoint.objects.filter(index=2).update(prev_checkpoint_hash=new_hash)


TAMPERS = {
    "intact": lambda n: None,
    "event deleted": lambda n: AuditEvent.objects.filter(seq=n - 3).delete(),
    "payload edited": lambda n: AuditEvent.objects.filter(seq=11).update(payload={"index": 0}),
    "tree node wrong": _node_tampered,
    "tree node missing": lambda n: AuditTreeNode.objects.filter(key=merkle.node_key(0, 12)).delete(),
    "head frontier wrong": lambda n: AuditChainHead.objects.update(tree_frontier=[]),
    "checkpoint root wrong": _checkpoint_root_resigned,
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_the_verdict_does_not_depend_on_how_the_log_is_chunked(tamper: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _append_events(8)
    checkpoint_create(kind="manual")
    _append_events(13)
    TAMPERS[tamper](21)
    expected = audit_chain_verify()

    for chunk_size in (1, 2, 3, 5, 8):
        monkeypatch.setattr(verify, "_CHUNK_SIZE", chunk_size)
        assert audit_chain_verify() == expected
    assert expected.ok is (tamper == "intact")


def test_a_checkpoint_over_another_root_is_named_at_the_event_that_completes_its_tree() -> None:
    _append_events(8)
    checkpoint_create(kind="manual")
    _append_events(2)
    _checkpoint_root_resigned(10)

    assert audit_chain_verify() == ChainVerification(
        ok=False,
        events_checked=7,
        first_bad_seq=None,
        reason="checkpoint 1: root does not match the first 8 events (events edited, reordered or replaced since it "
        "was signed?)",
        checkpoints_checked=0,
        first_bad_checkpoint=1,
    )


def test_plain_payloads_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def general(row: Any) -> bytes:
        raise AssertionError(f"general encoder used for {row[7]}")

    monkeypatch.setattr(verify, "_event_bytes_general", general)
    payload = {"request_id": 5, "text": '中文 "quoted"\n', "flags": [True, None], "nested": {"b": 1, "a": -2}}
    row = (3, "2026-01-02T03:04:05+00:00", None, "system", "record.create", "record", "3")
    data = verify._event_bytes((*row, _as_postgres_writes_it(payload), "00" * 32, "", "0123456789abcdef", ""))
    assert json.loads(data)["payload"] == payload
