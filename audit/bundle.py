"""The evidence bundle: one zip an auditor verifies offline with the bundled ``verify_bundle.py``.

Layout and checks: docs/audit-format.md, "Evidence bundle".
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from audit import merkle
from audit.canonical import canonical_json_bytes
from audit.checkpoints import checkpoint_create, checkpoint_document
from audit.conf import audit_setting
from audit.models import AuditCheckpoint, AuditEvent, AuditSigningKey, AuditTreeNode
from audit.provenance import dataset_event_seqs, dataset_provenance
from audit.services import audit_event_append, audit_event_document_of
from gateway.errors import Conflict, GatewayError
from gateway.models import Dataset, Record

BUNDLE_FORMAT = "synthgate-evidence-bundle/1"
VERIFIER_PATH = Path(__file__).resolve().parent / "verifier" / "verify_bundle.py"


@dataclass(frozen=True)
class BundleSummary:
    path: str
    dataset_id: int
    events: int
    checkpoint_index: int
    tree_size: int
    sha256: str


def audit_keys_export() -> list[dict[str, Any]]:
    """Every public key that ever signed, with its validity period."""
    return [
        {
            "key_id": key.key_id,
            "algorithm": key.algorithm,
            "public_key_pem": key.public_key_pem,
            "valid_from": key.created_at.isoformat(),
            "valid_until": key.retired_at.isoformat() if key.retired_at else None,
        }
        for key in AuditSigningKey.objects.order_by("created_at", "key_id")
    ]


def _proofs(seqs: list[int], tree_size: int) -> dict[int, list[str]]:
    plans = {seq: merkle.inclusion_proof_ranges(seq - 1, tree_size) for seq in seqs}
    wanted = {
        merkle.node_key(level, index)
        for ranges in plans.values()
        for start, end in ranges
        for level, index in merkle.full_subtrees(start, end)
    }
    stored: dict[int, bytes] = {}
    wanted_list = sorted(wanted)
    for offset in range(0, len(wanted_list), 5000):
        chunk = wanted_list[offset : offset + 5000]
        stored.update(
            (key, bytes.fromhex(value))
            for key, value in AuditTreeNode.objects.filter(key__in=chunk).values_list("key", "hash")
        )

    def fetch(keys: set[int]) -> dict[int, bytes]:
        return {key: stored[key] for key in keys if key in stored}

    return {seq: [value.hex() for value in merkle.resolve_ranges(ranges, fetch)] for seq, ranges in plans.items()}


def evidence_bundle_build(
    *, dataset_id: int, output: str | os.PathLike[str], actor: AbstractBaseUser | None = None
) -> BundleSummary:
    """Write the evidence bundle for a released dataset to ``output`` and log that it was made.

    Raises ``Conflict`` when the dataset file is missing or no longer matches its recorded hash (the
    bundle would vouch for something else), ``GatewayError`` when the dataset does not exist.
    """
    dataset = (
        Dataset.objects.select_related("request", "request__team", "request__policy_version__policy")
        .filter(pk=dataset_id)
        .first()
    )
    if dataset is None:
        raise GatewayError(f"dataset {dataset_id} does not exist")
    try:
        records_bytes = Path(dataset.file_path).read_bytes()
    except OSError as exc:
        raise Conflict(f"dataset {dataset_id}: cannot read its file {dataset.file_path}: {exc}") from exc
    if hashlib.sha256(records_bytes).hexdigest() != dataset.content_hash:
        raise Conflict(f"dataset {dataset_id}: its file no longer matches the recorded SHA-256; refusing to bundle it")
    request = dataset.request
    records = list(Record.objects.filter(request=request).order_by("slot_index"))
    seqs = dataset_event_seqs(request=request, dataset_id=dataset.pk, record_ids=[r.pk for r in records])
    if not seqs:
        raise Conflict(f"dataset {dataset_id}: no audit events found for it")
    checkpoint = AuditCheckpoint.objects.filter(tree_size__gte=seqs[-1]).order_by("-index").first()
    if checkpoint is None:
        checkpoint = checkpoint_create(kind="manual")
    proofs = _proofs(seqs, checkpoint.tree_size)
    events = {event.seq: event for event in AuditEvent.objects.filter(seq__in=seqs)}
    event_lines = []
    for seq in seqs:
        event = events[seq]
        event_lines.append(
            json.dumps(
                {
                    "event": audit_event_document_of(event),
                    "event_hash": event.event_hash,
                    "signature": event.signature,
                    "leaf_index": seq - 1,
                    "audit_path": proofs[seq],
                },
                ensure_ascii=False,
                sort_keys=True,
            )
        )
    accepted = [r for r in records if r.status == Record.Status.ACCEPTED]
    built = dataset_provenance(dataset=dataset, records=accepted)
    files: dict[str, bytes] = {
        "dataset/records.jsonl": records_bytes,
        "events.jsonl": ("\n".join(event_lines) + "\n").encode(),
        "checkpoint.json": canonical_json_bytes(checkpoint_document(checkpoint)),
        "keys.json": json.dumps(audit_keys_export(), indent=1, sort_keys=True).encode(),
        "provenance/records.jsonl": "".join(
            json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n" for item in built["records"]
        ).encode(),
        "provenance/prov.json": json.dumps(built["prov"], ensure_ascii=False, indent=1, sort_keys=True).encode(),
        "provenance/croissant.json": json.dumps(
            built["croissant"], ensure_ascii=False, indent=1, sort_keys=True
        ).encode(),
        "provenance/card.md": built["card"].encode(),
        "verify_bundle.py": VERIFIER_PATH.read_bytes(),
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "created_at": timezone.now().isoformat(),
        "log_origin": audit_setting("LOG_ORIGIN"),
        "dataset": {
            "id": dataset.pk,
            "request_id": request.pk,
            "file": "dataset/records.jsonl",
            "content_hash": dataset.content_hash,
            "record_count": dataset.record_count,
            "merkle_root": dataset.merkle_root,
        },
        "checkpoint": {"index": checkpoint.index, "tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash},
        "event_seqs": seqs,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    audit_event_append(
        actor=actor,
        action="evidence_bundle.create",
        object_type="dataset",
        object_id=dataset.pk,
        payload={
            "sha256": digest,
            "events": len(seqs),
            "checkpoint": checkpoint.index,
            "tree_size": checkpoint.tree_size,
        },
    )
    return BundleSummary(
        path=str(target),
        dataset_id=dataset.pk,
        events=len(seqs),
        checkpoint_index=checkpoint.index,
        tree_size=checkpoint.tree_size,
        sha256=digest,
    )
