"""The offline backend's answers for the multi-step and knowledge-tree steps, and for maths records.

Deterministic given the caller's ``random.Random``: subcategory and item lists, Condor questions,
answers, critiques and rewrites, and maths problems whose worked solution and final answer are
computed exactly (so the maths schema and answer format are exercised end to end without a model).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

from faker import Faker

STEP_SCHEMAS = ("subcategories", "items", "question", "answer", "critique", "math")

_KNOWN_SUBCATEGORIES = {
    "家电维修": ["冰箱", "空调", "洗衣机", "热水器"],
    "appliance repair": ["Refrigerators", "Air conditioners", "Washing machines", "Water heaters"],
}
_ZH_ITEM_FRAMES = (
    "{sub}突然不工作了，客户想预约上门维修",
    "{sub}使用中出现异常噪音，客户询问原因",
    "{sub}过了保修期，客户咨询维修费用",
    "客户想了解{sub}的日常保养方法",
    "{sub}维修后问题复现，客户要求二次处理",
    "客户对{sub}的办理流程和所需材料有疑问",
)
_EN_ITEM_FRAMES = (
    "The customer's {sub} stopped working and they want a technician visit",
    "The {sub} makes an unusual noise and the customer asks why",
    "The {sub} is out of warranty and the customer asks about the cost",
    "The customer wants to know how to look after the {sub}",
    "The {sub} problem came back after a repair",
    "The customer is unsure about the procedure and documents for {sub}",
)
_ZH_TASK = {
    "explain": "请解释", "how_to": "应该如何办理", "compare": "有哪些区别", "case_analysis": "在下面的案例中应如何处理",
    "calculate": "需要计算多少",
}
_EN_TASK = {
    "explain": "Explain", "how_to": "How does one handle", "compare": "Compare the options for",
    "case_analysis": "Analyse this case about", "calculate": "Work out the figures for",
}
_QUESTION_LINE = re.compile(r"^(?:问题|Question)\s*[:：]\s*(.+)$", re.MULTILINE)
_TAG_LINE = re.compile(r"^(?:知识标签|Knowledge tag)\s*[:：]\s*(.+)$", re.MULTILINE)
_TASK_LINE = re.compile(r"^(?:任务类型|Task type)\s*[:：]\s*(\S+)", re.MULTILINE)
_DIFFICULTY_LINE = re.compile(r"^(?:难度|Difficulty)\s*[:：]\s*(\S+)", re.MULTILINE)
_KIND_LINE = re.compile(r"^(?:题型|Kind)\s*[:：]\s*(\S+)", re.MULTILINE)
_COUNT = re.compile(r"(\d+) ?(?:个|subcategories|concrete)")
_MATH_NUMBERS = re.compile(r"(\d+) ?(?:元|yuan).*?(\d+(?:\.\d+)?)%.*?(\d+) ?(?:年|years?)", re.DOTALL)


def step_output(schema: str, *, rng: Random, faker: Faker, language: str, topic: str, prompt: str) -> dict[str, Any]:
    """The JSON object a well-behaved model would return for this step."""
    zh = language == "zh"
    if schema == "subcategories":
        count = int(m.group(1)) if (m := _COUNT.search(prompt)) else 4
        for theme, names in _KNOWN_SUBCATEGORIES.items():
            if theme in topic.lower():
                return {"subcategories": names[:count]}
        return {"subcategories": [f"{topic}·{i}" if zh else f"{topic} #{i}" for i in range(1, count + 1)]}
    if schema == "items":
        count = int(m.group(1)) if (m := _COUNT.search(prompt)) else 5
        frames = list(_ZH_ITEM_FRAMES if zh else _EN_ITEM_FRAMES)
        rng.shuffle(frames)
        return {"items": [frame.format(sub=topic) for frame in frames[:count]]}
    if schema == "question":
        return {"question": _question(rng, faker, zh, prompt, topic)}
    if schema == "math":
        question = m.group(1) if (m := _QUESTION_LINE.search(prompt)) else None
        return _math(rng, zh, question)
    if schema == "critique":
        if zh:
            return {"critique": "回答基本正确，但缺少办理时限和所需材料的说明，结论部分可以更明确；建议补充注意事项。"}
        return {"critique": "Mostly correct, but it omits the deadlines and required documents and the conclusion "
                            "could be clearer; add the caveats."}
    # answer (a draft, or a rewrite when the prompt carries a review)
    question = m.group(1) if (m := _QUESTION_LINE.search(prompt)) else topic
    rewrite = "评审意见" in prompt or "Review:" in prompt
    if zh:
        body = (f"关于“{question}”：首先确认适用的业务规定和办理条件；其次准备本人有效身份证件及相关材料，"
                "通过官方渠道（网点、官方App或政务服务平台）提交申请；最后留存回执，按规定时限跟进办理结果。")
        if rewrite:
            body += "注意：办理时限一般为5至10个工作日，所需材料以受理机构公布的清单为准。"
        return {"answer": body}
    body = (f"On “{question}”: first check the applicable rules and eligibility; then prepare valid identity "
            "documents and supporting papers and apply through an official channel (branch, official app or the "
            "government service portal); finally keep the receipt and follow up within the stated time limit.")
    if rewrite:
        body += (" Note: processing usually takes 5 to 10 working days; the accepting office's list of documents "
                 "applies.")
    return {"answer": body}


def _question(rng: Random, faker: Faker, zh: bool, prompt: str, topic: str) -> str:
    tag = m.group(1).strip() if (m := _TAG_LINE.search(prompt)) else topic
    task = m.group(1) if (m := _TASK_LINE.search(prompt)) else "explain"
    difficulty = m.group(1) if (m := _DIFFICULTY_LINE.search(prompt)) else "medium"
    kind = m.group(1) if (m := _KIND_LINE.search(prompt)) else "qa"
    leaf = tag.split(">")[-1].strip()
    if kind == "math":
        return _math_problem(rng, zh)[0]
    city = faker.city()
    if zh:
        level = {"easy": "简要", "medium": "", "hard": "结合具体情形详细"}.get(difficulty, "")
        point = "的要点" if task == "explain" else ""
        return f"{level}{_ZH_TASK.get(task, '请解释')}：在{city}，{leaf}相关业务{point}是什么？"
    level = {"easy": "Briefly", "medium": "", "hard": "In detail,"}.get(difficulty, "")
    return f"{level} {_EN_TASK.get(task, 'Explain')} {leaf.lower()} for a resident of {city}.".strip()


def _math_problem(rng: Random, zh: bool) -> tuple[str, int, Decimal, int]:
    principal = rng.randrange(10, 200) * 1000
    rate = Decimal(rng.choice(("2.25", "2.5", "2.75", "3", "3.25", "3.5", "4")))
    years = rng.randrange(1, 6)
    if zh:
        text = (f"某客户在银行存入 {principal} 元定期存款，年利率为 {rate}%（单利），存期 {years} 年。"
                "到期时本息合计是多少元？")
    else:
        text = (f"A customer deposits {principal} yuan for a fixed term at a simple annual interest rate of {rate}% "
                f"for {years} years. What is the total at maturity?")
    return text, principal, rate, years


def _math(rng: Random, zh: bool, question: str | None) -> dict[str, Any]:
    parsed = _MATH_NUMBERS.search(question) if question else None
    if parsed is not None and question is not None:
        text, principal, rate, years = question, int(parsed.group(1)), Decimal(parsed.group(2)), int(parsed.group(3))
    else:
        text, principal, rate, years = _math_problem(rng, zh)
    interest = (Decimal(principal) * rate / 100 * years).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    total = Decimal(principal) + interest
    if zh:
        steps = [
            f"单利利息 = 本金 × 年利率 × 年数 = {principal} × {rate}% × {years}",
            f"利息 = {interest} 元",
            f"本息合计 = {principal} + {interest} = {total} 元",
        ]
        final = f"{total} 元"
    else:
        steps = [
            f"Simple interest = principal × rate × years = {principal} × {rate}% × {years}",
            f"Interest = {interest} yuan",
            f"Total = {principal} + {interest} = {total} yuan",
        ]
        final = f"{total} yuan"
    return {"problem": text, "steps": steps, "final_answer": final}
