"""A backend that needs no model and no network: seeded templates for retail-banking service data.

It reads the machine-readable lines the strategy puts in its prompt (``OUTPUT_SCHEMA: dialogue|qa``,
``LANGUAGE: zh|en``, ``TOPIC: ...``; zh dialogue when absent) and answers with JSON in that schema.
About 60% of dialogues (30% of Q&A) plant realistic but fake PII for the customer: a Faker name, a
GB 11643-valid resident ID, a mobile number in several spellings, a Luhn-valid card, sometimes an
email. That gives the masking stage real work in development and tests. Output is a pure function of
(messages, seed, backend seed): the same prompt always yields the same record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from faker import Faker

from compliance.identifiers import luhn_check_digit, resident_id_check_char
from generation.offline_steps import STEP_SCHEMAS, step_output
from generation.topics import Topic, topic_lookup
from generation.types import Completion

OFFLINE_MODEL = "offline-template-v1"

_DIRECTIVE = re.compile(r"^[ \t]*(OUTPUT_SCHEMA|LANGUAGE|TOPIC)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)

# Real county-level codes (Beijing, Shanghai, Guangdong, Zhejiang, Jiangsu, Sichuan, Hubei, Shandong,
# Chongqing). None starts with 62, so an ID can never be confused with a 6222/6217/6228 card.
_REGION_CODES = (
    "110101", "110105", "110108", "310104", "310115", "440305", "440106", "330106",
    "320106", "510107", "420106", "370102", "500103",
)  # fmt: skip
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "191", "198", "199",
)  # fmt: skip
_CARD_PREFIXES = ("6222", "6217", "6228")
_ZH_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com")
_EN_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com")


@dataclass(frozen=True)
class _Script:
    """One topic's building blocks; ``{placeholders}`` are filled from one per-record context."""

    opens: tuple[str, ...]
    answers: tuple[str, ...]
    verify: tuple[str, ...]
    resolves: tuple[str, ...]
    followups: tuple[tuple[str, str], ...]
    provide_tail: tuple[str, ...] = ()
    # When True, opening i is answered by answers[i] / resolves[i]: the customer asked different things.
    paired: bool = False

    def pick(self, rng: random.Random) -> tuple[str, str, str]:
        """(opening, answer, resolution) that belong together."""
        i = rng.randrange(len(self.opens))
        if self.paired:
            return self.opens[i], self.answers[i % len(self.answers)], self.resolves[i % len(self.resolves)]
        return self.opens[i], rng.choice(self.answers), rng.choice(self.resolves)


