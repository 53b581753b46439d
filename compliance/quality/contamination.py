"""Decontamination gate: n-gram overlap with registered benchmark sets (C-Eval, CMMLU, GSM8K, CLUE, ...).

Chinese text is compared by character n-grams, English by word n-grams. A benchmark is indexed once
(``build_index``: the set of 64-bit hashes of its items' n-grams); a record sharing at least
``min_shared`` n-grams with one benchmark is contaminated, dropped, and the report names the benchmark.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .text import CJK_CHAR, hash64, is_cjk, normalise
from .types import GateOutcome, QualityItem, rate_outcome

NAME = "contamination"
ZH_CHARS = 13
EN_WORDS = 8
_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")


def ngram_strings(text: str) -> list[str]:
    """Character 13-grams of the CJK characters (Chinese) or word 8-grams (English)."""
    folded = normalise(text)
    if is_cjk(folded):
        chars = "".join(CJK_CHAR.findall(folded))
        return [chars[i : i + ZH_CHARS] for i in range(len(chars) - ZH_CHARS + 1)]
    words = _WORD.findall(folded)
    return [" ".join(words[i : i + EN_WORDS]) for i in range(len(words) - EN_WORDS + 1)]


def build_index(items: Iterable[str]) -> set[int]:
    index: set[int] = set()
    for text in items:
        index.update(hash64(g) for g in ngram_strings(text))
    return index


@dataclass(frozen=True)
class BenchmarkIndex:
    name: str
    hashes: frozenset[int]


def contamination_gate(
    items: Sequence[QualityItem], *, benchmarks: Sequence[BenchmarkIndex], min_shared: int, max_rate: float
) -> GateOutcome:
    if not benchmarks:
        outcome = GateOutcome(NAME, True, 0.0, max_rate, "no benchmark sets registered: nothing to compare with",
                              drop=True)
        outcome.metrics = {"benchmarks": []}
        return outcome
    hits: dict[str, int] = {b.name: 0 for b in benchmarks}
    flagged: list[tuple[str, str, int, str]] = []
    for item in items:
        grams = ngram_strings(item.text)
        hashed = [hash64(g) for g in grams]
        for bench in benchmarks:
            shared = [g for g, h in zip(grams, hashed, strict=True) if h in bench.hashes]
            if len(set(shared)) >= min_shared:
                hits[bench.name] += 1
                flagged.append((item.id, bench.name, len(set(shared)), shared[0]))
                break
    outcome = rate_outcome(NAME, flagged=len(flagged), total=len(items), max_rate=max_rate,
                           what="overlap a registered benchmark", drop=True)
    for item_id, bench_name, count, example in flagged:
        outcome.flag(item_id, f"contaminated: shares {count} n-grams with benchmark '{bench_name}'", example)
    outcome.metrics = {"benchmarks": [b.name for b in benchmarks], "contaminated_by_benchmark": hits,
                       "min_shared_ngrams": min_shared, "zh_char_n": ZH_CHARS, "en_word_n": EN_WORDS}
    return outcome
