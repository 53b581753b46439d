"""Drive a request through the pipeline by calling its steps, as the Celery tasks would."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import pipelines, services
from gateway.models import DatasetRequest


def new_request(requester: Any, policy_version: Any, *, size: int = 6, **fields: Any) -> DatasetRequest:
    return services.dataset_request_create(
        actor=requester, title="客服对话", purpose="fine-tune an assistant", domain="retail banking",
        size=size, policy_version=policy_version, **fields,
    )


def run_pipeline(request: DatasetRequest) -> DatasetRequest:
    """submitted → … → awaiting_approval (or failed/approved), running each step in-process."""
    for start, end in pipelines.generation_start(request_id=request.pk):
        pipelines.generation_chunk_execute(request_id=request.pk, start=start, end=end)
    pipelines.screening_execute(request_id=request.pk)
    pipelines.gates_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


def submit_and_run(requester: Any, policy_version: Any, **fields: Any) -> DatasetRequest:
    request = new_request(requester, policy_version, **fields)
    services.dataset_request_submit(request=request, actor=requester)
    return run_pipeline(request)


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake OpenAI server is local: no proxy from the environment may sit between it and the client."""
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
