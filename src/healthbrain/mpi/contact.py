"""Phones and addresses for matching: number forms, and addresses split into 省/市/区/街道/社区/门牌."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from healthbrain.mpi.names import normalise_text

_NON_DIGIT = re.compile(r"\D")
_FILLER_PHONE = re.compile(r"^(\d)\1+$|^0*12345678")


def normalise_phone(raw: str) -> str:
    """Digits only, without the +86/0086 country code; '' for filler numbers (00000000, 12345678...).

    Landlines keep their area code when written ('0570-3012345' -> '05703012345').
    """
    digits = _NON_DIGIT.sub("", unicodedata.normalize("NFKC", raw))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) in (10, 11, 12):
            digits = digits[len(prefix) :]
            break
    if len(digits) < 7 or _FILLER_PHONE.match(digits):
        return ""
    return digits


def local_number(phone: str) -> str:
    """The part that stays the same whether or not the area code was written: the subscriber
    number of a landline (last 7-8 digits) or the whole mobile number."""
    if len(phone) == 11 and phone.startswith("1"):
        return phone
    if phone.startswith("0") and len(phone) >= 10:
        # area codes: 010 and 02x have three digits, the others four (0570 ...)
        return phone[3:] if phone[1] in "12" else phone[4:]
    return phone


@dataclass(frozen=True, slots=True)
class AddressParts:
    """A mainland address, normalised level by level ('' where unknown)."""

    province: str
    city: str
    district: str
    township: str  # 街道, 镇 or 乡
    community: str  # 社区 or 村
    detail: str  # road, number, building, flat

    @property
    def full(self) -> str:
        return "".join((self.province, self.city, self.district, self.township, self.community, self.detail))


# Suffixes that mark each administrative level below the province, longest first.
_LEVELS = (
    ("city", ("自治州", "地区", "市", "盟")),
    ("district", ("自治县", "新区", "区", "县", "旗", "市")),
    ("township", ("街道办事处", "街道", "镇", "乡")),
    ("community", ("居委会", "村委会", "社区", "村")),
)
_LOWER = {
    "city": ("区", "县", "街道", "镇", "乡", "社区", "村"),
    "district": ("街道", "镇", "乡", "社区", "村"),
    "township": ("社区", "村"),
    "community": (),
}
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)  # fmt: skip
_MUNICIPALITIES = frozenset(("北京", "上海", "天津", "重庆"))
_PROVINCE_TAIL = re.compile(r"^(壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)")


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    """'衢州市' -> '衢州', keeping names that would become a single character ('沙县' stays)."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _take_province(text: str) -> tuple[str, str]:
    for short in PROVINCES:
        if text.startswith(short):
            rest = text[len(short) :]
            tail = _PROVINCE_TAIL.match(rest)
            return short, rest[tail.end() :] if tail else rest
    return "", text


def _take(text: str, level: str, suffixes: tuple[str, ...]) -> tuple[str, str]:
    """Split off the first name ending in one of `suffixes` (within 12 characters) that does not
    swallow a lower level; a doubled suffix (湖镇镇) stays with the name."""
    best = -1
    for suffix in suffixes:
        at = text.find(suffix, 1)
        if 0 < at <= 12:
            end = at + len(suffix)
            # a name that itself ends in a suffix character: 湖镇镇, 壶镇街道
            follow = next((s for s in suffixes if text.startswith(s, end)), "")
            end += len(follow)
            chunk = text[:end]
            if any(low in chunk[:-1] for low in _LOWER[level]) or (best >= 0 and end >= best):
                continue
            best = end
    if best < 0:
        return "", text
    return text[:best], text[best:]


def _prefix_removed(text: str, value: str, suffixes: tuple[str, ...]) -> str:
    for form in (*(value + s for s in suffixes), value):
        if form and text.startswith(form):
            return text[len(form) :]
    return text


@lru_cache(maxsize=1 << 20)
def parse_address(text: str, province: str = "", city: str = "", district: str = "") -> AddressParts:
    """Normalise an address; structured parts, when given, take precedence over parsing `text`.

    Level names lose their generic suffix (浙江省 = 浙江, 衢州市 = 衢州) so that clerks' short forms
    agree with the full ones; municipalities (北京市) count as both province and city.
    """
    rest = normalise_text(text)
    given_province = _take_province(normalise_text(province))[0] or normalise_text(province)
    found, rest = _take_province(rest)
    parts = {"province": given_province or found}
    if parts["province"] in _MUNICIPALITIES:
        parts["city"] = parts["province"]
        rest = _prefix_removed(rest, parts["province"], ("市",))
    given = {"city": normalise_text(city), "district": normalise_text(district)}
    suffix_of = dict(_LEVELS)
    for level, suffixes in _LEVELS:
        if given.get(level):
            parts[level] = _strip_suffix(given[level], suffixes)
            rest = _prefix_removed(rest, parts[level], suffixes)
            continue
        if parts.get(level):
            continue
        taken, rest = _take(rest, level, suffixes)
        parts[level] = _strip_suffix(taken, suffix_of[level])
    if not parts.get("city") and len(parts.get("district", "")) >= 4 and not given["district"]:
        # '浙江衢州柯城区': a city written without 市 sits in front of the district
        parts["city"], parts["district"] = parts["district"][:2], parts["district"][2:]
    return AddressParts(
        parts.get("province", ""), parts.get("city", ""), parts.get("district", ""),
        parts.get("township", ""), parts.get("community", ""), rest,
    )  # fmt: skip
