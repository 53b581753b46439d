"""PII masking throughput: records/s for ~200-character records, ours vs a vanilla Presidio analyze + anonymize
loop, in the same run, with the recall each achieves on the planted values of those records.

Records are built by joining sentences of bench/data/compliance/pii_eval.jsonl until they reach ~200
characters (Chinese and English mixed as in the set). Ours: ``PiiEngine.prime`` over a batch (name models
run in batches, only on the parts of text that can hold a name) and then ``mask`` per record. Vanilla:
AnalyzerEngine with Presidio's predefined recognizers (en_core_web_sm for English, blank char pipeline for
Chinese) and AnonymizerEngine's default replace, one record at a time.
Prints a JSON line last. Run: .venv/bin/python bench/pii_throughput.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pii_quality import coverage, load, vanilla  # noqa: E402

TARGET_CHARS = 200
BATCH = 64


def build_records(n: int) -> list[dict[str, Any]]:
    lines = load()
    records, i = [], 0
    while len(records) < n:
        text, spans, lang = "", [], lines[i % len(lines)]["lang"]
        while len(text) < TARGET_CHARS:
            line = lines[i % len(lines)]
            i += 1
            sep = "" if not text else (" " if lang == "en" else "")
            offset = len(text) + len(sep)
            text += sep + line["text"]
            spans += [{**s, "start": s["start"] + offset, "end": s["end"] + offset} for s in line["spans"]]
        records.append(
            {"text": text, "spans": spans, "lang": "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"}
        )
    return records


def recall(records: list[dict[str, Any]], findings: list[list[tuple[str, int, int]]]) -> float:
    total = found = 0
    for record, found_here in zip(records, findings, strict=True):
        for span in record["spans"]:
            total += 1
            found += coverage(record["text"], span, found_here) >= 0.5
    return round(found / total, 4) if total else 0.0


def run_ours(records: list[dict[str, Any]]) -> tuple[float, list[list[tuple[str, int, int]]]]:
    from compliance.ner import _cache
    from compliance.pii import get_pii_engine

    engine = get_pii_engine()
    engine.mask("预热 warm up 张伟 John", operators={}, hmac_key=b"k")
    _cache._data.clear()  # no head start from the warm-up or an earlier run
    operators = {"PERSON": "hash", "CN_RESIDENT_ID": "hash"}
    out: list[list[tuple[str, int, int]]] = []
    started = time.perf_counter()
    for i in range(0, len(records), BATCH):
        chunk = records[i : i + BATCH]
        engine.prime([r["text"] for r in chunk])
        for record in chunk:
            result = engine.mask(record["text"], operators=operators, hmac_key=b"bench-key")
            out.append([(f.entity_type, f.start, f.end) for f in result.findings])
    return time.perf_counter() - started, out


def run_vanilla(records: list[dict[str, Any]]) -> tuple[float, list[list[tuple[str, int, int]]]]:
    from presidio_anonymizer import AnonymizerEngine

    analyze = vanilla()
    analyzer = analyze.__closure__[0].cell_contents  # type: ignore[attr-defined]
    anonymizer = AnonymizerEngine()
    analyzer.analyze(text="warm up John", language="en")
    out: list[list[tuple[str, int, int]]] = []
    started = time.perf_counter()
    for record in records:
        results = analyzer.analyze(text=record["text"], language=record["lang"])
        anonymizer.anonymize(text=record["text"], analyzer_results=results)
        out.append([(r.entity_type, r.start, r.end) for r in results if r.score >= 0.5])
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=600)
    args = parser.parse_args()
    records = build_records(args.records)
    mean_chars = sum(len(r["text"]) for r in records) / len(records)
    vanilla_seconds, vanilla_findings = run_vanilla(records)
    ours_seconds, ours_findings = run_ours(records)
    result = {
        "bench": "pii_throughput",
        "records": len(records),
        "mean_chars": round(mean_chars, 1),
        "ours_records_per_s": round(len(records) / ours_seconds, 1),
        "vanilla_records_per_s": round(len(records) / vanilla_seconds, 1),
        "speedup": round(vanilla_seconds / ours_seconds, 2),
        "ours_recall": recall(records, ours_findings),
        "vanilla_recall": recall(records, vanilla_findings),
        "cpu_count": os.cpu_count(),
        "note": "shared 2-core machine; other engineers' jobs were running",
    }
    print(
        f"ours {result['ours_records_per_s']} rec/s, vanilla {result['vanilla_records_per_s']} rec/s, "
        f"speed-up {result['speedup']}x; recall ours {result['ours_recall']} vs vanilla {result['vanilla_recall']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
