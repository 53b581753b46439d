"""Precision/recall of the consistency and relevance gates, catch/false-flag rates of the maths gate, on labelled sets.

    .venv/bin/python bench/quality_labelled.py [--relevance-records 2000] [--full-embedding]

Data: bench/data/quality/{consistency,math}_labelled.jsonl (built by build_labelled.py: planted
contradictions with clean twins, planted arithmetic/answer/percentage/unit errors with correct
twins). Baseline in the same run: a naive checker that flags a record whenever the same unit
appears with two different numbers (consistency), and one that only compares the final answer
with the last "= number" (maths). Prints a JSON line last.

Relevance: ``quality_synth.relevance_records``: retail-banking Q&A (Chinese and English, ~30% English)
with 5% planted off-topic records (half Chinese, half English: cooking, sport, films, travel, plants,
pets, music, history, science, cars, fitness, programming, games, and "bank" used in passing).
"after" is the gate as it ships (every record scored: embedded sample, calibrated lexical scores,
borderline records embedded). "before" is the previous gate: the seeded sample only, with the fixed
mapping 0.5 + margin / 0.1, at the same embedding budget (the sample of ``embedding_max_records``);
``--full-embedding`` also embeds every record, to show the previous gate at its old default
(2,000 records: the whole set) and the new calibration applied to embeddings of every record.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality_synth import RELEVANCE_TOPIC, relevance_records  # noqa: E402

from compliance.quality.consistency import contradictions  # noqa: E402
from compliance.quality.embeddings import Embedder, get_embedder  # noqa: E402
from compliance.quality.maths import check_item  # noqa: E402
from compliance.quality.relevance import embedding_margins, relevance_gate, relevance_scores  # noqa: E402
from compliance.quality.text import is_cjk  # noqa: E402
from compliance.quality.thresholds import DEFAULT_QUALITY_THRESHOLDS as T  # noqa: E402
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


def relevance_prf(items: list[QualityItem], flagged: set[str], planted: set[str]) -> dict[str, object]:
    """Precision/recall of off-topic flags, overall and per language."""
    out: dict[str, object] = {}
    for name, keep in (("all", lambda _: True), ("zh", is_cjk), ("en", lambda t: not is_cjk(t))):
        chosen = [i for i in items if keep(i.text)]
        out[name] = prf([i.id in flagged for i in chosen], [i.id in planted for i in chosen])
    return out


OLD_MIN_RELEVANCE = 0.35  # the previous gate's default threshold


def old_gate_flags(items: list[QualityItem], *, topic: str, embedder: Embedder) -> set[str]:
    """The previous gate's decision on embedded records: 0.5 + (margin to the nearest anchor) / 0.1 < 0.35."""
    margins = embedding_margins([i.text for i in items], topic=topic, embedder=embedder, anchors=1)
    old = np.clip(0.5 + margins / embedder.margin_scale, 0.0, 1.0)
    return {item.id for item, score in zip(items, old, strict=True) if score < OLD_MIN_RELEVANCE}


def relevance_check(n: int, full_embedding: bool) -> dict[str, object]:
    items, planted = relevance_records(n, off_topic=n // 20)
    embedder = get_embedder()
    sample_size = int(T["embedding_max_records"])
    started = time.perf_counter()
    outcome, _ = relevance_gate(items, topic=RELEVANCE_TOPIC, embedder=embedder, min_relevance=T["min_relevance"],
                                max_rate=T["max_off_topic_rate"], max_records=sample_size,
                                borderline_band=T["relevance_borderline_band"],
                                max_borderline=int(T["relevance_max_borderline_embeds"]))
    seconds = time.perf_counter() - started
    after = relevance_prf(items, set(outcome.flags), planted)
    # The previous gate at the same budget: the same seeded sample (its vectors are cached), old mapping.
    sample = random.Random(0).sample(items, sample_size)  # noqa: S311 - the gate's own sample
    before = relevance_prf(items, old_gate_flags(sample, topic=RELEVANCE_TOPIC, embedder=embedder), planted)
    result: dict[str, object] = {
        "records": n, "planted_off_topic": len(planted), "topic": RELEVANCE_TOPIC, "embedder": embedder.name,
        "after": {**after, "seconds": round(seconds, 2), "methods": outcome.metrics["methods"],
                  "embedded": outcome.metrics["scoring"].get("embedded"),
                  "holdout": outcome.metrics["scoring"].get("holdout")},
        "before_same_budget": {**before, "scored": sample_size},
    }
    if full_embedding:
        started = time.perf_counter()
        old = old_gate_flags(items, topic=RELEVANCE_TOPIC, embedder=embedder)
        full_seconds = time.perf_counter() - started
        result["before_old_default_every_record_embedded"] = {
            **relevance_prf(items, old, planted), "embedding_seconds": round(full_seconds, 2)}
        calibrated = relevance_scores(items, topic=RELEVANCE_TOPIC, embedder=embedder)  # cached vectors
        flagged = {i.id for i, c in zip(items, calibrated, strict=True) if c < T["min_relevance"]}
        result["new_calibration_every_record_embedded"] = relevance_prf(items, flagged, planted)
    for item in items:
        if (item.id in outcome.flags) != (item.id in planted):
            print(("RELEVANCE MISSED " if item.id in planted else "RELEVANCE FALSE FLAG ") + item.id + ": "
                  + item.text[:70].replace("\n", " / "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--relevance-records", type=int, default=2000)
    parser.add_argument("--full-embedding", action="store_true", help="also embed every relevance record (slow)")
    args = parser.parse_args()
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
        "relevance": relevance_check(args.relevance_records, args.full_embedding),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
