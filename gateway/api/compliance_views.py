"""Compliance API: policy dry-runs (screen) and audited reversal of encrypted PII (reveal)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.services import pii_reveal
from gateway.models import Role
from gateway.roles import has_role

MAX_LINES = 1000


class IsPolicyAdmin(BasePermission):
    """The user has the policy_admin role."""

    message = "Only policy admins can dry-run policies."

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_role(request.user, Role.POLICY_ADMIN)


class HasRevealPermission(BasePermission):
    """The user is signed in; the service checks ``compliance.reveal_pii`` and audits refusals too."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)


class ScreenView(APIView):
    """POST /api/v1/compliance/screen: the same output as ``manage.py screen``, for one policy."""

    permission_classes = [IsPolicyAdmin]

    class LineInput(serializers.Serializer):
        id = serializers.JSONField()
        text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000)
        lang = serializers.ChoiceField(choices=["zh", "en"], required=False)

    class Input(serializers.Serializer):
        policy = serializers.CharField(required=False, allow_blank=True)
        lines = serializers.ListField(min_length=1, max_length=MAX_LINES)

        def validate_lines(self, value: list[Any]) -> list[dict[str, Any]]:
            out = []
            for i, item in enumerate(value):
                line = ScreenView.LineInput(data=item)
                if not line.is_valid():
                    raise serializers.ValidationError(f"line {i}: {line.errors}")
                out.append(dict(line.validated_data))
            return out

    class Output(serializers.Serializer):
        policy = serializers.CharField()
        version = serializers.IntegerField()
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(request=Input, responses=Output)
    def post(self, request: Request) -> Response:
        from django.core.management.base import CommandError

        from compliance.management.commands.screen import policy_version_named, screen_lines

        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = policy_version_named(data.validated_data.get("policy") or None)
        except CommandError as exc:
            raise serializers.ValidationError({"policy": str(exc)}) from exc
        results = screen_lines(data.validated_data["lines"], version)
        return Response(self.Output({
            "policy": version.policy.name if version.pk else "(defaults)", "version": version.version,
            "results": results,
        }).data)


class RevealView(APIView):
    """POST /api/v1/compliance/reveal: decrypt one encrypted PII token (audited; needs compliance.reveal_pii)."""

    permission_classes = [HasRevealPermission]

    class Input(serializers.Serializer):
        token = serializers.CharField(max_length=4000)
        reason = serializers.CharField(max_length=500)
        object_type = serializers.CharField(required=False, allow_blank=True, default="")
        object_id = serializers.CharField(required=False, allow_blank=True, default="")

    class Output(serializers.Serializer):
        value = serializers.CharField()

    @extend_schema(request=Input, responses=Output)
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        value = pii_reveal(actor=request.user, **data.validated_data)
        return Response(self.Output({"value": value}).data)
