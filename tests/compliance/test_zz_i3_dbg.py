import pytest
from tests.gateway.test_pipeline import *  # noqa
from tests.gateway import test_pipeline as tp
from gateway.models import DatasetRequest, Record

def test_dbg(people, policy_version, monkeypatch):
    monkeypatch.setattr(tp.generation_pipeline, "backend_from_settings", tp.PlantingBackend)
    request = tp.submit_and_run(people["requester"], policy_version, size=5)
    print("STATE", request.state, request.state_reason)
    for r in Record.objects.filter(request=request): print("REC", r.status, r.reason, r.pii_counts)
