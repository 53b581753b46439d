# ruff: noqa: E501 - one risk per line
"""GB/T 45654-2025 (from TC260-003): 5 categories, 31 risks, each with a stable code and zh/en names."""

from __future__ import annotations

from dataclasses import dataclass

from .policy_schema import RISK_CODES


@dataclass(frozen=True)
class Risk:
    code: str  # "A1.4"
    category: str  # "A1"
    name_zh: str
    name_en: str


_NAMES: dict[str, tuple[str, str]] = {
    "A1.1": ("煽动颠覆国家政权、推翻社会主义制度", "Inciting subversion of state power or overthrow of the socialist system"),
    "A1.2": ("危害国家安全和利益、损害国家形象", "Endangering national security and interests, harming the national image"),
    "A1.3": ("煽动分裂国家、破坏国家统一和社会稳定", "Inciting secession, undermining national unity and social stability"),
    "A1.4": ("宣扬恐怖主义、极端主义", "Promoting terrorism or extremism"),
    "A1.5": ("宣扬民族仇恨", "Promoting ethnic hatred"),
    "A1.6": ("宣扬暴力、淫秽色情", "Promoting violence, obscenity or pornography"),
    "A1.7": ("传播虚假有害信息", "Spreading false and harmful information"),
    "A1.8": ("其他法律、行政法规禁止的内容", "Other content prohibited by laws and administrative regulations"),
    "A2.1": ("民族歧视内容", "Ethnic discrimination"),
    "A2.2": ("信仰歧视内容", "Discrimination by belief"),
    "A2.3": ("国别歧视内容", "Discrimination by nationality"),
    "A2.4": ("地域歧视内容", "Regional discrimination"),
    "A2.5": ("性别歧视内容", "Gender discrimination"),
    "A2.6": ("年龄歧视内容", "Age discrimination"),
    "A2.7": ("职业歧视内容", "Occupational discrimination"),
    "A2.8": ("健康歧视内容", "Health discrimination"),
    "A2.9": ("其他方面歧视内容", "Other discrimination"),
    "A3.1": ("侵犯他人知识产权", "Infringing intellectual property rights"),
    "A3.2": ("违反商业道德", "Violating business ethics"),
    "A3.3": ("泄露他人商业秘密", "Disclosing trade secrets"),
    "A3.4": ("利用算法、数据、平台等优势，实施垄断和不正当竞争行为", "Monopoly and unfair competition"),
    "A3.5": ("其他商业违法违规行为", "Other commercial violations"),
    "A4.1": ("危害他人身心健康", "Endangering the physical or mental health of others"),
    "A4.2": ("侵害他人肖像权", "Infringing portrait rights"),
    "A4.3": ("侵害他人名誉权", "Infringing reputation rights"),
    "A4.4": ("侵害他人荣誉权", "Infringing honour rights"),
    "A4.5": ("侵害他人隐私权", "Infringing privacy rights"),
    "A4.6": ("侵害他人个人信息权益", "Infringing personal-information rights"),
    "A4.7": ("侵犯他人其他合法权益", "Infringing other lawful rights and interests"),
    "A5.1": ("内容不准确，严重不符合科学常识或主流认知", "Inaccurate content, seriously contrary to science or mainstream knowledge"),
    "A5.2": ("内容不可靠，无法对使用者形成帮助", "Unreliable content that cannot help the user"),
}

RISKS: dict[str, Risk] = {
    code: Risk(code=code, category=code.split(".")[0], name_zh=_NAMES[code][0], name_en=_NAMES[code][1])
    for code in RISK_CODES
}