_ZH: dict[str, _Script] = {
    "lost_card": _Script(
        opens=(
            "你好，我的借记卡找不到了，昨天下午在超市还刷过，今天一摸钱包就没了，现在怎么办？",
            "您好，我钱包被偷了，里面有一张你们银行的储蓄卡，想赶紧挂失。",
            "喂，你好，我卡丢了，里面还有不少钱，能不能先帮我冻结一下？",
        ),
        answers=(
            "您好，请不要着急。您可以先通过手机银行“卡片管理—临时挂失”自助办理，或者拨打我行客服热线转人工办"
            "理口头挂失，口头挂失有效期为5天。5天内请您携带本人有效身份证件到任一网点办理正式挂失并补卡，补"
            "卡工本费为{fee}元。",
            "理解您的心情。建议您立即办理临时挂失：登录手机银行，在“我的—银行卡—挂失”中选择要挂失的卡片即可"
            "，挂失后该卡所有交易都会被暂停。之后请本人持身份证到网点办理正式挂失和补卡手续。",
        ),
        verify=(
            "您好，请别着急，我这边马上为您办理临时挂失。为核实身份，请您提供持卡人姓名、身份证号码和银行预留手机号。",
            "好的，为了保障您的资金安全，需要先核实一下身份，请告诉我您的姓名、证件号码，以及需要挂失的卡号。",
        ),
        resolves=(
            "感谢您的配合，身份已核实。已为您办理口头挂失，尾号{last4}的卡片即时生效，有效期5天，期间该卡无"
            "法进行任何交易。请在5天内携带本人身份证到任一网点办理正式挂失并补卡，补卡工本费{fee}元。",
            "信息核对无误，尾号{last4}的借记卡已经挂失成功，目前账户资金是安全的。接下来请您本人带身份证到就"
            "近网点办理正式挂失和补卡，新卡一般当场就能领取。",
        ),
        followups=(
            (
                "补办的新卡卡号会变吗？原来绑定的微信支付还能用吗？",
                "补办后的新卡卡号会发生变化，原卡在第三方支付平台的绑定会失效，需要您拿到新卡后重新绑定。代"
                "发工资、自动还款等代扣业务也请及时更新卡号。",
            ),
            (
                "如果卡已经被人盗刷了怎么办？",
                "如果发现有不是您本人操作的交易，请第一时间报警并保留回执，同时拨打我行客服热线登记争议交易"
                "。我们会调取交易记录配合调查，具体处理结果以调查结论为准。",
            ),
            (
                "挂失以后我又找到卡了，还能继续用吗？",
                "口头挂失期间如果找到了卡片，可以本人携带身份证和原卡到网点办理解挂，解挂后原卡可以继续使用"
                "。已经办理正式挂失的卡片则无法恢复使用。",
            ),
        ),
    ),
    "change_phone": _Script(
        opens=(
            "你好，我原来的手机号已经停用了，想把银行卡预留的手机号改成新的，怎么操作？",
            "您好，我换号了，现在收不到你们的动账短信和验证码，想改一下预留手机号。",
        ),
        answers=(
            "您好，修改预留手机号有两种方式：如果原手机号还能接收短信，可以在手机银行“安全中心—修改预留手机"
            "号”中自助办理；如果原号码已停用，需要您本人携带身份证和银行卡到任一网点柜台办理。",
            "为保障账户安全，原手机号无法接收验证码的情况下，需要本人持有效身份证件和银行卡到网点办理，柜员"
            "核实身份后即可当场修改，修改后新号码立即生效。",
        ),
        verify=(
            "好的，可以先帮您做个登记核实。请提供您的姓名、身份证号码，以及原来的预留手机号和准备更换的新号码。",
            "没问题，请先提供一下您的姓名、身份证号以及银行卡号，我帮您查询一下目前的预留信息。",
        ),
        provide_tail=("新号码是{phone2}。", "想改成{phone2}。"),
        resolves=(
            "已核实您的身份信息。由于原号码已停用，线上无法完成修改，请您本人携带身份证和尾号{last4}的银行卡"
            "到网点柜台办理，办理时柜员会向新号码发送验证码确认。",
            "信息核对无误。已为您预约网点办理预留手机号变更，请您本人携带身份证和尾号{last4}的银行卡前往，出"
            "示预约信息即可优先办理，新号码修改后立即生效。",
        ),
        followups=(
            (
                "改完之后，之前绑定的支付宝要重新弄吗？",
                "第三方支付平台绑卡时留存的是当时的手机号，修改预留手机号后，建议您在对应平台解绑后重新绑定"
                "，以免影响支付验证。",
            ),
            (
                "能不能请家里人帮我去网点改？",
                "修改预留手机号属于涉及账户安全的重要业务，原则上需要本人办理。如确有特殊情况，请提前致电网"
                "点确认所需的授权材料。",
            ),
        ),
    ),
    "transfer_query": _Script(
        opens=(
            "你好，我{date}给别人转了{amount}元，对方说到现在都没收到，帮我查一下是怎么回事？",
            "您好，我{date}跨行转了一笔钱，显示交易成功，可对方账户一直没到账，能查一下吗？",
        ),
        answers=(
            "您好，跨行转账如果选择了“普通到账”，一般在24小时内到账；如果超过时间仍未到账，可能是对方户名或"
            "账号有误导致退汇，退回的资金会原路返回您的账户。您可以在手机银行“转账记录”里查看该笔交易的状态"
            "。",
            "同行实时转账通常几分钟内到账，跨行转账受对方银行处理时间影响，遇到节假日可能顺延。建议您先核对"
            "收款人户名、账号和开户行是否准确，如信息无误仍未到账，可以联系我们提交查询申请。",
        ),
        verify=(
            "好的，我帮您查询。为了核实身份，请提供您的姓名、身份证号码以及转出的银行卡号。",
            "没问题。请先告诉我您的姓名、预留手机号和付款卡号，我来调取这笔交易记录。",
        ),
        provide_tail=("收款人是{counterparty}。", "对方户名叫{counterparty}。"),
        resolves=(
            "查到了，您尾号{last4}的卡在{date}向{counterparty}转账{amount}元，状态为“已受理”，选择的是普通到"
            "账方式，预计24小时内入账。如果明天仍未到账，我们可以为您发起跨行查询。",
            "已查询到该笔交易：{date}转出{amount}元，目前处于对方银行处理中。建议您再耐心等待一个工作日，超"
            "时未入账的资金会自动退回原卡。",
        ),
        followups=(
            (
                "如果真的转错人了，能追回来吗？",
                "银行无法直接从对方账户划回资金，但可以协助您联系收款行，由收款行联系收款人协商退款。如果对"
                "方拒绝退还，您可以通过法律途径解决，我们会配合提供交易凭证。",
            ),
            (
                "转账手续费怎么收的？",
                "目前通过手机银行和网上银行办理的境内人民币转账，包括跨行转账，均免收手续费；在柜台办理跨行"
                "转账会按规定收取少量手续费，具体以网点公示为准。",
            ),
        ),
    ),
    "card_installment": _Script(
        paired=True,
        opens=(
            "你好，我这个月信用卡账单有{amount}元，一下子还不上，想办个分期，怎么弄？",
            "您好，请问信用卡账单分期的手续费是怎么算的？我这期账单{amount}元，想分{months}期。",
        ),
        answers=(
            "您可以在信用卡App的“账单—账单分期”中办理，系统会显示可分期金额和各期手续费。需要提醒的是，分期"
            "申请成功后如需提前还款，剩余未收的手续费通常仍需一次性支付，请您综合考虑后再申请。",
            "您好，账单分期需在到期还款日前申请，可选3、6、12、24期。以分{months}期为例，每期手续费率为"
            "{rate}，按分期本金计算，每期手续费相同，随每期本金一起计入账单。申请成功后，当期只需偿还分期后"
            "的首期金额。",
        ),
        verify=(
            "好的，为您查询一下可分期额度。请提供持卡人姓名、身份证号码和信用卡卡号。",
            "可以的。为了核实身份，请告诉我您的姓名、信用卡卡号以及预留手机号。",
        ),
        resolves=(
            "已核实。您尾号{last4}的信用卡本期账单金额{amount}元，可全额申请分期。若分{months}期，每期应还本"
            "金约{per_month}元，另收每期{rate}的手续费。确认办理的话，我这边为您提交申请。",
            "感谢您的配合。您本期账单可以分期，分{months}期的话，每期需还本金{per_month}元左右，另收每期"
            "{rate}的手续费。分期成功后当期最低还款额会相应调整，请留意短信通知。",
        ),
        followups=(
            (
                "分期会影响我的征信吗？",
                "正常办理账单分期并按期还款不会对征信产生不良影响。需要注意的是，分期期间每期都需按时足额还"
                "款，若出现逾期，会按规定报送征信。",
            ),
            (
                "分期之后可以提前全部还清吗？",
                "可以提前还款，您可以在App中申请提前结清，剩余本金会一次性计入下期账单。剩余手续费是否减免以"
                "分期协议为准，一般需要一次性收取。",
            ),
        ),
    ),
    "online_banking": _Script(
        opens=(
            "你好，我想开通个人网上银行，需要去柜台吗？",
            "您好，我刚办了卡，手机银行怎么注册登录？",
        ),
        answers=(
            "您好，个人网银和手机银行都可以自助开通：下载我行官方手机银行App，选择“注册”，输入本人银行卡号、"
            "身份证号和预留手机号，完成短信验证并设置登录密码即可。如需开通大额转账功能，需要到网点办理U盾。",
            "如果您的卡在开户时已经预留了手机号，可以直接在App上自助注册；如果没有预留手机号或信息不一致，需"
            "要本人带身份证和银行卡到网点先补充预留信息。",
        ),
        verify=(
            "好的，我帮您查一下这张卡的开通条件。请提供您的姓名、身份证号码和银行卡号。",
            "可以的，先确认一下您的身份，请告诉我您的姓名、证件号码以及预留手机号。",
        ),
        resolves=(
            "已核实，您尾号{last4}的卡已预留手机号，可以直接在手机银行自助注册。注册时请确保收短信的手机号与"
            "预留号码一致，单日转账限额默认为{limit}元，如需调整可在App的“安全中心”里修改。",
            "查询到您的卡尚未开通电子渠道，由于预留手机号与您现在使用的号码不一致，需要先到网点更新预留信息"
            "，之后即可在线开通网银。",
        ),
        followups=(
            (
                "U盾和短信验证码有什么区别？",
                "短信验证码适合日常小额交易，U盾是硬件数字证书，安全级别更高，适合大额转账。您可以根据自己的"
                "转账需求选择，U盾在网点办理，工本费以网点公示为准。",
            ),
            (
                "网银登录密码忘了怎么办？",
                "可以在登录页点击“忘记密码”，通过银行卡号、身份证号和预留手机号验证后重置。连续输错密码被锁"
                "定的，次日会自动解锁，也可以到网点办理解锁。",
            ),
        ),
    ),
    "wealth_products": _Script(
        paired=True,
        opens=(
            "你好，我有{amount}元闲钱，想买点风险低一点的理财，你们现在有什么产品？",
            "您好，请问你们那款{product}收益怎么样，能保本吗？",
        ),
        answers=(
            "您好，我行在售的理财产品有现金管理类、固定收益类等不同类型，风险等级从R1到R5。按照资管新规，理"
            "财产品不承诺保本保收益，页面展示的业绩比较基准（如年化{yield_rate}）并不代表实际收益。购买前需"
            "要先完成风险承受能力评估，系统会根据评估结果匹配适合您的产品。",
            "您好，{product}是一款R2（中低风险）产品，业绩比较基准为年化{yield_rate}，期限{term}天，1元起购"
            "。需要提醒您，理财非存款，产品有风险，投资须谨慎，过往业绩不代表未来表现。",
        ),
        verify=(
            "好的，可以先帮您看一下风险评估情况。请提供您的姓名、身份证号码和预留手机号。",
            "没问题，请先告诉我您的姓名和身份证号码，我查询一下您的风险测评是否在有效期内。",
        ),
        resolves=(
            "已查询到，您的风险承受能力评估结果为“稳健型”，可以购买R1至R3级别的产品。结合您的资金安排和偏好"
            "，可以关注现金管理类或短期固定收益类产品，具体请以产品说明书为准。",
            "已核实。您的风险测评已过期，购买前需要重新测评，可以在手机银行“理财—风险评估”中在线完成，大约需"
            "要5分钟。测评完成后系统会展示适合您风险等级的产品。",
        ),
        followups=(
            (
                "买了之后中途急用钱能取出来吗？",
                "不同产品的流动性不同：现金管理类产品一般支持T+1赎回，部分支持快速赎回；封闭式产品在到期前无"
                "法赎回。购买前请仔细查看产品说明书中的申购赎回规则。",
            ),
            (
                "理财收益要交税吗？",
                "目前个人购买银行理财产品取得的收益暂不征收个人所得税，具体以国家税收政策为准。",
            ),
        ),
    ),
    "loan_repayment": _Script(
        paired=True,
        opens=(
            "你好，我的房贷每个月{loan_day}号扣款，这个月卡里钱可能不够，会怎么样？",
            "您好，我想提前还一部分房贷，需要怎么申请？",
        ),
        answers=(
            "您好，贷款会在每月约定还款日从您的还款账户自动扣款。如果当日余额不足，系统会在当天多次尝试扣款"
            "；逾期会产生罚息并可能影响个人征信，建议您在还款日前一天存入足额资金。",
            "提前还款需要提前申请：您可以在手机银行“贷款—提前还款”中预约，或到贷款经办网点办理。提前部分还款"
            "后，可以选择缩短还款期限或减少月供，是否收取违约金以贷款合同约定为准。",
        ),
        verify=(
            "好的，我帮您查一下贷款信息。请提供借款人姓名、身份证号码和还款卡号。",
            "可以的，请告诉我您的姓名、身份证号和预留手机号，我查询一下您的贷款账户。",
        ),
        resolves=(
            "已核实。您的个人住房贷款每月{loan_day}日扣款，本月应还{monthly}元，还款账户为尾号{last4}的借记"
            "卡。请在还款日前存入足额资金，若当日未扣款成功，将从次日起计收罚息。",
            "查询到您的贷款已还款满一年，可以申请提前部分还款，最低金额为{min_prepay}元。申请提交后一般在5个"
            "工作日内办理，办理当天请确保还款卡内资金充足。",
        ),
        followups=(
            (
                "如果不小心逾期了一天，会上征信吗？",
                "逾期会按日计收罚息，逾期记录可能按规定报送征信系统。如因特殊原因造成逾期，请尽快还款并联系"
                "我们说明情况。",
            ),
            (
                "能不能换一张卡来扣房贷？",
                "可以变更还款账户，需要借款人本人携带身份证和新的借记卡到贷款经办网点办理，新卡须为本人名下"
                "的我行借记卡。",
            ),
        ),
    ),
    "fx_exchange": _Script(
        paired=True,
        opens=(
            "你好，我下个月要去{country}出差，想换点{currency}，在哪里换比较方便？",
            "您好，我想把一部分人民币换成{currency}，今天的汇率是多少？",
        ),
        answers=(
            "您好，您可以通过手机银行“外汇—结售汇”在线购汇，也可以到开办外币业务的网点办理。每人每年便利化购"
            "汇额度为等值5万美元，购汇时需如实申报用途。汇率实时变动，以交易时的牌价为准。",
            "我行外汇牌价实时更新，您可以在手机银行首页“外汇牌价”中查看现汇和现钞买入卖出价。如需提取外币现"
            "钞，建议提前一到两个工作日向网点预约，小币种可能需要调钞。",
        ),
        verify=(
            "好的，我帮您看一下购汇额度。请提供您的姓名、身份证号码和银行卡号。",
            "可以的，请先提供您的姓名、身份证号和预留手机号，我查询一下您今年的购汇额度使用情况。",
        ),
        resolves=(
            "查询到您今年已使用等值{used}美元的购汇额度，剩余额度足够本次兑换。出差用途请选择“因公出国”，按"
            "页面提示确认即可。",
            "已核实。您今年的便利化购汇额度尚未使用，还有等值5万美元。您可以在手机银行直接购汇{fx_amount}"
            "{currency}，购汇后资金存放在尾号{last4}卡的外币账户中，如需现钞请提前预约网点。",
        ),
        followups=(
            (
                "换的外币没用完，回来能换回人民币吗？",
                "可以的，剩余外币可以办理结汇换回人民币，按结汇时的买入价计算。外币现钞结汇使用现钞买入价，"
                "通常低于现汇买入价。",
            ),
            (
                "在国外直接刷信用卡是不是更方便？",
                "境外刷卡消费确实方便，建议出行前确认卡片已开通境外交易功能，并留意可能产生的货币转换费。同"
                "时可以带少量现钞备用。",
            ),
        ),
    ),
    "account_restriction": _Script(
        opens=(
            "你好，我今天转账的时候提示“账户已被限制非柜面交易”，这是怎么回事？",
            "您好，我的卡突然用不了了，手机银行转不出去钱，是不是被冻结了？",
        ),
        answers=(
            "您好，账户被限制非柜面交易，通常是因为系统监测到异常交易、账户长期未使用、身份证件过期或开户资"
            "料需要更新。您可以携带本人有效身份证件和银行卡到开户网点，配合完成身份核实和交易背景说明后申请"
            "解除限制。",
            "这种情况一般属于风险防控措施，并不是司法冻结。建议您先检查身份证件是否已过有效期，如已过期需要"
            "到网点更新证件信息。若因其他原因被限制，网点会根据核实情况办理解除。",
        ),
        verify=(
            "好的，我帮您查一下限制原因。请提供您的姓名、身份证号码和银行卡号。",
            "请不要着急，先帮您核实身份，请告诉我您的姓名、证件号码和预留手机号。",
        ),
        resolves=(
            "已查询到，您尾号{last4}的卡是因为身份证件信息已过期被限制了非柜面交易。请您携带新的身份证原件到"
            "任一网点更新证件信息，更新后限制会当场解除。",
            "已核实。系统显示您的账户近期有多笔异常交易，被风控临时限制。请您本人携带身份证和银行卡到开户网"
            "点，说明相关交易背景，核实无误后即可解除。",
        ),
        followups=(
            (
                "这个会影响我卡里的钱吗？",
                "限制非柜面交易不影响您账户内的资金安全，资金不会被扣划。限制期间您仍可以持本人身份证到柜台"
                "办理取款等业务。",
            ),
            (
                "去网点需要预约吗？",
                "不需要预约，但为节省时间，建议您在手机银行“网点预约”中提前取号，带齐身份证原件和银行卡即可。",
            ),
        ),
    ),
    "credit_limit": _Script(
        opens=(
            "你好，我的信用卡额度太低了，想申请提高一下额度。",
            "您好，我下个月要装修，能不能临时把信用卡额度调高一点？",
        ),
        answers=(
            "您好，信用卡提额分为临时额度和固定额度两种。临时额度有效期一般为30至90天，到期后自动恢复；固定"
            "额度调整需要用卡满半年以上，系统会根据您的用卡情况、还款记录和资产情况综合评估。您可以在信用卡"
            "App“额度管理”中申请。",
            "保持良好的还款记录、适当增加用卡频率，以及在我行留存的资产情况都有助于提额。申请后系统会实时给"
            "出评估结果，如暂时不符合条件，建议三个月后再尝试。",
        ),
        verify=(
            "好的，我帮您查询一下可调整额度。请提供持卡人姓名、身份证号码和信用卡卡号。",
            "可以的，请先告诉我您的姓名、身份证号以及预留手机号。",
        ),
        resolves=(
            "已核实。您尾号{last4}的信用卡目前固定额度为{credit_limit}元，系统评估可以为您申请临时额度至"
            "{temp_limit}元，有效期60天，到期自动恢复。需要现在为您办理吗？",
            "查询到您的卡片用卡时间还不满6个月，暂时无法调整固定额度，但可以申请临时额度，最高可调至"
            "{temp_limit}元，有效期30天。",
        ),
        followups=(
            (
                "临时额度到期了要一次性还清吗？",
                "临时额度到期后，超出固定额度的部分需要在当期账单中一次性还清，不能办理最低还款，请您提前做"
                "好资金安排。",
            ),
            (
                "频繁申请提额会不会有影响？",
                "短期内频繁申请不会直接影响征信，但系统评估结果通常变化不大。建议保持正常用卡和按时还款，间"
                "隔一段时间后再申请。",
            ),
        ),
    ),
}

