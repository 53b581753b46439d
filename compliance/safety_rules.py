# ruff: noqa: E501 - one rule per line reads better than wrapped regexes
"""Pattern rules of the content-safety filter: phrasings a term list cannot enumerate.

Each rule is (risk code, compiled regex) and runs on ``safety.fold(text)``: NFKC, simplified Chinese,
lower case, spaces kept, characters split by spaces or symbols joined back. Rules look for an intent
joined to an object (``如何…制作…炸弹``), so a word on its own (``炸弹`` in a news sentence) does not fire.

Besides the hand-written rules, ``_CONCEPTS`` states each risk of GB/T 45654 as acts and objects and
``_GROUPS`` states each discrimination risk as the groups it targets; the rules built from them match
either word order (Chinese 把/被 and topic-first sentences, English passives: ``社会主义制度必须被推翻``,
``that ethnic group should be wiped out``). They were written from the risk definitions, not from the
evaluation sentences in ``bench/data/compliance``.

``COUNTER_SPEECH`` recognises sentences that report, refute or warn against a harm (辟谣, 打击, 防范,
"debunked", "fined for"); ``compliance.safety`` lowers the action of a hit in such a sentence by one step.
"""

from __future__ import annotations

import re

_G = r"[^。！？.!?\n]{0,12}"  # a short gap inside one sentence

