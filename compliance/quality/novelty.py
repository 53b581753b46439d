"""Novelty, named for what it measures: the unseen 3-gram share.

For each record: the share of its distinct token 3-grams that occur in no source document and in no
other record of the dataset. It measures surface novelty only (new wording and new combinations),
not new knowledge; GGMI-style information gain would need the target model, which we do not have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .text import ngrams, tokens
from .types import GateOutcome, QualityItem

NAME = "novelty"
METRIC = "unseen_3gram_share"


def unseen_ngram_shares(items: Sequence[QualityItem], sources: Sequence[str]) -> list[float]:
    grams = [set(ngrams(tokens(item.text), 3)) for item in items]
    in_records = Counter(g for record in grams for g in record)
    in_sources = {g for text in sources for g in ngrams(tokens(text), 3)}
    shares = []
    for record in grams:
        if not record:
            shares.append(0.0)
            continue
        unseen = sum(1 for g in record if in_records[g] == 1 and g not in in_sources)
        shares.append(unseen / len(record))
    return shares


def novelty_gate(items: Sequence[QualityItem], *, sources: Sequence[str], min_share: float) -> GateOutcome:
    if not items:
        return GateOutcome(NAME, False, 0.0, min_share, "cannot compute: no records", ">=")
    shares = unseen_ngram_shares(items, sources)
    mean = sum(shares) / len(shares)
    passed = mean >= min_share
    outcome = GateOutcome(
        NAME, passed, mean, min_share,
        f"mean {METRIC} {mean:.4f} {'>=' if passed else '<'} min {min_share} "
        f"(3-grams found in no source and no other record)", ">=",
    )
    ordered = sorted(shares)
    outcome.metrics = {"metric_name": METRIC, "mean": round(mean, 4), "median": round(ordered[len(ordered) // 2], 4),
                       "records_with_nothing_new": sum(1 for s in shares if s == 0.0), "sources": len(sources)}
    return outcome
