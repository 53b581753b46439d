from __future__ import annotations

import pytest

from compliance.quality.acceptance import manual_review, sampled_acceptance
from compliance.quality.contamination import BenchmarkIndex, build_index, contamination_gate
from compliance.quality.dedup import PriorText, duplicate_gate
from compliance.quality.diversity import category_coverage, compression_ratio, distinct_n, diversity_gate
from compliance.quality.novelty import novelty_gate, unseen_ngram_shares
from compliance.quality.relevance import relevance_gate
from compliance.quality.thresholds import DEFAULT_QUALITY_THRESHOLDS, quality_thresholds, validate_quality_thresholds
from compliance.quality.types import QualityGateError, QualityItem

BASE = "您好，信用卡挂失需要先核实身份，请提供您的姓名和预留手机号，我们会立即冻结卡片并为您补办新卡，新卡七个工作日内寄出。"  # noqa: E501


def qi(item_id: str, text: str, category: str = "") -> QualityItem:
    return QualityItem(item_id, "", text, "qa", category)


def test_exact_and_near_duplicates_are_flagged_with_their_original() -> None:
    near = BASE.replace("七个", "五个")
    items = [qi("a", BASE), qi("b", "  " + BASE.upper() + "！"), qi("c", near),
             qi("d", "请问房贷提前还款需要收取违约金吗？一般来说合同满一年后提前还款不收取违约金。")]
    outcome = duplicate_gate(items, max_rate=0.05, jaccard=0.85)
    assert outcome.flags["b"][0].reason == "exact duplicate of record a"
    assert outcome.flags["c"][0].reason.startswith("near duplicate of record a (shingle Jaccard")
    assert "d" not in outcome.flags and "a" not in outcome.flags
    assert outcome.metrics["exact"] == 1 and outcome.metrics["near"] == 1
    assert outcome.metric == 0.5 and outcome.passed is False and outcome.drop is True


def test_near_duplicate_verdict_is_the_exact_shingle_jaccard_at_the_threshold() -> None:
    """Templated records that differ only in their ids: the verdict flips exactly at their shingle Jaccard."""
    from compliance.quality.text import ngrams, tokens

    def jaccard(a: str, b: str) -> float:
        x, y = set(ngrams(tokens(a), 3)), set(ngrams(tokens(b), 3))
        return len(x & y) / len(x | y)

    template = "个人所得税年度汇算（编号 {}）需要准备身份证件、收入和专项附加扣除的相关凭证。（编号 {}）"
    items = [qi(f"t{i}", template.format(f"q{i:04x}", f"a{i * 7919:06x}")) for i in range(60)]
    similarity = jaccard(items[0].text, items[1].text)
    assert 0.75 < similarity < 0.9
    assert {round(jaccard(items[0].text, item.text), 12) for item in items[1:]} == {round(similarity, 12)}
    outcome = duplicate_gate(items, max_rate=0.05, jaccard=similarity + 1e-9)
    assert outcome.flags == {}
    at = duplicate_gate(items, max_rate=0.05, jaccard=similarity - 1e-9)
    # LSH banding may miss a few candidate pairs (it is probabilistic); whatever it finds is judged exactly.
    assert len(at.flags) >= 50 and "t0" not in at.flags
    for item_id, flags in at.flags.items():
        original = flags[0].reason.removeprefix("near duplicate of record ").split(" ")[0]
        assert flags[0].reason.endswith(f"(shingle Jaccard {similarity:.2f})")
        assert original not in at.flags and int(original[1:]) < int(item_id[1:])