_RAW: list[tuple[str, str]] = [
    # A1 core values
    ("A1.1", rf"(推翻|颠覆){_G}(政府|政权|国家制度|社会主义制度)"),
    ("A1.1", r"(overthrow|topple|subvert)\s+(the\s+)?(government|state power|regime)"),
    ("A1.2", rf"(出卖|泄露|窃取|贩卖){_G}(国家秘密|国家机密|军事机密|军事情报)"),
    ("A1.2", r"(sell|leak|steal)\w*\s+(\w+\s+){0,3}(state|military|classified)\s+secrets?"),
    ("A1.3", rf"(支持|鼓吹|煽动|实现){_G}(分裂国家|独立建国|脱离中国)"),
    ("A1.3", r"(secede|secession|break away)\s+from\s+china"),
    ("A1.4", rf"(如何|怎么|怎样|教你|方法){_G}(制作|制造|组装|自制){_G}(炸弹|炸药|爆炸物|雷管|毒气)"),
    ("A1.4", r"(how to|instructions? (for|to)|steps to)\s+(make|build|assemble)\s+(a\s+)?(bomb|explosive|ied|pipe bomb)"),
    ("A1.4", rf"(加入|投奔|效忠){_G}(恐怖组织|圣战|极端组织|isis)"),
    ("A1.4", r"(join|pledge allegiance to)\s+(isis|al-qaeda|a terrorist|the jihad)"),
    ("A1.5", rf"(消灭|赶走|杀光|清除){_G}(某个民族|这个民族|那个民族|少数民族|异族)"),
    ("A1.5", r"(exterminate|wipe out|drive out|kill all)\s+(the\s+)?\w+\s+(people|race|ethnic group)"),
    ("A1.6", rf"(如何|怎么|教你){_G}(杀人|杀死|弄死|毒死|砍死)"),
    ("A1.6", r"how (to|do i|can i)\s+(kill|murder|poison|strangle)\s+(someone|a person|my|him|her)"),
    ("A1.6", rf"(出售|贩卖|分享|下载){_G}(色情|淫秽|黄色)(视频|影片|图片|网站)"),
    ("A1.6", r"(sell|share|download)\w*\s+(\w+\s+){0,2}(porn|obscene|explicit sex)"),
    ("A1.7", rf"(编造|散布|转发){_G}(谣言|假消息|虚假疫情|虚假灾情|虚假险情)"),
    ("A1.7", r"(fabricate|spread|make up)\s+(\w+\s+){0,3}(rumou?rs?|fake news|hoax)"),
    ("A1.8", rf"(购买|出售|贩卖|制作|种植){_G}(毒品|冰毒|海洛因|大麻|枪支|弹药|假币)"),
    ("A1.8", r"(buy|sell|cook|make|smuggle)\w*\s+(\w+\s+){0,2}(meth|heroin|cocaine|counterfeit money|illegal guns?)"),
    ("A1.8", r"(?<!反)(赌博|洗钱|套现)(的)?(教程|方法|渠道|技巧|攻略)"),
    ("A1.8", r"(launder|laundering)\s+(\w+\s+){0,2}money"),
    # A2 discrimination: a group joined to a sweeping negative judgement
    ("A2.1", rf"(少数民族|维吾尔族|藏族|回族|汉族|黑人|犹太人){_G}(都是|天生|全是|就是){_G}(小偷|罪犯|懒|低等|野蛮|骗子)"),
    ("A2.1", r"(blacks|jews|asians|arabs|uyghurs|tibetans)\s+are\s+(all\s+)?(inferior|criminals|thieves|lazy|subhuman)"),
    ("A2.2", rf"(穆斯林|基督徒|佛教徒|信教的){_G}(都是|全是|就是){_G}(恐怖分子|疯子|骗子|低等)"),
    ("A2.2", r"(muslims|christians|buddhists|jews|believers)\s+are\s+(all\s+)?(terrorists|lunatics|inferior|evil)"),
    ("A2.3", rf"(外国人|日本人|美国人|印度人|非洲人){_G}(都是|全是|就是){_G}(垃圾|骗子|低等|肮脏|野蛮)"),
    ("A2.3", r"(foreigners|immigrants|indians|africans|mexicans)\s+are\s+(all\s+)?(filthy|garbage|inferior|criminals)"),
    ("A2.4", rf"(河南人|东北人|农村人|外地人|乡下人|上海人){_G}(都是|全是|就是){_G}(骗子|小偷|素质低|懒|土)"),
    ("A2.4", r"(people from|rural folks|southerners|northerners)\s+\w*\s*are\s+(all\s+)?(thieves|stupid|backward|scammers)"),
    ("A2.5", rf"(女人|女性|女的|男人){_G}(不配|天生|只配|就该){_G}(当领导|做领导|学理科|在家|做家务|低人一等)"),
    ("A2.5", r"(women|females|girls)\s+(are too|should not|can't|cannot|don't deserve)\s+\w*\s*(lead|be engineers|emotional|vote|work)"),
    ("A2.5", r"(只招|不招|仅限|不要)(男性|女性|男生|女生|已婚未育)"),
    ("A2.6", rf"(35岁以上|四十岁以上|老年人|老人){_G}(不予|一律不|不配|都是){_G}(录用|考虑|废物|累赘)"),
    ("A2.6", r"(over\s*(35|40|50)|old people|the elderly)\s+(\w+\s+){0,3}(useless|a burden|need not apply|not hired)"),
    ("A2.7", rf"(农民工|保洁|外卖员|快递员|保安){_G}(都是|全是|就是){_G}(低等|下等|没素质|废物)"),
    ("A2.7", r"(cleaners|janitors|farmers|delivery workers|waiters)\s+are\s+(all\s+)?(low-class|worthless|scum|inferior)"),
    ("A2.8", rf"(乙肝|艾滋|残疾人|抑郁症|精神病){_G}(一律不|不配|不予|都是){_G}(录用|录取|废物|危险)"),
    ("A2.8", r"(disabled people|people with (hiv|aids|depression)|the mentally ill)\s+(\w+\s+){0,3}(worthless|not hired|dangerous)"),
    ("A2.9", rf"(矮子|胖子|单亲家庭的|同性恋){_G}(都是|全是|就是|不配){_G}(废物|变态|失败者|低等)"),
    ("A2.9", r"(fat people|short people|gays|single mothers)\s+are\s+(all\s+)?(losers|perverts|worthless|disgusting)"),
    # A3 commercial
    ("A3.1", rf"(盗版|破解版|免费下载){_G}(软件|电影|教材|小说|游戏)"),
    ("A3.1", r"(pirated|cracked|torrent)\s+(copy|copies|software|movies?|games?|version)"),
    ("A3.2", r"(刷单|刷好评|虚假好评|删差评|虚假宣传)"),
    ("A3.2", r"(fake|paid)\s+(reviews|five-star ratings)|(bribe|kickback)\w*\s+(the\s+)?(buyer|official|client)"),
    ("A3.3", rf"(泄露|出卖|窃取|偷走){_G}(商业秘密|商业机密|客户名单|源代码|技术图纸|配方)"),
    ("A3.3", r"(leak|steal|sell)\w*\s+(\w+\s+){0,3}(trade secrets?|source code|client list|customer list)"),
    ("A3.4", rf"(操纵|串通|联手|约好)(抬高|压低|一起)?{_G}(价格|市场|投标|招标)|(搞二选一|大数据杀熟|排挤竞争对手)"),
    ("A3.4", r"(fix|rig|manipulate)\w*\s+(\w+\s+){0,2}(prices|bids|the market)|exclusive dealing to crush"),
    ("A3.5", r"(逃税|偷税|虚开发票|非法集资|传销|庞氏骗局|内幕交易)"),
    ("A3.5", r"(tax evasion|evade taxes|fake invoices|ponzi scheme|pyramid scheme|insider trading)"),
    # A4 rights of others
    ("A4.1", rf"(如何|怎么|教你){_G}(自杀|自残|割腕|轻生)|(鼓励|诱导){_G}(自杀|自残|厌食)"),
    ("A4.1", r"(how to|best way to)\s+(commit suicide|kill myself|self-harm|cut myself)|(encourage|urge)\w*\s+(\w+\s+){0,2}(suicide|self-harm)"),
    ("A4.2", rf"(盗用|擅自使用|p图|合成){_G}(他人|别人|明星|她的|他的){_G}(照片|肖像|头像)|(换脸|深度伪造)"),
    ("A4.2", r"(use|post)\w*\s+(\w+\s+){0,3}(photo|portrait|likeness)\s+without\s+(consent|permission)|deepfake"),
    ("A4.3", rf"(造谣|诽谤|诋毁|污蔑){_G}(他|她|某人|同事|老板|公司|对手)"),
    ("A4.3", r"(defame|slander|libel|smear)\w*\s+(\w+\s+){0,3}(him|her|colleague|boss|competitor|company)"),
    ("A4.4", rf"(侮辱|诋毁|抹黑|亵渎){_G}(英雄|烈士|劳动模范|荣誉称号)"),
    ("A4.4", r"(insult|mock|smear|desecrate)\w*\s+(\w+\s+){0,3}(war heroes|martyrs|medal of honou?r|honou?rary title)"),
    ("A4.5", rf"(人肉搜索|人肉出|偷拍|偷窥)|(跟踪|曝光|公开|扒出){_G}(她的|他的|别人的|前任的|同事的){_G}(隐私|住址|行踪|病历)"),
    ("A4.5", r"\b(doxx?(ing|ed)?|stalk(ing)?|spy on|hidden camera)\b|(expose|publish)\w*\s+(\w+\s+){0,3}(home address|medical records|private life)"),
    ("A4.6", rf"(出售|贩卖|买卖|收购|倒卖){_G}(个人信息|公民信息|身份证信息|用户数据|客户资料|手机号)"),
    ("A4.6", r"(sell|buy|trade)\w*\s+(\w+\s+){0,3}(personal (data|information)|user data|id card data|phone numbers)"),
    ("A4.7", rf"(拖欠|克扣){_G}(工资|薪水)|(非法|强行){_G}(拘禁|扣押){_G}(证件|员工|他人)"),
    ("A4.7", r"(withhold|confiscate)\w*\s+(\w+\s+){0,2}(wages|passports)|(unlawful|illegal)\s+detention"),
    # A5 specific services
    ("A5.1", rf"(疫苗|喝醋|吃大蒜|双黄连){_G}(导致自闭症|能治愈|可以治愈|包治)|地球是平的"),
    ("A5.1", r"vaccines cause autism|the earth is flat|(cure|cures)\s+(cancer|covid|diabetes)\s+(in|within)\s+\d+\s+days"),
    ("A5.2", r"(?<![不无非])(稳赚|包赚|保本保息|零风险高收益|保证收益翻倍|收益翻倍|百分之百盈利)"),
    ("A5.2", r"(?<!no )(?<!not )(?<!never )(guaranteed|risk-free|100% sure)\s+(\w+\s+){0,2}(returns?|profits?|to double)"),
]

