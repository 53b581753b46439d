"""Turn every expected failure into a clear 4xx with a message; never a 500 for bad input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from compliance.models import PolicyVersionLocked
from gateway.errors import GatewayError
from gateway.states import IllegalTransition


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "message_dict"):
        return exc.message_dict
    return exc.messages


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IllegalTransition):
        return Response({"error": "illegal_transition", "detail": str(exc), "state": exc.current},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, GatewayError):
        return Response({"error": exc.code, "detail": exc.message}, status=exc.status_code)
    if isinstance(exc, PolicyVersionLocked):
        return Response({"error": "policy_locked", "detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response({"error": "invalid", "detail": _django_validation_detail(exc)},
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ObjectDoesNotExist):
        exc = Http404(str(exc))
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"error": str(getattr(exc, "default_code", "error")), "detail": detail}
    return response
