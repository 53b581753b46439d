"""Quality-gate thresholds: defaults, ranges and validation of per-policy overrides.

Defaults follow GB/T 45654 for acceptance (a sample of min(4000, all) records passes at >= 96%; an
automatic check over >= 10% of the data passes at >= 98%). A policy version may override any key in
its ``gate_thresholds``; keys this module does not know are left to ``compliance.policy_schema``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .types import QualityGateError

# name -> (default, minimum, maximum, meaning)
QUALITY_THRESHOLDS: dict[str, tuple[float, float, float, str]] = {
    "max_inconsistent_rate": (0.02, 0.0, 1.0, "share of records that contradict themselves or their instruction"),
    "max_math_error_rate": (0.02, 0.0, 1.0, "share of maths records with a wrong step, answer, unit or percentage"),
    "max_near_duplicate_rate": (0.05, 0.0, 1.0, "share of exact or near duplicates (in-set and vs earlier releases)"),
    "near_duplicate_jaccard": (0.85, 0.3, 1.0, "estimated shingle Jaccard at or above which two records are near-dups"),
    "min_distinct_2": (0.05, 0.0, 1.0, "distinct token bigrams / all token bigrams"),
    "max_compression_ratio": (12.0, 1.0, 1000.0, "raw / zlib-compressed size of the whole set (filler compresses)"),
    "min_embedding_spread": (0.02, 0.0, 2.0, "mean pairwise cosine distance of record embeddings"),
    "max_category_deviation": (0.15, 0.0, 1.0, "total variation distance between requested and actual category mix"),
    "min_relevance": (0.25, 0.0, 1.0, "calibrated relevance (0: unrelated text, 1: the dataset's typical record) "
                      "below which a record is off-topic"),
    "max_off_topic_rate": (0.05, 0.0, 1.0, "share of off-topic records"),
    "contamination_min_shared_ngrams": (2, 1, 1000, "shared benchmark n-grams that make a record contaminated"),
    "max_contaminated_rate": (0.01, 0.0, 1.0, "share of contaminated records (they are dropped either way)"),
    "acceptance_sample_size": (4000, 1, 1_000_000, "GB/T 45654: records in the acceptance sample, min(this, all)"),
    "min_sample_pass_rate": (0.96, 0.0, 1.0, "GB/T 45654: share of the sample that passes every check"),
    "min_technical_coverage": (0.10, 0.0, 1.0, "GB/T 45654: share of all data the automatic check covers"),
    "min_technical_pass_rate": (0.98, 0.0, 1.0, "GB/T 45654: share of checked data that passes the automatic check"),
    "manual_review": (0, 0, 1, "1: approvers must review a sample item by item and its pass rate is part of the gate"),
    "manual_review_sample_size": (4000, 1, 1_000_000, "records in the manual review sample, min(this, all)"),
    "min_manual_pass_rate": (0.96, 0.0, 1.0, "share of reviewed items the approvers passed"),
    "min_unseen_ngram_share": (0.0, 0.0, 1.0, "mean share of 3-grams in no source and no other record"),
    "embedding_max_records": (150, 10, 1_000_000, "records embedded: all up to this many, else a seeded sample that "
                              "gives embedding spread and calibrates the lexical relevance score of every record"),
    "relevance_borderline_band": (0.15, 0.0, 1.0, "records whose lexical relevance is this close to min_relevance "
                                  "are embedded (borderline)"),
    "relevance_max_borderline_embeds": (40, 0, 1_000_000, "most borderline records embedded per dataset "
                                        "(time budget)"),
}
INTEGER_KEYS = frozenset({"contamination_min_shared_ngrams", "acceptance_sample_size", "manual_review",
                          "manual_review_sample_size", "embedding_max_records",
                          "relevance_max_borderline_embeds"})
DEFAULT_QUALITY_THRESHOLDS: dict[str, float] = {name: spec[0] for name, spec in QUALITY_THRESHOLDS.items()}


def validate_quality_thresholds(overrides: Mapping[str, Any]) -> list[str]:
    """Problems with the quality keys in ``overrides`` (unknown keys are ignored: they belong to others)."""
    problems = []
    for name, value in overrides.items():
        if name not in QUALITY_THRESHOLDS:
            continue
        _, low, high, _ = QUALITY_THRESHOLDS[name]
        numeric = not isinstance(value, bool) and isinstance(value, int | float) and not math.isnan(value)
        if not numeric or not low <= value <= high:
            problems.append(f"{name} must be a number from {low} to {high}, got {value!r}")
        elif name in INTEGER_KEYS and value != int(value):
            problems.append(f"{name} must be a whole number, got {value!r}")
    return problems


def quality_thresholds(overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Defaults with the policy's overrides applied. Raises QualityGateError for an invalid override."""
    overrides = dict(overrides or {})
    problems = validate_quality_thresholds(overrides)
    if problems:
        raise QualityGateError("invalid quality thresholds: " + "; ".join(problems))
    merged = dict(DEFAULT_QUALITY_THRESHOLDS)
    merged.update({k: v for k, v in overrides.items() if k in QUALITY_THRESHOLDS})
    return merged
