"""Release step: write the approved dataset as an immutable, hashed JSONL snapshot."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_append
from gateway.conf import gateway_setting
from gateway.models import Dataset, DatasetRequest, Record
from gateway.services import _transition
from gateway.states import RequestState

S = RequestState


def aigc_label(*, produce_id: str) -> dict[str, str]:
    """Implicit AI-content label (GB 45438) carried by every released record and the manifest."""
    return {
        "Label": "1",  # 1 = the content is AI-generated
        "ContentProducer": "synthgate",
        "ProduceID": produce_id,
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }


def release_execute(*, request_id: int) -> Dataset | None:
    """approved → released: write the JSONL snapshot atomically, hash it, record the Dataset."""
    request = DatasetRequest.objects.select_related("team", "policy_version__policy").get(pk=request_id)
    if request.state != S.APPROVED:
        return None
    records = list(Record.objects.filter(request_id=request_id, status=Record.Status.ACCEPTED).order_by("slot_index"))
    directory = Path(gateway_setting("DATASET_DIR")) / request.team.slug
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".request-{request_id}-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                line = json.dumps({
                    "id": f"req{request_id}-slot{record.slot_index}",
                    "kind": request.kind,
                    "language": request.language,
                    "content": record.content,
                    "provenance": record.provenance,
                    "screening": {"pii_counts": record.pii_counts, "safety": record.safety.get("verdict", "")},
                    "AIGC": aigc_label(produce_id=f"request:{request_id}:record:{record.pk}"),
                }, ensure_ascii=False, sort_keys=True) + "\n"
                handle.write(line)
                digest.update(line.encode())
        final = directory / f"request-{request_id}-{digest.hexdigest()[:12]}.jsonl"
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    manifest = {
        "request_id": request_id,
        "title": request.title,
        "purpose": request.purpose,
        "records": len(records),
        "sha256": digest.hexdigest(),
        "policy": request.policy_version.summary(),
        "AIGC": aigc_label(produce_id=f"request:{request_id}"),
    }
    with transaction.atomic():
        locked = DatasetRequest.objects.select_for_update().get(pk=request_id)
        if locked.state != S.APPROVED:
            final.unlink(missing_ok=True)
            return None
        dataset = Dataset.objects.create(
            request=request, team=request.team, file_path=str(final), content_hash=digest.hexdigest(),
            record_count=len(records), manifest=manifest, released_at=timezone.now(),
        )
        _transition(request_id=request_id, target=S.RELEASED, actor=None,
                    payload={"dataset_id": dataset.pk, "sha256": dataset.content_hash, "records": len(records)})
        audit_event_append(actor=None, action="dataset.release", object_type="dataset", object_id=dataset.pk,
                           payload={"request_id": request_id, "sha256": dataset.content_hash, "records": len(records)})
    return dataset
