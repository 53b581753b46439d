"""Synthetic records for the quality benchmarks (deterministic): banking Q&A, maths, planted problems."""

# ruff: noqa: E501 - test data reads better one record a line

from __future__ import annotations

import random

from compliance.quality.types import QualityItem

ZH_FRAGMENTS = [
    "您好，",
    "请问",
    "信用卡",
    "借记卡",
    "挂失",
    "补办",
    "转账",
    "跨行",
    "手续费",
    "到账时间",
    "预留手机号",
    "身份证",
    "网点",
    "手机银行",
    "App",
    "额度",
    "分期",
    "账单",
    "还款",
    "逾期",
    "利息",
    "定期存款",
    "活期",
    "理财产品",
    "风险等级",  # noqa: E501
    "客服",
    "为您服务",
    "核实身份",
    "冻结",
    "解冻",
    "密码重置",
    "短信验证码",
    "营业时间",
    "工作日",
    "节假日顺延",
    "柜台",  # noqa: E501
    "自助设备",
    "境外消费",
    "外币",
    "汇率",
    "年费",
    "积分",
    "兑换",
    "贷款",
    "房贷",
    "提前还款",
    "违约金",
    "征信",
    "查询",  # noqa: E501
]
ZH_VERBS = ["需要", "可以", "建议", "请您", "我们会", "系统将", "一般会", "通常", "务必", "不必"]
EN_WORDS = [
    "card",
    "account",
    "transfer",
    "fee",
    "limit",
    "branch",
    "statement",
    "payment",
    "loan",
    "mortgage",
    "rate",
    "deposit",
    "savings",
    "online",
    "app",
    "verify",
    "identity",
    "block",
    "unblock",
    "password",
    "reset",
    "code",
    "overseas",
    "currency",
    "exchange",
    "points",
    "reward",
]  # noqa: E501 - test data
CATEGORIES = ["挂失", "转账", "分期", "理财", "贷款"]


def zh_text(rng: random.Random, n: int = 22) -> str:
    parts = []
    for _ in range(n):
        parts.append(rng.choice(ZH_VERBS) if rng.random() < 0.3 else rng.choice(ZH_FRAGMENTS))
        if rng.random() < 0.15:
            parts.append(str(rng.randint(1, 999)))
        if rng.random() < 0.2:
            parts.append("，")
    return "".join(parts) + "。"


def en_text(rng: random.Random, n: int = 24) -> str:
    return " ".join(rng.choice(EN_WORDS) for _ in range(n)) + "."


def perturb(rng: random.Random, text: str, edits: int = 2) -> str:
    chars = list(text)
    for _ in range(edits):
        chars[rng.randrange(len(chars))] = rng.choice("的了是在有和")
    return "".join(chars)


def records(
    n: int, *, seed: int = 7, near_dup_rate: float = 0.05, sources: dict[str, str] | None = None
) -> tuple[list[QualityItem], set[str]]:
    """``n`` records of which about ``near_dup_rate`` are near copies of an earlier one; returns (items, planted ids).

    ``sources``, when given, is filled with planted id -> id of the record it copies.
    """
    rng = random.Random(seed)
    items: list[QualityItem] = []
    planted: set[str] = set()
    for i in range(n):
        if items and rng.random() < near_dup_rate:
            source = items[rng.randrange(len(items))]
            item = QualityItem(f"r{i}", source.instruction, perturb(rng, source.response), source.kind, source.category)
            planted.add(item.id)
            if sources is not None:
                sources[item.id] = source.id
        elif rng.random() < 0.8:
            item = QualityItem(f"r{i}", zh_text(rng, 6), zh_text(rng), "qa", rng.choice(CATEGORIES))
        else:
            item = QualityItem(f"r{i}", en_text(rng, 8), en_text(rng), "qa", rng.choice(CATEGORIES))
        items.append(item)
    return items, planted


# --- relevance: realistic on-topic banking records and off-topic ones, Chinese and English ------------

