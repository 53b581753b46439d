"""Run the whole quality suite over a batch of records and assemble one report.

Each gate runs on its own; a gate that raises fails (never passes) with the error as its detail, so
the dataset is held back and the reason recorded. ``drop_ids`` are the records the dropping gates
(consistency, math, duplicate, contamination) flagged: they must not ship.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .acceptance import sampled_acceptance
from .consistency import consistency_gate
from .contamination import BenchmarkIndex, contamination_gate
from .dedup import PriorText, duplicate_gate
from .diversity import diversity_gate, normalise_mix
from .embeddings import Embedder, get_embedder
from .maths import math_gate
from .novelty import novelty_gate
from .relevance import relevance_gate
from .thresholds import quality_thresholds
from .types import Flag, GateOutcome, QualityItem

GATE_NAMES = ("consistency", "math", "duplicate", "diversity", "relevance", "contamination", "novelty",
              "sampled_acceptance")
RECORD_GATES = ("consistency", "math", "duplicate", "relevance", "contamination")
EMBEDDING_GATES = frozenset({"diversity", "relevance"})


@dataclass
class SuiteContext:
    topic: str = ""
    requested_mix: Mapping[str, float] | list[str] | None = None
    sources: Sequence[str] = ()
    prior: Sequence[PriorText] = ()
    benchmarks: Sequence[BenchmarkIndex] = ()
    screening_held: int = 0
    judge: Any = None
    embedder: Embedder | None = None  # None: the best offline embedder
    use_embeddings: bool = True
    seed: int = 0
    gates: Sequence[str] = GATE_NAMES


@dataclass
class SuiteReport:
    outcomes: list[GateOutcome]
    thresholds: dict[str, float]
    similarities: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    total: int = 0

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def outcome(self, name: str) -> GateOutcome | None:
        return next((o for o in self.outcomes if o.name == name), None)

    def flags_by_record(self) -> dict[str, list[Flag]]:
        merged: dict[str, list[Flag]] = {}
        for outcome in self.outcomes:
            for item_id, flags in outcome.flags.items():
                merged.setdefault(item_id, []).extend(flags)
        return merged

    def drop_ids(self) -> set[str]:
        return {item_id for o in self.outcomes if o.drop for item_id in o.flags}

    def gates_as_dicts(self, *, examples: int = 5) -> list[dict[str, Any]]:
        return [o.as_dict(examples=examples) for o in self.outcomes]

    def as_dict(self) -> dict[str, Any]:
        flags = self.flags_by_record()
        return {
            "passed": self.passed,
            "records": self.total,
            "gates": self.gates_as_dicts(),
            "thresholds": self.thresholds,
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "flags": [{"id": item_id, "flags": [f.as_dict() for f in fl]} for item_id, fl in flags.items()],
        }


def _failed(name: str, threshold: float, exc: BaseException) -> GateOutcome:
    return GateOutcome(name, False, 1.0, threshold, f"gate error, dataset held back: {type(exc).__name__}: {exc}")


def run_quality_suite(
    items: Sequence[QualityItem], *, context: SuiteContext, overrides: Mapping[str, Any] | None = None
) -> SuiteReport:
    """Run the gates in ``context.gates``. Raises QualityGateError only for invalid threshold overrides."""
    t = quality_thresholds(overrides)
    items = list(items)
    report = SuiteReport(outcomes=[], thresholds=t, total=len(items), lengths=[len(i.text) for i in items])
    embedder = None
    if context.use_embeddings and EMBEDDING_GATES & set(context.gates):
        embedder = context.embedder or get_embedder()
    mix = normalise_mix(context.requested_mix) if context.requested_mix else {}

    outcomes: dict[str, GateOutcome] = {}

    def run(name: str, threshold: float, call: Callable[[], GateOutcome]) -> None:
        if name not in context.gates:
            return
        started = time.perf_counter()
        try:
            outcomes[name] = call()
        except Exception as exc:  # noqa: BLE001 - a gate that cannot run fails the dataset, never passes it
            outcomes[name] = _failed(name, threshold, exc)
        report.timings[name] = time.perf_counter() - started

    def relevance() -> GateOutcome:
        outcome, report.similarities = relevance_gate(
            items, topic=context.topic, embedder=embedder, min_relevance=t["min_relevance"],
            max_rate=t["max_off_topic_rate"], max_records=int(t["embedding_max_records"]),
            borderline_band=t["relevance_borderline_band"], max_borderline=int(t["relevance_max_borderline_embeds"]),
            seed=context.seed)
        return outcome

    def side_gates() -> None:
        # The gates that touch neither the database nor the embedder run on a second thread while the embedding
        # gates run on this one (whose database connection the embedding store uses). The embedding model
        # releases the GIL, so on two cores the two halves overlap instead of adding up.
        run("consistency", t["max_inconsistent_rate"],
            lambda: consistency_gate(items, max_rate=t["max_inconsistent_rate"], judge=context.judge))
        run("math", t["max_math_error_rate"], lambda: math_gate(items, max_rate=t["max_math_error_rate"]))
        run("duplicate", t["max_near_duplicate_rate"],
            lambda: duplicate_gate(items, max_rate=t["max_near_duplicate_rate"], jaccard=t["near_duplicate_jaccard"],
                                   prior=context.prior))
        run("contamination", t["max_contaminated_rate"],
            lambda: contamination_gate(items, benchmarks=context.benchmarks,
                                       min_shared=int(t["contamination_min_shared_ngrams"]),
                                       max_rate=t["max_contaminated_rate"]))
        run("novelty", t["min_unseen_ngram_share"],
            lambda: novelty_gate(items, sources=context.sources, min_share=t["min_unseen_ngram_share"]))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gates") as pool:
        side = pool.submit(side_gates)
        run("diversity", t["min_distinct_2"],
            lambda: diversity_gate(items, thresholds=t, embedder=embedder, requested_mix=mix, seed=context.seed,
                                   spread_sample=int(t["embedding_max_records"])))
        run("relevance", t["max_off_topic_rate"], relevance)
        side.result()  # run() catches what a gate raises; anything else is a bug and surfaces here
    failing = {item_id for name in RECORD_GATES if name in outcomes for item_id in outcomes[name].flags}
    run("sampled_acceptance", t["min_sample_pass_rate"],
        lambda: sampled_acceptance(ids=[i.id for i in items], failing_ids=failing,
                                   screening_held=context.screening_held, thresholds=t, seed=context.seed))
    report.outcomes = [outcomes[name] for name in GATE_NAMES if name in outcomes]
    return report
