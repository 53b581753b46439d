"""CLI: audit_proof, audit_checkpoint, audit_keys_export, audit_key_rotate, evidence_bundle, audit_verify."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit import merkle
from audit.models import AuditCheckpoint, AuditEvent
from audit.proofs import ProofError, audit_inclusion_proof
from audit.services import audit_event_append

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_triggers_off")]


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _log(n: int) -> None:
    for i in range(n):
        audit_event_append(actor=None, action="test.event", object_type="thing", object_id=i, payload={"i": i})


def test_audit_proof_prints_verifiable_proofs() -> None:
    _log(6)
    run("audit_checkpoint")
    _, out, _ = run("audit_proof", "--seq", "5")
    proof = json.loads(out)
    cp = AuditCheckpoint.objects.get()
    assert merkle.verify_inclusion(
        4,
        6,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(cp.root_hash),
    )
    _, out, _ = run("audit_proof", "--first", "2", "--second", "6")
    c = json.loads(out)
    assert merkle.verify_consistency(
        2, 6, bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"]), [bytes.fromhex(h) for h in c["proof"]]
    )
    with pytest.raises(CommandError, match="event 9 is not in a tree of 6 events"):
        run("audit_proof", "--seq", "9", "--tree-size", "6")
    with pytest.raises(CommandError, match="give --seq"):
        run("audit_proof")


def _verifies(proof: dict) -> bool:
    return merkle.verify_inclusion(
        proof["leaf_index"],
        proof["tree_size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["checkpoint"]["root_hash"]),
    )


def test_proofs_follow_the_latest_checkpoint_as_new_ones_are_signed() -> None:
    _log(6)
    with pytest.raises(ProofError, match="no checkpoint covers"):
        audit_inclusion_proof(seq=3)
    run("audit_checkpoint")
    first = audit_inclusion_proof(seq=3)
    assert (first["checkpoint"]["index"], first["tree_size"]) == (1, 6) and _verifies(first)
    assert first == {**audit_inclusion_proof(seq=3, tree_size=6), "checkpoint": first["checkpoint"]}
    _log(4)
    with pytest.raises(ProofError, match="no checkpoint covers"):
        audit_inclusion_proof(seq=9)

    run("audit_checkpoint")

    later = audit_inclusion_proof(seq=3)
    assert (later["checkpoint"]["index"], later["tree_size"]) == (2, 10) and _verifies(later)
    assert audit_inclusion_proof(seq=9)["tree_size"] == 10
    assert audit_inclusion_proof(seq=3, checkpoint_index=1) == first
    with pytest.raises(ProofError, match="event 11 is not in a tree of 10 events"):
        audit_inclusion_proof(seq=11, tree_size=10)


def test_a_checkpoint_seen_before_is_read_again_once_its_row_differs() -> None:
    _log(6)
    run("audit_checkpoint")
    assert audit_inclusion_proof(seq=3)["tree_size"] == 6
    AuditCheckpoint.objects.filter(index=1).update(tree_size=5, checkpoint_hash="0" * 64)

    proof = audit_inclusion_proof(seq=3)

    assert (proof["tree_size"], proof["checkpoint"]["tree_size"]) == (5, 5)
    with pytest.raises(ProofError, match="no checkpoint covers"):
        audit_inclusion_proof(seq=6)


def test_audit_verify_names_the_first_bad_checkpoint_and_a_stale_heartbeat() -> None:
    _log(3)
    assert run("audit_verify", "--max-checkpoint-age", "60")[0:3:2] == (
        1,
        "audit log verification FAILED: no checkpoint exists (heartbeat stopped?)\n",
    )
    run("audit_checkpoint", "--heartbeat")
    assert run("audit_verify", "--max-checkpoint-age", "60") == (0, "audit log verified: 3 events, 1 checkpoints\n", "")
    AuditCheckpoint.objects.filter(index=1).update(tree_size=2)
    code, _, err = run("audit_verify")
    assert (code, err) == (
        1,
        "audit log verification FAILED at checkpoint 1: stored hash does not match its contents (row edited?)\n",
    )


def test_keys_export_and_rotation_commands(tmp_path: Path, audit_key) -> None:
    _log(1)
    run("audit_checkpoint")
    code, out, _ = run("audit_key_rotate", "--new-key", str(tmp_path / "next.pem"))
    assert code == 0 and f"retired key {audit_key.key_id}" in out
    run("audit_keys_export", "--output", str(tmp_path / "keys.json"))
    keys = json.loads((tmp_path / "keys.json").read_text())
    assert [k["key_id"] for k in keys][0] == audit_key.key_id and len(keys) == 2
    assert keys[0]["valid_until"] is not None and keys[1]["valid_until"] is None
    with pytest.raises(CommandError, match="already exists"):
        run("audit_key_rotate", "--new-key", str(tmp_path / "next.pem"))


def test_evidence_bundle_command(people, policy_version, tmp_path: Path) -> None:
    from gateway.pipelines.release import release_execute
    from tests.audit.factories import approved_request
    from tests.audit.test_bundle import run_verifier

    dataset = release_execute(request_id=approved_request(people=people, policy_version=policy_version).pk)
    code, out, _ = run("evidence_bundle", "--dataset", str(dataset.pk), "--output", str(tmp_path / "e.zip"))
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'e.zip'}: dataset {dataset.pk}")
    assert run_verifier(tmp_path / "e.zip").returncode == 0
    with pytest.raises(CommandError, match="dataset 999999 does not exist"):
        run("evidence_bundle", "--dataset", "999999", "--output", str(tmp_path / "x.zip"))
    assert AuditEvent.objects.filter(action="evidence_bundle.create").count() == 1
