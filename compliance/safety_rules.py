# ruff: noqa: E501 - one rule per line reads better than wrapped regexes
"""Pattern rules of the content-safety filter: phrasings a term list cannot enumerate.

Each rule is (risk code, compiled regex) and runs on ``safety.fold(text)``: NFKC, simplified Chinese,
lower case, spaces kept. Rules look for an intent joined to an object (``如何…制作…炸弹``), so a
word on its own (``炸弹`` in a news sentence) does not fire.
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

RULES: list[tuple[str, re.Pattern[str]]] = [(code, re.compile(regex)) for code, regex in _RAW]
