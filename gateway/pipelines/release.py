"""Release step: write the approved dataset as an immutable, hashed JSONL snapshot, with its Merkle
root, provenance (PROV-JSON, Croissant, dataset card) and a signed audit checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from audit import merkle
from audit.checkpoints import checkpoint_create
from audit.provenance import dataset_provenance
from audit.services import audit_event_append
from gateway.conf import gateway_setting
from gateway.models import Dataset, DatasetRequest, Record
from gateway.services import _transition
from gateway.states import RequestState

from .common import runs_alone

S = RequestState


def aigc_label(*, produce_id: str) -> dict[str, str]:
    """Implicit AI-content label (GB 45438) carried by every released record and the manifest: the seven
    standard fields only. The explicit label is a visible line in the content (``release_execute``)."""
    from compliance.labels import implicit_label

    return implicit_label(produce_id=produce_id)


@runs_alone("release")
def release_execute(*, request_id: int) -> Dataset | None:
    """approved → released: write the JSONL snapshot atomically, hash it, record the Dataset.

    When the policy version asks for the explicit label, each record's content carries a visible label line in
    the record's language and the manifest's ``explicit_label`` says so.
    """
    from compliance.labels import content_language, explicit_label_line, explicit_label_manifest, with_explicit_label

    request = DatasetRequest.objects.select_related("team", "policy_version__policy").get(pk=request_id)
    if request.state != S.APPROVED:
        return None
    records = list(Record.objects.filter(request_id=request_id, status=Record.Status.ACCEPTED).order_by("slot_index"))
    directory = Path(gateway_setting("DATASET_DIR")) / request.team.slug
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    leaves: list[bytes] = []
    labelled = 0
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".request-{request_id}-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                label = explicit_label_line(
                    request.policy_version, content_language(record.content, request.language)
                )
                labelled += label is not None
                line = json.dumps({
                    "id": f"req{request_id}-slot{record.slot_index}",
                    "kind": request.kind,
                    "language": request.language,
                    "content": with_explicit_label(record.content, label),
                    "provenance": record.provenance,
                    "screening": {"pii_counts": record.pii_counts, "safety": record.safety.get("verdict", "")},
                    "AIGC": aigc_label(produce_id=f"request:{request_id}:record:{record.pk}"),
                }, ensure_ascii=False, sort_keys=True) + "\n"
                handle.write(line)
                digest.update(line.encode())
                leaves.append(merkle.leaf_hash(line[:-1].encode()))
        final = directory / f"request-{request_id}-{digest.hexdigest()[:12]}.jsonl"
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    merkle_root = merkle.root_from_leaves(leaves).hex()
    manifest = {
        "request_id": request_id,
        "merkle_root": merkle_root,
        "title": request.title,
        "purpose": request.purpose,
        "records": len(records),
        "sha256": digest.hexdigest(),
        "policy": request.policy_version.summary(),
        "AIGC": aigc_label(produce_id=f"request:{request_id}"),
        "explicit_label": explicit_label_manifest(request.policy_version, labelled),
    }
    with transaction.atomic():
        locked = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if locked.state != S.APPROVED:
            final.unlink(missing_ok=True)
            return None
        dataset = Dataset.objects.create(
            request=request, team=request.team, file_path=str(final), content_hash=digest.hexdigest(),
            record_count=len(records), manifest=manifest, released_at=timezone.now(), merkle_root=merkle_root,
        )
        _write_provenance(dataset=dataset, records=records, directory=directory, stem=final.stem)
        _transition(request_id=request_id, target=S.RELEASED, actor=None,
                    payload={"dataset_id": dataset.pk, "sha256": dataset.content_hash, "records": len(records)})
        audit_event_append(actor=None, action="dataset.release", object_type="dataset", object_id=dataset.pk,
                           payload={"request_id": request_id, "sha256": dataset.content_hash, "records": len(records),
                                    "merkle_root": merkle_root})
        checkpoint_create(kind="release")
    return dataset


def _write_provenance(*, dataset: Dataset, records: list[Record], directory: Path, stem: str) -> None:
    """Write per-record provenance, PROV-JSON and Croissant beside the JSONL; card and index to the row."""
    built = dataset_provenance(dataset=dataset, records=records)
    files = {
        "records": (f"{stem}.provenance.jsonl",
                    "".join(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n" for item in built["records"])),
        "prov": (f"{stem}.prov.json", json.dumps(built["prov"], ensure_ascii=False, sort_keys=True, indent=1)),
        "croissant": (f"{stem}.croissant.json",
                      json.dumps(built["croissant"], ensure_ascii=False, sort_keys=True, indent=1)),
        "card": (f"{stem}.card.md", built["card"]),
    }
    index: dict[str, dict[str, str]] = {}
    for name, (filename, text) in files.items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        index[name] = {"path": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    dataset.card = built["card"]
    dataset.extra = {**dataset.extra, "provenance": index, "croissant": built["croissant"]}
    dataset.save(update_fields=["card", "extra"])
