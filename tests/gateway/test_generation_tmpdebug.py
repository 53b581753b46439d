import time
from typing import Any
import pytest
from gateway import pipelines
from gateway.pipelines import generation as gp
from compliance.pii import get_pii_engine
from tests.gateway.test_generation_engine import _submit, endpoint  # noqa: F401
pytestmark = pytest.mark.django_db
def test_x(people, policy_version, endpoint, settings, monkeypatch):
    settings.GATEWAY = {**settings.GATEWAY, "GENERATION_CONCURRENCY": 2, "GENERATION_CHUNK_SIZE": 40}
    endpoint.state.latency_seconds = 0.2
    request = _submit(people, policy_version, size=40, kind="qa", backend="openai")
    pipelines.generation_start(request_id=request.pk)
    t=time.monotonic(); get_pii_engine(); print("engine", time.monotonic()-t)
    orig = gp._settle
    def settle(chunk, outcome):
        t = time.monotonic(); r = orig(chunk, outcome); print("settle", outcome.slot, round(time.monotonic()-t,3), outcome.error, outcome.transient); return r
    monkeypatch.setattr(gp, "_settle", settle)
    t=time.monotonic()
    pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=6)
    print("total", time.monotonic()-t, len(endpoint.state.requests))
