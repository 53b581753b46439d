"""Signed checkpoints, the tree in the database, and the CloudTrail-style attacks on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from audit import merkle
from audit.canonical import canonical_json_bytes
from audit.checkpoints import checkpoint_body, checkpoint_create, checkpoint_document, checkpoint_hash_of
from audit.keys import audit_key_rotate
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditSigningKey, AuditTreeNode
from audit.proofs import ProofError, audit_consistency_proof, audit_inclusion_proof, tree_root
from audit.services import audit_event_append, audit_event_leaf_hash
from audit.signing import generate_key_file, signing_key, verify_signature
from audit.verify import audit_chain_verify

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_triggers_off")]


def append(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        audit_event_append(actor=None, action="test.event", object_type="thing", object_id=start + i, payload={"i": i})
        for i in range(n)
    ]


def test_appends_store_leaves_and_full_subtrees_and_the_head_frontier() -> None:
    events = append(7)
    leaves = [audit_event_leaf_hash(e) for e in events]
    keys = set(AuditTreeNode.objects.values_list("key", flat=True))
    # 7 leaves, 3 nodes at level 1, 1 at level 2: every full subtree, nothing else.
    assert keys == {merkle.node_key(0, i) for i in range(7)} | {merkle.node_key(1, i) for i in range(3)} | {
        merkle.node_key(2, 0)
    }
    head = AuditChainHead.objects.get(pk=1)
    assert len(head.tree_frontier) == 3
    assert (
        tree_root(tree_size=7)
        == merkle.root_from_leaves(leaves)
        == merkle.fold_subtrees([bytes.fromhex(h) for h in head.tree_frontier])
    )


def test_checkpoint_is_signed_linked_and_verifiable(audit_key) -> None:
    append(3)
    first = checkpoint_create(kind="manual")
    append(2, start=3)
    second = checkpoint_create(kind="heartbeat")
    assert (first.index, first.tree_size, second.index, second.tree_size) == (1, 3, 2, 5)
    assert first.prev_checkpoint_hash == "0" * 64
    assert second.prev_checkpoint_hash == first.checkpoint_hash == checkpoint_hash_of(checkpoint_document(first))
    body = {k: v for k, v in checkpoint_document(second).items() if k != "signature"}
    assert body == checkpoint_body(
        origin="synthgate-audit",
        index=2,
        kind="heartbeat",
        tree_size=5,
        root_hash=tree_root(tree_size=5).hex(),
        created_at=second.created_at,
        prev_checkpoint_hash=first.checkpoint_hash,
        key_id=audit_key.key_id,
    )
    assert verify_signature(audit_key.public_key_pem, second.signature, canonical_json_bytes(body))
    result = audit_chain_verify()
    assert (result.ok, result.events_checked, result.checkpoints_checked) == (True, 5, 2)


def test_interval_checkpoints_follow_the_setting(settings) -> None:
    settings.AUDIT = {**settings.AUDIT, "CHECKPOINT_EVERY_EVENTS": 4}
    append(9)
    assert list(AuditCheckpoint.objects.values_list("kind", "tree_size")) == [("interval", 4), ("interval", 8)]


def test_unknown_or_too_short_audit_settings_are_refused(settings) -> None:
    from audit.conf import audit_setting

    chosen = dict(settings.AUDIT)
    settings.AUDIT = {**chosen, "CHECKPOINT_EVERY": 4}
    with pytest.raises(ImproperlyConfigured, match="Unknown keys in settings.AUDIT: CHECKPOINT_EVERY"):
        append(1)
    settings.AUDIT = {**chosen, "RETENTION_DAYS": 30}
    with pytest.raises(ImproperlyConfigured, match="at least 183 days"):
        audit_setting("RETENTION_DAYS")
    settings.AUDIT = {**chosen, "SEQUENCING": "eventually"}
    with pytest.raises(ImproperlyConfigured, match="choose one of auto, after_commit, in_transaction"):
        append(1)
    settings.AUDIT = {**chosen, "SEQUENCE_BATCH_SIZE": 0}
    with pytest.raises(ImproperlyConfigured, match="SEQUENCE_BATCH_SIZE"):
        audit_setting("SEQUENCE_BATCH_SIZE")


def test_heartbeat_checkpoint_is_made_even_when_nothing_happened(capsys) -> None:
    call_command("audit_checkpoint", "--heartbeat")
    call_command("audit_checkpoint", "--heartbeat")  # not due: the first is seconds old
    out = capsys.readouterr().out
    assert "checkpoint 1 (heartbeat): tree size 0, root " + merkle.EMPTY_ROOT.hex() in out
    assert "heartbeat not due" in out
    assert AuditCheckpoint.objects.count() == 1
    AuditCheckpoint.objects.update(created_at=AuditCheckpoint.objects.get().created_at - timedelta(hours=2))
    # (re-dating breaks the stored hash; only the heartbeat's due-check is under test here)
    call_command("audit_checkpoint", "--heartbeat")
    assert list(AuditCheckpoint.objects.values_list("index", "tree_size")) == [(1, 0), (2, 0)]


def test_heartbeat_task_signs_when_due() -> None:
    from audit.tasks import audit_heartbeat

    assert audit_heartbeat() == 1
    assert audit_heartbeat() is None


# --- attacks ------------------------------------------------------------------------------------


def _log_with_checkpoints() -> list[AuditCheckpoint]:
    append(4)
    first = checkpoint_create(kind="manual")
    append(4, start=4)
    second = checkpoint_create(kind="manual")
    return [first, second]


def test_event_deleted_under_a_checkpoint_is_named() -> None:
    _log_with_checkpoints()
    AuditEvent.objects.filter(seq=6).delete()
    result = audit_chain_verify()
    assert (result.ok, result.first_bad_seq) == (False, 6)


def test_tail_deleted_with_head_rewound_is_caught_by_the_checkpoint() -> None:
    events = AuditEvent.objects
    _log_with_checkpoints()
    events.filter(seq__gt=6).delete()
    AuditTreeNode.objects.all().delete()
    head = events.get(seq=6)
    AuditChainHead.objects.filter(pk=1).update(last_seq=6, last_hash=head.event_hash, tree_frontier=[])
    result = audit_chain_verify()
    assert not result.ok
    # Tree nodes went too; the first failure is the missing node of event 1.
    assert result.reason == "event 1: tree node level 0 index 0 is missing"


def test_tail_deleted_and_tree_rebuilt_is_caught_by_the_later_checkpoint() -> None:
    _log_with_checkpoints()
    AuditEvent.objects.filter(seq__gt=6).delete()
    AuditTreeNode.objects.filter(
        key__in=[
            merkle.node_key(0, 6),
            merkle.node_key(0, 7),
            merkle.node_key(1, 3),
            merkle.node_key(2, 1),
            merkle.node_key(3, 0),
        ]
    ).delete()
    frontier = merkle.Frontier()
    for event in AuditEvent.objects.order_by("seq"):
        frontier.append(audit_event_leaf_hash(event))
    AuditChainHead.objects.filter(pk=1).update(
        last_seq=6, last_hash=AuditEvent.objects.get(seq=6).event_hash, tree_frontier=[h.hex() for h in frontier.hashes]
    )
    result = audit_chain_verify()
    assert (result.ok, result.first_bad_checkpoint) == (False, 2)
    assert "covers 8 events but the log ends at event 6" in result.reason


def test_reordered_events_are_found() -> None:
    _log_with_checkpoints()
    a, b = AuditEvent.objects.get(seq=2), AuditEvent.objects.get(seq=3)
    AuditEvent.objects.filter(seq=2).update(seq=10**9)
    AuditEvent.objects.filter(seq=3).update(seq=2)
    AuditEvent.objects.filter(seq=10**9).update(seq=3)
    assert (a.seq, b.seq) == (2, 3)
    result = audit_chain_verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "prev_hash does not match" in result.reason


def test_checkpoint_rolled_back_is_found() -> None:
    _log_with_checkpoints()
    AuditCheckpoint.objects.filter(index=2).delete()
    result = audit_chain_verify()
    assert (result.ok, result.first_bad_checkpoint) == (False, 2)
    assert "rolled back" in result.reason


def test_checkpoint_deleted_in_the_middle_is_found() -> None:
    _log_with_checkpoints()
    checkpoint_create(kind="manual")
    AuditCheckpoint.objects.filter(index=2).delete()
    result = audit_chain_verify()
    assert (result.first_bad_checkpoint, result.reason) == (2, "checkpoint 2: missing or out of order (deleted?)")


def test_checkpoint_with_swapped_root_is_found() -> None:
    first, second = _log_with_checkpoints()
    AuditCheckpoint.objects.filter(index=2).update(root_hash=first.root_hash)
    result = audit_chain_verify()
    assert (result.first_bad_checkpoint, result.reason) == (
        2,
        "checkpoint 2: stored hash does not match its contents (row edited?)",
    )


def test_checkpoint_resigned_with_another_key_is_found(tmp_path: Path, audit_key) -> None:
    _log_with_checkpoints()
    mallory = generate_key_file(tmp_path / "mallory.pem")
    AuditSigningKey.objects.create(key_id=mallory.key_id, public_key_pem=mallory.public_key_pem)
    cp = AuditCheckpoint.objects.get(index=2)
    body = checkpoint_body(
        origin="synthgate-audit",
        index=2,
        kind=cp.kind,
        tree_size=cp.tree_size,
        root_hash=cp.root_hash,
        created_at=cp.created_at,
        prev_checkpoint_hash=cp.prev_checkpoint_hash,
        key_id=mallory.key_id,
    )
    signature = mallory.private_key.sign(canonical_json_bytes(body)).hex()
    new_hash = checkpoint_hash_of({**body, "signature": signature})
    AuditCheckpoint.objects.filter(index=2).update(key_id=mallory.key_id, signature=signature, checkpoint_hash=new_hash)
    AuditChainHead.objects.filter(pk=1).update(checkpoint_hash=new_hash)
    # Self-consistent with a key planted in the key table; the pinned key id catches it.
    assert audit_chain_verify().ok is True
    result = audit_chain_verify(trusted_key_ids={audit_key.key_id})
    assert (result.first_bad_checkpoint, result.reason) == (
        2,
        f"checkpoint 2: signed with key {mallory.key_id!r}, which is not trusted",
    )


def test_edited_event_under_a_checkpoint_with_rebuilt_tree_fails_on_the_checkpoint_root() -> None:
    _log_with_checkpoints()
    from audit.services import audit_hash_for_event_fields

    key = signing_key()
    original = AuditEvent.objects.get(seq=8)
    new_hash = audit_hash_for_event_fields(
        seq=8,
        created_at=original.created_at,
        actor_id=None,
        actor_name=original.actor_name,
        action=original.action,
        object_type=original.object_type,
        object_id=original.object_id,
        payload={"i": 99},
        prev_hash=original.prev_hash,
        key_id=key.key_id,
    )
    AuditEvent.objects.filter(seq=8).update(
        payload={"i": 99}, event_hash=new_hash, signature=key.private_key.sign(new_hash.encode()).hex()
    )
    event = AuditEvent.objects.get(seq=8)
    AuditTreeNode.objects.filter(
        key__in=[merkle.node_key(0, 7), merkle.node_key(1, 3), merkle.node_key(2, 1), merkle.node_key(3, 0)]
    ).delete()
    frontier = merkle.Frontier()
    nodes = []
    for e in AuditEvent.objects.order_by("seq"):
        for level, index, value in frontier.append(audit_event_leaf_hash(e)):
            if index * (1 << level) + (1 << level) > 7:
                nodes.append(AuditTreeNode(key=merkle.node_key(level, index), hash=value.hex()))
    AuditTreeNode.objects.bulk_create(nodes)
    AuditChainHead.objects.filter(pk=1).update(last_hash=new_hash, tree_frontier=[h.hex() for h in frontier.hashes])
    assert event.event_hash == new_hash
    result = audit_chain_verify()
    assert (result.first_bad_checkpoint, result.events_checked) == (2, 7)
    assert result.reason.startswith("checkpoint 2: root does not match the first 8 events")


def test_signatures_under_a_verified_checkpoint_are_checked_only_on_request() -> None:
    _log_with_checkpoints()
    event = AuditEvent.objects.get(seq=3)
    flipped = ("0" if event.signature[0] != "0" else "1") + event.signature[1:]
    AuditEvent.objects.filter(seq=3).update(signature=flipped)
    assert audit_chain_verify().ok is True  # the signed checkpoint root commits to every byte of event 3
    result = audit_chain_verify(all_signatures=True)
    assert (result.first_bad_seq, result.reason) == (
        3,
        f"event 3: signature invalid under key {event.key_id} (forged or re-signed?)",
    )


def test_proofs_from_the_database_verify_and_refuse_the_impossible() -> None:
    events = append(13)
    cp = checkpoint_create(kind="manual")
    leaves = [audit_event_leaf_hash(e) for e in events]
    proof = audit_inclusion_proof(seq=6)
    assert proof["checkpoint"]["index"] == cp.index and proof["tree_size"] == 13
    assert proof["root_hash"] == cp.root_hash == merkle.root_from_leaves(leaves).hex()
    assert merkle.verify_inclusion(
        5, 13, leaves[5], [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(cp.root_hash)
    )
    old = audit_inclusion_proof(seq=2, tree_size=5)
    assert old["root_hash"] == merkle.root_from_leaves(leaves[:5]).hex() and old["checkpoint"] is None
    c = audit_consistency_proof(first=5, second=13)
    assert merkle.verify_consistency(
        5, 13, bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"]), [bytes.fromhex(h) for h in c["proof"]]
    )
    with pytest.raises(ProofError, match="event 14 is not in a tree of 13 events"):
        audit_inclusion_proof(seq=14, tree_size=13)
    with pytest.raises(ProofError, match=r"event 2 is not in a tree of 20 events \(the log holds 13\)"):
        audit_inclusion_proof(seq=2, tree_size=20)
    with pytest.raises(ProofError, match=r"no consistency proof from 5 to 14 events \(the log holds 13\)"):
        audit_consistency_proof(first=5, second=14)
    with pytest.raises(ProofError, match="no checkpoint covers"):
        audit_inclusion_proof(seq=14)
    with pytest.raises(ProofError, match="no consistency proof from 9 to 5"):
        audit_consistency_proof(first=9, second=5)


def test_key_rotation_hands_over_and_old_key_signs_nothing_more(tmp_path: Path, settings, audit_key) -> None:
    append(2)
    rotation = audit_key_rotate(new_key_path=tmp_path / "new.pem")
    assert rotation.old_key_id == audit_key.key_id
    assert AuditEvent.objects.order_by("-seq").first().action == "audit_key.rotate"
    assert AuditCheckpoint.objects.get(index=rotation.checkpoint_index).kind == "key_rotation"
    with pytest.raises(ImproperlyConfigured, match="was retired"):
        append(1)
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "new.pem")}
    later = append(1, start=10)[0]
    assert later.key_id == rotation.new_key_id
    checkpoint_create(kind="manual")
    result = audit_chain_verify(trusted_key_ids={rotation.old_key_id, rotation.new_key_id})
    assert (result.ok, result.events_checked, result.checkpoints_checked) == (True, 4, 2)
    keys = {k.key_id: k for k in AuditSigningKey.objects.all()}
    assert keys[rotation.old_key_id].retired_at is not None and keys[rotation.new_key_id].retired_at is None


def test_sm2_second_signature_on_checkpoints(tmp_path: Path, settings) -> None:
    pytest.importorskip("gmssl")
    from audit.signing import sm2_generate_key_file, sm2_verify

    sm2 = sm2_generate_key_file(tmp_path / "sm2.key")
    settings.AUDIT = {**settings.AUDIT, "SM2_KEY_PATH": str(tmp_path / "sm2.key")}
    append(2)
    cp = checkpoint_create(kind="manual")
    assert cp.sm2_key_id == sm2.key_id and cp.sm2_signature
    body = {k: v for k, v in checkpoint_document(cp).items() if k not in ("signature", "sm2_signature")}
    assert body["sm2_key_id"] == sm2.key_id
    assert sm2_verify(sm2.public_key_hex, cp.sm2_signature, canonical_json_bytes(body))
    assert audit_chain_verify().ok
    bad = ("0" if cp.sm2_signature[0] != "0" else "1") + cp.sm2_signature[1:]
    document = {**checkpoint_document(cp), "sm2_signature": bad}
    AuditCheckpoint.objects.filter(pk=cp.pk).update(sm2_signature=bad, checkpoint_hash=checkpoint_hash_of(document))
    AuditChainHead.objects.filter(pk=1).update(checkpoint_hash=checkpoint_hash_of(document))
    result = audit_chain_verify()
    assert (result.first_bad_checkpoint, result.reason) == (
        1,
        f"checkpoint 1: SM2 signature invalid under key {sm2.key_id}",
    )
