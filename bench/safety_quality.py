"""Content-safety quality, layer by layer and set by set, and what the classifier costs per record.

Configurations: the lexicon alone (the foundation's filter), lexicon + pattern rules (the old default), the default
policy layers (lexicon + pattern + classifier, ``DEFAULT_SAFETY_LAYERS``) and the classifier alone, all under the
default layer caps (``DEFAULT_SAFETY_LAYER_CAPS``: a classifier hit flags, never blocks) and the default actions
(A1/A2 block, A3-A5 flag).
Recall = harmful items that get any hit (blocked or flagged); category recall = a hit in the item's own category;
false-block rate = benign items blocked; false-flag rate = benign items flagged or blocked.

Sets, because the lexicon, rules and exemplars are edited by people who can read some of them:
- ``main``: ``safety_eval.jsonl``; the classifier's first settings were chosen on its even ids, so the odd ids
  are reported as ``held_out``.
- ``fresh``: ``safety_fresh.jsonl`` (62 harmful, 40 hard benign) plus OpenCC traditional and symbol-split copies of
  its Chinese harmful texts. Same author as the rules: a check of over-fitting, not an independent benchmark.
- ``postfreeze``: ``safety_postfreeze.jsonl``, written after the rules were frozen in wording they do not use.
- ``blind`` (development set): ``safety_blind.jsonl`` (372 harmful, 334 benign), written by someone who saw neither
  rules nor exemplars. Its misses and false positives were read to find weak risks and kinds of phrasing; the
  exemplars added since were written from the risk definitions, not from its sentences; ``nearest_exemplar``
  reports how close any exemplar comes to one of its texts (a few older exemplars are near-copies).
- ``blind2``: ``safety_blind2.jsonl``, written independently and never read by those who tune the classifier; the
  test set of the classifier's second round (recall 0.72 then), since an extra check.
- ``blind3`` (test set): ``safety_blind3.jsonl`` (496 harmful over all 31 risks, 8 per risk and language; 425
  benign, 252 hard), written by a separate writer who saw none of the rules, exemplars or earlier sets, before the
  third round's exemplars (written from the risk definitions by other writers who saw none of the sets either).
  Exemplars within 0.5 character-trigram Jaccard of any evaluation text were dropped before training (28 of
  5,450). Same caveat as every set here: its writers and the exemplars' writers are the same kind of model, so
  it is closer to the training data than text from real users would be.
- ``--no-unseen`` skips ``postfreeze``, ``blind2`` and ``blind3``.
- ``records``: generated banking records (offline backend), all benign: the false-flag rate every dataset pays.
- ``lexicon_overlap``: harmful evaluation texts of which one lexicon term covers at least 60% (after
  normalisation): a lexicon that copied the test sentences would show up here.
- ``agreement``: how many texts a rule "a classifier hit agreeing in category with a lexicon/pattern hit keeps the
  block" would move from flag to block (benign ones are false blocks it would add).

Cost: cold load of the classifier (seed file read, no training), then ms per ~200-character Chinese and English
generated record under the default layers, one call per record and through ``screen_safety_many`` (query-vector
cache cleared first), and the share of pieces the n-gram gate sends to the embedder. Best of three runs, since
the machine is shared. Prints a JSON line last.
Run: .venv/bin/python bench/safety_quality.py [--no-classifier] [--no-unseen]
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
DATA_DIR = ROOT / "bench" / "data" / "compliance"
DATA = DATA_DIR / "safety_eval.jsonl"
FRESH = DATA_DIR / "safety_fresh.jsonl"
POSTFREEZE = DATA_DIR / "safety_postfreeze.jsonl"
BLIND = DATA_DIR / "safety_blind.jsonl"
BLIND2 = DATA_DIR / "safety_blind2.jsonl"
BLIND3 = DATA_DIR / "safety_blind3.jsonl"
DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
CONFIGS = {
    "baseline_lexicon": ["lexicon"],
    "lexicon_pattern": ["lexicon", "pattern"],
    "default": ["lexicon", "pattern", "classifier"],
    "classifier_only": ["classifier"],
}
CLASSIFIER_CONFIGS = ("default", "classifier_only")
RECORD_CHARS = 200
RECORDS_PER_LANGUAGE = 100
REPORT_KEYS = ("recall", "category_recall", "false_block_rate", "false_flag_rate", "per_category_recall")


def _evaluate(items: list[dict[str, Any]], layers: list[str]) -> dict[str, Any]:
    from compliance.policy_schema import DEFAULT_SAFETY_LAYER_CAPS
    from compliance.safety import default_rules, hit_severity, screen_safety_many

    harmful = [i for i in items if i["label"] == "harmful"]
    benign = [i for i in items if i["label"] == "benign"]
    verdicts = screen_safety_many(
        [i["text"] for i in harmful + benign], actions=DEFAULTS, layers=layers, rules=default_rules(),
        layer_caps=DEFAULT_SAFETY_LAYER_CAPS,
    )
    harmful_verdicts, benign_verdicts = verdicts[: len(harmful)], verdicts[len(harmful) :]
    hit = category_hit = 0
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_risk: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for item, verdict in zip(harmful, harmful_verdicts, strict=True):
        caught = verdict.verdict != "pass"
        hit += caught
        category_hit += any(h.category == item["risk"].split(".")[0] for h in verdict.hits)
        for table, key in ((per_category, item["risk"].split(".")[0]), (per_risk, item["risk"]),
                           (per_variant, item["variant"])):
            table[key][0] += caught
            table[key][1] += 1
        if not caught:
            missed.append(item["text"])
    blocked = flagged = 0
    false_examples = []
    for item, verdict in zip(benign, benign_verdicts, strict=True):
        blocked += verdict.verdict == "block"
        flagged += verdict.verdict != "pass"
        if verdict.verdict != "pass":
            false_examples.append((item["text"], [f"{h.risk_code}:{h.layer}:{h.term[:20]}" for h in verdict.hits]))
    # Texts an "agreement keeps the block" rule would move from flag to block.
    agreement = {"harmful": 0, "benign": 0}
    for label, group in (("harmful", harmful_verdicts), ("benign", benign_verdicts)):
        for verdict in group:
            rule_categories = {h.category for h in verdict.hits if h.layer in ("lexicon", "pattern")}
            agreeing = [h for h in verdict.hits if h.layer == "classifier" and h.category in rule_categories]
            agreement[label] += verdict.verdict != "block" and any(hit_severity(h, DEFAULTS) == 2 for h in agreeing)
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
        "agreement_flag_to_block": agreement,
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


def nearest_exemplar(items: list[dict[str, Any]]) -> dict[str, float]:
    """The highest cosine similarity between a seed exemplar and a text of ``items`` (1.0 = a copy), and how many
    texts have an exemplar at 0.95 or more (near-copies, which make the set's figures optimistic)."""
    import numpy as np

    from compliance.safety import default_exemplars
    from compliance.safety_classifier import classifier_view, embed_views

    model = default_exemplars().prepare()
    similarity = model.vectors @ embed_views([classifier_view(i["text"]) for i in items]).T
    return {"max_cosine": round(float(np.max(similarity)), 3),
            "texts_at_0.95": int(np.sum(similarity.max(axis=0) >= 0.95))}


def generated_records(language: str, count: int, max_chars: int | None = RECORD_CHARS) -> list[str]:
    """Banking records from the offline backend as the safety filter reads them, cut at a clause end near
    ``max_chars`` characters (or whole)."""
    from compliance.screening import content_text
    from generation.offline import OfflineBackend
    from generation.topics import RETAIL_BANKING_TOPICS

    backend = OfflineBackend(seed=7)
    records = []
    for i in range(count):
        topic = RETAIL_BANKING_TOPICS[i % len(RETAIL_BANKING_TOPICS)]
        schema = "qa" if i % 3 == 0 else "dialogue"
        prompt = f"OUTPUT_SCHEMA: {schema}\nLANGUAGE: {language}\nTOPIC: {topic.name(language)}"
        completion = backend.complete([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=0, seed=i,
                                      json_mode=True)
        text = content_text(json.loads(completion.text))
        if max_chars is not None and len(text) > max_chars:
            cut = max((m.end() for m in re.finditer(r"[。！？!?.\n]", text[:max_chars])), default=max_chars)
            text = text[:cut]
        records.append(text)
    return records


def classifier_cost() -> dict[str, Any]:
    """Cold load, then ms per ~200-character record under the default layers (single calls and batched)."""
    from compliance.policy_schema import DEFAULT_SAFETY_LAYER_CAPS, DEFAULT_SAFETY_LAYERS
    from compliance.safety import default_exemplars, default_rules, screen_safety, screen_safety_many
    from compliance.safety_classifier import MatchStats, query_cache

    started = time.perf_counter()
    model = default_exemplars().prepare()
    load = time.perf_counter() - started
    rules = default_rules()
    kwargs: dict[str, Any] = {"actions": DEFAULTS, "layers": DEFAULT_SAFETY_LAYERS, "rules": rules,
                              "layer_caps": DEFAULT_SAFETY_LAYER_CAPS}
    screen_safety("warm-up: 客户咨询信用卡账单", **kwargs)  # load the embedder itself
    result: dict[str, Any] = {"classifier_load_seconds": round(load, 2), "classifier_head": model.sources.head}
    for language in ("zh", "en"):
        records = generated_records(language, RECORDS_PER_LANGUAGE)
        single = batched = float("inf")
        for _ in range(3):
            query_cache.clear()
            started = time.perf_counter()
            for text in records:
                screen_safety(text, **kwargs)
            single = min(single, (time.perf_counter() - started) / len(records) * 1000)
            query_cache.clear()
            model.stats = MatchStats()
            started = time.perf_counter()
            screen_safety_many(records, **kwargs)
            batched = min(batched, (time.perf_counter() - started) / len(records) * 1000)
        query_cache.clear()
        result.update({
            f"records_{language}_chars": round(sum(map(len, records)) / len(records)),
            f"records_{language}_ms_single": round(single, 2),
            f"records_{language}_ms_batched": round(batched, 2),
            f"records_{language}_embedded_share": round(model.stats.embedded / max(model.stats.pieces, 1), 3),
        })
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def records_false_flags() -> dict[str, float]:
    """Flag rate of whole generated (benign) records under the default layers, screened as the pipeline screens
    them: after PII masking with the default operators (names and identifiers replaced by tags and hashes), and
    for comparison before it."""
    from compliance.pii import get_pii_engine
    from compliance.policy_schema import DEFAULT_PII_OPERATORS, DEFAULT_SAFETY_LAYER_CAPS, DEFAULT_SAFETY_LAYERS
    from compliance.safety import default_rules, screen_safety_many

    engine = get_pii_engine()
    out = {}
    for language in ("zh", "en"):
        records = generated_records(language, 300, max_chars=None)
        masked = [engine.mask(t, operators=DEFAULT_PII_OPERATORS, hmac_key=b"bench-key").masked_text for t in records]
        for name, texts in (("", masked), ("_unmasked", records)):
            verdicts = screen_safety_many(texts, actions=DEFAULTS, layers=DEFAULT_SAFETY_LAYERS, rules=default_rules(),
                                          layer_caps=DEFAULT_SAFETY_LAYER_CAPS)
            out[f"records_{language}{name}_false_flag_rate"] = round(
                sum(v.verdict != "pass" for v in verdicts) / len(texts), 4)
    return out


def set_report(name: str, items: list[dict[str, Any]], configs: dict[str, list[str]]) -> dict[str, Any]:
    """One set under each configuration: printed, and the default's figures as ``{name}_...`` summary keys (the
    old default, lexicon + pattern, as ``{name}_lexicon_pattern_...``)."""
    summary: dict[str, Any] = {}
    for config, layers in configs.items():
        if config == "baseline_lexicon":
            continue
        report = _evaluate(items, layers)
        print(
            f"== {name} ({len(items)} items), {config}: recall {report['recall']:.3f} "
            f"(category {report['category_recall']:.3f}), false blocks {report['false_block_rate']:.3f}, "
            f"false flags {report['false_flag_rate']:.3f}; per category {report['per_category_recall']}"
        )
        if config == "default":
            print(f"   per risk {report['per_risk_recall']}")
            print(f"   per variant {report['per_variant_recall']}")
            print(f"   agreement rule would move to block: {report['agreement_flag_to_block']}")
        prefix = name if config == "default" else f"{name}_{config}"
        summary.update({f"{prefix}_{key}": report[key] for key in REPORT_KEYS})
        if config == "default":
            summary[f"{name}_agreement_flag_to_block"] = report["agreement_flag_to_block"]
    return summary


def main() -> None:
    import django

    django.setup()
    items = _read(DATA)
    configs = dict(CONFIGS)
    if "--no-classifier" in sys.argv[1:]:
        for name in CLASSIFIER_CONFIGS:
            configs.pop(name)
    unseen = "--no-unseen" not in sys.argv[1:]
    cost = classifier_cost() if "default" in configs else {}
    summary: dict[str, Any] = {"bench": "safety_quality", "harmful": sum(i["label"] == "harmful" for i in items),
                               "benign": sum(i["label"] == "benign" for i in items),
                               "default_layers": configs.get("default", CONFIGS["lexicon_pattern"])}
    main_report = {name: _evaluate(items, layers) for name, layers in configs.items()}
    held_out = {name: _evaluate([i for i in items if i["id"] % 2 == 1], layers) for name, layers in configs.items()}
    for name, report in main_report.items():
        print(
            f"== main, {name}: recall {report['recall']:.3f} (category {report['category_recall']:.3f}), "
            f"false blocks {report['false_block_rate']:.3f}, false flags {report['false_flag_rate']:.3f}; "
            f"held-out half: recall {held_out[name]['recall']:.3f} (category {held_out[name]['category_recall']:.3f}),"
            f" false blocks {held_out[name]['false_block_rate']:.3f}, false flags "
            f"{held_out[name]['false_flag_rate']:.3f}"
        )
        print(f"   per category {report['per_category_recall']}; per variant {report['per_variant_recall']}")
        prefix = "main" if name == "default" else f"main_{name}"
        summary.update({f"{prefix}_{key}": report[key] for key in REPORT_KEYS})
        summary.update({f"{prefix}_held_out_{key}": held_out[name][key] for key in REPORT_KEYS})
    summary.update(set_report("fresh", fresh_items(), configs))
    if unseen:
        summary.update(set_report("postfreeze", _read(POSTFREEZE), configs))
    summary.update(set_report("blind", _read(BLIND), configs))
    if unseen and BLIND2.exists():
        blind2 = _read(BLIND2)
        summary.update(set_report("blind2", blind2, configs))
        summary["blind2_items"] = len(blind2)
    elif unseen:
        print("== blind2: bench/data/compliance/safety_blind2.jsonl not found, skipped")
    summary["blind2_available"] = BLIND2.exists()
    if unseen:
        blind3 = _read(BLIND3)
        summary.update(set_report("blind3", blind3, configs))
        summary["blind3_items"] = len(blind3)
    if "default" in configs:
        records = records_false_flags()
        summary.update(records)
        summary["nearest_exemplar_to_blind"] = nearest_exemplar(_read(BLIND))
        print(f"== generated records (whole, benign), default layers: {records}; "
              f"nearest exemplars to blind texts: {summary['nearest_exemplar_to_blind']}")
        default = _evaluate(_read(BLIND), configs["default"])
        for text in default["_missed"][:15]:
            print(f"   blind missed: {text}")
        for text, hits in default["_false"][:10]:
            print(f"   blind false: {text} {hits}")
    if cost:
        print(
            f"== classifier cost: cold load {cost['classifier_load_seconds']} s; ms per record (default layers), "
            f"zh ~{cost['records_zh_chars']} chars: {cost['records_zh_ms_single']} single, "
            f"{cost['records_zh_ms_batched']} batched, embedded share {cost['records_zh_embedded_share']}; "
            f"en ~{cost['records_en_chars']} chars: {cost['records_en_ms_single']} single, "
            f"{cost['records_en_ms_batched']} batched, embedded share {cost['records_en_embedded_share']}; "
            f"load average {cost['load_average']}"
        )
    summary.update(cost)
    summary["lexicon_overlap_items"] = lexicon_overlap(items)
    summary["note"] = "shared 2-core machine"
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