_ZH_GENERIC = _Script(
    opens=("您好，我想咨询一下{topic}的相关问题。", "你好，请问{topic}这个业务怎么办理？"),
    answers=(
        "您好，关于{topic}，具体办理方式和所需材料因业务而异。一般需要您本人携带有效身份证件到网点办理，部分"
        "业务也可以通过手机银行自助办理。请问您具体想了解哪方面？",
    ),
    verify=("好的，为了更准确地为您查询，请提供您的姓名、身份证号码和预留手机号。",),
    resolves=("已核实您的身份。关于{topic}，我已为您登记服务需求，稍后会有专员在1个工作日内联系您进一步办理。",),
    followups=(
        (
            "大概需要多长时间？",
            "一般在1至3个工作日内办结，具体以实际办理情况为准，办理进度会通过短信通知您。",
        ),
        (
            "需要准备什么材料？",
            "通常需要本人有效身份证件，涉及账户的业务还需要携带对应的银行卡，具体以网点要求为准。",
        ),
    ),
)

_EN: dict[str, _Script] = {
    "lost_card": _Script(
        opens=(
            "Hi, I think I've lost my debit card. I used it at the supermarket yesterday afternoon and now "
            "I can't find it. What should I do?",
            "Hello, my wallet was stolen this morning and my debit card from your bank was in it. I need to "
            "block it right away.",
        ),
        answers=(
            "I'm sorry to hear that. You can block the card straight away in the mobile app under “Cards > "
            "Report lost”, or through our hotline. A temporary block lasts 5 days; within that time please "
            "bring your ID to any branch to make the report formal and order a replacement card. The "
            "replacement fee is {fee} yuan.",
        ),
        verify=(
            "I'm sorry to hear that, let me block the card for you now. To verify your identity, could you "
            "give me the cardholder's full name, ID card number and the mobile number registered with us?",
        ),
        resolves=(
            "Thank you, your identity is verified. The card ending in {last4} is now temporarily blocked "
            "and can't be used. The block lasts 5 days, so please visit any branch with your ID within that "
            "time to complete the formal report and get a replacement card. The replacement fee is {fee} "
            "yuan.",
        ),
        followups=(
            (
                "Will the new card have a different number?",
                "Yes, the replacement card will have a new number. Payment apps and direct debits linked to "
                "the old card will need to be updated.",
            ),
            (
                "What if someone has already used my card?",
                "If you see any transaction you didn't make, please report it to the police and keep the "
                "receipt, then call us to register a disputed transaction. We'll pull the records and "
                "support the investigation.",
            ),
        ),
    ),
    "change_phone": _Script(
        opens=(
            "Hi, my old phone number is no longer in service. I'd like to update the mobile number "
            "registered on my bank card.",
        ),
        answers=(
            "If your old number can still receive texts, you can change it yourself in the mobile app under "
            "“Security > Registered mobile number”. If it can't, please visit a branch in person with your "
            "ID card and bank card; the change takes effect immediately.",
        ),
        verify=(
            "Of course. Please give me your full name, ID card number and the card number, and tell me the "
            "new number you'd like to use.",
        ),
        provide_tail=("The new number is {phone2}.",),
        resolves=(
            "Thanks, I've verified your identity. As the old number is no longer active, the change has to "
            "be done at a branch. Please bring your ID card and the card ending in {last4}; the teller will "
            "send a verification code to your new number.",
        ),
        followups=(
            (
                "Do I need to re-link my card in payment apps?",
                "It's a good idea. Payment apps keep the mobile number from when you linked the card, so "
                "please unlink and re-link it after the change to avoid verification problems.",
            ),
        ),
    ),
    "transfer_query": _Script(
        opens=(
            "Hello, I transferred {amount} yuan to someone on {date_en}, and they say it still hasn't "
            "arrived. Can you check what happened?",
        ),
        answers=(
            "Interbank transfers with standard delivery usually arrive within 24 hours. If the payee's name "
            "or account number doesn't match, the payment is returned to your account. You can check the "
            "status under “Transfer history” in the mobile app.",
        ),
        verify=(
            "Certainly. For verification, please tell me your full name, ID card number and the card number "
            "you paid from.",
        ),
        provide_tail=("The payee is {counterparty}.",),
        resolves=(
            "I can see it: on {date_en} your card ending in {last4} sent {amount} yuan to {counterparty}. "
            "The status is “accepted” with standard delivery, so it should arrive within 24 hours. If it "
            "hasn't by tomorrow, we can open an interbank trace for you.",
        ),
        followups=(
            (
                "Can I get the money back if I sent it to the wrong person?",
                "We can't take money back from the payee's account directly, but we can contact the "
                "receiving bank, which will ask the payee to return it. If they refuse, you may take legal "
                "action and we will provide the transaction records.",
            ),
        ),
    ),
    "card_installment": _Script(
        opens=(
            "Hi, my credit card bill this month is {amount} yuan and I can't pay it all at once. Can I "
            "split it into instalments?",
        ),
        answers=(
            "Yes. You can apply before the payment due date for 3, 6, 12 or 24 instalments. For {months} "
            "instalments the fee is {rate} of the principal per month, charged with each instalment. Once "
            "approved, you only need to pay the first instalment this month.",
        ),
        verify=("Sure. Please give me the cardholder's full name, ID card number and the credit card number.",),
        resolves=(
            "Thanks, verified. Your card ending in {last4} has a statement balance of {amount} yuan, all of "
            "which can be split. Over {months} months you would repay about {per_month} yuan of principal "
            "each month plus a {rate} monthly fee. Shall I submit the application?",
        ),
        followups=(
            (
                "Will instalments affect my credit report?",
                "No, as long as you pay each instalment on time. Late payments are reported to the credit "
                "reference system as usual.",
            ),
        ),
    ),
    "online_banking": _Script(
        opens=("Hello, I'd like to set up online banking. Do I need to go to a branch?",),
        answers=(
            "You can do it yourself: download our official mobile banking app, tap “Register”, enter your "
            "card number, ID card number and registered mobile number, confirm the text code and set a "
            "login password. For large transfers you will need a USB security key from a branch.",
        ),
        verify=("Sure, let me check your card. Could you give me your full name, ID card number and card number?",),
        resolves=(
            "Verified. Your card ending in {last4} already has a registered mobile number, so you can "
            "register in the app right away. The default daily transfer limit is {limit} yuan, which you "
            "can change under “Security”.",
        ),
        followups=(
            (
                "What if I forget my login password?",
                "Tap “Forgot password” on the login page and verify with your card number, ID card number "
                "and registered mobile number to reset it.",
            ),
        ),
    ),
    "wealth_products": _Script(
        opens=(
            "Hi, I have {amount} yuan I won't need for a while. Do you have any low-risk wealth management products?",
        ),
        answers=(
            "We offer cash management and fixed income products with risk ratings from R1 to R5. Under the "
            "asset management rules no product guarantees principal or returns; a performance benchmark "
            "such as {yield_rate} a year is not a promise. You'll need to complete a risk tolerance "
            "assessment first, and we'll match products to your result.",
        ),
        verify=(
            "Happy to help. Let me check your risk assessment first: could you give me your full name, ID "
            "card number and registered mobile number?",
        ),
        resolves=(
            "Your risk assessment result is “balanced”, so you can buy products rated R1 to R3. Given your "
            "preference for low risk, cash management or short-term fixed income products would fit; please "
            "read the prospectus before buying.",
        ),
        followups=(
            (
                "Can I withdraw early if I need the money?",
                "It depends on the product. Cash management products usually allow redemption on the next "
                "business day, while closed-end products can't be redeemed before maturity.",
            ),
        ),
    ),
    "loan_repayment": _Script(
        opens=(
            "Hello, my mortgage payment is debited on day {loan_day} of each month and I may not have "
            "enough in my account this time. What happens?",
        ),
        answers=(
            "The instalment is debited automatically on the due date. If the balance is short, the system "
            "retries during the day; late payment incurs penalty interest and may be reported to your "
            "credit record, so please top up the account the day before.",
        ),
        verify=(
            "Let me look up your loan. Please give me the borrower's full name, ID card number and "
            "repayment card number.",
        ),
        resolves=(
            "Verified. Your mortgage instalment of {monthly} yuan is debited on day {loan_day} of each "
            "month from the card ending in {last4}. Please make sure the funds are there by then; penalty "
            "interest starts the following day if the debit fails.",
        ),
        followups=(
            (
                "Can I repay part of the loan early?",
                "Yes, once the loan has run for a year you can apply in the app under “Loans > Early "
                "repayment” or at the branch that handles your loan. Whether a fee applies depends on your "
                "loan contract.",
            ),
        ),
    ),
    "fx_exchange": _Script(
        opens=(
            "Hi, I'm travelling to {country_en} next month for work and need some {currency_en}. Where can "
            "I exchange money?",
        ),
        answers=(
            "You can buy foreign currency in the mobile app under “FX” or at any branch that handles "
            "foreign currency. Each person has an annual allowance equivalent to USD 50,000 and must state "
            "the purpose. Rates change in real time; the rate at the time of the trade applies.",
        ),
        verify=("Sure, let me check your allowance. Please give me your full name, ID card number and card number.",),
        resolves=(
            "Verified. You haven't used any of this year's USD 50,000 allowance yet. You can buy "
            "{fx_amount} {currency_en} in the app and it will be held in the foreign currency account of "
            "your card ending in {last4}. If you need cash, please book with a branch a day or two ahead.",
        ),
        followups=(
            (
                "Can I change leftover currency back to yuan?",
                "Yes, you can sell it back at our buying rate at the time. Cash notes use the cash buying "
                "rate, which is usually a little lower than the rate for account balances.",
            ),
        ),
    ),
    "account_restriction": _Script(
        opens=(
            "Hi, when I tried to transfer money today it said my account is restricted from non-counter "
            "transactions. Why?",
        ),
        answers=(
            "This usually happens when our system detects unusual activity, the account has been dormant, "
            "your ID document has expired, or your account details need updating. Please bring your ID and "
            "card to your home branch; once we've verified your identity and the purpose of the "
            "transactions, the restriction can be lifted.",
        ),
        verify=("Let me check the reason for you. Could you give me your full name, ID card number and card number?",),
        resolves=(
            "Your card ending in {last4} was restricted because the ID document on file has expired. Please "
            "bring your new ID card to any branch to update it and the restriction will be lifted on the "
            "spot.",
        ),
        followups=(
            (
                "Is my money safe?",
                "Yes. The restriction doesn't touch the funds in your account, and you can still withdraw "
                "cash at the counter with your ID.",
            ),
        ),
    ),
    "credit_limit": _Script(
        opens=("Hello, my credit card limit is too low. I'd like to ask for an increase.",),
        answers=(
            "There are two kinds of increase: a temporary one, valid for 30 to 90 days, and a permanent "
            "one, which needs at least six months of card use. We assess your usage, repayment history and "
            "assets. You can apply in the credit card app under “Limit management”.",
        ),
        verify=("Sure. Please give me the cardholder's full name, ID card number and credit card number.",),
        resolves=(
            "Verified. Your card ending in {last4} has a permanent limit of {credit_limit} yuan. I can "
            "offer a temporary increase to {temp_limit} yuan for 60 days, after which it returns to normal. "
            "Would you like me to set that up?",
        ),
        followups=(
            (
                "Do I need to repay the extra amount in one go?",
                "Yes, when the temporary limit ends, anything above your permanent limit must be repaid in "
                "full on that statement; the minimum payment option doesn't cover that part.",
            ),
        ),
    ),
}