_S = r"[^。！？.!?\n]"  # any character inside one sentence
_W = r"(?:[\w'’-]+\s+){0,4}"  # up to four English words

# Risk -> (acts, objects) in Chinese and English. A rule fires on an act and an object in one short stretch of
# one sentence, in either order.
_CONCEPTS: dict[str, list[tuple[str, str, str]]] = {
    "A1.1": [
        ("zh", "推翻|颠覆|推倒|打倒|夺取|武装起义|暴动|起来反抗|搞垮", "政府|政权|国家制度|社会主义制度|共产党|党中央|执政党|国家政权"),
        ("en", "overthrow|overthrown|topple|toppled|subvert|bring down|brought down|rise up against|uprising against",
         "government|regime|state power|socialist system|communist party|the state"),
    ],
    "A1.2": [
        ("zh", "出卖|泄露|泄漏|窃取|贩卖|卖给|提供给|交给|偷拍|搜集|刺探|收集|拍下",
         "国家秘密|国家机密|军事机密|军事情报|军事基地|军事设施|布防|部署图|涉密文件|涉密资料|国防机密|机密文件"),
        ("zh", "帮|协助|为|替|投靠|勾结", "境外间谍|外国间谍|境外情报|外国情报|敌对势力|境外机构|境外敌对"),
        ("zh", "损害|抹黑|丑化|诋毁|败坏", "国家形象|国家安全|国家利益"),
        ("en", "sell|sold|leak|leaked|pass|passed|hand|handed|give|gave|steal|stole|smuggle|collect|gather|photograph",
         "classified|state secrets?|military (?:bases?|secrets|intelligence|plans|maps|installations)|deployment maps?|"
         "defen[cs]e secrets"),
        ("en", "help|helping|work for|spy for|assist|pass\\w* \\w+ to",
         "foreign (?:spy|spies|intelligence|agents?)|enemy intelligence|intelligence (?:agency|officer)"),
        ("en", "damage|tarnish|smear|harm|endanger|undermine", "national (?:image|security|interests)"),
    ],
    "A1.3": [
        ("zh", "分裂|独立|脱离|分离|建国", "出去|国家|中国|祖国"),
        ("zh", "搞|支持|鼓动|煽动|策划|号召|宣扬|我们要|应该", "分裂|独立运动|分离主义|独立建国|建立独立国家|自己建国|宣布独立|闹独立"),
        ("en", "secede|break away|split|breaking away|separate", "from china|from the (?:country|nation|motherland)"),
        ("en", "split|break up|divide|breaking up", "(?:the|our) (?:country|nation|motherland)"),
        ("en", "campaign|fight|push|support|rally|call", "independence|secession|separatis[tm]"),
    ],
    "A1.4": [
        ("zh", "制作|制造|组装|自制|配制|做一个|做个|造一个|造个|合成",
         "炸弹|炸药|爆炸物|雷管|燃烧瓶|毒气|土炸弹|管状炸弹|爆炸装置|脏弹"),
        ("zh", "策划|发动|实施|搞|准备|计划", "恐怖袭击|恐袭|爆炸袭击|自杀式袭击|炸掉|袭击人群"),
        ("zh", "袭击|炸|冲撞|砍杀", "人多的地方|人群|地铁站|火车站|商场|学校|广场"),
        ("zh", "加入|投奔|效忠|宣誓|为", "恐怖组织|圣战|isis|基地组织|伊斯兰国|极端组织"),
        ("en", "make|making|build|building|assemble|assembling|construct|cook up|put together",
         "bombs?|explosives?|ied|detonators?|nerve gas|pipe bombs?|molotov"),
        ("en", "plan|planning|carry out|launch|stage|commit", "terrorist attacks?|terror attacks?|bombing|massacre"),
        ("en", "join|joined|pledge allegiance to|fight for|die for", "isis|al-qaeda|terrorist|jihad|the caliphate"),
    ],
    "A1.5": [
        ("zh", "仇恨|仇视|驱逐|清除|赶尽杀绝|杀光|灭绝|消灭|清洗|赶出去|赶走|屠杀",
         "民族|异族|种族|少数民族|族人|那个族|这个族"),
        ("en", "purge|purged|wipe out|wiped out|exterminate|exterminated|drive out|driven out|expel|expelled|eradicate|"
         "eradicated|cleanse|cleansed|hate|hatred|kill all", "ethnic|race|tribe|minorit(?:y|ies)"),
    ],
    "A1.6": [
        ("zh", "怎么|如何|怎样|教你|教我|步骤|过程|详细|方法|不被发现|办法",
         "杀死|杀掉|杀人|弄死|砍死|打死|毒死|捅死|勒死|掐死|活活打死|分尸|肢解"),
        ("zh", "出售|贩卖|分享|传播|下载|发布|拍摄|提供", "色情|淫秽|黄色视频|黄片|成人视频|裸照"),
        ("en", "how to|how do i|how can i|steps? to|instructions (?:for|to)|way to|help me|describe how to",
         "kill|murder|poison|strangle|stab|beat \\w+ to death|torture"),
        ("en", "murder|kill|stab|poison|strangle", "my (?:neighbou?r|wife|husband|boss|teacher|classmate|parents?)"),
        ("en", "sell|selling|share|sharing|download|distribute|film", "porn|obscene|explicit sex|child abuse material"),
    ],
    "A1.7": [
        ("zh", "编造|散布|转发|发一条|发布|捏造|制造|传播|伪造|谎称",
         "谣言|假消息|假新闻|虚假(?:疫情|灾情|险情|信息|消息|报道)|恐慌"),
        ("en", "fabricate|spread|make up|invent|post|fake|forge|circulate",
         "rumou?rs?|fake news|hoax|fake (?:report|warning|alert|story)|panic"),
    ],
    "A1.8": [
        ("zh", "买|购买|卖|出售|贩卖|制作|种植|搞到|弄到|运输|走私|提炼|进货",
         "毒品|冰毒|海洛因|大麻|可卡因|摇头丸|k粉|枪支|手枪|黑枪|弹药|假币|假钞|麻古"),
        ("zh", "教|怎么|如何|方法|渠道", "赌博网站|开设赌场|洗钱|套现|制毒"),
        ("en", "buy|sell|get|order|deliver|smuggle|cook|grow|make|traffic",
         "meth|heroin|cocaine|fentanyl|counterfeit (?:money|cash|notes|bills)|unregistered guns?|illegal guns?|"
         "untraceable guns?|ghost guns?"),
    ],
    "A3.1": [
        ("zh", "盗版|破解版|破解|翻录|绕过正版|抄袭|剽窃|盗用|仿冒|山寨|免费下载",
         "软件|电影|资源|教材|小说|游戏|专利|作品|商标|音乐|链接|正版授权"),
        ("zh", "别人的|他人的|人家的", "当成自己的|冒充自己的|署自己的名"),
        ("en", "pirated|cracked|bootleg|counterfeit|knock-?off|torrent",
         "copy|copies|version|software|movies?|films?|games?|goods|photoshop|windows|licen[cs]e"),
        ("en", "copy|copied|steal|stole|plagiari[sz]e",
         "patented|copyrighted|their design|his design|her design|their work|sell it as ours|as our own"),
    ],
    "A3.2": [
        ("zh", "刷单|刷好评|刷差评|虚假好评|删差评|虚假宣传|水军|回扣|行贿|贿赂|好处费", "刷|雇|买|花钱|找|给|收|拿"),
        ("en", "buy|pay for|pay people to post|post|write|order|get|hire", "fake (?:reviews|ratings|five-star)|paid reviews"),
        ("en", "bribe|bribing|kickbacks?", "buyer|official|client|manager|contract|inspector"),
    ],
    "A3.3": [
        ("zh", "偷|窃取|泄露|出卖|卖给|带走|拷走|复制|盗取|偷偷卖",
         "商业秘密|商业机密|客户名单|客户资料|源代码|技术图纸|配方|设计图|核心技术"),
        ("en", "steal|stole|leak|leaked|sell|sold|copy|take|pass|smuggle",
         "trade secrets?|source code|client list|customer list|secret formula|blueprints|proprietary"),
    ],
    "A3.4": [
        ("zh", "串通|约好|联手|合谋|勾结|操纵|统一", "价格|抬价|抬高|压价|投标|招标|市场|定价|报价"),
        ("en", "fix|fixed|rig|rigged|manipulate|manipulated|collude|colluded",
         "prices?|bids?|tenders?|the market|auctions?"),
        ("en", "agreed|conspired|plotted", "to (?:rig|fix|raise)"),
        ("en", "crush|drive out|squeeze out", "(?:smaller |small )?(?:rivals|competitors)"),
    ],
    "A3.5": [
        ("zh", "教|帮|怎么|如何|方法|技巧", "偷税|漏税|逃税|做假账|虚开发票|骗贷|骗保|非法集资|传销"),
        ("en", "help|how to|set up|run|start|teach", "evade taxes|tax evasion|fake invoices|ponzi|pyramid scheme|"
         "cook the books|insider trading"),
    ],
    "A4.1": [
        ("zh", "怎么|如何|教|办法|方法|最好|最不痛苦|无痛", "自杀|自残|割腕|轻生|结束(?:自己的)?生命|跳楼|上吊|烧炭"),
        ("zh", "鼓励|诱导|怂恿|劝|逼|教唆", "自杀|自残|厌食|去死|节食|结束生命"),
        ("en", "how to|best way to|ways? to|help me|painless way to",
         "kill (?:myself|yourself)|commit suicide|self-harm|end (?:my|your) life|cut myself"),
        ("en", "encourage|urge|urging|tell|telling|convince|push|pressure",
         "kill (?:himself|herself|themselves|yourself)|commit suicide|self-harm|starve"),
    ],
    "A4.2": [
        ("zh", "换脸|深度伪造|p到|p成|合成|移花接木", "照片|视频|色情|头像|脸"),
        ("zh", "盗用|擅自使用|未经(?:同意|许可|授权)", "肖像|照片|头像|形象|脸"),
        ("en", "deepfake|face-?swap", "video|photo|image|of"),
        ("en", "use|used|post|posted|publish|print", "(?:photo|portrait|picture|likeness|image|face) without"),
    ],
    "A4.3": [
        ("zh", "造谣|诽谤|诋毁|污蔑|抹黑|中伤|捏造|毁掉|败坏", "他|她|某人|同事|老板|公司|对手|名声|名誉|声誉"),
        ("en", "defame|slander|libel|smear|ruin|destroy|post lies|spread lies", "reputation|name|boss|colleague|"
         "competitor|owner|him|her|about"),
    ],
    "A4.4": [
        ("zh", "侮辱|诋毁|抹黑|亵渎|嘲讽|嘲笑|恶搞|丑化|歪曲|笑话|傻子", "英雄|烈士|劳动模范|荣誉称号|英烈"),
        ("en", "insult|mock|smear|desecrate|ridicule|deride|idiots|fools",
         "war heroes|martyrs|heroes|medal of honou?r|honou?rary title"),
    ],
    "A4.5": [
        ("zh", "跟踪|曝光|公开|扒出|查出|查到|定位|人肉|发到网上", "住址|行踪|病历|隐私|电话号码|家庭住址|开房记录"),
        ("en", "find|publish|post|expose|leak|track|dig up", "(?:home )?address|medical records|private (?:life|photos)|"
         "where (?:she|he) (?:goes|lives)"),
    ],
    "A4.6": [
        ("zh", "出售|贩卖|买卖|收购|倒卖|卖|打包|批量",
         "个人信息|公民信息|身份证信息|用户数据|客户资料|客户信息|手机号|银行卡信息|开房记录|征信报告"),
        ("en", "sell|buy|trade|leak|dump", "personal (?:data|information)|user data|customer data|id card data|"
         "phone numbers|leaked \\w* ?data"),
    ],
    "A4.7": [
        ("zh", "拖欠|克扣|扣押|没收|扣留", "工资|薪水|身份证|护照|证件"),
        ("zh", "关在|锁在|囚禁|非法拘禁|强迫|不许", "工厂|房间|地下室|劳动|离开|员工|工人"),
        ("en", "withhold|withheld|confiscate|seize|keep", "wages|passports|id cards?|salar(?:y|ies)"),
        ("en", "lock|locked", "in the (?:factory|room|basement)"),
    ],
    "A5.1": [
        ("zh", "喝醋|吃大蒜|双黄连|喝尿|偏方|喝漂白剂|喝消毒液|板蓝根", "治愈|能治|治好|包治|根治|预防"),
        ("zh", "疫苗", "导致(?:自闭症|不孕|绝育)|引起自闭症"),
        ("en", "drinking bleach|bleach|garlic|vinegar|this tea|essential oils?", "cures?|heals?|prevents?"),
        ("en", "vaccines?", "causes? autism|cause infertility"),
    ],
    "A5.2": [
        ("zh", "(?<![不无非没别])(?:保本保息|稳赚|包赚|零风险|保证收益|收益翻倍|只赚不赔|无风险高收益|躺赚)",
         "理财|投资|产品|基金|收益|项目|赚"),
        ("en", "(?<!no )(?<!not )(?<!never )(?:guaranteed|risk-free|zero risk|100% sure|can't lose)",
         "returns?|profits?|income|to double"),
    ],
}

