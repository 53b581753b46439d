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

from .identifiers import (  # noqa: E402
    iban_valid,
    is_valid_hk_id,
    is_valid_legacy_resident_id,
    is_valid_resident_id,
    is_valid_uscc,
    luhn_valid,
)
from .ner import NerError, find_names  # noqa: E402

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
                ),
                # First-generation 15-digit ID (no check digit): region + YYMMDD + sequence. It is reported
                # only with a context word (身份证…), since a bare 15-digit number is often something else.
                Pattern(
                    "cn_resident_id_15",
                    _START + r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}" + _END,
                    0.2,
                ),
            ],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # True lifts the score to 1.0; False drops the match (a wrong check char is not an ID).
        if len(pattern_text) == 15:
            return None if is_valid_legacy_resident_id(pattern_text) else False
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
                ),
                # (+86) 138 1234 5678, +86-138-1234-5678, 138.1234.5678, 1381234 5678
                Pattern(
                    "cn_mobile_variants",
                    _START + r"(?:\(?(?:\+|00)86\)?[ -]?)?1[3-9]\d[ .-]?\d{4}[ .-]?\d{4}" + _END,
                    0.6,
                ),
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


class ChineseUsccRecognizer(PatternRecognizer):
    """Unified social credit code (GB 32100); only codes whose check character is right are reported."""

    ENTITY = "CN_USCC"
    CONTEXT = ["统一社会信用代码", "信用代码", "社会信用", "营业执照", "credit code", "uscc"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseUsccRecognizer", supported_language=supported_language,
            patterns=[Pattern("cn_uscc", _START + r"[1-9ANY][1-9]\d{6}[0-9A-HJ-NPQRTUWXY]{10}" + _END, 0.3)],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # All digits: 1 in 31 random 18-digit numbers (order numbers…) passes the check, so those need context.
        if not is_valid_uscc(pattern_text):
            return False
        return None if pattern_text.isdigit() else True


class ChineseLandlineRecognizer(PatternRecognizer):
    """Landline: area code 0xx/0xxx (optionally in brackets or after +86) and a 7–8 digit number."""

    ENTITY = "CN_LANDLINE"
    CONTEXT = ["电话", "座机", "固话", "致电", "联系", "传真", "热线", "tel", "phone", "landline"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseLandlineRecognizer", supported_language=supported_language,
            patterns=[
                # With a separator the shape is distinctive enough on its own.
                Pattern("cn_landline_sep", _START + r"(?:(?:\+|00)86[ -]?)?(?:\(0\d{2,3}\)|0\d{2,3}[ -])[2-9]\d{6,7}"
                        r"(?:-\d{1,4})?" + _END, 0.6),
                # Run together (010 plus 8 digits) it could be an order number: context needed.
                Pattern("cn_landline_plain", _START + r"0(?:10|2\d|[3-9]\d{2})[2-9]\d{6,7}" + _END, 0.3),
            ],
            context=list(self.CONTEXT),
        )


class ChineseBankCardRecognizerV2(ChineseBankCardRecognizer):
    """Leaves Luhn-valid cards with an international brand prefix to ``ChineseTextCreditCardRecognizer``."""

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = re.sub(r"\D", "", pattern_text)
        # Issuer numbers start with 2-6 or 9 (UnionPay 62, Visa 4, Mastercard 5/2, JCB/Amex 3, old domestic 9);
        # an order or case number starting with 0, 1, 7 or 8 is not a card, however it scores on Luhn.
        if digits[0] not in "234569":
            return False
        if luhn_valid(digits):
            return None if _CREDIT_BRAND.match(digits) and len(digits) <= 16 else True
        return None


_CREDIT_BRAND = re.compile(r"(?:4|5[1-5]|2[2-7]|3[47]|35|6011|65)")


class ChineseTextCreditCardRecognizer(PatternRecognizer):
    """Visa, Mastercard, Amex, JCB, Discover (13–16 digits, grouped or not); Luhn-valid only."""

    ENTITY = "CREDIT_CARD"
    CONTEXT = ["信用卡", "credit card", "card number", "visa", "mastercard", "amex", "卡号"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseTextCreditCardRecognizer", supported_language=supported_language,
            patterns=[
                Pattern("credit_card", _START + r"(?=4|5[1-5]|2[2-7]|3[47]|35|6011|65)\d{13,16}" + _END, 0.3),
                Pattern("credit_card_grouped", _START + r"(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[5]\d{2}|6011|65\d{2})"
                        r"(?:[ -]\d{4}){3}" + _END, 0.3),
                Pattern("credit_card_amex", _START + r"3[47]\d{2}[ -]\d{6}[ -]\d{5}" + _END, 0.3),
            ],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool:
        return luhn_valid(re.sub(r"\D", "", pattern_text))


class ChineseTextIbanRecognizer(PatternRecognizer):
    """IBAN (ISO 13616), plain or in groups of four; mod-97 validated."""

    ENTITY = "IBAN_CODE"
    CONTEXT = ["iban", "account", "账户", "账号", "汇款"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseTextIbanRecognizer", supported_language=supported_language,
            patterns=[
                Pattern("iban", _START + r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?" + _END, 0.3),
            ],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool:
        return iban_valid(pattern_text)


class ChinesePassportRecognizer(PatternRecognizer):
    """PRC passport: ``E``/``G`` + 8 digits (the common e-passport forms), ``D``/``P``/``S`` + 7 digits."""

    ENTITY = "CN_PASSPORT"
    CONTEXT = ["护照", "passport", "证件号"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChinesePassportRecognizer", supported_language=supported_language,
            patterns=[
                Pattern("cn_passport_e", _START + r"E[A-HJ-NP-Z0-9]\d{7}" + _END, 0.5),
                Pattern("cn_passport_g", _START + r"G\d{8}" + _END, 0.5),
                Pattern("cn_passport_dps", _START + r"[DPS]E?\d{7}" + _END, 0.3),
            ],
            context=list(self.CONTEXT),
        )


class ChineseTravelPermitRecognizer(PatternRecognizer):
    """Hong Kong, Macau and Taiwan permits.

    Home-return permit ``H``/``M`` + 8–10 digits; mainland pass to HK/Macau ``C`` + 8 digits or
    ``C`` + letter + 7 digits; pass to Taiwan ``L`` + 8 digits; Taiwan compatriot permit 8 digits
    (context needed: 8 bare digits are common).
    """

    ENTITY = "CN_TRAVEL_PERMIT"
    CONTEXT = ["通行证", "回乡证", "台胞证", "港澳", "台湾", "permit", "证件号"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseTravelPermitRecognizer", supported_language=supported_language,
            patterns=[
                Pattern("home_return_permit", _START + r"[HM]\d{8}(?:\d{2})?" + _END, 0.5),
                Pattern("hk_macau_pass", _START + r"C(?:\d{8}|[A-HJ-NP-Z]\d{7})" + _END, 0.4),
                Pattern("taiwan_pass", _START + r"L\d{8}" + _END, 0.4),
                Pattern("taiwan_compatriot", _START + r"\d{8}" + _END, 0.1),
            ],
            context=list(self.CONTEXT),
        )


class HongKongIdRecognizer(PatternRecognizer):
    """Hong Kong identity card: one or two letters, six digits and a mod-11 check (often in brackets)."""

    ENTITY = "HK_ID_CARD"
    CONTEXT = ["香港身份证", "身份证", "hkid", "identity card"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="HongKongIdRecognizer", supported_language=supported_language,
            patterns=[Pattern("hkid", _START + r"[A-Z]{1,2}\d{6}(?:\([0-9A]\)|[0-9A])" + r"(?![0-9A-Za-z])", 0.3)],
            context=list(self.CONTEXT),
        )

    def validate_result(self, pattern_text: str) -> bool:
        return is_valid_hk_id(pattern_text)


_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


class ChineseLicensePlateRecognizer(PatternRecognizer):
    """Licence plate: province character, letter, 5 alphanumerics (6 for new-energy), optional ``·``."""

    ENTITY = "CN_LICENSE_PLATE"
    CONTEXT = ["车牌", "牌照", "车辆", "plate"]

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseLicensePlateRecognizer", supported_language=supported_language,
            patterns=[
                Pattern("cn_plate", rf"[{_PROVINCES}][A-HJ-NP-Z][·• ]?(?:[DF][A-HJ-NP-Z0-9]\d{{4}}|[A-HJ-NP-Z0-9]{{4}}"
                        rf"[A-HJ-NP-Z0-9挂学警港澳])" + _END, 0.75),
            ],
            context=list(self.CONTEXT),
        )


class AuthSecretRecognizer(EntityRecognizer):
    """Authentication data (JR/T 0171 C3): the value after 密码/PIN/CVV/验证码/password and the like."""

    name: str

    ENTITIES = ["AUTH_SECRET"]
    _PATTERN = re.compile(
        r"(?:支付密码|取款密码|交易密码|查询密码|登录密码|密码|口令|验证码|动态码|安全码|CVV2?|CVN2?|CVC2?|PIN码?"
        r"|password|passcode|passwd|pin code|security code|one-time code|otp)"
        r"\s*(?:是|为|:|：|is|=)?\s*[\"'“‘]?(?P<secret>[0-9A-Za-z!@#$%^&*_+=.-]{2,31}[0-9A-Za-z!@#$%^&*_+=-])(?![0-9A-Za-z])",
        re.IGNORECASE,
    )

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES), name="AuthSecretRecognizer",
            supported_language=supported_language,
        )

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "AUTH_SECRET" not in entities:
            return []
        return [
            RecognizerResult(
                entity_type="AUTH_SECRET", start=m.start("secret"), end=m.end("secret"), score=0.9,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for m in self._PATTERN.finditer(text)
            # A word like "password reset" is not a secret: require a digit or a symbol in the value.
            if any(not ch.isalpha() for ch in m.group("secret"))
        ]


class ChineseAddressRecognizer(PatternRecognizer):
    """Street addresses: optional province/city/district parts, a road, and a house number (``建国路88号``)."""

    ENTITY = "LOCATION"
    CONTEXT = ["地址", "住址", "住在", "寄到", "位于", "address"]
    _ADMIN = r"(?:[\u4e00-\u9fff]{2,7}?(?:省|自治区|市|自治州|地区|盟|区|县|旗|镇|乡|街道))"

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entity=self.ENTITY, name="ChineseAddressRecognizer", supported_language=supported_language,
            patterns=[
                Pattern(
                    "cn_street_address",
                    self._ADMIN + r"{0,4}[\u4e00-\u9fff]{1,8}?(?:路|街|大道|大街|巷|弄|胡同|道)"
                    r"(?:[东西南北中]段)?\d{1,5}(?:号|弄)(?:院)?(?:\d{1,4}(?:号楼|栋|幢|单元|室|层))*",
                    0.8,
                ),
            ],
            context=list(self.CONTEXT),
        )


class NameRecognizer(EntityRecognizer):
    """Person, place and organisation names from the offline NER models in ``compliance.ner``.

    Chinese runs go to the Chinese model, Latin runs that hold a capitalised word to the English
    one, whatever the text's language, so mixed text is covered.
    """

    ENTITIES = ["PERSON", "LOCATION", "ORGANIZATION"]
    name: str

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES), name="NameRecognizer", supported_language=supported_language,
            context=["姓名", "客户", "先生", "女士", "地址", "住址", "name", "address", "mr", "ms"],
        )

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) & set(self.ENTITIES)
        if not wanted:
            return []
        try:
            spans = find_names(text)
        except NerError:
            raise
        return [
            RecognizerResult(
                entity_type=span.entity_type, start=span.start, end=span.end, score=span.score,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for span in spans
            if span.entity_type in wanted
        ]


RECOGNIZER_CLASSES: tuple[Callable[..., EntityRecognizer], ...] = (
    AuthSecretRecognizer,
    ChineseResidentIdRecognizer,
    ChineseUsccRecognizer,
    ChineseBankCardRecognizerV2,
    ChineseTextCreditCardRecognizer,
    ChineseTextIbanRecognizer,
    ChineseMobileRecognizer,
    ChineseLandlineRecognizer,
    ChinesePassportRecognizer,
    ChineseTravelPermitRecognizer,
    HongKongIdRecognizer,
    ChineseLicensePlateRecognizer,
    ChineseTextEmailRecognizer,
    ChineseTextIpRecognizer,
    ChineseAddressRecognizer,
    NameRecognizer,
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
        # Shallow copies (and a copy of the explanation we change): deepcopy was the costliest step of analysis.
        results = []
        for raw in raw_results:
            result = copy.copy(raw)
            if raw.analysis_explanation is not None:
                result.analysis_explanation = copy.copy(raw.analysis_explanation)
            results.append(result)
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
