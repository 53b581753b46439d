"""Auditor API for the audit log's proofs: event detail, inclusion and consistency proofs,
checkpoints and public keys. Read-only, auditors only, and every read is itself logged."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.bundle import audit_keys_export
from audit.checkpoints import checkpoint_document
from audit.models import AuditCheckpoint, AuditEvent
from audit.proofs import audit_consistency_proof, audit_inclusion_proof
from audit.services import audit_event_append, audit_event_document_of, audit_event_leaf_hash

from .permissions import IsAuditor


def _log_read(request: Request, what: str, payload: dict[str, Any]) -> None:
    audit_event_append(
        actor=request.user, action="audit.read", object_type="audit_log", object_id=what, payload=payload
    )


class _AuditorView(APIView):
    permission_classes = [IsAuthenticated, IsAuditor]


class AuditEventDetailOutput(serializers.Serializer):
    event = serializers.DictField(help_text="The event document whose RFC 8785 bytes are hashed.")
    event_hash = serializers.CharField()
    leaf_hash = serializers.CharField()
    signature = serializers.CharField()


class AuditEventDetail(_AuditorView):
    """One event: its canonical document, chain hash, RFC 6962 leaf hash and signature."""

    @extend_schema(responses=AuditEventDetailOutput)
    def get(self, request: Request, seq: int) -> Response:
        event = get_object_or_404(AuditEvent, seq=seq)
        data = {
            "event": audit_event_document_of(event),
            "event_hash": event.event_hash,
            "leaf_hash": audit_event_leaf_hash(event).hex(),
            "signature": event.signature,
        }
        _log_read(request, "event", {"seq": seq})
        return Response(AuditEventDetailOutput(data).data)


class InclusionInput(serializers.Serializer):
    seq = serializers.IntegerField(min_value=1)
    tree_size = serializers.IntegerField(min_value=1, required=False)


class InclusionOutput(serializers.Serializer):
    seq = serializers.IntegerField()
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField())
    root_hash = serializers.CharField()
    checkpoint = serializers.DictField(allow_null=True)


class AuditInclusionProof(_AuditorView):
    """RFC 6962 inclusion proof of event ``seq`` in the tree of ``tree_size`` events (default: the
    latest checkpoint covering it, returned signed beside the proof)."""

    @extend_schema(
        parameters=[OpenApiParameter("seq", int, required=True), OpenApiParameter("tree_size", int)],
        responses=InclusionOutput,
    )
    def get(self, request: Request) -> Response:
        params = InclusionInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = audit_inclusion_proof(
            seq=params.validated_data["seq"], tree_size=params.validated_data.get("tree_size")
        )
        _log_read(request, "inclusion_proof", {"seq": proof["seq"], "tree_size": proof["tree_size"]})
        return Response(InclusionOutput(proof).data)


class ConsistencyInput(serializers.Serializer):
    first = serializers.IntegerField(min_value=1)
    second = serializers.IntegerField(min_value=1)


class ConsistencyOutput(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root = serializers.CharField()
    second_root = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField())


class AuditConsistencyProof(_AuditorView):
    """RFC 6962 consistency proof: the tree of ``second`` events extends the tree of ``first``."""

    @extend_schema(
        parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
        responses=ConsistencyOutput,
    )
    def get(self, request: Request) -> Response:
        params = ConsistencyInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = audit_consistency_proof(**params.validated_data)
        _log_read(request, "consistency_proof", dict(params.validated_data))
        return Response(ConsistencyOutput(proof).data)


class CheckpointOutput(serializers.Serializer):
    checkpoint = serializers.DictField(help_text="The signed checkpoint document (see docs/audit-format.md).")
    checkpoint_hash = serializers.CharField()


def _checkpoint_data(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"checkpoint": checkpoint_document(checkpoint), "checkpoint_hash": checkpoint.checkpoint_hash}


class AuditCheckpointList(_AuditorView):
    """Signed checkpoints, newest first (at most ``limit``, default 100)."""

    @extend_schema(parameters=[OpenApiParameter("limit", int)], responses=CheckpointOutput(many=True))
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise serializers.ValidationError({"limit": "an integer from 1 to 1000"})
        checkpoints = list(AuditCheckpoint.objects.order_by("-index")[: int(raw)])
        _log_read(request, "checkpoints", {"limit": int(raw)})
        return Response([CheckpointOutput(_checkpoint_data(cp)).data for cp in checkpoints])


class AuditCheckpointDetail(_AuditorView):
    """One signed checkpoint by index."""

    @extend_schema(responses=CheckpointOutput)
    def get(self, request: Request, index: int) -> Response:
        checkpoint = get_object_or_404(AuditCheckpoint, index=index)
        _log_read(request, "checkpoint", {"index": index})
        return Response(CheckpointOutput(_checkpoint_data(checkpoint)).data)


class KeyOutput(serializers.Serializer):
    key_id = serializers.CharField()
    algorithm = serializers.CharField()
    public_key_pem = serializers.CharField()
    valid_from = serializers.CharField()
    valid_until = serializers.CharField(allow_null=True)


class AuditKeyList(_AuditorView):
    """Every public key that signed events or checkpoints, with its validity period."""

    @extend_schema(responses=KeyOutput(many=True))
    def get(self, request: Request) -> Response:
        keys = audit_keys_export()
        _log_read(request, "keys", {"count": len(keys)})
        return Response(KeyOutput(keys, many=True).data)
