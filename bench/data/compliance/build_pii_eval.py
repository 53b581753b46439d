# ruff: noqa: E501 - data tables read better one entry per line
"""Build ``pii_eval.jsonl``: Chinese and English sentences with planted identifiers and names, plus hard negatives.

Every planted value is synthetic (valid check digits where the type has one); names and addresses come
from lists written for this set, not from the engine's surrogate lists. Run:
``.venv/bin/python bench/data/compliance/build_pii_eval.py`` (deterministic, seed 3).

Line format: ``{"id", "lang", "text", "spans": [{"type", "start", "end"}], "hard_negative": bool}``.
"""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from compliance.identifiers import (  # noqa: E402
    hk_id_check_char,
    luhn_check_digit,
    resident_id_check_char,
    uscc_check_char,
)

OUT = Path(__file__).resolve().parent / "pii_eval.jsonl"
rng = random.Random(3)

ZH_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦许何吕施张孔曹严华金魏陶姜谢邹喻柏窦章苏潘葛范彭鲁韦马方任袁柳鲍史唐薛雷贺倪汤罗毕郝邬安常乐于傅齐康伍余顾孟黄穆萧尹姚邵汪祁毛狄米贝明戴宋庞熊纪舒屈项祝董梁杜阮蓝闵季贾路江童颜郭梅盛林钟徐邱骆高夏蔡田胡凌霍万柯卢莫房解应宗丁宣邓洪包左石崔吉龚程邢裴陆荣翁荀甄家封储靳段富巫乌焦巴弓牧山谷车侯全班仰秋仲伊宫宁仇栾甘厉戎祖武符刘景詹龙叶幸司韶黎薄印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙池乔阴胥能苍双闻莘党翟谭贡劳姬申扶堵冉宰郦雍桑桂濮牛寿通边扈燕冀浦尚农温庄晏柴瞿阎充慕连茹习艾鱼容向古易慎戈廖庾终居衡步都耿满弘匡国文寇广禄东欧沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空曾沙养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公"
ZH_GIVEN = ["建国", "秀英", "志强", "丽娟", "海燕", "文博", "子涵", "浩然", "雨桐", "俊杰", "晓东", "明轩", "佳怡", "思远",
            "国庆", "红梅", "永刚", "淑芬", "宇航", "欣怡", "立新", "春花", "振华", "美玲", "德明", "家豪", "静怡", "天宇",
            "伟", "芳", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "超"]
EN_FIRST = ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "William", "Linda", "David", "Elizabeth",
            "Richard", "Barbara", "Joseph", "Susan", "Thomas", "Jessica", "Charles", "Sarah", "Daniel", "Karen",
            "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Sandra", "Steven", "Ashley", "Andrew", "Emily"]
EN_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
           "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson",
           "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "Allen", "King", "Wright"]
ZH_CITIES = [("北京市", "朝阳区"), ("上海市", "浦东新区"), ("广州市", "天河区"), ("深圳市", "南山区"), ("杭州市", "西湖区"),
             ("成都市", "武侯区"), ("武汉市", "洪山区"), ("南京市", "鼓楼区"), ("西安市", "雁塔区"), ("天津市", "和平区"),
             ("重庆市", "渝中区"), ("苏州市", "姑苏区"), ("长沙市", "岳麓区"), ("郑州市", "金水区"), ("青岛市", "市南区")]
ZH_ROADS = ["建国路", "人民路", "解放路", "中山路", "长安街", "延安路", "科技园路", "文三路", "学院路", "滨江大道", "淮海中路"]
EN_CITIES = ["Boston", "Chicago", "Seattle", "Denver", "Atlanta", "Houston", "Phoenix", "Portland", "Dallas", "Miami",
             "London", "Manchester", "Toronto", "Sydney", "Melbourne"]
EN_STREETS = ["Maple Street", "Oak Avenue", "Pine Road", "Cedar Lane", "Elm Street", "Washington Avenue", "Park Road"]
REGIONS = ["110105", "310115", "440305", "330106", "510107", "420111", "320106", "610113", "120101", "500103"]
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂粤川陕闽"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def digits(n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def resident_id() -> str:
    body = rng.choice(REGIONS) + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + digits(3)
    return body + resident_id_check_char(body)


def legacy_id() -> str:
    return rng.choice(REGIONS) + f"{rng.randint(40, 84)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + digits(3)


def uscc() -> str:
    body = rng.choice("915") + rng.choice("123") + rng.choice(REGIONS) + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return body + uscc_check_char(body)


def mobile() -> str:
    number = "1" + rng.choice("3456789") + digits(9)
    form = rng.randrange(5)
    if form == 0:
        return number
    if form == 1:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if form == 2:
        return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
    if form == 3:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return f"+86{number}"


def landline() -> str:
    area = rng.choice(["010", "021", "020", "0755", "0571", "028"])
    local = str(rng.randint(2, 8)) + digits(7)
    return rng.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}"])