_EN_GENERIC = _Script(
    opens=("Hello, I have a question about {topic}.",),
    answers=(
        "Regarding {topic}: the steps and documents depend on the service. Usually you'll need to visit a "
        "branch in person with valid ID, and some services can be done in the mobile app. What would you "
        "like to know specifically?",
    ),
    verify=("To look this up for you, could you give me your full name, ID card number and registered mobile number?",),
    resolves=(
        "Thank you, your identity is verified. I've logged your request about {topic}; a specialist will "
        "contact you within one business day.",
    ),
    followups=(
        (
            "How long will it take?",
            "Usually one to three business days; we'll text you as it progresses.",
        ),
    ),
)

# Opening phrases and labelled PII fragments for the customer's turns.
_PROVIDE = {
    "zh": {
        "lead": ("好的，", "嗯，", "好，", ""),
        "name": ("我叫{name}", "我是{name}", "持卡人是{name}", "姓名{name}"),
        "rid": ("身份证号是{rid}", "身份证号码{rid}", "证件号{rid}"),
        "phone": ("手机号{phone}", "预留手机是{phone}", "电话{phone}"),
        "card": ("卡号{card}", "卡号是{card}", "银行卡号{card}"),
        "sep": "，",
        "end": "。",
    },
    "en": {
        "lead": ("Sure, ", "OK, ", "Of course: "),
        "name": ("my name is {name}", "I'm {name}", "the cardholder is {name}"),
        "rid": ("my ID card number is {rid}", "ID number {rid}"),
        "phone": ("my mobile is {phone}", "registered mobile {phone}"),
        "card": ("card number {card}", "the card number is {card}"),
        "sep": ", ",
        "end": ".",
    },
}
_EMAIL_FOLLOWUP = {
    "zh": (
        "对了，以后的对账单和业务通知能发到我的邮箱吗？{email}",
        "可以的，已为您登记电子邮箱，后续的电子对账单和业务通知会发送到该邮箱，请注意查收。",
    ),
    "en": (
        "Also, could you send my statements to my email, {email}?",
        "Of course. I've registered that email for electronic statements and notices from the next statement date.",
    ),
}
_CARD_TOPICS = frozenset({"lost_card", "transfer_query", "card_installment", "credit_limit", "fx_exchange"})
_FX = (("美国", "美元", "the US", "US dollars"), ("日本", "日元", "Japan", "Japanese yen"),
       ("德国", "欧元", "Germany", "euros"), ("香港", "港币", "Hong Kong", "Hong Kong dollars"),
       ("英国", "英镑", "the UK", "pounds sterling"))  # fmt: skip