BANK_ZH = [
    ("我的{card}丢了，怎么挂失？", "您好，请拨打客服热线或在手机银行中选择“挂失”，核实身份后我们会立即冻结卡片，补办新卡约{days}个工作日寄出。"),  # noqa: E501
    ("跨行转账{amount}元多久能到账？", "普通跨行转账一般{minutes}分钟内到账，超过五万元可能走大额支付系统，节假日顺延处理。"),
    ("信用卡账单分期的手续费怎么算？", "账单分期按期收取手续费，{months}期每期费率约{rate}%，提前还清剩余本金时已收手续费不退。"),
    ("定期存款提前支取利息怎么算？", "提前支取的部分按活期利率计息，未支取的部分仍按原定期利率计息，需要本人携带身份证到网点办理。"),
    ("手机银行登录密码忘了怎么办？", "您可以在登录页点击“忘记密码”，通过预留手机号接收短信验证码并验证身份证号后重置密码。"),
    ("我的卡被ATM吞了怎么办？", "请记下设备编号并联系我行客服，工作人员会在{days}个工作日内清机，核实身份后您可到网点领回卡片。"),
    ("房贷可以提前还款吗？要付违约金吗？", "房贷满一年后一般可以申请提前还款，部分产品收取剩余本金{rate}%的违约金，请先在手机银行预约。"),
    ("理财产品的风险等级是什么意思？", "风险等级从R1到R5逐级升高，购买前需完成风险测评，只能购买不高于您风险承受能力的产品。"),
    ("境外刷卡消费会收取货币转换费吗？", "使用外币卡种境外消费时，按交易金额收取约{rate}%的货币转换费，具体以卡组织规则为准。"),
    ("信用卡额度可以临时提升吗？", "您可以在App中申请临时额度，审批通过后有效期一般为{days}天，到期后恢复原额度。"),
    ("为什么我的账户被冻结了？", "账户可能因长期未使用、身份信息过期或涉嫌异常交易被冻结，请携带有效身份证件到开户网点核实解冻。"),
    ("信用卡逾期一天会影响征信吗？", "逾期会产生利息和违约金，连续逾期可能上报征信，建议尽快还款并联系客服申请宽限。"),
    ("借记卡每天的转账限额是多少？", "手机银行默认单日转账限额为{amount}元，您可以在安全设置中使用U盾或人脸识别调整限额。"),
    ("开通短信通知要收费吗？", "账户变动短信通知每月收取{fee}元服务费，您也可以改用App推送，免费接收动账提醒。"),
    ("信用卡积分可以兑换什么？", "积分可以在积分商城兑换礼品、航空里程或抵扣年费，积分有效期一般为{years}年。"),
    ("办理外币兑换需要带什么？", "请携带本人身份证到网点办理，个人每年便利化额度为等值五万美元，汇率以办理时牌价为准。"),
    ("贷款审批一般需要多久？", "个人消费贷款资料齐全时一般{days}个工作日内完成审批，放款前会有客户经理电话核实。"),
    ("网点周末营业吗？", "大部分网点周六周日正常营业，营业时间为上午九点至下午五点，具体可在手机银行查询附近网点。"),
]
BANK_EN = [
    ("I lost my {card_en}. How do I block it?", "Call our hotline or use the mobile app to report it lost; we will block the card at once and post a replacement within {days} working days."),  # noqa: E501
    ("How long does a transfer of {amount} dollars to another bank take?", "Transfers to other banks usually arrive within {minutes} minutes; large payments and weekend transfers may take until the next working day."),  # noqa: E501
    ("What is the fee for paying my credit card bill in instalments?", "The instalment fee is charged each month, about {rate}% per period over {months} periods, and is not refunded if you repay early."),  # noqa: E501
    ("Can I withdraw my fixed deposit early?", "Yes, but the amount withdrawn early earns the current-account interest rate; bring your ID to a branch."),  # noqa: E501
    ("I forgot my online banking password.", "Tap 'forgot password' on the login page, confirm the code sent to your registered mobile number and set a new password."),  # noqa: E501
    ("Will I pay a penalty if I repay my mortgage early?", "After the first year most mortgages can be repaid early; some charge {rate}% of the remaining principal, so book it in the app first."),  # noqa: E501
    ("Why was my account frozen?", "Accounts can be frozen after long inactivity, an expired ID document or unusual transactions; visit your branch with valid ID to unfreeze it."),  # noqa: E501
    ("Does a late credit card payment affect my credit report?", "Late payments incur interest and a fee, and repeated late payments are reported to the credit bureau."),  # noqa: E501
    ("What is my daily transfer limit?", "The default daily limit in the mobile app is {amount} dollars; you can raise it in security settings after face verification."),  # noqa: E501
    ("Can I get a temporary increase of my credit limit?", "Apply in the app; an approved temporary limit lasts {days} days and then returns to your usual limit."),  # noqa: E501
    ("Is there a fee for card payments abroad?", "Payments in a foreign currency carry a currency conversion fee of about {rate}% of the amount."),
    ("What can I redeem my reward points for?", "Points can be exchanged for gifts, air miles or the annual fee, and they expire after {years} years."),  # noqa: E501
]
OFF_ZH = [
    ("红烧排骨怎么做才好吃？", "排骨先冷水下锅焯水，再用冰糖炒出糖色，加入生抽、八角和热水，小火炖{minutes}分钟后大火收汁。"),
    ("今晚的足球比赛谁赢了？", "主队在第{minutes}分钟打进制胜球，以二比一战胜客队，门将全场做出五次扑救。"),
    ("推荐一部好看的科幻电影。", "可以看看《星际穿越》，导演用黑洞和时间膨胀讲了一个父女之间的故事，配乐也非常动人。"),
    ("周末去黄山旅游要准备什么？", "建议穿防滑登山鞋，带好雨衣和保暖外套，山顶温差大，日出时间大约在早上五点半。"),
    ("月季叶子发黄是怎么回事？", "可能是浇水过多导致烂根，也可能缺铁，建议控制浇水并施一些硫酸亚铁溶液。"),
    ("猫咪总是掉毛怎么办？", "换毛季每天用梳子梳理，饮食中补充卵磷脂和鱼油，同时定期给猫咪驱虫。"),
    ("怎么学好吉他的横按和弦？", "先练习食指单独按住六根弦，手腕放低，每天练习{minutes}分钟，坚持两周就会有明显进步。"),
    ("秦始皇统一六国后做了哪些事？", "他统一了文字、货币和度量衡，修建驰道和长城，在全国推行郡县制。"),
    ("为什么天空是蓝色的？", "太阳光经过大气时，波长较短的蓝光被空气分子散射得更多，所以我们看到的天空是蓝色的。"),
    ("汽车发动机故障灯亮了怎么办？", "先检查油箱盖是否拧紧，如果灯一直亮并伴随抖动，应尽快到维修店读取故障码。"),
    ("跑步膝盖疼应该怎么调整？", "减少每周跑量，选择缓震好的跑鞋，跑前做好热身，并加强股四头肌和臀部力量训练。"),
    ("Python的列表推导式怎么写？", "列表推导式的格式是方括号里写表达式和for循环，比如生成平方数列表，还可以加if条件过滤。"),
    ("我在银行门口的面馆吃了碗牛肉面，汤头怎么熬？", "牛骨先焯水，加入萝卜、姜片和香料小火熬{hours}个小时，汤色清亮、味道浓郁。"),
    ("这款手机游戏怎么快速升级？", "每天完成日常任务和限时活动，优先升级主力角色的技能，周末双倍经验时多刷副本。"),
]
OFF_EN = [
    ("How do I make a good risotto?", "Toast the rice in butter, add warm stock a ladle at a time and stir for about {minutes} minutes before adding parmesan."),  # noqa: E501
    ("Who won the match last night?", "The home side scored in the {minutes}th minute and held on to win two-one despite a late red card."),  # noqa: E501
    ("Can you recommend a science fiction film?", "Try Interstellar: the director tells a story about a father and daughter using black holes and time dilation."),  # noqa: E501
    ("What should I pack for a hiking trip in the mountains?", "Bring waterproof boots, a rain jacket, warm layers and enough water; the weather changes quickly above the tree line."),  # noqa: E501
    ("Why are the leaves of my roses turning yellow?", "Overwatering can rot the roots, or the soil may lack iron; water less often and feed with chelated iron."),  # noqa: E501
    ("My cat sheds a lot. What can I do?", "Brush her every day during the moulting season and add fish oil to her food."),
    ("How do I play barre chords on the guitar?", "Press all six strings with your index finger, keep your wrist low and practise for {minutes} minutes a day."),  # noqa: E501
    ("Why is the sky blue?", "Sunlight is scattered by molecules in the air, and shorter blue wavelengths are scattered the most."),
    ("The engine warning light in my car is on.", "Check that the fuel cap is tight; if the light stays on and the engine shakes, have a garage read the fault code."),  # noqa: E501
    ("How do I write a list comprehension in Python?", "Put an expression followed by a for clause in square brackets, optionally with an if filter."),  # noqa: E501
    ("We had a picnic on the river bank. How do I keep wasps away?", "Keep sweet drinks covered, avoid strong perfume and put a slice of cucumber on a plate nearby."),  # noqa: E501
    ("How can I level up quickly in this video game?", "Finish the daily quests, upgrade your main character's skills first and play during double experience weekends."),  # noqa: E501
]
_SLOTS = {"card": ["信用卡", "借记卡", "社保卡", "银行卡"], "card_en": ["credit card", "debit card", "bank card"],
          "days": ["3", "5", "7", "10"], "minutes": ["2", "10", "20", "30", "40"], "amount": ["5000", "20000", "50000"],
          "months": ["3", "6", "12", "24"], "rate": ["0.6", "0.75", "1", "1.5", "3"], "fee": ["2", "3"],
          "years": ["2", "3", "5"], "hours": ["3", "4", "6"]}
