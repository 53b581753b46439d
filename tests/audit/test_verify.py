from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditChainHead, AuditEvent, AuditSigningKey
from audit.services import audit_event_append, audit_hash_for_event_fields
from audit.signing import LoadedKey, generate_key_file
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
