"""Topic lists per domain: the strategy picks one per slot, the offline backend writes to it.

Each topic has a stable key plus its Chinese and English names; prompts carry the name in the
spec's language, and the offline backend accepts either name (or the key) back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    key: str
    zh: str
    en: str

    def name(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


RETAIL_BANKING_TOPICS: tuple[Topic, ...] = (
    Topic("lost_card", "挂失银行卡", "Reporting a lost bank card"),
    Topic("change_phone", "修改预留手机号", "Changing the registered mobile number"),
    Topic("transfer_query", "查询转账", "Tracing a transfer"),
    Topic("card_installment", "信用卡账单分期", "Credit card bill instalments"),
    Topic("online_banking", "开通网银", "Setting up online banking"),
    Topic("wealth_products", "理财产品咨询", "Wealth management product enquiry"),
    Topic("loan_repayment", "贷款还款", "Loan repayment"),
    Topic("fx_exchange", "外汇兑换", "Foreign currency exchange"),
    Topic("account_restriction", "账户交易受限", "Restricted account"),
    Topic("credit_limit", "信用卡提额", "Raising a credit card limit"),
)

# Aliases a request may use for the same domain.
DOMAIN_TOPICS: dict[str, tuple[Topic, ...]] = {
    "retail_banking": RETAIL_BANKING_TOPICS,
    "banking": RETAIL_BANKING_TOPICS,
    "finance": RETAIL_BANKING_TOPICS,
    "零售银行": RETAIL_BANKING_TOPICS,
}


def topic_lookup(name: str) -> Topic | None:
    """The known topic whose key, Chinese or English name is ``name`` (case-insensitive), if any."""
    wanted = name.strip().casefold()
    for topics in DOMAIN_TOPICS.values():
        for topic in topics:
            if wanted in (topic.key.casefold(), topic.zh.casefold(), topic.en.casefold()):
                return topic
    return None