def test_templated_records_with_many_candidates_get_the_exact_verdict_of_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One phrasing with a few details changed: a record is an LSH candidate of dozens of others (checked all
    # at once with numpy), some pairs reach the threshold and some do not. Every verdict is the exact shingle
    # Jaccard, and the same as checking the candidates one by one.
    import random
    import re

    from compliance.quality import dedup
    from compliance.quality.dedup import FEW_CANDIDATES, SHINGLE
    from compliance.quality.text import tokens

    rng = random.Random(11)
    words = ["北京", "上海", "广州", "深圳", "杭州", "南京", "信用卡", "储蓄卡", "房贷", "车贷", "理财", "外汇"]
    template = "业务请携带身份证件到网点办理，具体以网点公告为准，如有疑问请拨打客服热线咨询，"
    items = [QualityItem(f"t{i}", "", "您好，" + "的".join(rng.choice(words) for _ in range(3)) + template
                         + f"编号{rng.randrange(30)}") for i in range(200)]
    outcome = duplicate_gate(items, max_rate=0.05, jaccard=0.85)

    def shingles(text: str) -> set[tuple[str, ...]]:
        toks = tokens(text)
        return {tuple(toks[k:k + SHINGLE]) for k in range(len(toks) - SHINGLE + 1)}

    def jaccard(a: str, b: str) -> float:
        x, y = shingles(a), shingles(b)
        return len(x & y) / len(x | y)

    by_id = {item.id: item.text for item in items}
    kept: list[str] = []
    for item in items:
        reasons = [f.reason for f in outcome.flags.get(item.id, [])]
        if not reasons:
            kept.append(item.id)
        elif reasons[0].startswith("near duplicate"):
            found = re.fullmatch(r"near duplicate of record (\S+) \(shingle Jaccard ([\d.]+)\)", reasons[0])
            assert found is not None
            other, value = found.groups()
            assert other in kept and jaccard(item.text, by_id[other]) >= 0.85
            assert float(value) >= 0.85 and value == f"{jaccard(item.text, by_id[other]):.2f}"
    assert outcome.metrics["near"] > 20 and len(kept) > 4 * FEW_CANDIDATES  # both verdicts, both paths of the check
    monkeypatch.setattr(dedup, "FEW_CANDIDATES", len(items))  # every check one by one, with Python sets
    one_by_one = duplicate_gate(items, max_rate=0.05, jaccard=0.85)
    assert one_by_one.flags == outcome.flags and one_by_one.metrics == outcome.metrics


def test_duplicates_of_earlier_releases_name_the_dataset() -> None:
    prior = [PriorText(dataset_id=7, record_id="req3-slot0", text=BASE)]
    outcome = duplicate_gate([qi("x", BASE.replace("七个", "五个"))], max_rate=0.0, jaccard=0.85, prior=prior)
    assert outcome.flags["x"][0].reason.startswith("near duplicate of dataset 7 record req3-slot0")
    assert outcome.metrics["against_earlier_releases"] == 1


def test_distinct_n_and_compression() -> None:
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert compression_ratio(["filler text " * 200]) > 20 > compression_ratio([BASE])


def test_category_coverage_and_diversity_gate_against_requested_mix(hashed_embedder) -> None:
    items = [qi(str(i), f"第{i}条 {BASE[i:]}", "挂失") for i in range(8)] + [qi("8", "房贷利率怎么算", "房贷")]
    coverage = category_coverage(items, {"挂失": 0.5, "房贷": 0.5})
    assert coverage["missing"] == []
    assert coverage["total_variation_distance"] == pytest.approx(0.5 - 1 / 9, abs=1e-4)
    outcome = diversity_gate(items, thresholds=DEFAULT_QUALITY_THRESHOLDS, embedder=hashed_embedder,
                             requested_mix={"挂失": 0.5, "房贷": 0.5})
    assert outcome.passed is False and "category mix" in outcome.detail
    assert outcome.metrics["embedding_spread"] > 0
    balanced = diversity_gate(items, thresholds=DEFAULT_QUALITY_THRESHOLDS, embedder=None,
                              requested_mix={"挂失": 8 / 9, "房贷": 1 / 9})
    assert balanced.passed is True


def test_relevance_flags_the_off_topic_record(hashed_embedder) -> None:
    items = [qi("bank", "信用卡 挂失 补办 银行卡 冻结"), qi("food", "红烧肉 做法 五花肉 冰糖 生抽 焯水")]
    outcome, scores = relevance_gate(items, topic="信用卡 挂失 银行卡", embedder=hashed_embedder,
                                     min_relevance=0.35, max_rate=0.0, max_records=100)
    assert set(outcome.flags) == {"food"}
    assert scores[0] > 0.5 > scores[1]
    assert outcome.passed is False


def test_contamination_drops_records_and_names_the_benchmark() -> None:
    question = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."
    bench = BenchmarkIndex("GSM8K-test", frozenset(build_index([question])))
    items = [qi("copy", "Please solve: " + question + " How many clips?"), qi("clean", BASE),
             qi("zh", "甲乙两人同时从两地出发相向而行经过三小时相遇")]
    zh_bench = BenchmarkIndex("CMMLU", frozenset(build_index(["甲乙两人同时从两地出发相向而行经过三小时相遇求两地距离"])))  # noqa: E501
    outcome = contamination_gate(items, benchmarks=[bench, zh_bench], min_shared=2, max_rate=0.0)
    assert outcome.flags["copy"][0].reason.startswith("contaminated: shares") and "'GSM8K-test'" in \
        outcome.flags["copy"][0].reason
    assert "'CMMLU'" in outcome.flags["zh"][0].reason
    assert "clean" not in outcome.flags
    assert outcome.metrics["contaminated_by_benchmark"] == {"GSM8K-test": 1, "CMMLU": 1}
    assert outcome.drop is True and outcome.passed is False


def test_novelty_measures_unseen_trigrams() -> None:
    items = [qi("a", "甲乙丙丁"), qi("b", "甲乙丙戊")]
    assert unseen_ngram_shares(items, sources=[]) == [0.5, 0.5]  # 甲乙丙 is shared
    assert unseen_ngram_shares(items, sources=["乙丙丁"]) == [0.0, 0.5]
    outcome = novelty_gate(items, sources=["乙丙丁"], min_share=0.3)
    assert outcome.metric == 0.25 and outcome.passed is False
    assert outcome.metrics["metric_name"] == "unseen_3gram_share"


def test_sampled_acceptance_uses_gbt45654_defaults() -> None:
    t = quality_thresholds()
    ids = [str(i) for i in range(100)]
    ok = sampled_acceptance(ids=ids, failing_ids={"1"}, screening_held=0, thresholds=t, seed=1)
    assert ok.passed is True and ok.metric == 0.99 and ok.metrics["sample_size"] == 100
    bad = sampled_acceptance(ids=ids, failing_ids={"1", "2", "3"}, screening_held=0, thresholds=t, seed=1)
    assert bad.passed is False and "technical check pass rate 0.9700 < 0.98" in bad.detail
    small = sampled_acceptance(ids=ids, failing_ids=set(), screening_held=5,
                               thresholds={**t, "acceptance_sample_size": 10}, seed=3)
    assert small.metrics["sample_size"] == 10 and small.metrics["population"] == 105


def test_manual_review_gate() -> None:
    assert manual_review(verdicts=[True, None], min_rate=0.96).detail == "pending: 1 of 2 sampled items reviewed"
    assert manual_review(verdicts=[True] * 24 + [False], min_rate=0.96).passed is True
    assert manual_review(verdicts=[True] * 23 + [False] * 2, min_rate=0.96).passed is False


def test_thresholds_validation() -> None:
    assert quality_thresholds({"min_relevance": 0.5, "max_duplicate_rate": 0.3})["min_relevance"] == 0.5
    assert validate_quality_thresholds({"manual_review": 0.5}) == ["manual_review must be a whole number, got 0.5"]
    with pytest.raises(QualityGateError, match="min_sample_pass_rate must be a number from 0.0 to 1.0"):
        quality_thresholds({"min_sample_pass_rate": 2})


def test_report_markdown_lists_gates_and_examples() -> None:
    from compliance.quality.consistency import consistency_gate
    from compliance.quality.report import quality_report_markdown

    outcome = consistency_gate([qi("r9", "续航20小时。续航只有5小时。")], max_rate=0.0)
    text = quality_report_markdown([outcome.as_dict(), {"error": "boom"}])
    assert "| consistency | **FAIL** | 1.0 | <= 0.0 | 1 |" in text
    assert "- consistency, record r9: response contradicts itself about '续航'" in text
    assert "Gate errors (the dataset was held back): boom" in text
