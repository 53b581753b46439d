from __future__ import annotations

import sympy

from compliance.quality.maths import check_item, evaluate, final_answer, math_gate
from compliance.quality.types import QualityItem


def reasons(response: str, answer: str = "", kind: str = "math") -> list[str]:
    return [p.reason for p in check_item(QualityItem("m", "题目", response, kind, "", answer))[1]]


def test_exact_evaluation_with_percent_and_unicode_operators() -> None:
    assert evaluate("150 × 20%") == 30
    assert evaluate("(3+4)×2") == 14
    assert evaluate("10 ÷ 4") == sympy.Rational(5, 2)
    assert evaluate("hello") is None


def test_correct_solution_passes() -> None:
    assert reasons("3 × 4 = 12，12 + 5 = 17。答案是17。") == []
    assert reasons("First 7 * 3 = 21. Then 21 + 22 = 43. The answer is 43.") == []
    assert reasons("10 ÷ 3 ≈ 3.33，答案是3.33") == []


def test_wrong_step_is_flagged_with_the_right_value() -> None:
    assert reasons("3 × 4 = 12，12 + 5 = 18。答案是18。") == ["wrong arithmetic step: should be 17"]


def test_percentage_and_unit_slips() -> None:
    assert reasons("150 × 20% = 3000，答案是3000") == ["percentage slip: off by a factor of 100 (should be 30)"]
    assert reasons("2.5 km = 250 m. The answer is 250") == ["unit conversion slip: 2.5 km is 2500 m"]


def test_final_answer_checked_against_steps_and_reference() -> None:
    assert reasons("3 × 4 = 12。答案是13。") == ["final answer 13 matches no computed step (last step gives 12)"]
    assert reasons("3 × 4 = 12。答案是12。", answer="15") == ["wrong final answer: reference is 15"]
    assert reasons("没有写出答案的解答") == ["no final answer found"]
    assert final_answer("… #### 1,200") == "1200"


def test_non_maths_records_only_have_their_steps_checked() -> None:
    assert reasons("利息 = 100000 × 2% × 3 = 6000元", kind="qa") == []
    assert reasons("利息 = 100000 × 2% × 3 = 600元", kind="qa") == ["wrong arithmetic step: should be 6000"]


def test_gate_metric_counts_records_checked() -> None:
    items = [QualityItem("a", "q", "2 + 2 = 5。答案是5", "math"), QualityItem("b", "q", "2 + 2 = 4。答案是4", "math"),
             QualityItem("c", "q", "没有算式", "qa")]
    outcome = math_gate(items, max_rate=0.02)
    assert set(outcome.flags) == {"a"}
    assert outcome.metric == 0.5 and outcome.passed is False
    assert outcome.metrics == {"records_checked": 2, "steps_checked": 4}
