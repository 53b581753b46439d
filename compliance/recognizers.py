"""Presidio recognizers for mainland-China identifiers, written to work inside Chinese text.

Python's ``\\b`` treats CJK ideographs as word characters, so there is no boundary between
``卡号`` and ``6222…`` or between ``13812345678`` and ``。``. Every pattern here uses ASCII
lookarounds instead: a match may not touch another ASCII letter or digit, but may touch anything else.

Each recognizer serves one language, so ``build_recognizers`` makes one instance per language.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Sequence

# tldextract (imported by Presidio's predefined recognizers) reads this once, when it is imported.
# An empty list keeps it on its bundled suffix snapshot instead of fetching one from the network.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts  # noqa: E402
from presidio_analyzer.predefined_recognizers import IpRecognizer  # noqa: E402

from .identifiers import is_valid_resident_id, luhn_valid  # noqa: E402

SUPPORTED_LANGUAGES = ("zh", "en")

# Not preceded / followed by an ASCII letter or digit (CJK characters and punctuation are fine).
_START = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"


class ChineseResidentIdRecognizer(PatternRecognizer):
    """18-character resident ID (GB 11643). Only IDs whose check character is right are reported."""

    ENTITY = "CN_RESIDENT_ID"
    CONTEXT = ["身份证", "身份证号", "证件号", "id card"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name="ChineseResidentIdRecognizer",
            supported_language=supported_language,
            patterns=[
                Pattern(
                    "cn_resident_id_18",
                    _START
                    + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
                    + _END,
                    0.3,
                )
            ],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool:
        # True lifts the score to 1.0; False drops the match (a wrong check char is not an ID).
        return is_valid_resident_id(pattern_text)


class ChineseMobileRecognizer(PatternRecognizer):
    """Mainland mobile number: optional +86/0086, ``1[3-9]`` and 9 digits, plain or written 3-4-4."""

    ENTITY = "CN_MOBILE"
    CONTEXT = ["手机", "电话", "联系方式", "致电", "mobile", "phone", "tel"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name="ChineseMobileRecognizer",
            supported_language=supported_language,
            patterns=[
                Pattern(
                    "cn_mobile",
                    _START + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:\d{8}|[ -]\d{4}[ -]\d{4})" + _END,
                    0.7,
                )
            ],
            context=list(self.CONTEXT),
        )


class ChineseBankCardRecognizer(PatternRecognizer):
    """Bank card number: 16–19 digits, plain or grouped in fours by spaces or hyphens.

    Scoring, kept simple on purpose: a Luhn-valid number scores 1.0 and is always reported. Some
    domestic cards fail Luhn, so a Luhn-invalid number keeps the base score 0.3, below the 0.5
    threshold, and is reported only when a context word (卡号, 银行卡, 账号, 账户, card) is close
    enough for the context enhancer to add 0.35. Digit runs of this length are rarely anything else
    next to those words, and a false positive is masked, never leaked.
    """

    ENTITY = "CN_BANK_CARD"
    CONTEXT = ["卡号", "银行卡", "账号", "账户", "card"]
    BASE_SCORE = 0.3

    def __init__(self, supported_language: str = "zh") -> None:
        group = r"[ -]"
        super().__init__(
            supported_entity=self.ENTITY,
            name="ChineseBankCardRecognizer",
            supported_language=supported_language,
            patterns=[
                Pattern("cn_bank_card_plain", _START + r"\d{16,19}" + _END, self.BASE_SCORE),
                Pattern(
                    "cn_bank_card_grouped_16",
                    _START + rf"\d{{4}}(?:{group}\d{{4}}){{3}}" + _END,
                    self.BASE_SCORE,
                ),
                # A 17-19 digit card ends with a short group. Kept as its own pattern so that a
                # 16-digit card followed by an unrelated short number still matches on its own.
                Pattern(
                    "cn_bank_card_grouped_long",
                    _START + rf"\d{{4}}(?:{group}\d{{4}}){{3}}{group}\d{{1,3}}" + _END,
                    self.BASE_SCORE,
                ),
            ],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # None (not False) for a Luhn failure: keep the low base score instead of dropping the match.
        return True if luhn_valid(re.sub(r"\D", "", pattern_text)) else None


class ChineseTextEmailRecognizer(PatternRecognizer):
    """E-mail address with ASCII character classes.

    Presidio's EmailRecognizer uses ``\\b`` and ``\\w``, which absorb neighbouring Chinese characters
    into the address (``邮箱zhang@example.com联系``), and then its tldextract check rejects the whole
    match: a miss. It also rejects internal domains with no public suffix (``@bank.local``).
    """

    ENTITY = "EMAIL_ADDRESS"
    CONTEXT = ["邮箱", "邮件", "电子邮件", "email", "e-mail", "mail"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name="ChineseTextEmailRecognizer",
            supported_language=supported_language,
            patterns=[
                Pattern(
                    "email",
                    r"(?<![0-9A-Za-z._%+-])[0-9A-Za-z](?:[0-9A-Za-z._%+-]*[0-9A-Za-z_%+-])?"
                    r"@(?:[0-9A-Za-z](?:[0-9A-Za-z-]*[0-9A-Za-z])?\.)+[A-Za-z]{2,24}(?![0-9A-Za-z-])",
                    0.8,
                )
            ],
            context=list(self.CONTEXT),
        )


class ChineseTextIpRecognizer(IpRecognizer):
    """Presidio's IP recognizer (with its ``ipaddress`` check) with CJK-safe boundaries."""

    ENTITY = "IP_ADDRESS"
    _OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    # Presidio's IPv6 pattern with ``\w`` narrowed to ASCII in its lookarounds.
    _IPV6 = (
        r"(?<![0-9A-Za-z_:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:"
        r"|:(?::[0-9A-Fa-f]{1,4}){1,7}|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}"
        r"|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}"
        r"|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}"
        r"|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?::[0-9A-Fa-f]{1,4}){1,6})"
        r"(?:%[0-9a-zA-Z]+)?(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?(?![0-9A-Za-z_:]|\.\d)"
    )

    def __init__(self, supported_language: str = "zh") -> None:
        octet = self._OCTET
        super().__init__(
            supported_language=supported_language,
            supported_entity=self.ENTITY,
            name="ChineseTextIpRecognizer",
            patterns=[
                Pattern(
                    "IPv4",
                    rf"(?<![0-9A-Za-z.]){octet}(?:\.{octet}){{3}}(?:/(?:3[0-2]|[12]?\d))?(?![0-9A-Za-z]|\.\d)",
                    0.6,
                ),
                Pattern("IPv6", self._IPV6, 0.6),
            ],
            context=["ip", "ip地址", "ipv4", "ipv6"],
        )