def bank_card() -> str:
    partial = "62" + rng.choice(["2202", "2848", "1700", "2588", "1483"]) + digits(12 - 1 + rng.randrange(2))
    number = partial + luhn_check_digit(partial)
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if rng.random() < 0.4 else number


def credit_card() -> str:
    partial = rng.choice(["4", "51", "52", "55"]) + ""
    partial += digits(15 - len(partial))
    number = partial + luhn_check_digit(partial)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else number


def iban() -> str:
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27)])
    bban = digits(length - 4) if country != "GB" else "WEST" + digits(length - 8)
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
    value = f"{country}{check:02d}{bban}"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value


def passport() -> str:
    return rng.choice([f"E{digits(8)}", f"G{digits(8)}", f"EA{digits(7)}"])


def permit() -> str:
    return rng.choice([f"H{digits(8)}", f"M{digits(8)}", f"C{digits(8)}", f"L{digits(8)}"])


def hkid() -> str:
    body = rng.choice(string.ascii_uppercase) + digits(6)
    return f"{body}({hk_id_check_char(body)})"


def plate() -> str:
    tail = "".join(rng.choice(PLATE_LETTERS + string.digits) for _ in range(5))
    return rng.choice(PROVINCES) + rng.choice(PLATE_LETTERS) + rng.choice(["", "·"]) + tail


def email() -> str:
    user = rng.choice(["li.ming", "zhangwei88", "j.smith", "mary_k", "wangfang", "dchen", "service.user"])
    return f"{user}{rng.randint(1, 999)}@{rng.choice(['qq.com', '163.com', 'example.org', 'bank.cn', 'gmail.com'])}"


def ip() -> str:
    return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def zh_name() -> str:
    return rng.choice(ZH_SURNAMES[:60]) + rng.choice(ZH_GIVEN)


def en_name() -> str:
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"


def zh_address() -> str:
    city, district = rng.choice(ZH_CITIES)
    return f"{city}{district}{rng.choice(ZH_ROADS)}{rng.randint(1, 300)}号"


def en_address() -> str:
    return f"{rng.randint(1, 999)} {rng.choice(EN_STREETS)}, {rng.choice(EN_CITIES)}"


def auth_secret() -> str:
    return digits(6)


ZH_TEMPLATES: list[tuple[str, list[tuple[str, object]]]] = [
    ("客户{0}的身份证号码是{1}，请核实。", [("PERSON", zh_name), ("CN_RESIDENT_ID", resident_id)]),
    ("您好{0}，您的手机号{1}已绑定成功。", [("PERSON", zh_name), ("CN_MOBILE", mobile)]),
    ("卡号{0}的账户本月有一笔异常交易。", [("CN_BANK_CARD", bank_card)]),
    ("请把合同寄到{0}，收件人{1}，电话{2}。", [("LOCATION", zh_address), ("PERSON", zh_name), ("CN_MOBILE", mobile)]),
    ("公司统一社会信用代码{0}，办公电话{1}。", [("CN_USCC", uscc), ("CN_LANDLINE", landline)]),
    ("旧版身份证{0}需要换领新证。", [("CN_RESIDENT_ID", legacy_id)]),
    ("{0}持护照{1}办理了出境手续。", [("PERSON", zh_name), ("CN_PASSPORT", passport)]),
    ("港澳通行证号{0}，有效期五年。", [("CN_TRAVEL_PERMIT", permit)]),
    ("香港身份证{0}的客户申请开户。", [("HK_ID_CARD", hkid)]),
    ("车牌{0}的车辆在停车场超时。", [("CN_LICENSE_PLATE", plate)]),
    ("邮箱{0}收到了对账单。", [("EMAIL_ADDRESS", email)]),
    ("登录IP地址{0}存在异常。", [("IP_ADDRESS", ip)]),
    ("信用卡{0}已经冻结。", [("CREDIT_CARD", credit_card)]),
    ("境外汇款账户IBAN {0}，户名{1}。", [("IBAN_CODE", iban), ("PERSON", en_name)]),
    ("我叫{0}，住在{1}，手机{2}。", [("PERSON", zh_name), ("LOCATION", zh_address), ("CN_MOBILE", mobile)]),
    ("{0}的银行卡{1}丢失了，身份证{2}。", [("PERSON", zh_name), ("CN_BANK_CARD", bank_card), ("CN_RESIDENT_ID", resident_id)]),
    ("验证码{0}，请勿告诉他人。", [("AUTH_SECRET", auth_secret)]),
    ("经办人{0}，联系电话{1}，地址{2}。", [("PERSON", zh_name), ("CN_LANDLINE", landline), ("LOCATION", zh_address)]),
]
EN_TEMPLATES: list[tuple[str, list[tuple[str, object]]]] = [
    ("Customer {0} called from {1} about a lost card.", [("PERSON", en_name), ("CN_MOBILE", mobile)]),
    ("Please send the statement to {0} at {1}.", [("PERSON", en_name), ("EMAIL_ADDRESS", email)]),
    ("The card {0} was charged twice.", [("CREDIT_CARD", credit_card)]),
    ("Wire the funds to IBAN {0} for {1}.", [("IBAN_CODE", iban), ("PERSON", en_name)]),
    ("{0} lives at {1} and asked for a new card.", [("PERSON", en_name), ("LOCATION", en_address)]),
    ("Login from {0} was blocked for user {1}.", [("IP_ADDRESS", ip), ("PERSON", en_name)]),
    ("Mr. {0} moved to {1} last year.", [("PERSON", en_name), ("LOCATION", en_address)]),
    ("The applicant {0} gave passport number {1}.", [("PERSON", en_name), ("CN_PASSPORT", passport)]),
    ("Resident ID {0} belongs to {1}.", [("CN_RESIDENT_ID", resident_id), ("PERSON", en_name)]),
    ("Her PIN is {0}, please reset it.", [("AUTH_SECRET", auth_secret)]),
    ("Contact {0} on {1} or {2}.", [("PERSON", en_name), ("CN_MOBILE", mobile), ("EMAIL_ADDRESS", email)]),
    ("Debit card {0} linked to {1}'s account.", [("CN_BANK_CARD", bank_card), ("PERSON", en_name)]),
]


