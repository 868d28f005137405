"""Chinese personal names for matching: normalised form, surname split, pinyin keys and shape keys.

Homophones (张伟/张玮) share a pinyin key; southern-dialect confusions (z/zh, n/l, in/ing) share a
fuzzy-pinyin key; characters often misread from handwriting (侯/候, 颖/颍) share a shape key;
traditional characters are folded to simplified ones first (張偉 = 张伟).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC
from pypinyin import Style, lazy_pinyin

# Two-character surnames (复姓): without them 欧阳明 would split as 欧 + 阳明.
COMPOUND_SURNAMES = frozenset(
    (
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "司徒",
        "东方",
        "皇甫",
        "夏侯",
        "慕容",
        "令狐",
        "尉迟",
        "公孙",
        "长孙",
        "宇文",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "万俟",
        "申屠",
        "太史",
        "闻人",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "赫连",
        "钟离",
        "拓跋",
        "闾丘",
        "东郭",
        "第五",
    )
)
# Characters whose reading as a surname differs from their everyday reading.
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao",
    "覃": "qin", "缪": "miao", "翟": "zhai", "盖": "ge", "乐": "yue", "种": "chong", "员": "yun",
    "秘": "bi", "召": "shao", "繁": "po", "能": "nai", "阚": "kan", "谌": "chen", "贲": "ben",
    "纪": "ji", "沈": "shen", "宿": "su", "藏": "zang", "朝": "chao", "句": "gou", "折": "she",
    "隗": "wei", "柏": "bai",
}  # fmt: skip
COMPOUND_READINGS = {
    "万俟": ("mo", "qi"),
    "尉迟": ("yu", "chi"),
    "长孙": ("zhang", "sun"),
    "单于": ("chan", "yu"),
}
# Groups of characters that are easily misread for one another (形近字); each maps to its first.
SHAPE_GROUPS = (
    "侯候", "梁粱", "颖颍", "晶品", "己已巳", "戊戌戍", "未末", "日曰", "土士", "干千于", "人入",
    "大太犬", "王玉主", "木本术", "白自百", "免兔", "析折", "鸟乌", "拔拨", "辨辩辫", "睛晴",
    "贝见", "崇祟", "汩汨", "茶荼", "徽微", "候侯", "祖租", "锡赐", "娴闲", "瑛瑶", "琪祺棋",
    "婷亭", "蓉容", "慧惠", "彬斌", "峰锋", "钰珏", "莹萤", "晖辉", "坤堃", "祯桢", "恒桓",
    "延廷", "冶治", "棣隶", "臣巨", "玫枚", "翟瞿", "苟荀", "汤杨", "刁习", "盂孟", "丹舟",
)  # fmt: skip
# Initials and finals that speakers of southern dialects merge (模糊音).
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("r", "l"), ("h", "f"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"), ("iang", "ian"), ("uang", "uan"))
_SEPARATORS = re.compile(r"[\s·・.,，。\-_'’`]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def _shape_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in SHAPE_GROUPS:
        for ch in group:
            table.setdefault(ch, group[0])
    return table


_SHAPES = _shape_table()


@dataclass(frozen=True, slots=True)
class NameKeys:
    """Everything the name comparison needs about one name."""

    full: str  # normalised, simplified, no separators ('' when unusable)
    family: str
    given: str
    pinyin: str  # toneless syllables, family then given, no spaces ('zhangwei')
    pinyin_bag: str  # family and given syllable groups, sorted (order-free: 'wei|zhang')
    fuzzy: str  # pinyin with dialect confusions merged
    initials: str  # first letter of each syllable ('zw')
    shape: str  # full name with look-alike characters merged
    is_han: bool


@lru_cache(maxsize=1 << 18)
def normalise_text(text: str) -> str:
    """NFKC (full-width to half-width), traditional to simplified, separators removed, lower-case."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if _HAN.search(folded):
        folded = _t2s().convert(folded)
    return _SEPARATORS.sub("", folded).lower()


def split_name(full: str, family_hint: str = "") -> tuple[str, str]:
    """(family, given) of a Han name written without a space, honouring compound surnames."""
    if family_hint and full.startswith(family_hint):
        return family_hint, full[len(family_hint) :]
    if len(full) >= 3 and full[:2] in COMPOUND_SURNAMES:
        return full[:2], full[2:]
    return full[:1], full[1:]


@lru_cache(maxsize=1 << 16)
def char_pinyin(ch: str) -> str:
    """The everyday toneless reading of one character ('' for a non-Han character)."""
    reading = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    return reading[0].replace("ü", "v") if reading else ""


def _syllables(han: str, surname: bool) -> list[str]:
    # Character by character: in names, characters are read on their own, not as words.
    if surname and han in COMPOUND_READINGS:
        return list(COMPOUND_READINGS[han])
    if surname:
        return [SURNAME_READINGS.get(ch, "") or char_pinyin(ch) for ch in han]
    return [r for r in (char_pinyin(ch) for ch in han) if r]


def fuzzy_syllable(syllable: str) -> str:
    """A pinyin syllable with dialect-merged initials and finals."""
    for hard, soft in _FUZZY_INITIALS:
        if syllable.startswith(hard):
            syllable = soft + syllable[len(hard) :]
            break
    for hard, soft in _FUZZY_FINALS:
        if syllable.endswith(hard):
            return syllable[: -len(hard)] + soft
    return syllable


@lru_cache(maxsize=1 << 20)
def name_keys(text: str, family_hint: str = "") -> NameKeys:
    """Matching keys of a name as written (Han characters, or pinyin/Latin letters)."""
    full = normalise_text(text)
    if not full:
        return NameKeys("", "", "", "", "", "", "", "", False)
    if _HAN.search(full):
        family, given = split_name(full, normalise_text(family_hint))
        fam_syl, giv_syl = _syllables(family, True), _syllables(given, False)
        syllables = fam_syl + giv_syl
        bag = "|".join(sorted(("".join(fam_syl), "".join(giv_syl))))
        shape = "".join(_SHAPES.get(ch, ch) for ch in full)
        return NameKeys(
            full, family, given, "".join(syllables), bag, "".join(fuzzy_syllable(s) for s in syllables),
            "".join(s[:1] for s in syllables), shape, True,
        )  # fmt: skip
    # Latin letters: a name in pinyin ("ZHANG Wei", "Wei Zhang") or a foreign name
    words = [w for w in re.split(r"[^a-z]+", unicodedata.normalize("NFKC", text).lower()) if w]
    joined = "".join(words)
    bag = "|".join(sorted(words))
    family = words[0] if words else ""
    return NameKeys(
        joined, family, "".join(words[1:]), joined, bag, "".join(fuzzy_syllable(w) for w in words),
        "".join(w[:1] for w in words), joined, False,
    )  # fmt: skip
