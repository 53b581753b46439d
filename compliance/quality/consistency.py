"""Consistency gate: facts with values and units, and the records whose facts contradict each other.

A fact is (attribute, value, unit) read from one clause: "续航20小时", "续航只有5小时", "the fee is 2%",
"charged at 3%". Two facts contradict when their attributes match (same canonical key, or one key ends
with the other), their units measure the same thing, and their values differ once converted. Clauses
that describe a change, a condition, a bound, a range or a negation ("优惠后", "if", "at most", "不是")
are not compared: those values are allowed to differ. Maths records are left to the maths gate.

An optional judge (any generation backend, e.g. ``backend_from_settings("openai")``) reviews records
the rules did not flag; its answer must be JSON ``{"contradiction": bool, "evidence": str}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .types import GateOutcome, QualityGateError, QualityItem, rate_outcome

NAME = "consistency"

# unit -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "%": ("percent", 1), "％": ("percent", 1), "percent": ("percent", 1), "per cent": ("percent", 1),
    "秒": ("time", 1), "秒钟": ("time", 1), "分钟": ("time", 60), "小时": ("time", 3600), "个小时": ("time", 3600),
    "天": ("time", 86400), "日": ("time", 86400), "周": ("time", 604800), "个月": ("time", 2592000),
    "年": ("time", 31536000), "个工作日": ("workday", 1), "工作日": ("workday", 1),
    "seconds": ("time", 1), "second": ("time", 1), "minutes": ("time", 60), "minute": ("time", 60),
    "mins": ("time", 60), "hours": ("time", 3600), "hour": ("time", 3600), "hrs": ("time", 3600),
    "days": ("time", 86400), "day": ("time", 86400), "weeks": ("time", 604800), "week": ("time", 604800),
    "months": ("time", 2592000), "month": ("time", 2592000), "years": ("time", 31536000),
    "year": ("time", 31536000), "business days": ("workday", 1), "working days": ("workday", 1),
    "元": ("money", 1), "块": ("money", 1), "块钱": ("money", 1), "万元": ("money", 1e4), "万": ("money", 1e4),
    "亿元": ("money", 1e8), "yuan": ("money", 1), "rmb": ("money", 1), "dollars": ("usd", 1), "usd": ("usd", 1),
    "美元": ("usd", 1), "公里": ("length", 1000), "千米": ("length", 1000), "米": ("length", 1),
    "厘米": ("length", 0.01), "km": ("length", 1000), "kilometres": ("length", 1000), "kilometers": ("length", 1000),
    "metres": ("length", 1), "meters": ("length", 1), "公斤": ("mass", 1000), "千克": ("mass", 1000),
    "克": ("mass", 1), "斤": ("mass", 500), "kg": ("mass", 1000), "grams": ("mass", 1), "岁": ("age", 1),
    "years old": ("age", 1), "mah": ("charge", 1), "gb": ("data", 1e9), "mb": ("data", 1e6), "tb": ("data", 1e12),
    "次": ("times", 1), "times": ("times", 1), "张": ("cards", 1), "笔": ("transactions", 1),
    "个": ("items", 1), "人": ("people", 1), "升": ("volume", 1), "毫升": ("volume", 0.001),
    "litres": ("volume", 1), "liters": ("volume", 1), "people": ("people", 1), "倍": ("multiple", 1),
}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_FACT = re.compile(
    r"(?<![\d.])(\d+(?:,\d{3})*(?:\.\d+)?)\s*(" + _UNIT_ALT + r")(?![a-z])", re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[，。；;！？!?\n]|,(?!\d{3})|\.(?!\d)|\s-\s")
_RUN = re.compile(r"[\u4e00-\u9fffA-Za-z]+$")
_RANGE_START = re.compile(r"\d\s*(到|至|-|~|～|—)\s*$")
# A differing character right before the shared attribute that names a different subject or period.
_QUALIFIERS = frozenset("年月日周季天时首末单总均最内外代期甲乙丙丁一二三四五六七八九十")

# Clauses with these describe a change, a condition, a bound, a range, a comparison or a negation.
_ZH_SKIP = re.compile(
    r"如果|若|假如|假设|优惠|调整|降|升至|升到|上升|升级|提高|提升|减少|增加|增长|原来|原价|原本|之前|以前|以后|之后|后来|变为|变成|改为|"
    r"最多|最少|至少|超过|以上|以下|以内|不超过|不低于|低于|高于|多于|少于|否则|或者|不是|并非|而不是|曾|去年|今年|明年|"
    r"上月|下月|上个月|下个月|第|比|剩|还|再|额外|另|共计|合计|总共|累计"
)
_EN_SKIP = re.compile(
    r"\b(if|unless|after|before|previously|formerly|used to|last year|last month|in the past|now|currently|"
    r"increase[sd]?|reduce[sd]?|"
    r"rais(e|ed|es)|drop(s|ped)?|cut|lower(ed)?|higher|up to|at least|at most|more than|less than|under|"
    r"above|below|minimum|maximum|max|min|or|otherwise|not|instead|discount(ed)?|promotion(al)?|"
    r"next|between|from|than|remaining|another|additional|extra|total|plus|earlier|later)\b",
    re.IGNORECASE,
)
_CONDITION = re.compile(r"如果|假如|假设|若是|\b(if|unless|abroad|overseas)\b", re.IGNORECASE)
_ZH_FILLER = re.compile(
    r"(只有|仅有|仅为|仅|只|约为|约|大约|大概|将近|接近|差不多|为|是|达到|达|高达|可达|长达|有|在|需要|要|需|用时|耗时|"
    r"花费|:|：|\s)+$"
)
_ZH_TIME_SUFFIX = re.compile(r"(时间|时长|每[年月日天次笔周]?)$")
_ZH_AFTER = re.compile(r"^([\u4e00-\u9fff]{1,3})(?=$|[，。；;！？!?\n,.])")
_EN_FILLER = frozenset({
    "is", "are", "be", "will", "would", "of", "about", "around", "approximately", "roughly", "only", "just",
    "at", "a", "an", "the", "for", "by", "set", "fixed", "stands", "comes", "it", "this", "that", "your", "our",
    "its", "with", "you", "we", "amount", "amounts", "equal", "equals", "exactly", "full", "fully", "can",
    "should", "takes", "take", "taking", "within", "in", "and", "has", "have", "had", "s",
})
_EN_CANON = {
    "charge": "fee", "charges": "fee", "charged": "fee", "charging": "fee", "fees": "fee", "cost": "fee",
    "costs": "fee", "price": "fee", "priced": "fee", "commission": "fee", "interest": "rate", "apr": "rate",
    "rates": "rate", "battery": "battery", "lasts": "battery", "last": "battery", "runtime": "battery",
    "life": "battery", "limit": "limit", "limits": "limit", "line": "limit", "term": "term", "tenor": "term",
    "duration": "term", "period": "term", "delivery": "delivery", "shipping": "delivery", "arrives": "delivery",
    "ships": "delivery", "refund": "refund", "refunds": "refund", "refunded": "refund", "processed": "processing",
    "processing": "processing", "weighs": "weight", "weight": "weight", "weighing": "weight",
}
_ZH_CANON = (
    (("手续费", "费率", "收费", "收取", "扣费"), "手续费"),
    (("续航", "待机", "电池续航", "使用时长"), "续航"),
    (("到账", "到帐"), "到账"),
    (("额度", "信用额度", "授信"), "额度"),
)


_EN_QUALIFIERS = frozenset({
    "annual", "yearly", "monthly", "weekly", "daily", "premium", "standard", "basic", "gold", "platinum", "express",
    "international", "domestic", "abroad", "overseas", "student", "business", "personal", "new", "old", "first",
    "second", "third", "other", "another", "dock", "cheque", "promotional", "late",
})


@dataclass(frozen=True)
class Fact:
    key: str
    value: float  # in the dimension's base unit
    dimension: str
    text: str  # the clause excerpt, for evidence
    where: str  # "instruction" | "response"
    qualifiers: frozenset[str] = frozenset()


def _canon_zh(run: str) -> str:
    for words, canon in _ZH_CANON:
        for word in sorted(words, key=len, reverse=True):
            if run.endswith(word):
                return run[: -len(word)] + canon
    return run


def _key_for(prefix: str) -> str | None:
    latin = re.findall(r"[A-Za-z]+", prefix)
    cjk_tail = _RUN.search(_ZH_FILLER.sub("", prefix))
    if cjk_tail and re.search(r"[\u4e00-\u9fff]", cjk_tail.group(0)):
        run = _ZH_TIME_SUFFIX.sub("", re.split(r"[的之]", cjk_tail.group(0))[-1])[-10:]
        run = _canon_zh(run)
        return run if len(run) >= 2 else None
    words = [w.lower() for w in latin]
    while words and words[-1] in _EN_FILLER:
        words.pop()
    content = [_EN_CANON.get(w, w) for w in words if w not in _EN_FILLER][-2:]
    if not content:
        return None
    deduped = [w for i, w in enumerate(content) if i == 0 or content[i - 1] != w]
    return " ".join(deduped)


def extract_facts(text: str, *, where: str) -> list[Fact]:
    facts = []
    for match in _FACT.finditer(text):
        start = 0
        for end in _CLAUSE_END.finditer(text, 0, match.start()):
            start = end.end()
        stop = _CLAUSE_END.search(text, match.end())
        clause = text[start : stop.start() if stop else len(text)]
        if _ZH_SKIP.search(clause) or _EN_SKIP.search(clause):
            continue
        if _CONDITION.search(_sentence(text, match.start(), match.end())):
            continue
        if len(_FACT.findall(clause)) > 1:  # two values in one clause: a comparison or a list
            continue
        if _RANGE_START.search(text[start : match.start()]):
            continue
        key = _key_for(text[start : match.start()])
        after = _ZH_AFTER.match(text[match.end() : match.end() + 4])
        if key is not None and after is not None and re.search(r"[\u4e00-\u9fff]", key) \
                and not after.group(1).startswith("每"):
            key = _canon_zh(key + after.group(1))  # "退款3个工作日到账" is about 退款到账
        sentence = _sentence(text, match.start(), match.end())
        qualifiers = frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", sentence) if w.lower() in _EN_QUALIFIERS)
        if not re.search(r"[\u4e00-\u9fff]", sentence):
            nearest = _nearest_attribute(sentence, text.find(sentence), match.start())
            key = nearest or key  # English: the attribute word nearest the number, anywhere in the sentence
        if key is None:
            continue
        unit = match.group(2).lower()
        dimension, factor = _UNITS.get(unit, _UNITS.get(match.group(2), ("", 1)))
        value = float(match.group(1).replace(",", "")) * factor
        facts.append(Fact(key=key, value=value, dimension=dimension, text=clause.strip()[:120], where=where,
                          qualifiers=qualifiers))
    return facts


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(ch, 0, start) for ch in "。！？!?;；\n")
    dots = [m.end() for m in re.finditer(r"\.(?!\d)", text[:start])]
    left = max(left + 1, dots[-1] if dots else 0)
    stop = re.search(r"[。！？!?;；\n]|\.(?!\d)", text[end:])
    return text[left : end + stop.start() if stop else len(text)]


def _nearest_attribute(sentence: str, offset: int, number_at: int) -> str | None:
    best, best_distance = None, 10**9
    for word in re.finditer(r"[A-Za-z]+", sentence):
        canon = _EN_CANON.get(word.group(0).lower())
        if canon is not None and abs(offset + word.start() - number_at) < best_distance:
            best, best_distance = canon, abs(offset + word.start() - number_at)
    return best


def _same_attribute(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if re.search(r"[a-z]", long_) and not re.search(r"[\u4e00-\u9fff]", long_):  # English: last word agrees
        return short.split()[-1] == long_.split()[-1] and long_.endswith(short)
    common = 0
    while common < len(short) and short[-1 - common] == long_[-1 - common]:
        common += 1
    if common < 2:
        return False
    rest_a, rest_b = set(a[: len(a) - common]), set(b[: len(b) - common])
    only_a = {c for c in rest_a - rest_b if c in _QUALIFIERS or c.isascii()}
    only_b = {c for c in rest_b - rest_a if c in _QUALIFIERS or c.isascii()}
    # "A卡年费" vs "B卡年费", "年利率" vs "月利率", "境内…" vs "境外…": different subjects or periods.
    return not (only_a and only_b)


def _differs(x: float, y: float) -> bool:
    return abs(x - y) > 0.01 * max(abs(x), abs(y), 1e-9)


def contradictions(item: QualityItem) -> list[tuple[str, str]]:
    """(reason, evidence) for each contradicting pair of facts in ``item``."""
    found: list[tuple[str, str]] = []
    facts = extract_facts(item.instruction, where="instruction") + extract_facts(item.response, where="response")
    seen: set[tuple[str, str]] = set()
    for i, first in enumerate(facts):
        for second in facts[i + 1 :]:
            if first.dimension != second.dimension or not _same_attribute(first.key, second.key):
                continue
            if first.qualifiers != second.qualifiers:
                continue  # "annual fee" vs "monthly fee": different attributes
            if not _differs(first.value, second.value) or (first.text, second.text) in seen:
                continue
            seen.add((first.text, second.text))
            if first.where == second.where:
                reason = f"{first.where} contradicts itself about '{second.key}'"
            else:
                reason = f"response contradicts the instruction about '{second.key}'"
            found.append((reason, f"「{first.text}」 vs 「{second.text}」"))
    return found


_JUDGE_PROMPT = (
    "You check synthetic training data for contradictions. Does the response contradict itself or the "
    "instruction (different values for the same fact)? Answer only JSON: "
    '{"contradiction": true|false, "evidence": "the two conflicting phrases, or empty"}'
)


def judge_contradiction(item: QualityItem, backend: Any) -> tuple[bool, str]:
    """Ask an LLM judge; raises QualityGateError when it fails or answers out of schema (fail closed)."""
    messages = [
        {"role": "system", "content": _JUDGE_PROMPT},
        {"role": "user", "content": f"INSTRUCTION:\n{item.instruction}\n\nRESPONSE:\n{item.response}"},
    ]
    try:
        completion = backend.complete(messages, temperature=0.0, max_tokens=200, seed=0, json_mode=True)
        answer = json.loads(completion.text)
        verdict = answer["contradiction"]
    except Exception as exc:  # noqa: BLE001 - any judge failure fails the gate closed
        raise QualityGateError(f"consistency judge failed on record {item.id}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(verdict, bool):
        raise QualityGateError(f"consistency judge answered {verdict!r} for record {item.id}, not true/false")
    return verdict, str(answer.get("evidence", ""))[:300]


def consistency_gate(
    items: list[QualityItem], *, max_rate: float, judge: Any = None, judge_max_records: int = 200
) -> GateOutcome:
    checked = [item for item in items if item.kind != "math"]
    flagged: dict[str, list[tuple[str, str]]] = {}
    for item in checked:
        found = contradictions(item)
        if found:
            flagged[item.id] = found
    judged = 0
    if judge is not None:
        for item in checked:
            if item.id in flagged or judged >= judge_max_records:
                continue
            judged += 1
            verdict, evidence = judge_contradiction(item, judge)
            if verdict:
                flagged[item.id] = [("LLM judge found a contradiction", evidence)]
    outcome = rate_outcome(NAME, flagged=len(flagged), total=len(checked), max_rate=max_rate,
                           what="contradict themselves or their instruction", drop=True)
    if not checked:
        outcome = GateOutcome(NAME, True, 0.0, max_rate, "no non-maths records to check", drop=True)
    for item_id, found in flagged.items():
        for reason, evidence in found:
            outcome.flag(item_id, reason, evidence)
    outcome.metrics = {"checked": len(checked), "judged_by_llm": judged}
    return outcome
