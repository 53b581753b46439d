"""Provenance: what produced each record and each dataset, as plain data, PROV-JSON, Croissant and a card.

Reads gateway models only; writes nothing (the release step stores the results). Everything here is
built from masked text, ids, hashes and counts: raw model output appears only as the keyed hash the
generator recorded (``raw_output_hmac``), which is no PII oracle without the key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Q

from audit.models import AuditEvent
from gateway.models import Approval, Dataset, DatasetRequest, QualityReport, Record

PROV_NS = "https://synthgate.example/ns#"


def _dataset_events_q(request: DatasetRequest, dataset_id: int | None, record_ids: list[int]) -> Q:
    q = Q(object_type="dataset_request", object_id=str(request.pk))
    if dataset_id is not None:
        q |= Q(object_type="dataset", object_id=str(dataset_id))
    if record_ids:
        q |= Q(object_type="record", object_id__in=[str(pk) for pk in record_ids])
    return q


def dataset_event_seqs(*, request: DatasetRequest, dataset_id: int | None, record_ids: list[int]) -> list[int]:
    """Sequence numbers of every audit event about the request, its records and its dataset."""
    return list(
        AuditEvent.objects.filter(_dataset_events_q(request, dataset_id, record_ids))
        .order_by("seq")
        .values_list("seq", flat=True)
    )


def _gates(request: DatasetRequest) -> list[dict[str, Any]]:
    report = QualityReport.objects.filter(request=request).first()
    return list(report.gates) if report is not None else []


def record_provenance(
    *, record: Record, gates: list[dict[str, Any]] | None = None, event_seqs: list[int] | None = None
) -> dict[str, Any]:
    """The full lineage of one record: sources, knowledge-tree node, strategy and steps, prompt
    template hash, model and parameters, seed, keyed hash of the raw output, screening and gate
    results, policy version and the audit events that touched it."""
    prov = record.provenance or {}
    parameters = prov.get("parameters") or {}
    if event_seqs is None:
        event_seqs = list(
            AuditEvent.objects.filter(object_type="record", object_id=str(record.pk)).values_list("seq", flat=True)
        )
    steps = [
        {key: step.get(key) for key in sorted(step) if key not in ("text", "content", "output", "model_texts")}
        for step in prov.get("steps") or []
        if isinstance(step, dict)
    ]
    return {
        "record_id": record.pk,
        "request_id": record.request_id,
        "slot_index": record.slot_index,
        "status": record.status,
        "content_sha256": record.content_hash,
        "sources": [
            {"id": source_id, "sha256": source_hash}
            for source_id, source_hash in zip(
                prov.get("source_ids") or [], prov.get("source_hashes") or [], strict=False
            )
        ],
        "knowledge_tree_node": record.category or prov.get("topic") or prov.get("node") or "",
        "strategy": prov.get("strategy", ""),
        "steps": steps,
        "template_id": prov.get("template_id", ""),
        "template_hash": prov.get("template_hash", ""),
        "prompt_hash": prov.get("prompt_hash", ""),
        "backend": prov.get("backend", ""),
        "model": prov.get("model", ""),
        "response_model": prov.get("response_model", ""),
        "parameters": parameters,
        "seed": parameters.get("seed", prov.get("seed")),
        "raw_output_hmac": prov.get("raw_output_hmac", ""),
        "screening": {
            "pii_counts": record.pii_counts,
            "pii_entity_types": sorted(
                {f.get("entity_type", "") for f in record.pii_findings or [] if isinstance(f, dict)}
            ),
            "safety_verdict": (record.safety or {}).get("verdict", ""),
            "safety_categories": (record.safety or {}).get("categories", []),
        },
        "gates": [{"name": g.get("name"), "passed": g.get("passed")} for g in (gates or []) if "name" in g],
        "policy": {
            "name": prov.get("policy", ""),
            "version": prov.get("policy_version"),
            "version_id": prov.get("policy_version_id"),
        },
        "audit_event_seqs": event_seqs,
    }


def dataset_provenance(*, dataset: Dataset, records: list[Record]) -> dict[str, Any]:
    """Per-record provenance, PROV-JSON, Croissant JSON-LD and the Markdown card for a dataset."""
    request = dataset.request
    gates = _gates(request)
    per_record_events: dict[str, list[int]] = {}
    for seq, object_id in AuditEvent.objects.filter(
        object_type="record", object_id__in=[str(r.pk) for r in records]
    ).values_list("seq", "object_id"):
        per_record_events.setdefault(object_id, []).append(seq)
    lineage = [
        record_provenance(record=r, gates=gates, event_seqs=sorted(per_record_events.get(str(r.pk), [])))
        for r in records
    ]
    return {
        "records": lineage,
        "prov": dataset_prov_json(dataset=dataset, lineage=lineage),
        "croissant": dataset_croissant(dataset=dataset, lineage=lineage),
        "card": dataset_card(dataset=dataset, lineage=lineage, gates=gates),
    }


def _approvals(request: DatasetRequest) -> list[Approval]:
    return list(Approval.objects.filter(request=request).select_related("approver").order_by("created_at"))


def dataset_prov_json(*, dataset: Dataset, lineage: list[dict[str, Any]]) -> dict[str, Any]:
    """A W3C PROV-JSON document: sources and records as entities, generation, screening and release
    as activities, the model, the requester and approvers as agents."""
    request = dataset.request
    ds = f"sg:dataset/{dataset.pk}"
    entity: dict[str, Any] = {
        ds: {
            "prov:type": "sg:Dataset",
            "sg:sha256": dataset.content_hash,
            "sg:merkle_root": dataset.merkle_root,
            "sg:record_count": dataset.record_count,
        },
        f"sg:policy/{request.policy_version_id}": {"prov:type": "sg:PolicyVersion"},
    }
    activity: dict[str, Any] = {
        f"sg:generation/{request.pk}": {
            "prov:type": "sg:Generation",
            "sg:strategy": request.strategy,
            "sg:backend": request.backend,
        },
        f"sg:screening/{request.pk}": {"prov:type": "sg:Screening"},
        f"sg:release/{dataset.pk}": {"prov:type": "sg:Release", "prov:endTime": dataset.released_at.isoformat()},
    }
    agent: dict[str, Any] = {
        f"sg:user/{request.requester_id}": {"prov:type": "prov:Person", "sg:role": "requester"},
        "sg:system/synthgate": {"prov:type": "prov:SoftwareAgent"},
    }
    used: dict[str, Any] = {}
    generated: dict[str, Any] = {}
    derived: dict[str, Any] = {}
    associated: dict[str, Any] = {}
    models = sorted({item["model"] for item in lineage if item["model"]})
    for model in models:
        agent[f"sg:model/{model}"] = {"prov:type": "prov:SoftwareAgent", "sg:model": model}
        associated[f"_:assoc-model-{model}"] = {
            "prov:activity": f"sg:generation/{request.pk}",
            "prov:agent": f"sg:model/{model}",
        }
    associated["_:assoc-requester"] = {
        "prov:activity": f"sg:generation/{request.pk}",
        "prov:agent": f"sg:user/{request.requester_id}",
    }
    for approval in _approvals(request):
        agent[f"sg:user/{approval.approver_id}"] = {"prov:type": "prov:Person", "sg:role": "approver"}
        associated[f"_:assoc-approval-{approval.pk}"] = {
            "prov:activity": f"sg:release/{dataset.pk}",
            "prov:agent": f"sg:user/{approval.approver_id}",
            "sg:decision": approval.decision,
        }
    for source in request.sources.all():
        entity[f"sg:source/{source.pk}"] = {
            "prov:type": "sg:Source",
            "sg:sha256": source.content_hash,
            "sg:licence": source.licence,
            "sg:legal_basis": source.legal_basis,
        }
        used[f"_:used-source-{source.pk}"] = {
            "prov:activity": f"sg:generation/{request.pk}",
            "prov:entity": f"sg:source/{source.pk}",
        }
    used["_:used-policy"] = {
        "prov:activity": f"sg:screening/{request.pk}",
        "prov:entity": f"sg:policy/{request.policy_version_id}",
    }
    for item in lineage:
        rec = f"sg:record/{item['record_id']}"
        entity[rec] = {
            "prov:type": "sg:Record",
            "sg:sha256": item["content_sha256"],
            "sg:prompt_hash": item["prompt_hash"],
            "sg:template_hash": item["template_hash"],
            "sg:raw_output_hmac": item["raw_output_hmac"],
        }
        generated[f"_:gen-{item['record_id']}"] = {"prov:entity": rec, "prov:activity": f"sg:generation/{request.pk}"}
        used[f"_:screen-{item['record_id']}"] = {"prov:activity": f"sg:screening/{request.pk}", "prov:entity": rec}
        derived[f"_:member-{item['record_id']}"] = {"prov:generatedEntity": ds, "prov:usedEntity": rec}
    generated["_:gen-dataset"] = {"prov:entity": ds, "prov:activity": f"sg:release/{dataset.pk}"}
    return {
        "prefix": {"sg": PROV_NS, "prov": "http://www.w3.org/ns/prov#"},
        "entity": entity,
        "activity": activity,
        "agent": agent,
        "used": used,
        "wasGeneratedBy": generated,
        "wasDerivedFrom": derived,
        "wasAssociatedWith": associated,
    }


def dataset_croissant(*, dataset: Dataset, lineage: list[dict[str, Any]]) -> dict[str, Any]:
    """Croissant 1.0 JSON-LD metadata with its Responsible-AI (RAI) fields."""
    request = dataset.request
    sources = list(request.sources.all())
    pii = Counter[str]()
    for item in lineage:
        pii.update({k: int(v) for k, v in (item["screening"]["pii_counts"] or {}).items()})
    return {
        "@context": {
            "@language": "en",
            "@vocab": "https://schema.org/",
            "cr": "http://mlcommons.org/croissant/",
            "rai": "http://mlcommons.org/croissant/RAI/",
            "sc": "https://schema.org/",
            "dct": "http://purl.org/dc/terms/",
        },
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"synthgate-dataset-{dataset.pk}",
        "description": request.title,
        "datePublished": dataset.released_at.date().isoformat(),
        "inLanguage": request.language,
        "isAccessibleForFree": False,
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "records.jsonl",
                "name": "records.jsonl",
                "encodingFormat": "application/jsonlines",
                "sha256": dataset.content_hash,
            }
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "records",
                "name": "records",
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": f"records/{name}",
                        "name": name,
                        "dataType": "sc:Text",
                        "source": {"fileObject": {"@id": "records.jsonl"}, "extract": {"jsonPath": f"$.{name}"}},
                    }
                    for name in ("id", "kind", "language", "content", "provenance", "screening", "AIGC")
                ],
            }
        ],
        "rai:dataCollection": (
            f"Synthetic: generated by {', '.join(sorted({i['model'] for i in lineage if i['model']})) or 'n/a'} "
            f"with strategy {request.strategy}; no real personal data was collected."
        ),
        "rai:dataCollectionType": "Synthetic data",
        "rai:dataUseCases": request.purpose,
        "rai:dataLimitations": "Synthetic records may not reflect the real distribution of the domain.",
        "rai:dataBiases": "Inherits the biases of the generating model and of the prompt templates.",
        "rai:personalSensitiveInformation": (
            "PII detected in generated text was masked before storage: "
            + (", ".join(f"{k} {v}" for k, v in sorted(pii.items())) or "none found")
        ),
        "rai:dataSocialImpact": "Produced under policy " + f"{request.policy_version.summary().get('policy')}"
        f" v{request.policy_version.summary().get('version')} with content-safety screening.",
        "rai:hasSyntheticData": True,
        "rai:dataReleaseMaintenancePlan": "Released once; revocation is recorded in the audit log.",
        "dct:source": [
            {"name": s.name, "license": s.licence, "legalBasis": s.legal_basis, "sha256": s.content_hash}
            for s in sources
        ],
        "sc:identifier": dataset.merkle_root,
    }


def dataset_card(*, dataset: Dataset, lineage: list[dict[str, Any]], gates: list[dict[str, Any]]) -> str:
    """The Markdown dataset card, with its compliance section."""
    request = dataset.request
    policy = request.policy_version.summary()
    pii = Counter[str]()
    safety = Counter[str]()
    for item in lineage:
        pii.update({k: int(v) for k, v in (item["screening"]["pii_counts"] or {}).items()})
        safety[item["screening"]["safety_verdict"] or "unknown"] += 1
    lines = [
        f"# Dataset card: {request.title}",
        "",
        f"- Dataset id: {dataset.pk} (request {request.pk}, team {request.team.slug})",
        f"- Records: {dataset.record_count} ({request.kind}, language {request.language})",
        f"- Released: {dataset.released_at.isoformat()}",
        f"- SHA-256 of the JSONL file: `{dataset.content_hash}`",
        f"- Merkle root over the records (RFC 6962): `{dataset.merkle_root}`",
        "",
        "## Purpose",
        "",
        request.purpose,
        "",
        "## How it was made",
        "",
        f"- Strategy: {request.strategy}; backend: {request.backend}; seed: {request.seed}",
        f"- Models: {', '.join(sorted({i['model'] for i in lineage if i['model']})) or 'n/a'}",
        f"- Prompt templates: {', '.join(sorted({i['template_hash'][:16] for i in lineage if i['template_hash']}))}",
        "",
        "## Compliance",
        "",
        "### Sources",
        "",
    ]
    sources = list(request.sources.all())
    if sources:
        lines += ["| source | licence | legal basis | SHA-256 |", "|---|---|---|---|"]
        lines += [f"| {s.name} | {s.licence} | {s.legal_basis} | `{s.content_hash[:16]}…` |" for s in sources]
    else:
        lines.append("No source material: generated from prompt templates only.")
    lines += ["", "### PII", ""]
    lines.append(
        "Entities masked before storage: " + (", ".join(f"{k} {v}" for k, v in sorted(pii.items())) or "none found")
    )
    lines += ["", "### Content safety", ""]
    lines.append("Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(safety.items())))
    lines += [""]
    if gates:
        # The quality report's own Markdown: verdicts, thresholds, flagged (masked) examples, chart names.
        from compliance.quality.report import quality_report_markdown

        lines += ["#" + line if line.startswith("## ") else line
                  for line in quality_report_markdown(gates).rstrip("\n").splitlines()]
    else:
        lines += ["### Quality gates", "", "No gate results recorded."]
    lines += ["", "### Approvals", ""]
    approvals = _approvals(request)
    lines += [f"- {a.decision} by {a.approver.get_username()} at {a.created_at.isoformat()}" for a in approvals] or [
        "- none recorded"
    ]
    lines += [
        "",
        "### Policy",
        "",
        f"{policy.get('policy')} version {policy.get('version')}",
        "",
        "### AI-generated content label",
        "",
        "Every record carries the implicit GB 45438 label (`AIGC` field, Label=1, ContentProducer=synthgate);"
        f" the explicit label setting of the policy is `{policy.get('explicit_label')}`.",
        "",
        "### Verification",
        "",
        "Get the evidence bundle (`python manage.py evidence_bundle --dataset "
        f"{dataset.pk} --output FILE.zip`) and run `python verify_bundle.py FILE.zip` offline.",
        "",
    ]
    return "\n".join(lines)
