"""Synthetic records for the quality benchmarks (deterministic): banking Q&A, maths, planted problems."""

from __future__ import annotations

import random

from compliance.quality.types import QualityItem

ZH_FRAGMENTS = [
    "您好，",
    "请问",
    "信用卡",
    "借记卡",
    "挂失",
    "补办",
    "转账",
    "跨行",
    "手续费",
    "到账时间",
    "预留手机号",
    "身份证",
    "网点",
    "手机银行",
    "App",
    "额度",
    "分期",
    "账单",
    "还款",
    "逾期",
    "利息",
    "定期存款",
    "活期",
    "理财产品",
    "风险等级",  # noqa: E501
    "客服",
    "为您服务",
    "核实身份",
    "冻结",
    "解冻",
    "密码重置",
    "短信验证码",
    "营业时间",
    "工作日",
    "节假日顺延",
    "柜台",  # noqa: E501
    "自助设备",
    "境外消费",
    "外币",
    "汇率",
    "年费",
    "积分",
    "兑换",
    "贷款",
    "房贷",
    "提前还款",
    "违约金",
    "征信",
    "查询",  # noqa: E501
]
ZH_VERBS = ["需要", "可以", "建议", "请您", "我们会", "系统将", "一般会", "通常", "务必", "不必"]
EN_WORDS = [
    "card",
    "account",
    "transfer",
    "fee",
    "limit",
    "branch",
    "statement",
    "payment",
    "loan",
    "mortgage",
    "rate",
    "deposit",
    "savings",
    "online",
    "app",
    "verify",
    "identity",
    "block",
    "unblock",
    "password",
    "reset",
    "code",
    "overseas",
    "currency",
    "exchange",
    "points",
    "reward",
]  # noqa: E501 - test data
CATEGORIES = ["挂失", "转账", "分期", "理财", "贷款"]


def zh_text(rng: random.Random, n: int = 22) -> str:
    parts = []
    for _ in range(n):
        parts.append(rng.choice(ZH_VERBS) if rng.random() < 0.3 else rng.choice(ZH_FRAGMENTS))
        if rng.random() < 0.15:
            parts.append(str(rng.randint(1, 999)))
        if rng.random() < 0.2:
            parts.append("，")
    return "".join(parts) + "。"


def en_text(rng: random.Random, n: int = 24) -> str:
    return " ".join(rng.choice(EN_WORDS) for _ in range(n)) + "."


def perturb(rng: random.Random, text: str, edits: int = 2) -> str:
    chars = list(text)
    for _ in range(edits):
        chars[rng.randrange(len(chars))] = rng.choice("的了是在有和")
    return "".join(chars)


def records(
    n: int, *, seed: int = 7, near_dup_rate: float = 0.05, sources: dict[str, str] | None = None
) -> tuple[list[QualityItem], set[str]]:
    """``n`` records of which about ``near_dup_rate`` are near copies of an earlier one; returns (items, planted ids).

    ``sources``, when given, is filled with planted id -> id of the record it copies.
    """
    rng = random.Random(seed)
    items: list[QualityItem] = []
    planted: set[str] = set()
    for i in range(n):
        if items and rng.random() < near_dup_rate:
            source = items[rng.randrange(len(items))]
            item = QualityItem(f"r{i}", source.instruction, perturb(rng, source.response), source.kind, source.category)
            planted.add(item.id)
            if sources is not None:
                sources[item.id] = source.id
        elif rng.random() < 0.8:
            item = QualityItem(f"r{i}", zh_text(rng, 6), zh_text(rng), "qa", rng.choice(CATEGORIES))
        else:
            item = QualityItem(f"r{i}", en_text(rng, 8), en_text(rng), "qa", rng.choice(CATEGORIES))
        items.append(item)
    return items, planted
