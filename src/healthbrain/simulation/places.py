"""Place tables of the synthetic region: divisions with their GB/T 2260 area codes, streets, villages.

The province, cities and counties are real divisions of 浙江省 with their real six-digit codes
(GB/T 2260) so that generated 居民身份证 numbers carry believable area codes; the townships,
communities and streets inside them are composed from common place-name fragments and are fictional.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class County:
    """A county-level division (县, 区 or 县级市): the unit that owns a county hospital."""

    code: str  # GB/T 2260 six-digit area code
    name: str
    slug: str  # ASCII name used in resource ids
    postal_code: str
    urban: bool  # 区 have 街道 and 社区卫生服务中心, 县 mostly 乡镇 and 卫生院


@dataclass(frozen=True, slots=True)
class City:
    """A prefecture-level city (地级市) with the counties the simulation may use."""

    code: str
    name: str
    slug: str
    postal_code: str
    phone_area: str  # long-distance dialling code of landlines
    counties: tuple[County, ...]


PROVINCE_CODE = "330000"
PROVINCE_NAME = "浙江省"
PROVINCE_SLUG = "zhejiang"

CITIES: tuple[City, ...] = (
    City(
        "330800",
        "衢州市",
        "quzhou",
        "324000",
        "0570",
        (
            County("330802", "柯城区", "kecheng", "324000", True),
            County("330803", "衢江区", "qujiang", "324022", True),
            County("330822", "常山县", "changshan", "324200", False),
            County("330824", "开化县", "kaihua", "324300", False),
            County("330825", "龙游县", "longyou", "324400", False),
        ),
    ),
    City(
        "331100",
        "丽水市",
        "lishui",
        "323000",
        "0578",
        (
            County("331102", "莲都区", "liandu", "323000", True),
            County("331122", "缙云县", "jinyun", "321400", False),
            County("331123", "遂昌县", "suichang", "323300", False),
            County("331124", "松阳县", "songyang", "323400", False),
        ),
    ),
)

# Area codes of birthplaces outside the region: residents who moved in keep the 身份证 number
# issued where their household was first registered (户籍), so a minority carry foreign codes.
MIGRANT_AREA_CODES: tuple[str, ...] = (
    "340102",  # 合肥市瑶海区
    "341221",  # 阜阳市临泉县
    "360102",  # 南昌市东湖区
    "361102",  # 上饶市信州区
    "362502",  # 抚州市临川区
    "350102",  # 福州市鼓楼区
    "430102",  # 长沙市芙蓉区
    "420102",  # 武汉市江岸区
    "510122",  # 成都市双流区 (code kept after the 2015 change of status)
    "522101",  # 遵义市 (老区划代码)
    "410102",  # 郑州市中原区
    "330106",  # 杭州市西湖区
)

# Fragments from which township (乡镇/街道) and community (社区/村) names are composed.
PLACE_FRAGMENTS: tuple[str, ...] = (
    "城关", "府山", "荷花", "白云", "双港", "新安", "石梁", "黄坛", "航埠", "沟溪", "华墅", "大溪",
    "芳村", "球川", "青石", "招贤", "金川", "天马", "华埠", "马金", "池淮", "村头", "桐村", "杨林",
    "湖镇", "詹家", "塔石", "溪口", "横山", "庙下", "壶镇", "新建", "东渡", "舒洪", "妙高", "云峰",
    "古市", "西屏", "望松", "象溪", "大东坝", "新兴", "紫金", "万象", "岩泉", "水阁", "碧湖", "老竹",
    "雅溪", "仙渡", "太平", "峰源", "联城", "梅岭", "龙山", "长春", "新塘", "桂花", "樟潭", "浮石",
)  # fmt: skip

STREET_NAMES: tuple[str, ...] = (
    "人民路", "解放路", "新华路", "中山路", "建设路", "和平路", "文化路", "胜利路", "东风路",
    "学院路", "府前路", "环城路", "江滨路", "花园路", "振兴路", "兴华街", "县前街", "西安路",
    "新河路", "百汇路", "荷花路", "通荷路", "劳动路", "南湖路", "丽阳街", "紫金路", "宝石街",
)  # fmt: skip

# Suffixes of the community/village level (村 in rural townships, 社区 in urban streets).
VILLAGE_SUFFIX = "村"
COMMUNITY_SUFFIX = "社区"