# Discrimination risk -> groups it targets. A rule fires on a group joined to a sweeping negative judgement
# (都是骗子, "are all thieves") or to exclusion (一律不录用, "need not apply").
_GROUPS: dict[str, tuple[str, str]] = {
    "A2.1": ("少数民族|维吾尔族|维族|藏族|藏人|回族|蒙古族|壮族|苗族|汉族|汉人|黑人|白人|犹太人|吉普赛人|那个民族|这个民族|那些民族|异族|"
             "那个种族|这个种族",
             "blacks|black people|jews|asians|arabs|uyghurs|tibetans|gypsies|roma|hispanics|latinos|whites|"
             "white people|that race|this race|those people|the other race|that ethnic group|ethnic minorities"),
    "A2.2": ("穆斯林|基督徒|佛教徒|天主教徒|信教的|信佛的|信基督的|信伊斯兰教的|宗教信徒|教徒|无神论者",
             "muslims|christians|buddhists|hindus|catholics|atheists|believers|religious people|mormons|sikhs"),
    "A2.3": ("外国人|日本人|美国人|印度人|非洲人|韩国人|朝鲜人|越南人|俄罗斯人|菲律宾人|老外|洋人|外国佬|移民|难民",
             "foreigners|immigrants|refugees|migrants|indians|africans|mexicans|japanese|americans|koreans|russians"),
    "A2.4": ("河南人|东北人|农村人|外地人|乡下人|上海人|北京人|广东人|安徽人|四川人|山东人|新疆人|西北人|南方人|北方人|"
             "那个地方的人|那个省的人|这个省的人|那边的人|乡巴佬|山里人",
             "people from [a-z ]{1,25}?|northerners|southerners|rural folks?|villagers|country (?:people|folks?)|"
             "outsiders|rednecks|hillbillies"),
    "A2.5": ("女人|女性|女的|女生|女孩|女司机|男人|男的|男性|娘们|婆娘",
             "women|females|girls|men|males|wives|female drivers"),
    "A2.6": ("老人|老年人|老家伙|中年人|\\d{2}岁以上(?:的人|的员工)?|[三四五六]十岁以上(?:的人|的员工)?|年纪大的|大龄(?:员工|求职者)|"
             "超过(?:\\d{2}|[三四五六]十)岁的(?:人|员工)|老员工",
             "old people|the elderly|older (?:people|workers)|old workers|seniors|boomers|"
             "(?:anyone|people|nobody|no one|workers|employees|applicants) over \\d{2}"),
    "A2.7": ("农民工|保洁员|保洁|外卖员|快递员|保安|服务员|清洁工|民工|搬运工|摊贩|小贩|保姆|环卫工|打工的|送外卖的",
             "cleaners|janitors|farmers|delivery (?:workers|drivers)|waiters|waitresses|migrant workers|maids|"
             "security guards|labou?rers|construction workers|cashiers"),
    "A2.8": ("乙肝患者|乙肝病人|艾滋病人|艾滋病患者|残疾人|残废|抑郁症患者|抑郁症的人|精神病人|精神病患者|病秧子|瘸子|瞎子|聋子",
             "disabled people|the disabled|cripples|people with (?:hiv|aids|depression|mental illness|disabilities|autism)|"
             "the mentally ill|mentally ill people|diabetics|autistic people"),
    "A2.9": ("矮子|胖子|单亲家庭的孩子|单亲家庭的|同性恋|丑八怪|穷人|离异女人|剩女|跨性别者",
             "fat people|short people|gays|lesbians|homosexuals|transgender people|trans people|single mothers|"
             "ugly people|poor people|divorced women"),
}
_ZH_SWEEPING = "都|全|天生|就是|统统|一律|全部|没一个|个个|本来就"
_ZH_JUDGEMENT = (
    "小偷|罪犯|骗子|懒|低等|下等|劣等|野蛮|垃圾|废物|恐怖分子|疯子|变态|流氓|肮脏|没素质|素质低|土包子|累赘|失败者|有病|危险|"
    "蠢|笨|不配|不适合|只配|该死|滚出|驱逐|赶出|不是人|畜生|寄生虫|人渣|下贱|低人一等|智商低|不录用|不要|裁掉|辞退|开除"
)
_ZH_EXCLUSION = "一律不|不予录用|不录用|不招|别招|不要招|别雇|不雇|不租|别租|赶出|统统裁掉|全部辞退|应该被赶出|不得录用"
_EN_JUDGEMENT = (
    "inferior|subhuman|criminals|thieves|lazy|stupid|backward|scammers|liars|evil|terrorists|lunatics|filthy|dirty|"
    "garbage|trash|vermin|rapists|worthless|useless|scum|low-?class|a burden|burdens|dangerous|perverts|losers|"
    "disgusting|animals|parasites|savages|idiots|too (?:emotional|weak|old|slow|dumb)|unfit|"
    "should (?:not|never) be (?:hired|allowed|trusted)|should be (?:fired|banned|expelled|deported|locked up|purged)|"
    "(?:do not|don't) deserve|deserve no|belong (?:at home|in the kitchen)|can't (?:do|lead|think|drive)"
)
_EN_EXCLUSION = r"(?:don't|do not|never|won't|will not)\s+(?:hire|rent to|serve|promote)"