_OPEN_ZH = ["", "您好，", "你好，", "请问", "麻烦问一下，", "想咨询一下，"]
_OPEN_EN = ["", "Hi, ", "Hello, ", "Quick question: ", "Please help: "]
_CLOSE_ZH = ["", "谢谢！", "还有其他问题吗？", "希望对您有帮助。", "如有疑问请随时联系。"]
_CLOSE_EN = ["", " Thanks!", " Anything else?", " Hope this helps.", " Let us know if you need more help."]


def _fill(rng: random.Random, template: str) -> str:
    for slot, values in _SLOTS.items():
        while "{" + slot + "}" in template:
            template = template.replace("{" + slot + "}", rng.choice(values), 1)
    return template


def _pair(rng: random.Random, pool: list[tuple[str, str]], zh: bool) -> tuple[str, str]:
    question, answer = rng.choice(pool)
    if zh:
        return rng.choice(_OPEN_ZH) + _fill(rng, question), _fill(rng, answer) + rng.choice(_CLOSE_ZH)
    return rng.choice(_OPEN_EN) + _fill(rng, question), _fill(rng, answer) + rng.choice(_CLOSE_EN)


RELEVANCE_TOPIC = "retail banking: 零售银行客服问答 (cards, transfers, deposits, loans, credit)"


def relevance_records(
    n: int, *, off_topic: int, seed: int = 5, english_share: float = 0.3, prefix: str = "t"
) -> tuple[list[QualityItem], set[str]]:
    """``n`` labelled records of which ``off_topic`` are off-topic (about half Chinese, half English)."""
    rng = random.Random(seed)
    items, planted = [], set()
    for i in range(n):
        is_off = i < off_topic
        zh = (i % 2 == 0) if is_off else rng.random() >= english_share
        pool = (OFF_ZH if zh else OFF_EN) if is_off else (BANK_ZH if zh else BANK_EN)
        instruction, response = _pair(rng, pool, zh)
        item = QualityItem(f"{prefix}{i}", instruction, response, "qa", rng.choice(CATEGORIES))
        items.append(item)
        if is_off:
            planted.add(item.id)
    rng.shuffle(items)
    return items, planted
