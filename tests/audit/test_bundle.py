from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from audit import merkle
from audit.bundle import evidence_bundle_build
from audit.models import AuditCheckpoint, AuditEvent
from gateway.models import Dataset
from gateway.pipelines.release import release_execute
from tests.audit.factories import approved_request

pytestmark = pytest.mark.django_db


def run_verifier(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the bundled verifier as an auditor would: extracted alone, clean environment, no project."""
    workdir = bundle.parent / f"verify-{bundle.stem}"
    workdir.mkdir(exist_ok=True)
    with zipfile.ZipFile(bundle) as archive:
        (workdir / "verify_bundle.py").write_bytes(archive.read("verify_bundle.py"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(  # noqa: S603 - our own verifier, fixed arguments
        [sys.executable, "-I", str(workdir / "verify_bundle.py"), str(bundle), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=60,
        check=False,
    )


@pytest.fixture
def released(people, policy_version) -> Dataset:
    request = approved_request(people=people, policy_version=policy_version, records=5)
    dataset = release_execute(request_id=request.pk)
    assert dataset is not None
    return dataset


def rewrite(bundle: Path, out: Path, changes: dict[str, bytes | None], *, fix_manifest: bool = True) -> Path:
    """Copy a bundle with some members replaced (None = removed), re-hashing them in the manifest."""
    with zipfile.ZipFile(bundle) as source:
        members = {name: source.read(name) for name in source.namelist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        manifest["files"] = {
            name: hashlib.sha256(data).hexdigest() for name, data in members.items() if name != "manifest.json"
        }
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    return out


def test_release_records_root_card_provenance_and_a_release_checkpoint(released: Dataset) -> None:
    lines = Path(released.file_path).read_bytes().split(b"\n")[:-1]
    assert len(lines) == 5
    expected_root = merkle.root_from_leaves([merkle.leaf_hash(line) for line in lines]).hex()
    assert released.merkle_root == expected_root
    assert released.manifest["merkle_root"] == expected_root
    release_event = AuditEvent.objects.get(action="dataset.release", object_id=str(released.pk))
    assert release_event.payload["merkle_root"] == expected_root
    checkpoint = AuditCheckpoint.objects.order_by("-index").first()
    assert checkpoint is not None and checkpoint.kind == "release"
    assert checkpoint.tree_size == release_event.seq
    assert "## Compliance" in released.card and "| faq-2024 | CC-BY-4.0 | consent |" in released.card
    assert "CN_MOBILE 5" in released.card and "| exact_duplicate | pass |" in released.card
    assert "### Quality gates" in released.card, released.card
    assert "approve by appr" in released.card
    prov = json.loads(Path(released.extra["provenance"]["prov"]["path"]).read_text())
    assert prov["wasGeneratedBy"]["_:gen-dataset"] == {
        "prov:entity": f"sg:dataset/{released.pk}",
        "prov:activity": f"sg:release/{released.pk}",
    }
    assert len([k for k, v in prov["entity"].items() if v["prov:type"] == "sg:Record"]) == 5
    croissant = released.extra["croissant"]
    assert croissant["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert croissant["rai:hasSyntheticData"] is True
    assert croissant["distribution"][0]["sha256"] == released.content_hash
    records = [
        json.loads(line) for line in Path(released.extra["provenance"]["records"]["path"]).read_text().splitlines()
    ]
    first = records[0]
    assert first["sources"][0]["sha256"] == hashlib.sha256(b"faq").hexdigest()
    assert (first["seed"], first["template_hash"], first["knowledge_tree_node"]) == (
        1000,
        "ab" * 32,
        "accounts/balance",
    )
    assert first["raw_output_hmac"] == "cd" * 32
    assert first["gates"] == [{"name": "exact_duplicate", "passed": True}, {"name": "yield", "passed": True}]
    assert len(first["audit_event_seqs"]) == 1


def test_good_bundle_verifies_offline(released: Dataset, tmp_path: Path) -> None:
    summary = evidence_bundle_build(dataset_id=released.pk, output=tmp_path / "bundle.zip")
    result = run_verifier(tmp_path / "bundle.zip")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK: dataset {released.pk} (5 records")
    # 5 record events + request events from release (transition) + the dataset.release event
    assert summary.events == len(
        json.loads(zipfile.ZipFile(tmp_path / "bundle.zip").read("manifest.json"))["event_seqs"]
    )
    assert AuditEvent.objects.filter(action="evidence_bundle.create", object_id=str(released.pk)).count() == 1


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("flip_record", "dataset: records file SHA-256 does not match the manifest"),
        ("edit_event", "hash does not match its contents"),
        ("flip_proof_bit", "inclusion proof does not lead to the checkpoint root"),
        ("truncate_proof", "inclusion proof does not lead to the checkpoint root"),
        ("extend_proof", "inclusion proof does not lead to the checkpoint root"),
        ("reorder_proof", "inclusion proof does not lead to the checkpoint root"),
        ("wrong_index", "leaf index"),
        ("reorder_events", "out of order"),
        ("drop_release_event", "no dataset.release event"),
        ("swap_root", "checkpoint.json: signature invalid"),
        ("wrong_size", "checkpoint.json: signature invalid"),
        ("resign_checkpoint", "checkpoint.json: signature invalid under key"),
        ("unlisted_file", "in the bundle but not listed"),
        ("stale_manifest", "SHA-256 does not match the manifest"),
    ],
)
def test_tampered_bundle_fails_with_the_first_failure(
    released: Dataset, tmp_path: Path, attack: str, expected: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.canonical import canonical_json_bytes

    good = tmp_path / "good.zip"
    evidence_bundle_build(dataset_id=released.pk, output=good)
    archive = zipfile.ZipFile(good)
    events = [json.loads(line) for line in archive.read("events.jsonl").decode().splitlines()]
    checkpoint = json.loads(archive.read("checkpoint.json"))
    changes: dict[str, bytes | None] = {}
    fix_manifest = True
    with_proof = next(i for i, e in enumerate(events) if len(e["audit_path"]) >= 2)

    def events_bytes() -> bytes:
        return ("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n").encode()

    if attack == "flip_record":
        data = bytearray(archive.read("dataset/records.jsonl"))
        data[10] ^= 0x01
        changes["dataset/records.jsonl"] = bytes(data)
        fix_manifest = False
        expected = "dataset/records.jsonl: SHA-256 does not match the manifest"
    elif attack == "edit_event":
        events[0]["event"]["actor_name"] = "mallory"
        changes["events.jsonl"] = events_bytes()
    elif attack == "flip_proof_bit":
        path = events[with_proof]["audit_path"]
        path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
        changes["events.jsonl"] = events_bytes()
    elif attack == "truncate_proof":
        events[with_proof]["audit_path"] = events[with_proof]["audit_path"][:-1]
        changes["events.jsonl"] = events_bytes()
    elif attack == "extend_proof":
        events[with_proof]["audit_path"].append("00" * 32)
        changes["events.jsonl"] = events_bytes()
    elif attack == "reorder_proof":
        events[with_proof]["audit_path"].reverse()
        changes["events.jsonl"] = events_bytes()
    elif attack == "wrong_index":
        events[0]["leaf_index"] += 1
        changes["events.jsonl"] = events_bytes()
    elif attack == "reorder_events":
        events[0], events[1] = events[1], events[0]
        changes["events.jsonl"] = events_bytes()
    elif attack == "drop_release_event":
        events = [e for e in events if e["event"]["action"] != "dataset.release"]
        changes["events.jsonl"] = events_bytes()
    elif attack in ("swap_root", "wrong_size"):
        if attack == "swap_root":
            checkpoint["root_hash"] = released.merkle_root
        else:
            checkpoint["tree_size"] += 1
        changes["checkpoint.json"] = json.dumps(checkpoint).encode()
    elif attack == "resign_checkpoint":
        mallory = Ed25519PrivateKey.generate()
        body = {k: v for k, v in checkpoint.items() if k != "signature"}
        body["root_hash"] = "11" * 32
        checkpoint = {**body, "signature": mallory.sign(canonical_json_bytes(body)).hex()}
        changes["checkpoint.json"] = json.dumps(checkpoint).encode()
    elif attack == "unlisted_file":
        changes["extra.txt"] = b"hello"
        fix_manifest = False
    elif attack == "stale_manifest":
        changes["provenance/card.md"] = b"# a different card\n"
        fix_manifest = False
    bad = rewrite(good, tmp_path / "bad.zip", changes, fix_manifest=fix_manifest)
    result = run_verifier(bad)
    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith("FAILED: ")
    assert expected in result.stdout


def test_verifier_pins_trusted_key_ids(released: Dataset, tmp_path: Path, audit_key) -> None:
    evidence_bundle_build(dataset_id=released.pk, output=tmp_path / "b.zip")
    assert run_verifier(tmp_path / "b.zip", "--trusted-key-id", audit_key.key_id).returncode == 0
    result = run_verifier(tmp_path / "b.zip", "--trusted-key-id", "0123456789abcdef")
    assert result.returncode == 1
    assert "not among the trusted public keys" in result.stdout


def test_bundle_refuses_a_dataset_file_that_changed(released: Dataset, tmp_path: Path) -> None:
    from gateway.errors import Conflict

    Path(released.file_path).write_text("{}\n")
    with pytest.raises(Conflict, match="no longer matches the recorded SHA-256"):
        evidence_bundle_build(dataset_id=released.pk, output=tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()
