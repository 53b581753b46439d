"""Maths gate: every arithmetic step that parses is re-computed exactly (sympy), and the final answer checked.

A step is a chain ``expr = expr = … = number`` written with digits and + - × ÷ * / x ^ % √ and brackets;
each link must hold exactly (a rounded right-hand side may differ by at most half its last digit, an
"≈" link by 1%). A wrong result that is off by exactly 100× is reported as a percentage slip; a
conversion such as "2.5 km = 250 m" is checked against the unit table. For maths records the final
answer ("答案是 17", "The answer is 17", "#### 17") must match the reference answer when the input
has one, otherwise the result of a computed step.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import sympy

from .types import GateOutcome, QualityItem, rate_outcome

NAME = "math"

_NUM = r"\d+(?:\.\d+)?"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_STEP_RUN = re.compile(r"[0-9.+\-*/×÷xX·()%^=＝≈√ \t]+")
_UNIT_WORDS = re.compile(
    r"(?<=[\d)])\s*(?:元|块|个|只|本|张|人|次|件|米|厘米|毫米|千米|公里|小时|分钟|秒|天|克|千克|公斤|升|毫升|"
    r"yuan|dollars?|\$)(?=[\s+\-*/×÷xX·()=＝≈]|$)"
)
_FINAL = re.compile(
    r"(?:答案(?:是|为)?|最终答案(?:是|为)?|所以[^。\n]{0,20}?(?:是|为|等于)|final answer(?: is)?|answer(?: is)?|####)"
    r"\s*[:：]?\s*\$?\s*(-?" + _NUM + r")",
    re.IGNORECASE,
)
_CONV_UNIT = r"(km|m|cm|mm|kg|g|h|min|s|千米|公里|米|厘米|毫米|千克|公斤|克|小时|分钟|秒|万元|元)"
_CONVERSION = re.compile(
    r"(" + _NUM + r")\s*" + _CONV_UNIT + r"\s*[=＝]\s*(" + _NUM + r")\s*" + _CONV_UNIT + r"(?![a-z])"
)
_CONVERSION_UNITS = {
    "km": ("length", 1000), "千米": ("length", 1000), "公里": ("length", 1000), "m": ("length", 1), "米": ("length", 1),
    "cm": ("length", sympy.Rational(1, 100)), "厘米": ("length", sympy.Rational(1, 100)),
    "mm": ("length", sympy.Rational(1, 1000)), "毫米": ("length", sympy.Rational(1, 1000)),
    "kg": ("mass", 1000), "千克": ("mass", 1000), "公斤": ("mass", 1000), "g": ("mass", 1), "克": ("mass", 1),
    "h": ("time", 3600), "小时": ("time", 3600), "min": ("time", 60), "分钟": ("time", 60), "s": ("time", 1),
    "秒": ("time", 1), "万元": ("money", 10000), "元": ("money", 1),
}


@dataclass(frozen=True)
class StepProblem:
    reason: str
    evidence: str


def _to_python(expr: str) -> str:
    expr = expr.replace("（", "(").replace("）", ")").replace("＝", "=")
    expr = re.sub(r"(?<=[\d)%])\s*[xX×·]\s*(?=[\d(√])", "*", expr)
    expr = expr.replace("÷", "/").replace("^", "**")
    expr = re.sub(r"(" + _NUM + r")\s*%", r"(\1/100)", expr)
    expr = re.sub(r"√\s*(" + _NUM + r"|\([^()]*\))", r"sqrt(\1)", expr)
    return expr


_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
            ast.USub, ast.UAdd, ast.Call, ast.Name, ast.Load)


def evaluate(expr: str) -> sympy.Expr | None:
    """Exact value of an arithmetic expression, or None when it does not parse as one."""
    source = _to_python(expr).strip()
    if not source or not re.fullmatch(r"[0-9.+\-*/() sqrt]+", source):
        return None
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return None
    if not all(isinstance(node, _ALLOWED) for node in ast.walk(tree)):
        return None
    try:
        return _eval(tree.body)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None


def _eval(node: ast.AST) -> sympy.Expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return sympy.Rational(str(node.value))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise ZeroDivisionError
            return left / right
        if isinstance(node.op, ast.Pow) and abs(right) <= 64:
            return left**right
    is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    if is_call and node.func.id == "sqrt" and len(node.args) == 1:  # type: ignore[attr-defined]
        return sympy.sqrt(_eval(node.args[0]))  # type: ignore[attr-defined]
    raise ValueError("not arithmetic")


def _has_operator(part: str) -> bool:
    return bool(re.search(r"(?<=[\d)%\s])[+\-*/×÷xX·^]|√|%", part.strip()))


def _decimals(part: str) -> int | None:
    match = re.fullmatch(r"\s*-?\d+(?:\.(\d+))?\s*", part)
    if match is None:
        return None
    return len(match.group(1) or "")


def _holds(left: sympy.Expr, right_text: str, right: sympy.Expr, approx: bool) -> bool:
    if left == right:
        return True
    diff = abs(float(left - right))
    if approx:
        return diff <= 0.01 * max(abs(float(left)), 1e-12) + 1e-9
    decimals = _decimals(right_text)
    if decimals is None or (left.is_Rational and left.q == 1):
        return False  # an exact integer result must be written exactly
    return diff <= 0.5 * 10 ** (-decimals) + 1e-12


def check_steps(text: str) -> tuple[int, list[StepProblem], list[sympy.Expr]]:
    """(steps checked, problems, the value each checked chain ends with)."""
    cleaned = _UNIT_WORDS.sub("", _THOUSANDS.sub("", text))
    checked, problems, results = 0, [], []
    for run in _STEP_RUN.finditer(cleaned):
        chunk = run.group(0)
        if "=" not in chunk and "＝" not in chunk and "≈" not in chunk:
            continue
        pieces = re.split(r"(=|＝|≈)", chunk)
        parts, links = pieces[0::2], pieces[1::2]
        if len(parts) < 2 or not any(_has_operator(p) for p in parts):
            continue
        values = [evaluate(p) for p in parts]
        for i, link in enumerate(links):
            left, right = values[i], values[i + 1]
            if left is None or right is None or not parts[i].strip() or not parts[i + 1].strip():
                continue
            checked += 1
            evidence = f"{parts[i].strip()} {link} {parts[i + 1].strip()}"
            if _holds(left, parts[i + 1], right, approx=link == "≈"):
                continue
            correct = _show(left)
            if right != 0 and any(abs(float(right - left * k)) <= 1e-9 * max(1.0, abs(float(right)))
                                  for k in (100, sympy.Rational(1, 100))):
                problems.append(StepProblem(f"percentage slip: off by a factor of 100 (should be {correct})", evidence))
            else:
                problems.append(StepProblem(f"wrong arithmetic step: should be {correct}", evidence))
        last = values[-1]
        if last is not None:
            results.append(last)
    for match in _CONVERSION.finditer(text):
        a, unit_a, b, unit_b = match.groups()
        dim_a, f_a = _CONVERSION_UNITS[unit_a]
        dim_b, f_b = _CONVERSION_UNITS[unit_b]
        if dim_a != dim_b or unit_a == unit_b:
            continue
        checked += 1
        results.append(sympy.Rational(b))
        expected = sympy.Rational(a) * f_a / f_b
        if expected != sympy.Rational(b):
            problems.append(StepProblem(f"unit conversion slip: {a} {unit_a} is {_show(expected)} {unit_b}",
                                        match.group(0)))
    return checked, problems, results


def _show(value: sympy.Expr) -> str:
    if value.is_Rational and value.q == 1:
        return str(value)
    return f"{float(value):.6g}"


def final_answer(text: str) -> str | None:
    matches = _FINAL.findall(_THOUSANDS.sub("", text))
    return matches[-1] if matches else None


def check_item(item: QualityItem) -> tuple[int, list[StepProblem]]:
    checked, problems, results = check_steps(item.response)
    if item.kind != "math":
        return checked, problems
    answer = final_answer(item.response)
    if answer is None:
        return checked + 1, [*problems, StepProblem("no final answer found", item.response[-120:])]
    stated = sympy.Rational(answer)
    checked += 1
    if item.answer.strip():
        reference = evaluate(_THOUSANDS.sub("", item.answer.strip()))
        if reference is not None and reference != stated:
            problems.append(StepProblem(f"wrong final answer: reference is {_show(reference)}", f"answer {answer}"))
    elif results and all(abs(float(r - stated)) > 1e-9 for r in results):
        problems.append(StepProblem(f"final answer {answer} matches no computed step (last step gives "
                                    f"{_show(results[-1])})", f"answer {answer}"))
    return checked, problems


def math_gate(items: list[QualityItem], *, max_rate: float) -> GateOutcome:
    flagged: dict[str, list[StepProblem]] = {}
    considered = steps = 0
    for item in items:
        checked, problems = check_item(item)
        if checked or item.kind == "math":
            considered += 1
            steps += checked
        if problems:
            flagged[item.id] = problems
    if considered == 0:
        outcome = GateOutcome(NAME, True, 0.0, max_rate, "no maths records and no arithmetic steps to check", drop=True)
    else:
        outcome = rate_outcome(NAME, flagged=len(flagged), total=considered, max_rate=max_rate,
                               what="have a wrong step, answer, unit or percentage", drop=True)
    for item_id, problems in flagged.items():
        for problem in problems:
            outcome.flag(item_id, problem.reason, problem.evidence)
    outcome.metrics = {"records_checked": considered, "steps_checked": steps}
    return outcome