def bad_resident_id() -> str:
    value = resident_id()
    wrong = rng.choice([c for c in "0123456789X" if c != value[-1]])
    return value[:-1] + wrong


def bad_luhn() -> str:
    partial = "62" + digits(13)
    good = luhn_check_digit(partial)
    return partial + rng.choice([d for d in string.digits if d != good])


NEGATIVE_TEMPLATES: list[tuple[str, object]] = [
    ("订单号{0}已发货，请注意查收。", lambda: "2024" + digits(14)),
    ("发票号码{0}，金额{1}元。", lambda: (digits(8), f"{rng.randint(100, 99999)}.{rng.randint(0, 99):02d}")),
    ("快递单号SF{0}正在派送。", lambda: digits(12)),
    ("交易流水号{0}处理成功。", lambda: digits(20)),
    ("日期{0}的报表已生成，合计{1}元。", lambda: (f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                                            f"{rng.randint(1000, 9999999):,}")),
    ("编号{0}的申请单缺少附件。", lambda: bad_resident_id()),
    ("参考号{0}无效。", lambda: bad_luhn()),
    ("Order {0} shipped on {1}.", lambda: ("#" + digits(10), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")),
    ("Invoice INV-{0} totals ${1}.", lambda: (digits(8), f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}")),
    ("Tracking number 1Z{0} is in transit.", lambda: digits(16)),
    ("The batch reference {0} failed validation.", lambda: bad_luhn()),
    ("Case number {0} was closed.", lambda: bad_resident_id()),
    ("本季度营收增长{0}%，利润{1}万元。", lambda: (str(rng.randint(1, 60)), str(rng.randint(100, 99999)))),
    ("版本号{0}已发布。", lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"),
]


def fill(template: str, planted: list[tuple[str, object]]) -> tuple[str, list[dict[str, object]]]:
    values = [(kind, make()) for kind, make in planted]  # type: ignore[operator]
    text, spans, cursor = "", [], 0
    parts = template.split("{")
    text = parts[0]
    for part in parts[1:]:
        index, rest = part.split("}", 1)
        kind, value = values[int(index)]
        spans.append({"type": kind, "start": len(text), "end": len(text) + len(value)})
        text += value + rest
    del cursor
    return text, spans


def main() -> None:
    lines = []
    for i in range(300):
        template, planted = ZH_TEMPLATES[i % len(ZH_TEMPLATES)]
        text, spans = fill(template, planted)
        lines.append({"lang": "zh", "text": text, "spans": spans, "hard_negative": False})
    for i in range(200):
        template, planted = EN_TEMPLATES[i % len(EN_TEMPLATES)]
        text, spans = fill(template, planted)
        lines.append({"lang": "en", "text": text, "spans": spans, "hard_negative": False})
    for i in range(150):
        template, make = NEGATIVE_TEMPLATES[i % len(NEGATIVE_TEMPLATES)]
        made = make()  # type: ignore[operator]
        args = made if isinstance(made, tuple) else (made,)
        text = template.format(*args)
        lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
        lines.append({"lang": lang, "text": text, "spans": [], "hard_negative": True})
    with OUT.open("w", encoding="utf-8") as handle:
        for n, line in enumerate(lines):
            handle.write(json.dumps({"id": n, **line}, ensure_ascii=False) + "\n")
    print(f"wrote {len(lines)} lines to {OUT}")


if __name__ == "__main__":
    main()
