"""REST API, one view per operation: validate, authorise, call one service, respond."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEvent
from audit.selectors import audit_event_list
from audit.services import audit_event_append
from audit.verify import audit_chain_verify
from compliance.models import PolicyVersion
from gateway import selectors, services
from gateway.models import Dataset, DatasetRequest, Source
from gateway.roles import user_team
from gateway.states import RequestState

from .permissions import HasAnyRole, IsApprover, IsAuditor, IsRequester

# --- serializers ----------------------------------------------------------------------------------


class PolicyVersionOutput(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.name")
    locked = serializers.BooleanField(source="is_locked")

    class Meta:
        model = PolicyVersion
        fields = ["id", "policy", "version", "pii_operators", "safety_actions", "safety_layers", "safety_layer_caps",
                  "gate_thresholds", "requires_human_approval", "locked", "locked_at", "created_at"]


class JobOutput(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    failed = serializers.IntegerField()
    held = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    fraction = serializers.FloatField()
    calls = serializers.IntegerField()
    retries = serializers.IntegerField()
    cache_hits = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    model = serializers.CharField()


class RequestOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    requester = serializers.CharField(source="requester.username")
    policy_version = PolicyVersionOutput()
    progress = serializers.SerializerMethodField()
    quality_report = serializers.SerializerMethodField()
    dataset_id = serializers.SerializerMethodField()
    source_ids: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        source="sources", many=True, read_only=True
    )

    class Meta:
        model = DatasetRequest
        fields = ["id", "title", "purpose", "domain", "language", "kind", "strategy", "backend", "size", "task",
                  "seed", "options", "budget_limit", "team", "requester", "policy_version", "source_ids", "state",
                  "state_reason",
                  "progress", "quality_report", "dataset_id", "created_at", "updated_at"]

    @extend_schema_field(JobOutput(allow_null=True))
    def get_progress(self, obj: DatasetRequest) -> dict[str, Any] | None:
        from gateway.pipelines.generation import generation_progress

        job = getattr(obj, "job", None)
        return generation_progress(job) if job is not None else None

    def get_quality_report(self, obj: DatasetRequest) -> dict[str, Any] | None:
        report = getattr(obj, "quality_report", None)
        return {"passed": report.passed, "gates": report.gates} if report is not None else None

    def get_dataset_id(self, obj: DatasetRequest) -> int | None:
        dataset = getattr(obj, "dataset", None)
        return dataset.pk if dataset is not None else None


class RequestCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    purpose = serializers.CharField(max_length=5000)
    domain = serializers.CharField(max_length=120)
    language = serializers.ChoiceField(choices=["zh", "en"], default="zh")
    kind = serializers.ChoiceField(choices=["dialogue", "qa", "math"], default="dialogue")
    strategy = serializers.ChoiceField(choices=DatasetRequest.Strategy.values, default="prompt_template")
    backend = serializers.ChoiceField(choices=DatasetRequest.Backend.values, default="offline")
    size = serializers.IntegerField(min_value=1, max_value=1_000_000)
    task = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    policy_version_id = serializers.IntegerField()
    source_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    options = serializers.JSONField(required=False, default=dict,
                                    help_text="Strategy options: conditions, subcategories (mix), tree, nodes, "
                                              "task_types, difficulty, refine, theme.")
    budget_limit = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, required=False,
                                            allow_null=True, default=None)

    def validate_options(self, value: Any) -> Any:
        from generation.options import options_problems

        problems = options_problems(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RequiredReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class DatasetOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    request_id = serializers.IntegerField()

    class Meta:
        model = Dataset
        fields = ["id", "request_id", "team", "status", "content_hash", "record_count", "manifest",
                  "released_at", "revoked_reason"]


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["seq", "created_at", "actor_id", "actor_name", "action", "object_type", "object_id",
                  "payload", "prev_hash", "event_hash", "key_id", "signature"]


class VerifyOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    checkpoints_checked = serializers.IntegerField()
    first_bad_checkpoint = serializers.IntegerField(allow_null=True)


# --- dataset requests ---------------------------------------------------------------------------


def _visible_request(user: Any, pk: int) -> DatasetRequest:
    return get_object_or_404(selectors.dataset_request_list(user=user), pk=pk)


class RequestListCreate(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=RequestState.values, required=False)],
        responses=RequestOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        state = request.query_params.get("state")
        if state and state not in RequestState.values:
            return Response({"error": "invalid", "detail": f"unknown state {state!r}"}, status=400)
        qs = selectors.dataset_request_list(user=request.user, state=state)
        return Response(RequestOutput(qs, many=True).data)

    @extend_schema(request=RequestCreateInput, responses={201: RequestOutput})
    def post(self, request: Request) -> Response:
        if not IsRequester().has_permission(request, self):
            return Response({"error": "not_allowed", "detail": IsRequester.message}, status=403)
        data = RequestCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = PolicyVersion.objects.filter(pk=fields.pop("policy_version_id")).first()
        if version is None:
            return Response({"error": "invalid", "detail": {"policy_version_id": "no such policy version"}},
                            status=400)
        source_ids = fields.pop("source_ids")
        team = user_team(request.user)
        sources = list(Source.objects.filter(pk__in=source_ids, team=team))
        if len(sources) != len(set(source_ids)):
            return Response({"error": "invalid", "detail": {"source_ids": "unknown source for your team"}},
                            status=400)
        created = services.dataset_request_create(actor=request.user, policy_version=version, sources=sources,
                                                  **fields)
        return Response(RequestOutput(created).data, status=201)


class RequestDetail(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=RequestOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RequestOutput(_visible_request(request.user, pk)).data)


class RequestSubmit(APIView):
    permission_classes = [IsAuthenticated, IsRequester]

    @extend_schema(request=None, responses=RequestOutput)
    def post(self, request: Request, pk: int) -> Response:
        obj = services.dataset_request_submit(request=_visible_request(request.user, pk), actor=request.user)
        return Response(RequestOutput(obj).data, status=202)


class RequestCancel(APIView):
    permission_classes = [IsAuthenticated, IsRequester]

    @extend_schema(request=ReasonInput, responses=RequestOutput)
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        obj = services.dataset_request_cancel(request=_visible_request(request.user, pk), actor=request.user,
                                              reason=data.validated_data["reason"])
        return Response(RequestOutput(obj).data)


class RequestApprove(APIView):
    permission_classes = [IsAuthenticated, IsApprover]

    @extend_schema(request=ReasonInput, responses=RequestOutput)
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        obj = services.dataset_request_approve(request=_visible_request(request.user, pk), actor=request.user,
                                               reason=data.validated_data["reason"])
        return Response(RequestOutput(obj).data)


class RequestReject(APIView):
    permission_classes = [IsAuthenticated, IsApprover]

    @extend_schema(request=RequiredReasonInput, responses=RequestOutput)
    def post(self, request: Request, pk: int) -> Response:
        data = RequiredReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        obj = services.dataset_request_reject(request=_visible_request(request.user, pk), actor=request.user,
                                              reason=data.validated_data["reason"])
        return Response(RequestOutput(obj).data)


def _file_response(path: Any, name: str) -> FileResponse:
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name,  # noqa: SIM115 - FileResponse closes it
                        content_type="application/x-ndjson")


class RequestDownload(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses={(200, "application/x-ndjson"): bytes})
    def get(self, request: Request, pk: int) -> FileResponse:
        obj = get_object_or_404(DatasetRequest, pk=pk)
        path = services.dataset_download_authorize(request=obj, actor=request.user)
        return _file_response(path, f"request-{pk}.jsonl")


# --- datasets -----------------------------------------------------------------------------------


class DatasetList(ListAPIView):
    permission_classes = [IsAuthenticated, HasAnyRole]
    serializer_class = DatasetOutput

    def get_queryset(self) -> Any:
        return selectors.dataset_list(user=self.request.user)


class DatasetDetail(RetrieveAPIView):
    permission_classes = [IsAuthenticated, HasAnyRole]
    serializer_class = DatasetOutput

    def get_queryset(self) -> Any:
        return selectors.dataset_list(user=self.request.user)


class DatasetDownload(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses={(200, "application/x-ndjson"): bytes})
    def get(self, request: Request, pk: int) -> FileResponse:
        dataset = get_object_or_404(Dataset.objects.select_related("request"), pk=pk)
        path = services.dataset_download_authorize(request=dataset.request, actor=request.user)
        return _file_response(path, f"dataset-{pk}.jsonl")


# --- audit --------------------------------------------------------------------------------------


class AuditEventList(ListAPIView):
    """Audit events, newest first; filter by dataset, object, actor, action and time. Auditors only; the
    read is itself logged (``audit.read``)."""

    permission_classes = [IsAuthenticated, IsAuditor]
    serializer_class = AuditEventOutput

    @extend_schema(parameters=[
        OpenApiParameter("dataset", int, description="events about this dataset, its request and records"),
        OpenApiParameter("object_type", str), OpenApiParameter("object_id", str),
        OpenApiParameter("actor", str), OpenApiParameter("action", str),
        OpenApiParameter("since", str, description="ISO 8601"), OpenApiParameter("until", str, description="ISO 8601"),
    ])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        filters = {k: str(v)[:200] for k, v in request.query_params.items()
                   if k in ("dataset", "object_type", "object_id", "actor", "action", "since", "until", "page")}
        audit_event_append(actor=request.user, action="audit.read", object_type="audit_log", object_id="events",
                           payload={"filters": filters})
        return response

    def get_queryset(self) -> Any:
        from django.utils.dateparse import parse_datetime

        params = self.request.query_params
        bounds = {}
        for name in ("since", "until"):
            raw = params.get(name)
            if raw:
                parsed = parse_datetime(raw)
                if parsed is None:
                    raise serializers.ValidationError({name: f"not an ISO 8601 date-time: {raw!r}"})
                bounds[name] = parsed
        dataset = params.get("dataset")
        if dataset and not dataset.isdigit():
            raise serializers.ValidationError({"dataset": f"not a dataset id: {dataset!r}"})
        return audit_event_list(
            dataset_id=int(dataset) if dataset else None,
            object_type=params.get("object_type") or None, object_id=params.get("object_id") or None,
            actor_name=params.get("actor") or None, action=params.get("action") or None, **bounds,
        ).order_by("-seq")


class AuditVerify(APIView):
    """Recheck the whole log: hashes, links, Merkle tree, signed checkpoints, signatures and the head."""

    permission_classes = [IsAuthenticated, IsAuditor]

    @extend_schema(request=None, responses=VerifyOutput)
    def post(self, request: Request) -> Response:
        result = audit_chain_verify()
        audit_event_append(actor=request.user, action="audit.verify", object_type="audit_log", object_id="chain",
                           payload={"ok": result.ok, "events_checked": result.events_checked,
                                    "first_bad_seq": result.first_bad_seq,
                                    "checkpoints_checked": result.checkpoints_checked,
                                    "first_bad_checkpoint": result.first_bad_checkpoint})
        return Response(VerifyOutput(result).data, status=200 if result.ok else 409)


# --- policies -----------------------------------------------------------------------------------


class PolicyVersionList(ListAPIView):
    permission_classes = [IsAuthenticated, HasAnyRole]
    serializer_class = PolicyVersionOutput

    def get_queryset(self) -> Any:
        return selectors.policy_version_list()


class PolicyVersionDetail(RetrieveAPIView):
    permission_classes = [IsAuthenticated, HasAnyRole]
    serializer_class = PolicyVersionOutput

    def get_queryset(self) -> Any:
        return selectors.policy_version_list()

