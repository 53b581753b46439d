"""Quality API: a request's quality report and charts, the approvers' item-by-item review, benchmark sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.quality.charts import CHARTS
from gateway import selectors
from gateway.models import BenchmarkSet, DatasetRequest, QualityReport, ReviewItem
from gateway.pipelines.gates import REPORT_KEY, review_item_record_verdict

from .permissions import HasAnyRole, IsApprover


def _visible_request(user: Any, pk: int) -> DatasetRequest:
    return get_object_or_404(selectors.dataset_request_list(user=user), pk=pk)


def _report(request_obj: DatasetRequest) -> QualityReport:
    report = QualityReport.objects.filter(request=request_obj).first()
    if report is None:
        raise Http404(f"request #{request_obj.pk} has no quality report yet (state: {request_obj.state})")
    return report


class GateOutput(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    metric = serializers.FloatField()
    threshold = serializers.FloatField()
    comparison = serializers.CharField(required=False)
    flagged = serializers.IntegerField(required=False)
    detail = serializers.CharField()
    metrics = serializers.DictField(required=False)
    examples = serializers.ListField(child=serializers.DictField(), required=False)


class QualityReportOutput(serializers.Serializer):
    request_id = serializers.IntegerField()
    passed = serializers.BooleanField()
    gates = GateOutput(many=True)
    charts = serializers.DictField(child=serializers.CharField())
    chart_legend = serializers.DictField(child=serializers.CharField())
    summary = serializers.DictField()
    gate_errors = serializers.ListField(child=serializers.CharField())


class QualityReportDetail(APIView):
    """The request's quality report: every gate's metric, threshold, verdict and flagged examples."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=QualityReportOutput)
    def get(self, request: Request, pk: int) -> Response:
        obj = _visible_request(request.user, pk)
        report = _report(obj)
        summary: dict[str, Any] = next((g[REPORT_KEY] for g in report.gates if REPORT_KEY in g), {})
        charts = {name: request.build_absolute_uri(f"/api/v1/quality/requests/{pk}/charts/{name}.png")
                  for name in (summary.get("charts") or {})}
        data = {
            "request_id": pk,
            "passed": report.passed,
            "gates": [g for g in report.gates if "name" in g],
            "charts": charts,
            "chart_legend": summary.get("chart_legend") or {},
            "summary": {k: v for k, v in summary.items() if k not in ("charts", "chart_legend", "flags_file")},
            "gate_errors": [g["error"] for g in report.gates if "error" in g],
        }
        return Response(QualityReportOutput(data).data)


class QualityChart(APIView):
    """One chart of the report as a PNG: category_mix, length_distribution, similarity_histogram, flags_per_gate."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request: Request, pk: int, chart: str) -> FileResponse:
        if chart not in CHARTS:
            raise Http404(f"unknown chart {chart!r} (known: {', '.join(CHARTS)})")
        report = _report(_visible_request(request.user, pk))
        summary: dict[str, Any] = next((g[REPORT_KEY] for g in report.gates if REPORT_KEY in g), {})
        path = (summary.get("charts") or {}).get(chart)
        if not path or not Path(path).exists():
            raise Http404(f"chart {chart!r} was not rendered for request #{pk}")
        return FileResponse(open(path, "rb"), content_type="image/png")  # noqa: SIM115 - FileResponse closes it


class ReviewItemOutput(serializers.ModelSerializer):
    record_id = serializers.IntegerField()
    slot_index = serializers.IntegerField(source="record.slot_index")
    category = serializers.CharField(source="record.category")
    content = serializers.JSONField(source="record.content", help_text="Masked content.")
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)

    class Meta:
        model = ReviewItem
        fields = ["id", "record_id", "slot_index", "category", "content", "verdict", "note", "reviewer",
                  "reviewed_at"]


class ReviewListOutput(serializers.Serializer):
    request_id = serializers.IntegerField()
    total = serializers.IntegerField()
    reviewed = serializers.IntegerField()
    passed = serializers.IntegerField()
    items = ReviewItemOutput(many=True)


class VerdictInput(serializers.Serializer):
    item_id = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=[ReviewItem.Verdict.PASS, ReviewItem.Verdict.FAIL])
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


def _review_list(pk: int) -> dict[str, Any]:
    items = list(ReviewItem.objects.filter(request_id=pk).select_related("record", "reviewer"))
    return {
        "request_id": pk,
        "total": len(items),
        "reviewed": sum(1 for i in items if i.verdict != ReviewItem.Verdict.PENDING),
        "passed": sum(1 for i in items if i.verdict == ReviewItem.Verdict.PASS),
        "items": items,
    }


class ReviewItems(APIView):
    """GET: the manual-review sample with verdicts so far. POST (approvers): pass/fail one item, with a note."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=ReviewListOutput)
    def get(self, request: Request, pk: int) -> Response:
        _visible_request(request.user, pk)
        return Response(ReviewListOutput(_review_list(pk)).data)

    @extend_schema(request=VerdictInput, responses=ReviewListOutput)
    def post(self, request: Request, pk: int) -> Response:
        if not IsApprover().has_permission(request, self):
            return Response({"error": "not_allowed", "detail": IsApprover.message}, status=403)
        obj = _visible_request(request.user, pk)
        data = VerdictInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = ReviewItem.objects.filter(request=obj, pk=data.validated_data["item_id"]).first()
        if item is None:
            return Response({"error": "invalid", "detail": {"item_id": f"not in request #{pk}'s review sample"}},
                            status=400)
        review_item_record_verdict(item=item, actor=request.user, verdict=data.validated_data["verdict"],
                                   note=data.validated_data["note"])
        return Response(ReviewListOutput(_review_list(pk)).data)


class BenchmarkSetOutput(serializers.ModelSerializer):
    class Meta:
        model = BenchmarkSet
        fields = ["id", "name", "description", "sha256", "item_count", "ngram_count", "active", "created_at"]


class BenchmarkSetList(APIView):
    """Benchmark sets the decontamination gate checks against (registered by admins in the Django admin)."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(responses=BenchmarkSetOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(BenchmarkSetOutput(BenchmarkSet.objects.all(), many=True).data)
