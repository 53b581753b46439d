from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from gateway import pipelines, services
from gateway.errors import NotAllowed
from gateway.models import DatasetRequest
from gateway.states import TERMINAL, TRANSITIONS, IllegalTransition, RequestState, check_transition

from .helpers import new_request, run_pipeline

S = RequestState
pytestmark = pytest.mark.django_db


def test_every_state_has_a_transition_entry_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(S.values)
    assert {S.REJECTED, S.FAILED, S.CANCELLED, S.REVOKED} == TERMINAL
    assert S.RELEASED not in TERMINAL  # a released dataset can still be revoked


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.DRAFT, S.SUBMITTED), (S.SUBMITTED, S.GENERATING), (S.GENERATING, S.SCREENING), (S.SCREENING, S.GATED),
     (S.GATED, S.AWAITING_APPROVAL), (S.AWAITING_APPROVAL, S.APPROVED), (S.APPROVED, S.RELEASED),
     (S.RELEASED, S.REVOKED), (S.AWAITING_APPROVAL, S.REJECTED), (S.GENERATING, S.CANCELLED)],
)
def test_legal_transitions(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.DRAFT, S.APPROVED), (S.DRAFT, S.RELEASED), (S.SUBMITTED, S.RELEASED), (S.GENERATING, S.APPROVED),
     (S.AWAITING_APPROVAL, S.RELEASED), (S.REJECTED, S.APPROVED), (S.CANCELLED, S.SUBMITTED),
     (S.RELEASED, S.DRAFT), (S.FAILED, S.GENERATING), (S.APPROVED, S.CANCELLED)],
)
def test_illegal_transitions_raise_with_a_clear_message(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target)
    assert f"from '{current}' to '{target}'" in str(info.value)


def test_submit_moves_draft_to_submitted_and_audits_in_the_same_transaction(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version)
    services.dataset_request_submit(request=request, actor=people["requester"])
    request.refresh_from_db()
    assert request.state == S.SUBMITTED
    event = AuditEvent.objects.filter(action="dataset_request.submitted", object_id=str(request.pk)).get()
    assert event.payload["from"] == "draft" and event.payload["to"] == "submitted"
    assert event.actor_name == "req"
    policy_version.refresh_from_db()
    assert policy_version.is_locked


def test_submitting_twice_is_refused_and_leaves_no_second_event(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version)
    services.dataset_request_submit(request=request, actor=people["requester"])
    with pytest.raises(IllegalTransition):
        services.dataset_request_submit(request=request, actor=people["requester"])
    assert AuditEvent.objects.filter(action="dataset_request.submitted", object_id=str(request.pk)).count() == 1


def test_requester_cannot_approve_own_request_even_with_approver_role(people, policy_version) -> None:
    maker = people["maker_checker"]
    request = new_request(maker, policy_version)
    services.dataset_request_submit(request=request, actor=maker)
    request = run_pipeline(request)
    assert request.state == S.AWAITING_APPROVAL
    with pytest.raises(NotAllowed, match="maker-checker"):
        services.dataset_request_approve(request=request, actor=maker)
    request.refresh_from_db()
    assert request.state == S.AWAITING_APPROVAL


def test_approver_of_another_team_and_requesters_cannot_approve(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version)
    services.dataset_request_submit(request=request, actor=people["requester"])
    request = run_pipeline(request)
    for who in ("outsider_approver", "requester2", "auditor"):
        with pytest.raises(NotAllowed):
            services.dataset_request_approve(request=request, actor=people[who])


def test_reject_needs_a_reason_and_is_final(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version)
    services.dataset_request_submit(request=request, actor=people["requester"])
    request = run_pipeline(request)
    with pytest.raises(ValidationError):
        services.dataset_request_reject(request=request, actor=people["approver"], reason="  ")
    services.dataset_request_reject(request=request, actor=people["approver"], reason="off-topic samples")
    request.refresh_from_db()
    assert request.state == S.REJECTED and request.state_reason == "off-topic samples"
    with pytest.raises(IllegalTransition):
        services.dataset_request_approve(request=request, actor=people["approver"])


def test_cancel_during_generation_stops_the_job(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version, size=10)
    services.dataset_request_submit(request=request, actor=people["requester"])
    pipelines.generation_start(request_id=request.pk)
    services.dataset_request_cancel(request=request, actor=people["requester"], reason="wrong domain")
    written = pipelines.generation_chunk_execute(request_id=request.pk, start=0, end=10)
    assert written == 0
    assert DatasetRequest.objects.get(pk=request.pk).state == S.CANCELLED


def test_other_team_requester_cannot_submit_or_cancel(people, policy_version) -> None:
    request = new_request(people["requester"], policy_version)
    with pytest.raises(NotAllowed):
        services.dataset_request_submit(request=request, actor=people["outsider_requester"])
    with pytest.raises(NotAllowed):
        services.dataset_request_cancel(request=request, actor=people["outsider_requester"])
