"""Masking operators: surrogates (valid, consistent), reversible encryption and its audited reveal, class actions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from compliance.crypto import TOKEN, decrypt_token, encrypt_value
from compliance.identifiers import (
    iban_valid,
    is_valid_hk_id,
    is_valid_resident_id,
    is_valid_uscc,
    luhn_check_digit,
    luhn_valid,
    resident_id_check_char,
)
from compliance.pii import get_pii_engine
from compliance.screening import residual_pii, screen_content
from compliance.services import pii_reveal, policy_version_create
from compliance.surrogates import is_surrogate, surrogate

RID_BODY = "11010519900307123"
RID = RID_BODY + resident_id_check_char(RID_BODY)
CARD = "622202123456789" + luhn_check_digit("622202123456789")
KEY_A = b"dataset-a-key"
KEY_B = b"dataset-b-key"


@pytest.mark.parametrize(
    ("entity", "value", "valid"),
    [
        ("CN_RESIDENT_ID", RID, is_valid_resident_id),
        ("CN_BANK_CARD", CARD, lambda v: luhn_valid(re.sub(r"\D", "", v))),
        ("CN_USCC", "91350100M000100Y43", is_valid_uscc),
        ("HK_ID_CARD", "A123456(3)", is_valid_hk_id),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32", iban_valid),
    ],
)
def test_surrogates_pass_their_check_and_differ_from_the_value(entity: str, value: str, valid: Any) -> None:
    fake = surrogate(entity, value, KEY_A, tag_key=b"tag")
    assert valid(fake)
    assert fake != value
    assert is_surrogate(entity, fake, b"tag")


def test_surrogates_keep_the_written_form_and_are_stable_per_dataset() -> None:
    fake = surrogate("CN_MOBILE", "+86 138-1234-5678", KEY_A)
    assert re.fullmatch(r"\+86 1[3-9]\d-\d{4}-\d{4}", fake)
    assert surrogate("CN_MOBILE", "13812345678", KEY_A) == surrogate("CN_MOBILE", "13812345678", KEY_A)
    assert surrogate("CN_RESIDENT_ID", RID, KEY_A) != surrogate("CN_RESIDENT_ID", RID, KEY_B)
    grouped = surrogate("CN_BANK_CARD", "6222 0212 3456 7890", KEY_A)
    assert re.fullmatch(r"62\d\d \d{4} \d{4} \d{4}", grouped)


def test_surrogate_operator_is_consistent_inside_a_structure() -> None:
    content = {
        "messages": [
            {"role": "user", "content": f"我的身份证{RID}"},
            {"role": "assistant", "content": f"已核实身份证{RID}。"},
        ]
    }
    masked, result = get_pii_engine().mask_content(content, operators={"CN_RESIDENT_ID": "surrogate"}, hmac_key=KEY_A)
    first = re.search(r"\d{17}[\dX]", masked["messages"][0]["content"])
    second = re.search(r"\d{17}[\dX]", masked["messages"][1]["content"])
    assert first and second and first.group() == second.group() != RID
    assert is_valid_resident_id(first.group())
    assert result.counts == {"CN_RESIDENT_ID": 2}
    assert residual_pii(text=masked["messages"][0]["content"]) == []  # our fakes are not residual PII


def test_encrypt_operator_round_trips_only_with_the_key() -> None:
    key = bytes(range(32))
    result = get_pii_engine().mask(
        "手机13812345678", operators={"CN_MOBILE": "encrypt"}, hmac_key=KEY_A, encryption_key=key
    )
    token = TOKEN.search(result.masked_text)
    assert token is not None and "13812345678" not in result.masked_text
    assert decrypt_token(token.group(), key) == ("CN_MOBILE", "13812345678")
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypt_token(token.group(), bytes(32))


def test_encrypt_without_a_key_fails_closed() -> None:
    from compliance.errors import PiiDetectionError

    with pytest.raises(PiiDetectionError, match="needs an encryption key"):
        get_pii_engine().mask("手机13812345678", operators={"CN_MOBILE": "encrypt"}, hmac_key=KEY_A)


@pytest.mark.django_db
def test_pii_reveal_needs_the_permission_and_is_audited(people: dict[str, Any]) -> None:
    from compliance.crypto import pii_encryption_key

    token = encrypt_value("CN_RESIDENT_ID", RID, pii_encryption_key())
    admin = people["policy_admin"]
    with pytest.raises(PermissionDenied):
        pii_reveal(actor=admin, token=token, reason="customer complaint #12")
    refused = AuditEvent.objects.filter(action="pii.reveal_refused").get()
    assert RID not in str(refused.payload) and refused.payload["token_sha256"]

    admin.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    admin = type(admin).objects.get(pk=admin.pk)  # drop the permission cache
    with pytest.raises(ValidationError, match="reason"):
        pii_reveal(actor=admin, token=token, reason=" ")
    assert (
        pii_reveal(actor=admin, token=token, reason="customer complaint #12", object_type="record", object_id="7")
        == RID
    )
    event = AuditEvent.objects.filter(action="pii.reveal").get()
    assert event.payload["entity_type"] == "CN_RESIDENT_ID" and event.payload["object_id"] == "7"
    assert RID not in str(event.payload)


@pytest.mark.django_db
def test_class_actions_drop_c3_and_mask_c2(policy_version: Any) -> None:
    held = screen_content(
        content="我的支付密码是884321，卡号" + CARD, policy_version=policy_version, pseudonym_scope="t"
    )
    assert not held.accepted
    assert "C3" in held.reason and "AUTH_SECRET" in held.reason
    assert "884321" not in str(held.masked_content)

    lenient = policy_version_create(
        policy=policy_version.policy, actor=None, class_actions={"C3": "mask", "C2": "mask", "C1": "mask"}
    )
    passed = screen_content(content="我的支付密码是884321", policy_version=lenient, pseudonym_scope="t")
    assert passed.accepted and "884321" not in passed.masked_content