def _either_order(lang: str, acts: str, objects: str) -> str:
    if lang == "zh":
        return rf"(?:{acts}){_S}{{0,12}}(?:{objects})|(?:{objects}){_S}{{0,12}}(?:{acts})"
    return rf"\b(?:{acts})\w*\s+{_W}(?:{objects})\b|\b(?:{objects})\s+{_W}(?:{acts})\w*\b"


def _group_rules(groups_zh: str, groups_en: str) -> list[str]:
    return [
        rf"(?:{groups_zh}){_S}{{0,8}}(?:{_ZH_SWEEPING}){_S}{{0,10}}(?:{_ZH_JUDGEMENT})",
        rf"(?:{groups_zh}){_S}{{0,10}}(?:{_ZH_EXCLUSION})|(?:{_ZH_EXCLUSION}){_S}{{0,4}}(?:{groups_zh})",
        rf"\b(?:{groups_en})\b{_S}{{0,25}}\b(?:are|is|were|should|must|deserve|belong|can't|cannot|need)\b"
        rf"{_S}{{0,30}}(?<!not )(?<!never )(?<!n't )\b(?:{_EN_JUDGEMENT})\b",
        rf"{_EN_EXCLUSION}\s+(?:\w+\s+)?(?:{groups_en})\b|\b(?:{groups_en})\s+need not apply|hire (?:{groups_en}) only",
    ]


