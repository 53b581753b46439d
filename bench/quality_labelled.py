"""Precision/recall of the consistency gate and catch/false-flag rates of the maths gate on labelled sets.

    .venv/bin/python bench/quality_labelled.py

Data: bench/data/quality/{consistency,math}_labelled.jsonl (built by build_labelled.py: planted
contradictions with clean twins, planted arithmetic/answer/percentage/unit errors with correct
twins). Baseline in the same run: a naive checker that flags a record whenever the same unit
appears with two different numbers (consistency), and one that only compares the final answer
with the last "= number" (maths). Prints a JSON line last.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compliance.quality.consistency import contradictions  # noqa: E402
from compliance.quality.maths import check_item  # noqa: E402
from compliance.quality.types import QualityItem  # noqa: E402

DATA = ROOT / "bench" / "data" / "quality"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def naive_consistency(row: dict) -> bool:
    found: dict[str, set[str]] = {}
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(%|小时|元|万元|个月|天|年|公斤|kg|hours|dollars|days|months)",
                                  row["instruction"] + " " + row["response"]):
        found.setdefault(unit, set()).add(value)
    return any(len(v) > 1 for v in found.values())


def naive_math(row: dict) -> bool:
    numbers = re.findall(r"=\s*(\d+(?:\.\d+)?)", row["response"])
    answer = re.findall(r"(?:答案[是：:]?|answer is)\s*(\d+(?:\.\d+)?)", row["response"])
    return bool(numbers and answer and numbers[-1] != answer[-1])


def prf(pred: list[bool], gold: list[bool]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    return {"precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0, "tp": tp, "fp": fp, "fn": fn}


def main() -> None:
    cons = load("consistency_labelled.jsonl")
    gold = [r["label"] == "contradiction" for r in cons]
    started = time.perf_counter()
    ours = [bool(contradictions(QualityItem(r["id"], r["instruction"], r["response"], r.get("kind", "qa"))))
            for r in cons]
    cons_seconds = time.perf_counter() - started
    base = [naive_consistency(r) for r in cons]
    c_ours, c_base = prf(ours, gold), prf(base, gold)
    for row, p, g in zip(cons, ours, gold, strict=True):
        if p != g:
            print(("MISSED " if g else "FALSE FLAG ") + row["id"] + ": " + row["response"][:100])

    maths = load("math_labelled.jsonl")
    started = time.perf_counter()
    m_pred = []
    for r in maths:
        _, problems = check_item(QualityItem(r["id"], r["instruction"], r["response"], "math"))
        m_pred.append(bool(problems))
    math_seconds = time.perf_counter() - started
    errors = [p for p, r in zip(m_pred, maths, strict=True) if r["label"] == "error"]
    correct = [p for p, r in zip(m_pred, maths, strict=True) if r["label"] == "correct"]
    for row, p in zip(maths, m_pred, strict=True):
        if p != (row["label"] == "error"):
            print(("MISSED " if not p else "FALSE FLAG ") + row["id"] + ": " + row["response"][:100])
    m_base = [naive_math(r) for r in maths]
    b_errors = [p for p, r in zip(m_base, maths, strict=True) if r["label"] == "error"]
    b_correct = [p for p, r in zip(m_base, maths, strict=True) if r["label"] == "correct"]
    result = {
        "bench": "quality_labelled",
        "consistency": {"records": len(cons), "planted": sum(gold), **c_ours, "seconds": round(cons_seconds, 3),
                        "targets": {"precision": 0.9, "recall": 0.8},
                        "meets_target": c_ours["precision"] >= 0.9 and c_ours["recall"] >= 0.8},
        "consistency_baseline_same_unit_two_values": c_base,
        "math": {"records": len(maths), "planted_errors": len(errors),
                 "catch_rate": round(sum(errors) / len(errors), 4),
                 "false_flag_rate": round(sum(correct) / len(correct), 4), "seconds": round(math_seconds, 3),
                 "targets": {"catch_rate": 0.95, "false_flag_rate": 0.02},
                 "meets_target": sum(errors) / len(errors) >= 0.95 and sum(correct) / len(correct) <= 0.02},
        "math_baseline_final_answer_only": {"catch_rate": round(sum(b_errors) / len(b_errors), 4),
                                            "false_flag_rate": round(sum(b_correct) / len(b_correct), 4)},
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
