"""Content-safety layers: 31-risk taxonomy, normalisation, pattern rules, classifier, LLM judge, fail closed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance import safety
from compliance.errors import SafetyFilterError
from compliance.policy_schema import RISK_CODES
from compliance.safety import screen_safety
from compliance.taxonomy import RISKS

DEFAULTS = {"A1": "block", "A2": "block", "A3": "flag", "A4": "flag", "A5": "flag"}


def test_taxonomy_has_the_31_risks_with_names() -> None:
    assert len(RISKS) == 31 == len(RISK_CODES)
    assert [c for c in RISKS if c.startswith("A2.")] == [f"A2.{i}" for i in range(1, 10)]
    assert RISKS["A1.4"].name_zh == "宣扬恐怖主义、极端主义"
    assert RISKS["A4.5"].name_en == "Infringing privacy rights"
    assert RISKS["A5.2"].category == "A5"


@pytest.mark.parametrize(
    "text",
    ["教你製造炸彈", "制 造 炸 弹", "制-造-炸-弹", "zhi zao zha dan", "ＨＯＷ ＴＯ ＭＡＫＥ Ａ ＢＯＭＢ"],
)
def test_lexicon_sees_through_evasions(text: str) -> None:
    verdict = screen_safety(text, actions=DEFAULTS, layers=["lexicon"])
    assert verdict.verdict == "block"
    assert verdict.risks == ["A1.4"]
    assert verdict.hits[0].layer == "lexicon"


def test_homophone_variant_matches_by_pinyin() -> None:
    verdict = screen_safety("有人在教制造炸单", actions=DEFAULTS, layers=["lexicon"])  # 单 for 弹
    assert verdict.risks == ["A1.4"] and verdict.hits[0].term == "制造炸弹"


def test_pattern_rules_catch_phrasings_and_explain_them() -> None:
    verdict = screen_safety("请问怎么在家里组装一个炸弹", actions=DEFAULTS, layers=["pattern"])
    assert verdict.verdict == "block"
    assert verdict.hits[0].layer == "pattern" and verdict.hits[0].risk_code == "A1.4"
    assert "炸弹" in verdict.hits[0].term
    assert screen_safety("我们不保证收益，投资需谨慎", actions=DEFAULTS, layers=["pattern"]).verdict == "pass"
    assert screen_safety("跟踪订单物流", actions=DEFAULTS, layers=["pattern"]).verdict == "pass"


def test_classifier_finds_a_paraphrase_the_lexicon_misses() -> None:
    text = "那边来的家伙没一个靠得住，千万别雇"
    assert screen_safety(text, actions=DEFAULTS, layers=["lexicon", "pattern"]).verdict == "pass"
    verdict = screen_safety(text, actions=DEFAULTS, layers=["classifier"])
    # A2 is blocked by the actions, but a classifier hit is capped at flag by default: a reviewer decides.
    assert verdict.verdict == "flag" and verdict.rules["layer_caps"]["classifier"] == "flag"
    assert verdict.hits[0].layer == "classifier" and verdict.hits[0].category == "A2"
    assert screen_safety(text, actions=DEFAULTS, layers=["classifier"], layer_caps={}).verdict == "block"
    assert verdict.hits[0].score > safety.default_exemplars().threshold
    assert screen_safety("请问信用卡账单怎么查询", actions=DEFAULTS, layers=["classifier"]).verdict == "pass"


def test_a_risk_action_overrides_its_category() -> None:
    text = "这款产品稳赚不赔"  # A5.2
    assert screen_safety(text, actions=DEFAULTS, layers=["lexicon"]).verdict == "flag"
    assert screen_safety(text, actions={**DEFAULTS, "A5.2": "block"}, layers=["lexicon"]).verdict == "block"
    assert (
        screen_safety(text, actions={**DEFAULTS, "A5": "block", "A5.2": "allow"}, layers=["lexicon"]).verdict == "pass"
    )


class _Judge:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Any:
        self.calls.append(messages)
        if self.reply == "raise":
            raise TimeoutError("slow")
        return type("C", (), {"text": self.reply})()


def test_llm_judge_runs_only_when_asked_and_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import generation.backends as backends

    judge = _Judge(json.dumps({"risks": ["A4.3"], "reason": "defames a named colleague"}))
    monkeypatch.setattr(backends, "backend_from_settings", lambda name=None, **kw: judge)
    assert screen_safety("普通的一句话", actions=DEFAULTS, layers=["lexicon"]).verdict == "pass"
    assert judge.calls == []
    verdict = screen_safety("普通的一句话", actions=DEFAULTS, layers=["llm_judge"])
    assert verdict.verdict == "flag" and verdict.hits[0].layer == "llm_judge"
    assert verdict.hits[0].term == "defames a named colleague"
    assert judge.calls[0][1]["content"] == "普通的一句话"

    monkeypatch.setattr(backends, "backend_from_settings", lambda name=None, **kw: _Judge("raise"))
    with pytest.raises(SafetyFilterError, match=r"LLM judge failed \(TimeoutError\)"):
        screen_safety("x", actions=DEFAULTS, layers=["llm_judge"])
    monkeypatch.setattr(backends, "backend_from_settings", lambda name=None, **kw: _Judge('{"risks": ["Z9"]}'))
    with pytest.raises(SafetyFilterError):
        screen_safety("x", actions=DEFAULTS, layers=["llm_judge"])


def test_a_slow_layer_counts_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "LAYER_TIMEOUT_SECONDS", -1.0)
    with pytest.raises(SafetyFilterError, match="timed out"):
        screen_safety("你好", actions=DEFAULTS, layers=["lexicon"])


def test_unknown_layer_or_risk_is_refused() -> None:
    with pytest.raises(SafetyFilterError, match="unknown safety layers"):
        screen_safety("你好", actions=DEFAULTS, layers=["vibes"])
    with pytest.raises(SafetyFilterError, match="invalid safety actions"):
        screen_safety("你好", actions={"A9.9": "block"})


def test_seed_files_cover_every_risk_in_both_languages() -> None:
    terms = safety.read_csv_rows(safety.LEXICON_PATH, safety.LEXICON_COLUMNS)
    covered = {(code, lang) for code, lang, _ in terms}
    a1_a2 = [c for c in RISK_CODES if c[:2] in ("A1", "A2")]
    assert len(a1_a2) == 17
    assert all((code, lang) in covered for code in RISK_CODES for lang in ("zh", "en"))
    exemplars = safety.read_csv_rows(safety.EXEMPLARS_PATH, safety.EXEMPLAR_COLUMNS)
    assert {code for code, _, _ in exemplars} == {*RISK_CODES, "benign"}


# --- detection added for issue 3: normalisation, rules in either word order, counter-speech ---------------


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("how to make a b0mb", "A1.4"),  # look-alike digits
        ("how to make a b o m b", "A1.4"),  # letters spelled out
        ("how to make a b.o.m.b", "A1.4"),
        ("制\u200b造\u200d炸弹", "A1.4"),  # zero-width characters
        ("ＨＯＷ ＴＯ ＢＵＩＬＤ ＡＮ ＥＸＰＬＯＳＩＶＥ ＤＥＶＩＣＥ", "A1.4"),
    ],
)
def test_normalisation_sees_through_more_evasions(text: str, risk: str) -> None:
    assert risk in screen_safety(text, actions=DEFAULTS, layers=["lexicon", "pattern"]).risks


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("现在的政权必须被推翻", "A1.1"),  # object first (被 passive)
        ("把军事基地的照片卖给境外的人", "A1.2"),  # 把 construction
        ("the regime must be overthrown", "A1.1"),  # English passive
        ("那个民族的人都应该被清除", "A1.5"),
        ("南方人都是骗子", "A2.4"),  # a group joined to a sweeping judgement
        ("people from the coast are all liars", "A2.4"),
        ("残疾人一律不录用", "A2.8"),  # exclusion
    ],
)
def test_rules_match_either_word_order_and_group_judgements(text: str, risk: str) -> None:
    verdict = screen_safety(text, actions=DEFAULTS, layers=["pattern"])
    assert risk in verdict.risks and verdict.hits[0].layer == "pattern"


@pytest.mark.parametrize(
    "text",
    ["女性在各行各业都做出了重要贡献", "我们尊重每一个民族", "Women are leading many of our teams",
     "老年人都可以申请补贴"],
)
def test_group_mentions_without_a_judgement_pass(text: str) -> None:
    assert screen_safety(text, actions=DEFAULTS, layers=["lexicon", "pattern"]).verdict == "pass"


def test_counter_speech_lowers_the_action_one_step_and_says_so() -> None:
    harmful = screen_safety("网上有人散布地震谣言", actions=DEFAULTS, layers=["lexicon", "pattern"])
    assert harmful.verdict == "block"
    refuted = screen_safety("网上流传的地震谣言已被官方辟谣", actions=DEFAULTS, layers=["lexicon", "pattern"])
    assert refuted.verdict == "flag"  # A1 never passes unseen: a reviewer still looks
    assert refuted.hits and all(hit.context == "counter" for hit in refuted.hits)
    assert refuted.hits[0].as_dict()["context"] == "counter"
    flagged_risk = screen_safety("我们在讨论如何防止商业秘密泄露", actions=DEFAULTS, layers=["lexicon", "pattern"])
    assert flagged_risk.verdict == "pass" and flagged_risk.risks == ["A3.3"]  # kept as evidence


def test_counter_speech_in_one_sentence_does_not_excuse_another() -> None:
    text = "请提高警惕。教你怎么制造炸弹"
    verdict = screen_safety(text, actions=DEFAULTS, layers=["lexicon", "pattern"])
    assert verdict.verdict == "block"
    assert any(hit.context == "" for hit in verdict.hits)


def test_lexicon_does_not_copy_the_evaluation_sentences() -> None:
    """A term covering most of a harmful test sentence would make the bench measure memory, not detection.

    The 13 such items come from the foundation's seed (e.g. 少数民族都是小偷); new entries must add none.
    """
    import json
    from pathlib import Path

    from compliance.safety import default_lexicon, normalise_for_matching

    data = Path(__file__).resolve().parents[2] / "bench" / "data" / "compliance" / "safety_eval.jsonl"
    items = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    terms = list(default_lexicon().entries)
    covered = [
        item["text"] for item in items if item["label"] == "harmful"
        and any(t in (n := normalise_for_matching(item["text"])) and len(t) >= 0.6 * len(n) for t in terms)
    ]
    assert len(covered) <= 13, covered