RECOGNIZER_CLASSES: tuple[Callable[..., PatternRecognizer], ...] = (
    ChineseResidentIdRecognizer,
    ChineseBankCardRecognizer,
    ChineseMobileRecognizer,
    ChineseTextEmailRecognizer,
    ChineseTextIpRecognizer,
)


def build_recognizers(languages: Iterable[str] = SUPPORTED_LANGUAGES) -> list[EntityRecognizer]:
    """One instance of every recognizer for each language."""
    return [cls(supported_language=lang) for lang in languages for cls in RECOGNIZER_CLASSES]


class CharWindowContextEnhancer(ContextAwareEnhancer):
    """Raise a result's score when a context word of its recognizer occurs a few characters away.

    Presidio's default enhancer compares context words with spaCy lemmas of neighbouring tokens. A
    blank Chinese pipeline splits text into single characters, so ``卡号`` never equals a token and
    context would silently never apply to Chinese. Looking at the raw characters around the match
    behaves the same for Chinese and English and needs no model.
    """

    def __init__(
        self,
        *,
        chars_before: int = 24,
        chars_after: int = 12,
        boost: float = 0.35,
        min_score_with_context: float = 0.4,
    ) -> None:
        super().__init__(
            context_similarity_factor=boost,
            min_score_with_context_similarity=min_score_with_context,
            context_prefix_count=chars_before,
            context_suffix_count=chars_after,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        given = [word.lower() for word in context or []]
        results = copy.deepcopy(raw_results)
        for result in results:
            metadata = result.recognition_metadata or {}
            recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if recognizer is None or not recognizer.context:
                continue
            if metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            word = self._supporting_word(text, result, recognizer.context, given)
            if word is None:
                continue
            result.score = min(
                max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
                self.MAX_SCORE,
            )
            if result.analysis_explanation is not None:
                result.analysis_explanation.set_supportive_context_word(word)
                result.analysis_explanation.set_improved_score(result.score)
        return results

    def _supporting_word(
        self, text: str, result: RecognizerResult, words: Sequence[str], given: Sequence[str]
    ) -> str | None:
        before = text[max(0, result.start - self.context_prefix_count) : result.start]
        after = text[result.end : result.end + self.context_suffix_count]
        window = f"{before}\n{after}".lower()
        for word in words:
            lowered = word.lower()
            if lowered in window or any(lowered in g for g in given):
                return word
        return None
