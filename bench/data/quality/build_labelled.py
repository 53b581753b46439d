"""Build the labelled sets for bench/quality_labelled.py (deterministic; run to regenerate the JSONL files).

consistency_labelled.jsonl: records with a planted contradiction ("label": "contradiction") and their
clean twins ("label": "clean"): the same text with the value repeated, or with a legitimate change
of value (a discount, a different product, a different period), which must not be flagged.
math_labelled.jsonl: worked solutions, correct ("label": "correct") and with one planted error
("label": "error": a wrong step, a wrong final answer, a percentage slip or a unit slip).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
rng = random.Random(20261124)

# (instruction, first mention, second mention, legit-different second mention); {a} first value, {b} second.
ZH = [
    ("这款蓝牙耳机的续航怎么样？", "这款耳机续航{a}小时，充电也很快。", "不过实际使用中续航只有{b}小时。",
     "开启降噪后续航降到{b}小时。"),
    ("信用卡年费多少？", "这张卡的年费是{a}元。", "办卡后年费为{b}元，请按时缴纳。", "白金卡年费为{b}元，普通卡不同。"),
    ("跨行转账手续费怎么算？", "跨行转账手续费为{a}%。", "每次转账我们收取{b}%的费用。", "使用优惠券后手续费为{b}%。"),
    ("定期存款利率是多少？", "三年期定期存款年利率为{a}%。", "您存三年，年利率是{b}%。", "一年期年利率为{b}%。"),
    ("退款多久到账？", "退款到账时间为{a}个工作日。", "一般情况下退款{b}个工作日到账。", "如果使用信用卡，退款{b}个工作日到账。"),  # noqa: E501
    ("这台笔记本多重？", "这台笔记本重量为{a}公斤。", "整机重量约{b}公斤，方便携带。", "加上电源适配器后重量增加到{b}公斤。"),  # noqa: E501
    ("贷款期限可以多长？", "个人消费贷款期限最长可以选，本产品期限为{a}个月。", "这笔贷款期限{b}个月，按月还款。",
     "另一款产品期限为{b}个月。"),
    ("快递几天能到？", "这件商品配送时间为{a}天。", "下单后配送需要{b}天。", "偏远地区配送需要{b}天。"),
    ("手机电池容量多大？", "这款手机电池容量为{a}mAh。", "它的电池容量达到{b}mAh。", "上一代电池容量为{b}mAh。"),
    ("信用额度有多少？", "您的信用额度为{a}万元。", "目前您的额度是{b}万元。", "临时额度调整后为{b}万元。"),
    ("会员费多少钱？", "会员费每年{a}元。", "会员费为{a}元每年，开通后会员费为{b}元。", "学生会员费为{b}元。"),
    ("这个理财产品收益率多少？", "该产品预期年化收益率为{a}%。", "这款产品年化收益率达到{b}%。", "去年年化收益率为{b}%。"),  # noqa: E501
    ("ATM取现手续费？", "境内ATM取现手续费为{a}元。", "在ATM取现，我们收取{b}元。", "境外ATM取现手续费为{b}元。"),
    ("汽车油耗多少？", "这款车百公里油耗{a}升。", "实际测试中百公里油耗为{b}升。", "高速工况下百公里油耗降到{b}升。"),
    ("保修期多久？", "整机保修期为{a}年。", "购买后保修期是{b}年。", "电池保修期为{b}年。"),
]
EN = [
    ("What is the transfer fee?", "The fee is {a}% of the amount.", "You will be charged at {b}% for each transfer.",
     "With a promotional code the fee drops to {b}%."),
    ("How long does the battery last?", "The battery lasts {a} hours on a full charge.",
     "In practice the battery life is only {b} hours.", "With noise cancelling on, it is reduced to {b} hours."),
    ("What is the annual fee?", "The annual fee is {a} dollars.", "You pay an annual fee of {b} dollars.",
     "The premium card's annual fee is {b} dollars instead."),
    ("How long do refunds take?", "Refunds are processed in {a} business days.",
     "Your refund will be processed within {b} business days.", "If you paid by cheque, it takes {b} business days."),
    ("What is the interest rate?", "The interest rate on this account is {a}%.", "This account earns interest at {b}%.",
     "Last year the interest rate was {b}%."),
    ("How heavy is the laptop?", "The laptop weighs {a} kg.", "At {b} kg, the laptop weighs little.",
     "With the dock attached it weighs {b} kg."),
    ("What is the loan term?", "The loan term is {a} months.", "You repay over a term of {b} months.",
     "Another product has a term of {b} months."),
    ("What is my credit limit?", "Your credit limit is {a} dollars.", "The limit on your card is {b} dollars.",
     "After the review it was raised to {b} dollars."),
    ("How long is delivery?", "Delivery takes {a} days.", "Standard shipping is {b} days.",
     "Express delivery is {b} days for an extra charge."),
    ("What is the ATM withdrawal charge?", "The ATM withdrawal fee is {a} dollars.",
     "Each ATM withdrawal costs {b} dollars.", "Abroad, each withdrawal costs {b} dollars."),
]
FILLER_ZH = ["如有其他问题请随时联系我们。", "感谢您的咨询。", "祝您生活愉快！", ""]
FILLER_EN = ["Let us know if you have other questions.", "Thanks for asking.", "Have a nice day!", ""]


def _values() -> tuple[str, str]:
    a = rng.choice([2, 3, 5, 6, 8, 10, 12, 15, 20, 24, 30, 36, 50, 100, 200, 300, 500])
    b = rng.choice([v for v in (1, 4, 7, 9, 11, 14, 18, 25, 40, 60, 120, 250, 400) if v != a])
    return str(a), str(b)


def consistency_rows() -> list[dict]:
    rows = []
    n = 0
    for lang, templates, filler in (("zh", ZH, FILLER_ZH), ("en", EN, FILLER_EN)):
        for instruction, first, second, legit in templates:
            for variant in range(5 if lang == "zh" else 6):
                a, b = _values()
                sep = "" if lang == "zh" else " "
                pad = rng.choice(filler)
                contradiction = sep.join(x for x in (first.format(a=a, b=b), pad, second.format(a=a, b=b)) if x)
                if second.format(a=a, b=b) == second.format(a=a, b=a):
                    continue
                twin_second = second.format(a=a, b=a) if variant % 2 == 0 else legit.format(a=a, b=b)
                clean = sep.join(x for x in (first.format(a=a, b=b), pad, twin_second) if x)
                rows.append({"id": f"c{n}", "instruction": instruction, "response": contradiction, "kind": "qa",
                             "language": lang, "label": "contradiction"})
                rows.append({"id": f"c{n}-twin", "instruction": instruction, "response": clean, "kind": "qa",
                             "language": lang, "label": "clean"})
                n += 1
    # Response contradicting the instruction.
    cross = [("我的信用额度是{a}万元，能提高吗？", "您好，您当前额度为{b}万元，可以申请提高。"),
             ("I was charged a fee of {a} dollars for the transfer, why?", "The transfer fee is {b} dollars for every transfer."),  # noqa: E501 - test data
             ("我的贷款期限是{a}个月，每月还多少？", "您的贷款期限为{b}个月，每月还款金额请在App查看。")]
    for instruction, response in cross:
        for _ in range(8):
            a, b = _values()
            rows.append({"id": f"x{n}", "instruction": instruction.format(a=a), "response": response.format(b=b),
                         "kind": "qa", "label": "contradiction"})
            rows.append({"id": f"x{n}-twin", "instruction": instruction.format(a=a), "response": response.format(b=a),
                         "kind": "qa", "label": "clean"})
            n += 1
    return rows


def math_rows() -> list[dict]:
    rows = []
    for n in range(150):
        shape = n % 5
        x, y, z = rng.randint(3, 99), rng.randint(2, 60), rng.randint(2, 12)
        if shape == 0:
            q = f"小明有{x}个苹果，又买了{y}个，每个{z}元，新买的苹果共花多少钱？"
            steps = [(f"{y} × {z}", y * z)]
            text = "新买的苹果花费：{0} = {1}元。答案是{1}。"
        elif shape == 1:
            q = f"A shop sells {x} pens a day for {z} days and then {y} more. How many pens in total?"
            steps = [(f"{x} * {z}", x * z), (f"{x * z} + {y}", x * z + y)]
            text = "First {0} = {1}. Then {2} = {3}. The answer is {3}."
        elif shape == 2:
            price = rng.choice([80, 120, 150, 200, 250, 360, 400, 500])
            pct = rng.choice([5, 10, 15, 20, 25, 30, 40])
            q = f"一件商品原价{price}元，打折优惠{pct}%，优惠了多少元？"
            steps = [(f"{price} × {pct}%", price * pct // 100 if price * pct % 100 == 0 else price * pct / 100)]
            text = "优惠金额：{0} = {1}元。答案是{1}。"
        elif shape == 3:
            km = rng.choice([1.5, 2, 2.5, 3, 4.2, 5, 7.5])
            q = f"A runner runs {km} km each day for {z} days. How many metres in total?"
            total_km = km * z
            steps = [(f"{km} × {z}", total_km)]
            text = "Total distance {0} = {1} km, and " + f"{_fmt(total_km)} km = {_fmt(total_km * 1000)} m." \
                + f" The answer is {_fmt(total_km * 1000)}."
        else:
            q = f"计算({x} + {y}) × {z} − {y}。"
            steps = [(f"({x} + {y}) × {z}", (x + y) * z), (f"{(x + y) * z} − {y}".replace("−", "-"), (x + y) * z - y)]
            text = "先算 {0} = {1}，再算 {2} = {3}。答案：{3}"
        flat = []
        for expr, value in steps:
            flat += [expr, _fmt(value)]
        correct = text.format(*flat)
        rows.append({"id": f"m{n}", "instruction": q, "response": correct, "kind": "math", "label": "correct"})
        wrong = _plant(text, steps, shape)
        rows.append({"id": f"m{n}-err", "instruction": q, "response": wrong, "kind": "math", "label": "error"})
    return rows


def _plant(text: str, steps: list[tuple[str, float]], shape: int) -> str:
    flat = []
    for expr, value in steps:
        flat += [expr, _fmt(value)]
    kind = rng.choice(["step", "step", "answer", "percent"] if shape == 2 else ["step", "step", "answer"])
    if shape == 3 and rng.random() < 0.5:
        kind = "unit"
    if kind == "step":
        i = rng.randrange(len(steps))
        flat[2 * i + 1] = _fmt(steps[i][1] + rng.choice([-10, -2, -1, 1, 3, 10]))
        return text.format(*flat)
    if kind == "percent":
        flat[1] = _fmt(steps[0][1] * 100)
        return text.format(*flat)
    if kind == "unit":
        total_km = steps[0][1]
        return text.format(*flat).replace(f"{_fmt(total_km)} km = {_fmt(total_km * 1000)} m",
                                          f"{_fmt(total_km)} km = {_fmt(total_km * 100)} m")
    good = text.format(*flat)
    final = _fmt(steps[-1][1])
    head, _, _tail = good.rpartition(final)
    return head + _fmt(steps[-1][1] + rng.choice([1, 2, 5, 10]))


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


if __name__ == "__main__":
    for name, rows in (("consistency_labelled.jsonl", consistency_rows()), ("math_labelled.jsonl", math_rows())):
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows))