# (name, term in days): the term quoted to the customer must match the product's name.
_PRODUCTS = (("“稳享”90天持有期理财", 90), ("“半年盈”180天封闭式理财", 180), ("“年年丰”一年期固收理财", 365))

# Variety a real service log has: agents introduce themselves by work number, customers sign off, and
# Q&A instructions frame who is asking. Without it, small template spaces repeat exactly at scale.
_AGENT_INTROS = {
    "zh": (
        "您好，{agent_id}号客服为您服务。",
        "您好，我是客服专员，工号{agent_id}，很高兴为您服务。",
        "感谢您的耐心等待，{agent_id}号为您服务。",
    ),
    "en": ("Hello, agent {agent_id} speaking. ", "Thanks for waiting, this is agent {agent_id}. "),
}
_LEADING_GREETING = re.compile(r"^(您好，|好的，|Hello, )")
_CLOSINGS = {
    "zh": (
        ("好的，明白了，谢谢。", "不客气，感谢您的来电，祝您生活愉快！"),
        ("行，我知道了，谢谢你。", "不客气，如有其他问题欢迎随时联系我们，再见。"),
        ("好的，没有其他问题了。", "好的，感谢您的来电，稍后可能会有满意度回访短信，麻烦您评价一下，再见。"),
    ),
    "en": (
        ("Great, that's clear. Thanks.", "You're welcome. Thank you for calling, and have a nice day!"),
        ("OK, got it. Thank you.", "My pleasure. If anything else comes up, just get in touch. Goodbye."),
    ),
}
_QA_FRAMES = {
    "zh": (
        "一位{age}岁的客户通过{channel}咨询：“{question}”请以银行客服身份作答。",
        "一位{age}岁的{occupation}客户在{channel}提问：“{question}”请给出规范、准确的答复。",
        "客户（{age}岁，{occupation}）来电询问：“{question}”请以客服身份回答。",
    ),
    "en": (
        "A customer (aged {age}) asks via {channel_en}: “{question}” Answer as a bank customer-service agent.",
        "A {age}-year-old {occupation} asks via {channel_en}: “{question}” Give an accurate, compliant answer.",
        "Customer question ({occupation}, aged {age}): {question}",
    ),
}
_KNOWLEDGE_FRAMES = {
    "zh": (
        "请简要说明“{topic}”业务的办理方式和注意事项，面向{age}岁左右的{occupation}客户。",
        "请为新入职的柜员写一段关于“{topic}”的业务要点说明，并附一个{age}岁客户常问的问题。",
        "请用通俗的语言向一位{age}岁的{occupation}解释“{topic}”需要注意什么。",
    ),
    "en": (
        "Briefly explain the retail-banking service “{topic}” to a customer ({occupation}, {age}): how it "
        "works and what to watch out for.",
        "Write a short briefing on “{topic}” for new branch staff, with one question a {age}-year-old "
        "customer often asks.",
        "In plain words, explain to a {age}-year-old {occupation} what matters about “{topic}”.",
    ),
}
_CHANNELS = {
    "zh": ("手机银行在线客服", "客服热线", "网点柜台", "微信公众号", "信用卡App"),
    "en": ("the mobile banking chat", "the hotline", "a branch counter", "the WeChat account", "the card app"),
}
_OPENING_ASIDES = {
    "zh": ("", "", "", "打扰一下，", "麻烦问一下，", "我是你们行的老客户了，", "刚才在App上找了半天没找到，"),
    "en": ("", "", "", "Sorry to bother you. ", "Quick question. ", "I've banked with you for years. "),
}
_OCCUPATIONS = {
    "zh": ("退休教师", "个体工商户", "企业职员", "在校大学生", "外卖骑手", "自由职业者", "公务员", "护士",
           "工程师", "小微企业主"),
    "en": ("retired teacher", "shop owner", "office worker", "university student", "delivery rider",
           "freelancer", "civil servant", "nurse", "engineer", "small-business owner"),
}  # fmt: skip

