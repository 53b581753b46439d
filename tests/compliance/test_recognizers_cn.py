"""Issue 3 recognizers: every type, validation, CJK-safe boundaries, names in zh/en and mixed text."""

from __future__ import annotations

import pytest

from compliance.identifiers import (
    hk_id_check_char,
    iban_valid,
    is_valid_hk_id,
    is_valid_legacy_resident_id,
    is_valid_uscc,
    luhn_check_digit,
    resident_id_check_char,
    uscc_check_char,
)
from compliance.pii import PiiEngine, get_pii_engine
from compliance.pii_classes import ENTITY_CLASS, PIPL_SENSITIVE, entity_class
from compliance.policy_schema import ENTITY_TYPES

RID_BODY = "44030519851203411"
RID = RID_BODY + resident_id_check_char(RID_BODY)
USCC = "91350100M000100Y4" + uscc_check_char("91350100M000100Y4")
CARD = "6228480402564890" + luhn_check_digit("6228480402564890")  # 17 digits, UnionPay, Luhn-valid
VISA = "411111111111111" + luhn_check_digit("411111111111111")
HKID = f"A123456({hk_id_check_char('A123456')})"
IBAN = "GB82 WEST 1234 5698 7654 32"


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_pii_engine()


def found(engine: PiiEngine, text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in engine.analyze(text)]


def test_check_digit_helpers() -> None:
    assert USCC == "91350100M000100Y43"
    assert is_valid_uscc(USCC) and not is_valid_uscc(USCC[:-1] + "0")
    assert is_valid_hk_id(HKID) and not is_valid_hk_id("A123456(0)")
    assert iban_valid(IBAN) and not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert is_valid_legacy_resident_id("110105491231002") and not is_valid_legacy_resident_id("110105491331002")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"身份证号{RID}。", ("CN_RESIDENT_ID", RID)),
        ("旧身份证110105491231002已作废", ("CN_RESIDENT_ID", "110105491231002")),
        (f"统一社会信用代码{USCC}", ("CN_USCC", USCC)),
        ("手机13812345678联系", ("CN_MOBILE", "13812345678")),
        ("电话138-1234-5678", ("CN_MOBILE", "138-1234-5678")),
        ("致电+86 138 1234 5678即可", ("CN_MOBILE", "+86 138 1234 5678")),
        ("座机010-62345678转人工", ("CN_LANDLINE", "010-62345678")),
        ("电话(0755)83456789", ("CN_LANDLINE", "(0755)83456789")),
        (f"卡号{CARD}的交易", ("CN_BANK_CARD", CARD)),
        (f"信用卡{VISA}被盗刷", ("CREDIT_CARD", VISA)),
        (f"汇款到IBAN {IBAN}", ("IBAN_CODE", IBAN)),
        ("护照E12345678办理", ("CN_PASSPORT", "E12345678")),
        ("回乡证H12345678过关", ("CN_TRAVEL_PERMIT", "H12345678")),
        ("往来港澳通行证C12345678", ("CN_TRAVEL_PERMIT", "C12345678")),
        (f"香港身份证{HKID}开户", ("HK_ID_CARD", HKID)),
        ("车牌京A·12345违章", ("CN_LICENSE_PLATE", "京A·12345")),
        ("新能源车粤BD12345停在车库", ("CN_LICENSE_PLATE", "粤BD12345")),
        ("邮箱zhang.wei@bank.cn联系", ("EMAIL_ADDRESS", "zhang.wei@bank.cn")),
        ("登录IP 10.2.3.4异常", ("IP_ADDRESS", "10.2.3.4")),
        ("支付密码是884321，请勿泄露", ("AUTH_SECRET", "884321")),
        ("寄到北京市海淀区中关村大街27号", ("LOCATION", "北京市海淀区中关村大街27号")),
    ],
)
def test_each_type_is_found_next_to_chinese_characters(engine: PiiEngine, text: str, expected: tuple[str, str]) -> None:
    assert expected in found(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        f"编号{RID[:-1]}{'0' if RID[-1] != '0' else '1'}的申请单",  # wrong GB 11643 check digit
        "订单号202311150001234567已发货",  # 18 digits, not a USCC shape (second char 0), no context
        "快递单号SF123456789012正在派送",
        "发票号码12345678，金额12,345.67元",
        "Case number 120101198702259991 was closed.",  # 18 digits starting with 1: no card issuer
        "日期2023-11-15的报表",
        "版本号3.12.40已发布",
    ],
)
def test_hard_negatives_are_not_reported(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == []


def test_luhn_is_confidence_not_requirement_for_bank_cards(engine: PiiEngine) -> None:
    partial = "622848040256489"
    bad = partial + str((int(luhn_check_digit(partial)) + 1) % 10) + "1"
    assert found(engine, f"卡号{bad}") == [("CN_BANK_CARD", bad)]  # context word lifts a Luhn failure
    assert found(engine, f"参考号{bad}无效") == []  # without context it stays below the threshold


def test_chinese_and_english_names_and_mixed_text(engine: PiiEngine) -> None:
    zh = found(engine, "客户张伟住在上海市浦东新区，在招商银行工作。")
    assert ("PERSON", "张伟") in zh
    assert ("LOCATION", "上海市浦东新区") in zh  # 上海市 alone is dropped, as part of an address it is kept
    assert ("ORGANIZATION", "招商银行") in zh
    en = found(engine, "Customer John Smith moved to Seattle last year.")
    assert ("PERSON", "John Smith") in en and ("LOCATION", "Seattle") in en
    mixed = found(engine, "客户John Smith的手机13812345678")
    assert ("PERSON", "John Smith") in mixed and ("CN_MOBILE", "13812345678") in mixed


def test_country_names_alone_are_not_masked(engine: PiiEngine) -> None:
    assert found(engine, "我们在中国和美国都有业务。") == []


def test_every_entity_type_has_a_finance_class_and_pipl_category() -> None:
    assert set(ENTITY_CLASS) == set(ENTITY_TYPES) == set(PIPL_SENSITIVE)
    assert entity_class("AUTH_SECRET") == "C3"
    assert entity_class("CN_BANK_CARD") == "C2" and entity_class("CN_USCC") == "C1"
    assert entity_class("UNKNOWN") == "C3"  # unknown types get the strictest class
    assert PIPL_SENSITIVE["CN_RESIDENT_ID"] == "specific_identity"
    assert PIPL_SENSITIVE["CN_BANK_CARD"] == "financial_account"
