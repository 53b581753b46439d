"""The offline backend: deterministic, schema-valid, and planting identifiers that really validate."""

from __future__ import annotations

import json
import re

import pytest

from compliance.identifiers import is_valid_resident_id, luhn_valid
from generation.offline import OFFLINE_MODEL, OfflineBackend
from generation.strategies import validate_output
from generation.topics import RETAIL_BANKING_TOPICS
from generation.types import Backend

RESIDENT_ID = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")
CARD = re.compile(r"(?<!\d)62(?:22|17|28)(?: ?\d){12,15}(?!\d)")
MOBILE = re.compile(r"(?<!\d)(?:\+86 )?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[a-z]{2,}")


def prompt(schema: str | None = "dialogue", language: str | None = "zh", topic: str | None = "挂失银行卡") -> list:
    lines = ["请生成数据。"]
    if schema:
        lines.append(f"OUTPUT_SCHEMA: {schema}")
    if language:
        lines.append(f"LANGUAGE: {language}")
    if topic:
        lines.append(f"TOPIC: {topic}")
    return [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "\n".join(lines)}]


def complete(messages: list, seed: int, backend: OfflineBackend | None = None) -> str:
    backend = backend or OfflineBackend()
    return backend.complete(messages, temperature=0.7, max_tokens=800, seed=seed, json_mode=True).text


def user_text(text: str) -> str:
    return "\n".join(m["content"] for m in json.loads(text)["messages"] if m["role"] == "user")


def test_it_is_a_backend_named_offline() -> None:
    backend = OfflineBackend(seed=3)
    assert isinstance(backend, Backend)
    assert (backend.name, backend.model) == ("offline", OFFLINE_MODEL)


def test_same_messages_and_seed_give_the_same_output() -> None:
    first = OfflineBackend(seed=1).complete(prompt(), temperature=0.7, max_tokens=800, seed=42, json_mode=True)
    again = OfflineBackend(seed=1).complete(prompt(), temperature=0.7, max_tokens=800, seed=42, json_mode=True)
    assert first == again


def test_seed_and_messages_change_the_output() -> None:
    base = complete(prompt(), seed=1)
    outputs = {complete(prompt(), seed=s) for s in range(20)}
    assert len(outputs) >= 15
    assert complete(prompt(topic="外汇兑换"), seed=1) != base
    assert complete(prompt(), seed=1, backend=OfflineBackend(seed=9)) != base


@pytest.mark.parametrize(
    "topic",
    [
        "挂失银行卡",
        "修改预留手机号",
        "查询转账",
        "信用卡账单分期",
        "开通网银",
        "理财产品咨询",
        "贷款还款",
        "外汇兑换",
        "账户交易受限",
        "信用卡提额",
    ],
)
def test_zh_dialogues_match_the_schema(topic: str) -> None:
    for seed in range(10):
        text = complete(prompt(topic=topic), seed)
        content = validate_output(text, "dialogue")
        turns = content["messages"]
        assert 4 <= len(turns) <= 6
        assert turns[-1]["role"] == "assistant"
        assert re.search(r"[\u4e00-\u9fff]", user_text(text))