_fakers: dict[str, Faker] = {}
# Faker keeps its seed on the instance: seed and draw under one lock so threads can't interleave.
_faker_lock = threading.Lock()


def _faker(locale: str) -> Faker:
    if locale not in _fakers:
        _fakers[locale] = Faker(locale)
    return _fakers[locale]


class OfflineBackend:
    """Deterministic template backend: no model, no network, realistic fake PII for the masking stage."""

    name = "offline"
    model = OFFLINE_MODEL

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __repr__(self) -> str:
        return f"OfflineBackend(seed={self.seed})"

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None,
        json_mode: bool,
    ) -> Completion:
        # temperature and max_tokens are accepted for interface parity; templates are never truncated,
        # and output is always JSON because the strategy always asks for its schema.
        canonical = json.dumps(
            {"messages": messages, "seed": seed, "backend_seed": self.seed},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        rng_seed = int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")
        rng = random.Random(rng_seed)  # noqa: S311 -- reproducible fake data, not security
        schema, language, topic_name = _directives(messages)
        if schema in STEP_SCHEMAS:
            prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
            with _faker_lock:
                faker = _faker("zh_CN" if language == "zh" else "en_US")
                faker.seed_instance(rng_seed)
                content: dict[str, Any] = step_output(
                    schema, rng=rng, faker=faker, language=language, topic=topic_name, prompt=prompt
                )
        elif schema == "qa":
            content = _qa(rng, rng_seed, language, topic_name)
        else:
            content = _dialogue(rng, rng_seed, language, topic_name)
        text = json.dumps(content, ensure_ascii=False)
        prompt_text = "".join(str(m.get("content", "")) for m in messages)
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=_approx_tokens(prompt_text, language),
            completion_tokens=_approx_tokens(text, language),
        )


