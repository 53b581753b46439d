from __future__ import annotations

import json

import pytest

from compliance.quality.consistency import consistency_gate, contradictions, extract_facts
from compliance.quality.runner import SuiteContext, run_quality_suite
from compliance.quality.types import QualityGateError, QualityItem
from generation.types import Completion


def item(response: str, instruction: str = "", kind: str = "qa", item_id: str = "r1") -> QualityItem:
    return QualityItem(item_id, instruction, response, kind)


def test_chinese_battery_life_contradiction_is_flagged_with_both_phrases() -> None:
    found = contradictions(item("这款耳机续航20小时，充电很快。不过实际使用中续航只有5小时。"))
    assert len(found) == 1
    reason, evidence = found[0]
    assert reason.startswith("response contradicts itself about") and "续航" in reason
    assert "续航20小时" in evidence and "续航只有5小时" in evidence


def test_english_fee_contradiction_is_flagged() -> None:
    found = contradictions(item("The fee is 2% of the amount. You will be charged at 3% for each transfer."))
    assert [r for r, _ in found] == ["response contradicts itself about 'fee'"]


def test_same_value_repeated_and_legitimate_changes_are_not_flagged() -> None:
    assert contradictions(item("这款耳机续航20小时。实际使用中续航也有20小时。")) == []
    assert contradictions(item("The fee is 2% of the amount. Overall you will be charged at 2%.")) == []
    assert contradictions(item("A卡年费200元，B卡年费500元。")) == []  # different products
    assert contradictions(item("年利率为3.5%，月利率约0.29%。")) == []  # different periods
    assert contradictions(item("原价200元，使用优惠券后价格为150元。")) == []  # a stated change


def test_units_are_converted_before_comparing() -> None:
    assert contradictions(item("这款耳机续航48小时。总之续航2天，足够出差使用。")) == []
    assert len(contradictions(item("这款耳机续航48小时。总之续航3天，足够出差使用。"))) == 1


def test_response_contradicting_the_instruction() -> None:
    found = contradictions(item("您好，您当前额度为3万元。", instruction="我的信用额度是5万元，想提高。"))
    assert found and found[0][0].startswith("response contradicts the instruction")
    assert "5万元" in found[0][1] and "3万元" in found[0][1]


def test_fact_values_are_in_base_units() -> None:
    facts = extract_facts("额度为5万元", where="response")
    assert [(f.key, f.value, f.dimension) for f in facts] == [("额度", 50000.0, "money")]


def test_gate_rate_threshold_and_drop() -> None:
    items = [item("续航20小时。续航只有5小时。", item_id="bad"), item("续航20小时。", item_id="ok1"),
             item("The fee is 2%.", item_id="ok2"), item("数学题 3+4=7", kind="math", item_id="m")]
    outcome = consistency_gate(items, max_rate=0.2)
    assert outcome.drop is True
    assert set(outcome.flags) == {"bad"}
    assert outcome.metric == pytest.approx(1 / 3)  # maths records are left to the maths gate
    assert outcome.passed is False
    assert consistency_gate(items, max_rate=0.4).passed is True


class JudgeBackend:
    name, model = "fake", "judge"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls = 0

    def complete(self, messages, **_):
        self.calls += 1
        return Completion(text=self.answer, model=self.model, prompt_tokens=1, completion_tokens=1)


def test_llm_judge_flags_what_rules_miss_and_fails_closed_on_bad_answers() -> None:
    judge = JudgeBackend(json.dumps({"contradiction": True, "evidence": "说法前后不一"}))
    outcome = consistency_gate([item("客服说可以办理。后来又说不能办理。")], max_rate=0.0, judge=judge)
    assert judge.calls == 1
    assert outcome.flags["r1"][0].reason == "LLM judge found a contradiction"
    assert outcome.metrics["judged_by_llm"] == 1
    with pytest.raises(QualityGateError, match="judge"):
        consistency_gate([item("一切正常。")], max_rate=0.0, judge=JudgeBackend("not json"))
    report = run_quality_suite([item("一切正常。")], context=SuiteContext(judge=JudgeBackend("{}"), gates=["consistency"]))  # noqa: E501
    gate = report.outcome("consistency")
    assert gate is not None and gate.passed is False and "gate error" in gate.detail