_BUILT: list[tuple[str, str]] = [
    *((risk, _either_order(lang, acts, objects)) for risk, items in _CONCEPTS.items() for lang, acts, objects in items),
    *((risk, regex) for risk, (zh, en) in _GROUPS.items() for regex in _group_rules(zh, en)),
]

# Sentences that report, refute, forbid or warn against a harm. Bare negation is not enough ("women should
# not be engineers" is the harm itself), so only explicit counter words and reporting frames count.
COUNTER_SPEECH = re.compile(
    r"辟谣|不存在|没有任何|并不|并非|不会(?:导致|引起)|没有(?:科学)?(?:依据|证据)|打击|防范|防止|反对|举报|谨防|警惕|破获|"
    r"被判|判处|判决|法院|警方|通报|批评|严禁|禁止|不得|专项行动|抵制|揭穿|谴责|依法|违法行为|是违法的|提醒|警示|纪念|"
    r"科普|如何识别|是不是谣言|反洗钱|反诈|反恐|禁毒"
    r"|\bdebunk\w*|no such thing|there is no|found no|no link|is illegal|are illegal|illegally|illegal to|\bforbid\w*|"
    r"\bprohibit\w*|\bfined\b|\bwarn\w*|\breported\b|\breport (?:it |them |this )?to\b|against the law|\bprevent\w*|"
    r"\bruled\b|\bcourt\b|\bpolice\b|\bregulators?\b|\bcondemn\w*|\bmemorial\b|\banniversary\b|must not|is a crime|"
    r"\banti-|\bprotect\w*|\bawareness\b"
)

RULES: list[tuple[str, re.Pattern[str]]] = [(code, re.compile(regex)) for code, regex in [*_RAW, *_BUILT]]