def _approx_tokens(text: str, language: str) -> int:
    # Approximate only (no tokenizer offline): ~2 characters per token for Chinese, ~4 for English.
    return max(1, len(text) // (2 if language == "zh" else 4))


def _directives(messages: list[dict[str, str]]) -> tuple[str, str, str]:
    # The last directive in a system or user message wins: the strategy writes its own after any
    # caller-supplied text, and model output echoed back in a repair turn is never trusted.
    found: dict[str, str] = {}
    for message in messages:
        if message.get("role") not in ("system", "user"):
            continue
        for key, value in _DIRECTIVE.findall(str(message.get("content", ""))):
            found[key] = value
    schema = found.get("OUTPUT_SCHEMA", "dialogue").lower()
    language = found.get("LANGUAGE", "zh").lower()
    return (
        schema if schema in ("dialogue", "qa", *STEP_SCHEMAS) else "dialogue",
        language if language in ("zh", "en") else "zh",
        found.get("TOPIC", ""),
    )


def _script_for(rng: random.Random, topic_name: str, language: str) -> tuple[str, str, _Script]:
    """(topic key, topic name in ``language``, script); unknown topics get the generic script."""
    scripts = _ZH if language == "zh" else _EN
    topic: Topic | None = topic_lookup(topic_name) if topic_name else None
    if topic is None and not topic_name:
        # No topic in the prompt: pick one of ours rather than talk about nothing.
        topic = topic_lookup(rng.choice(sorted(scripts)))
    if topic is not None and topic.key in scripts:
        return topic.key, topic.name(language), scripts[topic.key]
    return "", topic_name, _ZH_GENERIC if language == "zh" else _EN_GENERIC


# --- fake identities ------------------------------------------------------------------------------


def _resident_id(rng: random.Random, male: bool) -> str:
    region = rng.choice(_REGION_CODES)
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 44))
    # The 17th digit is odd for men, even for women (GB 11643).
    sequence = f"{rng.randrange(0, 100):02d}{rng.randrange(0, 5) * 2 + (1 if male else 0)}"
    body = f"{region}{birth:%Y%m%d}{sequence}"
    return body + resident_id_check_char(body)


def _mobile(rng: random.Random) -> str:
    digits = rng.choice(_MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))
    style = rng.random()
    if style < 0.5:
        return digits
    if style < 0.7:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style < 0.85:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"


def _bank_card(rng: random.Random) -> str:
    length = rng.choice((16, 19))
    partial = rng.choice(_CARD_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(length - 5))
    return partial + luhn_check_digit(partial)


def _spaced(card: str) -> str:
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def _person(rng: random.Random, faker_seed: int, language: str) -> dict[str, str]:
    male = rng.random() < 0.5
    with _faker_lock:
        if language == "zh":
            fake = _faker("zh_CN")
            fake.seed_instance(faker_seed)
            name = fake.name_male() if male else fake.name_female()
            counterparty = fake.name()
            user = fake.user_name()
        else:
            fake = _faker("en_US")
            fake.seed_instance(faker_seed)
            first = fake.first_name_male() if male else fake.first_name_female()
            name = f"{first} {fake.last_name()}"
            counterparty = f"{fake.first_name()} {fake.last_name()}"
            user = fake.user_name()
    domains = _ZH_EMAIL_DOMAINS if language == "zh" else _EN_EMAIL_DOMAINS
    card = _bank_card(rng)
    return {
        "name": name,
        "counterparty": counterparty,
        "rid": _resident_id(rng, male),
        "phone": _mobile(rng),
        "phone2": _mobile(rng),
        "card": _spaced(card) if rng.random() < 0.25 else card,
        "last4": card[-4:],
        "email": f"{user}{rng.randrange(10, 1000)}@{rng.choice(domains)}",
    }


