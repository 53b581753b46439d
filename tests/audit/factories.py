"""An approved request with accepted records, built directly, for release and bundle tests."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from audit.services import audit_event_append
from gateway.models import Approval, DatasetRequest, QualityReport, Record, Source
from gateway.states import RequestState


def approved_request(*, people: dict[str, Any], policy_version: Any, records: int = 5) -> DatasetRequest:
    requester = people["requester"]
    team = requester.membership.team
    source = Source.objects.create(
        team=team,
        name="faq-2024",
        licence="CC-BY-4.0",
        legal_basis="consent",
        origin="internal wiki",
        content_hash=hashlib.sha256(b"faq").hexdigest(),
        masked_content="masked",
        screening="passed",
        screened_at=timezone.now(),
        policy_version=policy_version,
    )
    request = DatasetRequest.objects.create(
        team=team,
        requester=requester,
        title="Retail banking dialogues",
        purpose="Train a support assistant",
        domain="retail banking",
        size=records,
        policy_version=policy_version,
        state=RequestState.APPROVED,
        seed=7,
    )
    request.sources.add(source)
    for slot in range(records):
        text = f"客户询问第{slot}号账户余额 [CN_MOBILE]"
        record = Record.objects.create(
            request=request,
            slot_index=slot,
            status=Record.Status.ACCEPTED,
            kind="dialogue",
            category="accounts/balance",
            content={"messages": [{"role": "user", "content": text}]},
            text=text,
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
            pii_findings=[{"entity_type": "CN_MOBILE", "start": 9, "end": 20}],
            pii_counts={"CN_MOBILE": 1},
            safety={"verdict": "pass"},
            provenance={
                "request_id": request.pk,
                "policy": policy_version.policy.name,
                "policy_version": policy_version.version,
                "policy_version_id": policy_version.pk,
                "source_ids": [source.pk],
                "source_hashes": [source.content_hash],
                "strategy": "prompt_template",
                "template_id": "dialogue-v1",
                "template_hash": "ab" * 32,
                "prompt_hash": f"{slot:02d}" * 32,
                "backend": "offline",
                "model": "offline-zh-1",
                "parameters": {"temperature": 0.7, "seed": 1000 + slot},
                "steps": [{"name": "generate", "model": "offline-zh-1"}],
                "raw_output_hmac": "cd" * 32,
            },
        )
        audit_event_append(
            actor=None,
            action="record.create",
            object_type="record",
            object_id=record.pk,
            payload={"request_id": request.pk, "slot": slot, "content_sha256": record.content_hash},
        )
    QualityReport.objects.create(
        request=request,
        passed=True,
        gates=[
            {"name": "exact_duplicate", "passed": True, "metric": 0.0, "threshold": 0.0},
            {"name": "yield", "passed": True, "metric": 1.0, "threshold": 0.9},
        ],
    )
    Approval.objects.create(request=request, approver=people["approver"], decision="approve")
    return request
