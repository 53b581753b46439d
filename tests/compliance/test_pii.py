"""PII detection and masking in Chinese and English text (compliance.pii, compliance.recognizers)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from compliance import pii
from compliance.errors import PiiDetectionError
from compliance.identifiers import luhn_check_digit, luhn_valid, resident_id_check_char
from compliance.pii import (
    MASK_OPERATORS,
    PII_ENTITY_TYPES,
    ContentFinding,
    PiiEngine,
    PiiFinding,
    detect_language,
    get_pii_engine,
)
from compliance.policy_schema import ENTITY_TYPES as POLICY_ENTITY_TYPES
from compliance.policy_schema import MASK_OPERATORS as POLICY_MASK_OPERATORS
from compliance.recognizers import SUPPORTED_LANGUAGES, build_recognizers

KEY = b"test-pseudonym-key-0123456789"
from compliance.screening import residual_pii  # noqa: E402

FIVE_TYPES = ("CN_RESIDENT_ID", "CN_MOBILE", "CN_BANK_CARD", "EMAIL_ADDRESS", "IP_ADDRESS")
OTHER_KEY = b"another-key-for-another-dataset"

RID_BODY = "11010519900307123"
RID = RID_BODY + resident_id_check_char(RID_BODY)  # 110105199003071239
CARD = "622202123456789" + luhn_check_digit("622202123456789")  # 16 digits, Luhn-valid
BAD_CARD = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)  # same digits, Luhn-invalid


def expected_pseudonym(entity_type: str, value: str, key: bytes = KEY) -> str:
    digest = hmac.new(key, f"{entity_type}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"<{entity_type}:{digest[:12]}>"


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_pii_engine()


def spans(text: str, findings: list[PiiFinding]) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in findings]


def test_entity_types_and_operators_agree_with_policy_schema() -> None:
    assert PII_ENTITY_TYPES == POLICY_ENTITY_TYPES
    assert MASK_OPERATORS == POLICY_MASK_OPERATORS


def test_every_entity_has_a_recognizer_in_both_languages() -> None:
    recognizers = build_recognizers()
    for lang in SUPPORTED_LANGUAGES:
        entities = {e for r in recognizers if r.supported_language == lang for e in r.supported_entities}
        assert entities == set(PII_ENTITY_TYPES)


def test_engine_is_cached(engine: PiiEngine) -> None:
    assert get_pii_engine() is engine


@pytest.mark.parametrize(
    ("text", "language"),
    [("客户电话13812345678", "zh"), ("call 13812345678", "en"), ("", "en"), ("㐀", "zh")],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


# --- resident ID -------------------------------------------------------------------------------


def test_resident_id_next_to_chinese_characters_is_found(engine: PiiEngine) -> None:
    text = f"客户身份证号{RID}已核验。"
    assert engine.analyze(text) == [PiiFinding("CN_RESIDENT_ID", 6, 24, 1.0)]


def test_resident_id_with_lower_case_x_check_char_is_found(engine: PiiEngine) -> None:
    body = next(
        f"1101051990030712{n}" for n in range(10) if resident_id_check_char(f"1101051990030712{n}") == "X"
    )
    text = f"证件号{body}x。"
    assert spans(text, engine.analyze(text)) == [("CN_RESIDENT_ID", f"{body}x")]


def test_resident_id_with_wrong_check_char_is_not_found(engine: PiiEngine) -> None:
    wrong = next(
        RID_BODY + c for c in "0123456789" if c != RID[-1] and not luhn_valid(RID_BODY + c)
    )  # also not a Luhn-valid card number, so nothing else claims it
    assert engine.analyze(f"客户身份证号{wrong}已核验。") == []


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("redact", "客户身份证号已核验。"),
        ("replace", "客户身份证号<CN_RESIDENT_ID>已核验。"),
        ("mask", "客户身份证号" + "*" * 14 + RID[-4:] + "已核验。"),
        ("hash", "客户身份证号" + expected_pseudonym("CN_RESIDENT_ID", RID) + "已核验。"),
    ],
)
def test_resident_id_masked_with_each_operator(engine: PiiEngine, operator: str, expected: str) -> None:
    result = engine.mask(f"客户身份证号{RID}已核验。", operators={"CN_RESIDENT_ID": operator}, hmac_key=KEY)
    assert result.masked_text == expected
    assert RID not in result.masked_text
    assert result.counts == {"CN_RESIDENT_ID": 1}
    assert result.findings == (PiiFinding("CN_RESIDENT_ID", 6, 24, 1.0),)


def test_id_that_is_also_luhn_valid_is_reported_once_as_resident_id(engine: PiiEngine) -> None:
    rid = next(
        rid
        for rid in (
            f"{RID_BODY[:14]}{seq:03d}" + resident_id_check_char(f"{RID_BODY[:14]}{seq:03d}")
            for seq in range(999)
        )
        if rid[-1] != "X" and luhn_valid(rid)
    )
    text = f"身份证{rid}"
    assert spans(text, engine.analyze(text)) == [("CN_RESIDENT_ID", rid)]


# --- mobile ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("请拨打13812345678联系我。", "13812345678"),
        ("电话：138-1234-5678，谢谢", "138-1234-5678"),
        ("手机+86 138 1234 5678。", "+86 138 1234 5678"),
        ("客户留的是008613812345678吧", "008613812345678"),
    ],
)
def test_mobile_written_several_ways_inside_chinese(engine: PiiEngine, text: str, number: str) -> None:
    assert spans(text, engine.analyze(text)) == [("CN_MOBILE", number)]
    masked = engine.mask(text, operators={"CN_MOBILE": "replace"}, hmac_key=KEY).masked_text
    assert masked == text.replace(number, "<CN_MOBILE>")


@pytest.mark.parametrize("text", ["订单号213812345678901", "编号1381234567", "code A13812345678"])
def test_mobile_not_found_inside_longer_codes(engine: PiiEngine, text: str) -> None:
    assert engine.analyze(text) == []


def test_mobile_mask_keeps_last_four(engine: PiiEngine) -> None:
    result = engine.mask("电话13812345678。", operators={"CN_MOBILE": "mask"}, hmac_key=KEY)
    assert result.masked_text == "电话*******5678。"


# --- bank card ---------------------------------------------------------------------------------


def test_luhn_valid_card_after_kahao_is_found(engine: PiiEngine) -> None:
    text = f"卡号{CARD}，请核对"
    assert engine.analyze(text) == [PiiFinding("CN_BANK_CARD", 2, 18, 1.0)]
    masked = engine.mask(text, operators={"CN_BANK_CARD": "mask"}, hmac_key=KEY).masked_text
    assert masked == "卡号" + "*" * 12 + CARD[-4:] + "，请核对"


def test_luhn_invalid_card_is_found_only_next_to_a_context_word(engine: PiiEngine) -> None:
    assert engine.analyze(f"卡号{BAD_CARD}，请核对") == [PiiFinding("CN_BANK_CARD", 2, 18, 0.65)]
    assert engine.analyze(f"my card number is {BAD_CARD}") == [PiiFinding("CN_BANK_CARD", 18, 34, 0.65)]
    assert engine.analyze(f"流水编号{BAD_CARD}，请核对") == []


def test_grouped_card_is_found(engine: PiiEngine) -> None:
    grouped = " ".join(CARD[i : i + 4] for i in range(0, 16, 4))
    text = f"银行卡 {grouped} 已绑定"
    assert spans(text, engine.analyze(text)) == [("CN_BANK_CARD", grouped)]


def test_grouped_card_followed_by_unrelated_short_number(engine: PiiEngine) -> None:
    grouped = "-".join(CARD[i : i + 4] for i in range(0, 16, 4))
    text = f"卡号{grouped} 12月到期"
    assert spans(text, engine.analyze(text)) == [("CN_BANK_CARD", grouped)]


# --- e-mail and English text -------------------------------------------------------------------


def test_email_inside_chinese_text(engine: PiiEngine) -> None:
    text = "请发到邮箱zhang.san@example.com联系我"
    assert spans(text, engine.analyze(text)) == [("EMAIL_ADDRESS", "zhang.san@example.com")]
    masked = engine.mask(text, operators={"EMAIL_ADDRESS": "replace"}, hmac_key=KEY).masked_text
    assert masked == "请发到邮箱<EMAIL_ADDRESS>联系我"


def test_english_text_with_email_and_mobile(engine: PiiEngine) -> None:
    text = "Contact li.lei@bank-example.cn or +86 139 1234 5678 today."
    assert spans(text, engine.analyze(text)) == [
        ("EMAIL_ADDRESS", "li.lei@bank-example.cn"),
        ("CN_MOBILE", "+86 139 1234 5678"),
    ]
    result = engine.mask(text, operators={"EMAIL_ADDRESS": "redact", "CN_MOBILE": "replace"}, hmac_key=KEY)
    assert result.masked_text == "Contact  or <CN_MOBILE> today."
    assert result.counts == {"EMAIL_ADDRESS": 1, "CN_MOBILE": 1}


def test_ip_address_inside_chinese_text(engine: PiiEngine) -> None:
    text = "登录IP地址192.168.10.25。"
    assert spans(text, engine.analyze(text)) == [("IP_ADDRESS", "192.168.10.25")]


# --- operators ---------------------------------------------------------------------------------


def test_hash_pseudonyms_are_stable_and_keyed(engine: PiiEngine) -> None:
    def masked(text: str, key: bytes = KEY) -> str:
        return engine.mask(text, operators={"CN_MOBILE": "hash"}, hmac_key=key).masked_text

    first = masked("电话13812345678")
    assert first == "电话" + expected_pseudonym("CN_MOBILE", "13812345678")
    assert masked("电话13812345678") == first
    assert masked("Call 13812345678") == "Call " + expected_pseudonym("CN_MOBILE", "13812345678")
    # One number written two ways is one person: the pseudonym uses the digits only.
    assert masked("电话+86 138-1234-5678") == first
    assert masked("电话13912345678") != first
    assert masked("电话13812345678", OTHER_KEY) == "电话" + expected_pseudonym(
        "CN_MOBILE", "13812345678", OTHER_KEY
    )
    assert masked("电话13812345678", OTHER_KEY) != first


def test_entity_type_without_operator_is_replaced(engine: PiiEngine) -> None:
    result = engine.mask("邮箱a.b@corp.cn，电话13812345678", operators={"CN_MOBILE": "mask"}, hmac_key=KEY)
    assert result.masked_text == "邮箱<EMAIL_ADDRESS>，电话*******5678"


def test_adjacent_numbers_are_two_entities(engine: PiiEngine) -> None:
    result = engine.mask("13812345678 13912345678", operators={}, hmac_key=KEY)
    assert result.masked_text == "<CN_MOBILE> <CN_MOBILE>"
    assert result.counts == {"CN_MOBILE": 2}


@pytest.mark.parametrize("operator", MASK_OPERATORS)
def test_masked_text_holds_no_detectable_pii(engine: PiiEngine, operator: str) -> None:
    text = f"身份证{RID}，手机138 1234 5678，卡号{CARD}，邮箱wang@bank.cn，IP 10.0.0.8"
    result = engine.mask(
        text, operators=dict.fromkeys(PII_ENTITY_TYPES, operator), hmac_key=KEY, encryption_key=bytes(32)
    )
    assert result.counts == dict.fromkeys(FIVE_TYPES, 1)
    if operator == "surrogate":
        # Surrogates are valid values by design; the residual scan recognises them by their keyed tag.
        assert residual_pii(text=result.masked_text) == []
    else:
        assert engine.analyze(result.masked_text) == []
    for raw in (RID, "138 1234 5678", CARD, "wang@bank.cn", "10.0.0.8"):
        assert raw not in result.masked_text


def test_text_without_pii_is_unchanged(engine: PiiEngine) -> None:
    text = "您好，我想查询账户余额和上个月的转账记录。"
    result = engine.mask(text, operators={}, hmac_key=KEY)
    assert (result.masked_text, result.findings, result.counts) == (text, (), {})


# --- structured content ------------------------------------------------------------------------


def test_mask_content_masks_nested_strings_and_counts_per_type(engine: PiiEngine) -> None:
    content = {
        "messages": [
            {"role": "user", "content": f"我的手机是13812345678，身份证{RID}。"},
            {"role": "assistant", "content": "已收到，确认邮件会发到li@bank.cn，备用手机13912345678。"},
        ],
        "meta": {"tags": ["账户查询"], "turns": 2, "callback": 13700001111, "ok": True, "note": None},
    }
    masked, summary = engine.mask_content(
        content, operators={"CN_MOBILE": "mask", "CN_RESIDENT_ID": "hash"}, hmac_key=KEY
    )
    assert masked == {
        "messages": [
            {
                "role": "user",
                "content": f"我的手机是*******5678，身份证{expected_pseudonym('CN_RESIDENT_ID', RID)}。",
            },
            {"role": "assistant", "content": "已收到，确认邮件会发到<EMAIL_ADDRESS>，备用手机*******5678。"},
        ],
        "meta": {"tags": ["账户查询"], "turns": 2, "callback": "*******1111", "ok": True, "note": None},
    }
    assert summary.counts == {"CN_MOBILE": 3, "CN_RESIDENT_ID": 1, "EMAIL_ADDRESS": 1}
    assert summary.findings[0] == ContentFinding("CN_MOBILE", 5, 16, 1.0, ("messages", 0, "content"))
    assert [f.path for f in summary.findings] == [
        ("messages", 0, "content"),
        ("messages", 0, "content"),
        ("messages", 1, "content"),
        ("messages", 1, "content"),
        ("meta", "callback"),
    ]
    dumped = json.dumps(masked, ensure_ascii=False)
    for raw in ("13812345678", RID, "li@bank.cn", "13912345678", "13700001111"):
        assert raw not in dumped
    assert content["messages"][0]["content"].startswith("我的手机是13812345678")  # input untouched


def test_mask_content_on_a_plain_string(engine: PiiEngine) -> None:
    masked, summary = engine.mask_content("电话13812345678", operators={}, hmac_key=KEY)
    assert masked == "电话<CN_MOBILE>"
    assert summary.counts == {"CN_MOBILE": 1}
    assert summary.findings == (ContentFinding("CN_MOBILE", 2, 13, 1.0, ()),)


# --- failing closed ----------------------------------------------------------------------------


def test_analyzer_failure_raises_pii_detection_error(
    engine: PiiEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError(f"cannot tokenise {kwargs['text']}")

    monkeypatch.setattr(engine._analyzer, "analyze", broken)
    with pytest.raises(PiiDetectionError, match=r"PII analysis failed \(RuntimeError\)") as info:
        engine.mask("电话13812345678", operators={}, hmac_key=KEY)
    assert "13812345678" not in str(info.value)  # reasons are stored: never quote the text
    with pytest.raises(PiiDetectionError):
        engine.mask_content({"messages": [{"content": "电话13812345678"}]}, operators={}, hmac_key=KEY)


def test_anonymizer_failure_raises_pii_detection_error(
    engine: PiiEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(engine._anonymizer, "anonymize", broken)
    with pytest.raises(PiiDetectionError, match="PII masking failed"):
        engine.mask("电话13812345678", operators={}, hmac_key=KEY)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"operators": {"CN_MOBILE": "scramble"}, "hmac_key": KEY},
            "unknown masking operators: CN_MOBILE='scramble'",
        ),
        ({"operators": {}, "hmac_key": b""}, "hmac_key must be non-empty bytes"),
        ({"operators": {}, "hmac_key": "text-key"}, "hmac_key must be non-empty bytes"),
    ],
)
def test_bad_mask_arguments_raise(engine: PiiEngine, kwargs: dict, message: str) -> None:
    with pytest.raises(PiiDetectionError, match=message):
        engine.mask("电话13812345678", **kwargs)


def test_unsupported_values_raise_rather_than_pass_unchecked(engine: PiiEngine) -> None:
    with pytest.raises(PiiDetectionError, match="cannot check a value of type bytes at messages/0"):
        engine.mask_content({"messages": [b"13812345678"]}, operators={}, hmac_key=KEY)
    with pytest.raises(PiiDetectionError, match="expects text"):
        engine.analyze(13812345678)  # type: ignore[arg-type]
    with pytest.raises(PiiDetectionError, match="unsupported language 'fr'"):
        engine.analyze("bonjour", language="fr")


def test_engine_build_failure_raises_pii_detection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("no model")

    get_pii_engine.cache_clear()
    monkeypatch.setattr(pii, "PiiEngine", broken)
    try:
        with pytest.raises(PiiDetectionError, match="PII engine could not be built"):
            get_pii_engine()
    finally:
        monkeypatch.undo()
        get_pii_engine.cache_clear()