def _context(rng: random.Random, faker_seed: int, language: str, topic_name: str) -> dict[str, Any]:
    months = rng.choice((3, 6, 12, 24))
    amount = rng.randrange(15, 500) * 100
    credit_limit = rng.choice((10000, 20000, 30000, 50000))
    day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 365))
    country, currency, country_en, currency_en = rng.choice(_FX)
    product, term = rng.choice(_PRODUCTS)
    ctx: dict[str, Any] = {
        "topic": topic_name,
        "fee": rng.choice((5, 10, 15)),
        "amount": amount,
        "months": months,
        "per_month": amount // months,
        "rate": rng.choice(("0.60%", "0.65%", "0.75%")),
        "date": f"{day.month}月{day.day}日",
        "date_en": f"{day:%B} {day.day}",
        "limit": rng.choice((50000, 100000, 200000)),
        "product": product,
        "yield_rate": rng.choice(("2.35%", "2.60%", "2.85%", "3.10%")),
        "term": term,
        "loan_day": rng.randrange(1, 29),
        "monthly": rng.randrange(20, 90) * 100 + rng.randrange(0, 100),
        "min_prepay": rng.choice((10000, 50000)),
        "country": country,
        "currency": currency,
        "country_en": country_en,
        "currency_en": currency_en,
        "fx_amount": rng.randrange(5, 100) * 100,
        "used": rng.randrange(1, 30) * 1000,
        "credit_limit": credit_limit,
        "temp_limit": int(credit_limit * rng.choice((1.5, 2))),
        "agent_id": rng.randrange(1000, 10000),
        "age": rng.randrange(20, 75),
        "occupation": rng.choice(_OCCUPATIONS[language]),
        "channel": rng.choice(_CHANNELS["zh"]),
        "channel_en": rng.choice(_CHANNELS["en"]),
    }
    ctx.update(_person(rng, faker_seed, language))
    return ctx


# --- records --------------------------------------------------------------------------------------

_ZH_GREETING = re.compile(r"^(喂，)?(你好|您好)，")
_EN_GREETING = re.compile(r"^(Hi|Hello), ")


def _with_name(opening: str, language: str, name: str) -> str:
    if language == "zh":
        stripped = _ZH_GREETING.sub("", opening)
        return f"您好，我是{name}，{stripped}"
    stripped = _EN_GREETING.sub("", opening)
    return f"Hello, this is {name}. {stripped[:1].upper()}{stripped[1:]}"


def _with_aside(opening: str, language: str, aside: str) -> str:
    """``opening`` with ``aside`` spoken right after the greeting (or first, if there is none)."""
    if not aside:
        return opening
    greeting = (_ZH_GREETING if language == "zh" else _EN_GREETING).match(opening)
    if greeting is None:
        return aside + opening
    rest = opening[greeting.end() :]
    if language == "en":
        rest = rest[:1].upper() + rest[1:]
    return opening[: greeting.end()] + aside + rest


def _provide_turn(rng: random.Random, language: str, key: str, script: _Script, ctx: dict[str, Any]) -> str:
    phrases = _PROVIDE[language]
    wanted = ["name"]
    if rng.random() < 0.75:
        wanted.append("rid")
    if key == "change_phone" or rng.random() < 0.8:
        wanted.append("phone")
    if rng.random() < (0.85 if key in _CARD_TOPICS else 0.4):
        wanted.append("card")
    if len(wanted) == 1:
        wanted.append("rid")
    parts = [rng.choice(phrases[field]) for field in wanted]
    turn = rng.choice(phrases["lead"]) + str(phrases["sep"]).join(parts) + str(phrases["end"])
    if script.provide_tail:
        turn += ("" if language == "zh" else " ") + rng.choice(script.provide_tail)
    return turn.format(**ctx)


def _dialogue(rng: random.Random, faker_seed: int, language: str, topic_name: str) -> dict[str, Any]:
    key, topic_name, script = _script_for(rng, topic_name, language)
    ctx = _context(rng, faker_seed, language, topic_name)
    plant_pii = rng.random() < 0.6
    followups = list(script.followups)
    rng.shuffle(followups)
    turns: list[tuple[str, str]] = []
    opening, answer, resolution = script.pick(rng)
    if plant_pii and rng.random() < 0.3:
        opening = _with_name(opening, language, "{name}")
    else:
        opening = _with_aside(opening, language, rng.choice(_OPENING_ASIDES[language]))
    if plant_pii:
        turns.append((opening, rng.choice(script.verify)))
        turns.append((_provide_turn(rng, language, key, script, ctx), resolution))
        if rng.random() < 0.25:
            turns.append(_EMAIL_FOLLOWUP[language])
        elif rng.random() < 0.5:
            turns.append(followups[0])
    else:
        turns.append((opening, answer))
        turns.extend(followups[: rng.choice((1, 2))])
    if len(turns) == 2 and rng.random() < 0.4:
        turns.append(rng.choice(_CLOSINGS[language]))
    if rng.random() < 0.9:
        first_user, first_reply = turns[0]
        intro = rng.choice(_AGENT_INTROS[language])
        turns[0] = (first_user, intro + _LEADING_GREETING.sub("", first_reply))
    messages: list[dict[str, str]] = []
    for user, assistant in turns:
        messages.append({"role": "user", "content": user.format(**ctx)})
        messages.append({"role": "assistant", "content": assistant.format(**ctx)})
    return {"messages": messages}


def _qa(rng: random.Random, faker_seed: int, language: str, topic_name: str) -> dict[str, Any]:
    key, topic_name, script = _script_for(rng, topic_name, language)
    ctx = _context(rng, faker_seed, language, topic_name)
    opening, answer, _ = script.pick(rng)
    style = rng.random()
    if style < 0.3:
        # A customer's own words, identifying details and all: the masking stage must catch them.
        opening = _with_name(opening, language, "{name}")
        if language == "zh":
            instruction = (
                "以下是一位客户的来电内容，请以银行客服身份给出规范、准确的答复。\n"
                f"客户：“{opening}我的手机号是{{phone}}，身份证号{{rid}}。”"
            )
        else:
            instruction = (
                "Below is a customer's call. Reply as a bank customer-service agent, accurately and "
                f"politely.\nCustomer: “{opening} My mobile is {{phone}} and my ID card number is {{rid}}.”"
            )
    elif style < 0.65:
        question = _ZH_GREETING.sub("", opening) if language == "zh" else _EN_GREETING.sub("", opening)
        question = question[:1].upper() + question[1:]
        # The question keeps its own placeholders; they are filled with the frame's below.
        instruction = rng.choice(_QA_FRAMES[language]).replace("{question}", question)
    else:
        question, reply = rng.choice(script.followups)
        instruction = rng.choice(_KNOWLEDGE_FRAMES[language])
        label = "常见问题：" if language == "zh" else "FAQ: "
        answer = f"{answer}\n\n{label}{question}\n{reply}"
    return {"instruction": instruction.format(**ctx), "response": answer.format(**ctx)}
