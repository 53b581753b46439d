"""Generation API, one view per operation: cost estimates, progress, usage per team, knowledge trees, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway import selectors, services
from gateway.models import GenerationJob, Role
from gateway.pipelines.generation import generation_progress
from gateway.roles import has_role, user_team
from generation import services as generation_services
from generation.models import KnowledgeTree, ModelPrice
from generation.types import GenerationConfigError

from .permissions import HasAnyRole

# --- serializers ----------------------------------------------------------------------------------


class EstimateOutput(serializers.Serializer):
    model = serializers.CharField()
    calls = serializers.IntegerField()
    calls_per_record = serializers.FloatField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    price_source = serializers.CharField(help_text="admin, settings, or unknown (priced at 0)")
    budget_limit = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    within_budget = serializers.BooleanField()


class ProgressOutput(serializers.Serializer):
    request_id = serializers.IntegerField()
    state = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    failed = serializers.IntegerField()
    held = serializers.IntegerField()
    fraction = serializers.FloatField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    calls = serializers.IntegerField()
    retries = serializers.IntegerField()
    cache_hits = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    model = serializers.CharField()


class UsageOutput(serializers.Serializer):
    team = serializers.CharField()
    jobs = serializers.IntegerField()
    calls = serializers.IntegerField()
    cache_hits = serializers.IntegerField()
    retries = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class TreeOutput(serializers.ModelSerializer):
    nodes = serializers.IntegerField(source="node_count")

    class Meta:
        model = KnowledgeTree
        fields = ["id", "slug", "name", "description", "nodes", "updated_at"]


class TreeImportInput(serializers.Serializer):
    document = serializers.CharField(help_text="The tree as JSON or YAML (see generation/knowledge.py).")


class PriceOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelPrice
        fields = ["model", "prompt_per_1k", "completion_per_1k", "currency", "updated_at"]


# --- views ----------------------------------------------------------------------------------------


def _visible_request(user: Any, pk: int) -> Any:
    return get_object_or_404(selectors.dataset_request_list(user=user), pk=pk)


class RequestEstimate(APIView):
    """The expected calls, tokens and cost of a request's job, and whether it fits the budget."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=EstimateOutput)
    def get(self, request: Request, pk: int) -> Response:
        obj = _visible_request(request.user, pk)
        try:
            estimate = services.dataset_request_estimate(request=obj)
        except GenerationConfigError as exc:
            return Response({"error": "invalid", "detail": str(exc)}, status=400)
        within = obj.budget_limit is None or estimate["cost"] <= obj.budget_limit
        return Response(EstimateOutput({**estimate, "budget_limit": obj.budget_limit, "within_budget": within}).data)


class RequestProgress(APIView):
    """Done/total, failures, tokens, calls, retries, cache hits, cost and ETA of a request's job."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=ProgressOutput)
    def get(self, request: Request, pk: int) -> Response:
        obj = _visible_request(request.user, pk)
        job = GenerationJob.objects.filter(request=obj).first()
        if job is None:
            return Response({"error": "not_started", "detail": f"request #{pk} has not been submitted"}, status=409)
        return Response(ProgressOutput({"request_id": obj.pk, "state": obj.state, **generation_progress(job)}).data)


class TeamUsage(APIView):
    """Calls, tokens and cost per team: your own team, or every team for auditors."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=UsageOutput(many=True))
    def get(self, request: Request) -> Response:
        jobs = GenerationJob.objects.all()
        if not has_role(request.user, Role.AUDITOR):
            jobs = jobs.filter(request__team=user_team(request.user))
        rows = (jobs.values("request__team__slug")
                .annotate(jobs=Count("pk"), calls=Sum("calls"), cache_hits=Sum("cache_hits"), retries=Sum("retries"),
                          prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
                          cost=Sum("cost"))
                .order_by("request__team__slug"))
        data = [{**row, "team": row["request__team__slug"], "cost": row["cost"] or Decimal(0)} for row in rows]
        return Response(UsageOutput(data, many=True).data)


class TreeList(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=TreeOutput(many=True))
    def get(self, request: Request) -> Response:
        trees = KnowledgeTree.objects.annotate(node_count=Count("nodes")).order_by("slug")
        return Response(TreeOutput(trees, many=True).data)


class TreeExport(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["json", "yaml"], required=False)],
                   responses={(200, "application/json"): bytes, (200, "application/yaml"): bytes})
    def get(self, request: Request, slug: str) -> HttpResponse:
        tree = get_object_or_404(KnowledgeTree, slug=slug)
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "yaml"):
            return HttpResponse(b'{"error": "invalid", "detail": "format must be json or yaml"}', status=400,
                                content_type="application/json")
        text = generation_services.knowledge_tree_export(tree=tree, fmt=fmt)
        return HttpResponse(text.encode("utf-8"), content_type=f"application/{fmt}; charset=utf-8")


class TreeImport(APIView):
    """Create or replace a knowledge tree from JSON or YAML (staff only; the admin offers the same)."""

    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(request=TreeImportInput, responses={201: TreeOutput})
    def post(self, request: Request) -> Response:
        data = TreeImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tree = generation_services.knowledge_tree_import(text=data.validated_data["document"], actor=request.user)
        except GenerationConfigError as exc:
            return Response({"error": "invalid", "detail": str(exc)}, status=400)
        tree = KnowledgeTree.objects.annotate(node_count=Count("nodes")).get(pk=tree.pk)
        return Response(TreeOutput(tree).data, status=201)


class PriceList(APIView):
    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=PriceOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(PriceOutput(ModelPrice.objects.order_by("model"), many=True).data)