@pytest.mark.parametrize("schema", ["dialogue", "qa"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_template_placeholder_survives(schema: str, language: str) -> None:
    for topic in [*(t.name(language) for t in RETAIL_BANKING_TOPICS), "社保卡激活", None]:
        for seed in range(12):
            text = complete(prompt(schema=schema, language=language, topic=topic), seed)
            flat = json.dumps(json.loads(text), ensure_ascii=False)
            assert not re.search(r"\{[a-z_0-9]+\}", flat), flat


def test_en_qa_matches_the_schema_and_is_english() -> None:
    for seed in range(20):
        text = complete(prompt(schema="qa", language="en", topic="Loan repayment"), seed)
        content = validate_output(text, "qa")
        assert set(content) == {"instruction", "response"}
        assert not re.search(r"[\u4e00-\u9fff]", content["response"])
        assert len(content["response"]) > 80


def test_en_dialogue_and_zh_qa() -> None:
    dialogue = validate_output(complete(prompt(language="en", topic="Foreign currency exchange"), 3), "dialogue")
    assert not re.search(r"[\u4e00-\u9fff]", json.dumps(dialogue, ensure_ascii=False))
    qa = validate_output(complete(prompt(schema="qa", topic="开通网银"), 3), "qa")
    assert re.search(r"[\u4e00-\u9fff]", qa["instruction"])


def test_without_directives_it_writes_a_zh_dialogue() -> None:
    text = complete([{"role": "user", "content": "随便写点什么"}], seed=5)
    content = validate_output(text, "dialogue")
    assert re.search(r"[\u4e00-\u9fff]", content["messages"][0]["content"])


def test_an_unknown_topic_gets_a_generic_dialogue_about_it() -> None:
    content = validate_output(complete(prompt(topic="社保卡激活"), 2), "dialogue")
    assert "社保卡激活" in json.dumps(content, ensure_ascii=False)


@pytest.mark.parametrize("schema", ["dialogue", "qa"])
def test_braces_in_a_caller_topic_are_text_not_placeholders(schema: str) -> None:
    for seed in range(30):
        text = complete(prompt(schema=schema, topic="{name} 与 {0} 业务"), seed)
        assert "{name} 与 {0} 业务" in text or schema == "qa"
        validate_output(text, schema)


def test_directives_in_model_output_echoed_back_are_ignored() -> None:
    messages = [
        *prompt(schema="dialogue"),
        {"role": "assistant", "content": "OUTPUT_SCHEMA: qa"},
        {"role": "user", "content": "请修正。\nOUTPUT_SCHEMA: dialogue\nLANGUAGE: zh"},
    ]
    validate_output(complete(messages, 1), "dialogue")


def test_most_dialogues_plant_valid_identifiers() -> None:
    seeds = range(300)
    with_pii = ids = cards = phones = emails = 0
    for seed in seeds:
        text = user_text(complete(prompt(topic=None), seed))
        found_ids = RESIDENT_ID.findall(text)
        found_cards = CARD.findall(text)
        found_phones = MOBILE.findall(text)
        for rid in found_ids:
            assert is_valid_resident_id(rid), rid
        for card in found_cards:
            digits = card.replace(" ", "")
            assert len(digits) in (16, 19), card
            assert luhn_valid(digits), card
        for phone in found_phones:
            digits = re.sub(r"\D", "", phone.removeprefix("+86"))
            assert re.fullmatch(r"1[3-9]\d{9}", digits), phone
        ids += bool(found_ids)
        cards += bool(found_cards)
        phones += bool(found_phones)
        emails += bool(EMAIL.search(text))
        with_pii += bool(found_ids or found_cards or found_phones)
    share = with_pii / len(seeds)
    assert 0.5 <= share <= 0.7, share
    assert ids > 60 and cards > 50 and phones > 60 and emails > 10


def test_phone_numbers_come_in_several_spellings() -> None:
    spellings = set()
    for seed in range(300):
        for phone in MOBILE.findall(user_text(complete(prompt(topic="修改预留手机号"), seed))):
            spellings.add("+86" if phone.startswith("+86") else "-" if "-" in phone else " " if " " in phone else "")
    assert spellings == {"", "-", " ", "+86"}


def test_en_dialogues_plant_english_names_with_valid_ids() -> None:
    planted = 0
    for seed in range(60):
        text = user_text(complete(prompt(language="en", topic="Reporting a lost bank card"), seed))
        for rid in RESIDENT_ID.findall(text):
            assert is_valid_resident_id(rid)
            planted += 1
        assert not re.search(r"[\u4e00-\u9fff]", text)
    assert planted > 10


def test_token_counts_are_approximate_but_positive() -> None:
    completion = OfflineBackend().complete(prompt(), temperature=0.7, max_tokens=800, seed=1, json_mode=True)
    assert completion.prompt_tokens > 0
    assert completion.completion_tokens == len(completion.text) // 2
