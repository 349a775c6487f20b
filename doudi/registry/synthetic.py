"""A plausible synthetic Guizhou at any scale: households, persons, villages, categories.

Only synthetic people: every name, ID number, income and address is drawn from random
numbers; citizen IDs are valid (GB 11643-1999) but belong to nobody known.

:func:`generate_province` writes ``population/households.parquet``,
``population/persons.parquet`` and ``population/villages.parquet`` (zstd) for a seed; the same
seed, size and ``as_of`` give byte-identical files. :func:`registry_roster` selects the
low-income households as a roster table (DuckDB over the Parquet files), and
:func:`write_roster` writes it as a county keeps it (Chinese headers and labels, UTF-8 with
BOM or GBK).

How the province is built
-------------------------
Divisions
    The real MCA counties and townships of the catalogue (9 prefectures, 88 counties,
    1,510 townships for Guizhou). Each township gets 6–12 (街道), 10–18 (镇) or 7–13 (乡)
    village-level units, about 18,000 in all, coded township + 001, 002, …: a 街道 has
    社区 only (urban); a 镇 has one or two 社区 first (urban; the first named after the town,
    e.g. 青岩镇 → 青岩社区) and then 村 (rural); a 乡 has 村 only (rural). Names are drawn
    without repetition inside a township from common community names (新华社区) and from
    Guizhou-style village syllables (大坪村, 石板哨村, …).
Where people live
    There is no per-county population in any package, so each township gets a weight:
    街道 4.0, 镇 2.0, 乡 0.9 (a 街道 is denser than a 镇, a 镇 than a 乡), × 1.35 in the
    provincial capital's prefecture (Guiyang), × 1.2 in urban districts (区) and in the
    seats of the three autonomous prefectures (兴义市, 凯里市, 都匀市), × a log-normal
    jitter (σ = 0.3) so that no two townships are alike. Inside a township the town-centre
    社区 of a 镇 weigh 2.5 against 1 for a village, again with jitter. Persons are spread
    over counties by a multinomial draw on these weights, then households over villages.
    With the MCA list this puts about 56 % of persons in urban units (Guizhou: 54.8 %
    resident urbanisation in 2022). Guiyang gets about 17 % of the persons (census 2020:
    15.5 %).
Households
    Sizes 1–8 (urban mean ≈ 2.8, rural ≈ 3.2, overall ≈ 3.0) and a shape per household:
    single person, couple, nuclear family, nuclear family with the head's parents, stem
    family (older head with an adult child, child-in-law and grandchildren) or skipped
    generation (grandparents with grandchildren, 留守儿童). Ages follow from the shape
    (spouse ± 2 years, children 22–40 years younger than their mother, …), so relations
    and ages are consistent; the mix gives about 24 % under 15 and 16 % aged 60 or more
    (census 2020: 24.0 % and 15.4 %). Children take the father's surname; surnames are
    drawn from a weighted list with the families common in Guizhou (杨, 吴, 龙, 石, 罗, 潘,
    韦, 蒙, 田 …); given names from sex- and era-specific character pools (1 or 2
    characters): 1M persons have about 490k distinct full names.
Citizen IDs
    Address code = the household's county, the birth date, and a 3-digit sequence whose
    parity is the sex. Sequences are assigned per (county, birth date, sex) so IDs are unique
    across the province. Birth dates are before ``as_of``; with an ``as_of`` in the future
    a newborn's ID would fail a validator that refuses dates after today.
Health, schooling, work
    About 6 % disabled (rising with age; kinds in the proportions of the 2006 national
    sample survey; grades 1/2/3/4 = 12/21/30/37 %, so about a third severe), self-care
    items failed 0–6 (mostly grade 1–2 and the very old), about 1.5 % seriously ill;
    schooling by age; employment by age, area and health.
Money
    Monthly per-person incomes by kind (wage, business, property, transfer) and household
    deposits are exact decimals (``decimal128(12, 2)``), built from integer cents, never
    floats. Urban incomes are higher than rural ones. Most families whose own income would
    be below the standard get support from relatives elsewhere (transfer income), so only
    a minority of unassisted families is below it — enough for the rules to find.
Categories
    Target person rates from domain.md §4: 低保 5.6 %, 特困 0.35 %, 低保边缘 0.9 %,
    刚性支出困难 0.45 %, 防返贫监测 1.2 % (rural only, about 45 % of it also 低保),
    其他 0.2 %. Rates are higher in rural areas and in the poorer prefectures (normalised so
    the province reaches the target). 特困 households are mostly one old or severely disabled
    person (or an old couple) without supporters; 低保 households are picked among the
    poorest and most vulnerable and have per-capita income below the local standard
    (urban 778 yuan/month, rural 6,818 yuan/year), except a few deliberate cases for the
    rules to find, recorded in ``households.synthetic_case``: ``phase_out`` (渐退: a member
    found work, income 2–40 % above the standard), ``borderline`` (within ±4 % of the
    standard) and ``excess_property`` (a car or large deposits). 低保边缘 households have
    1.0–1.5 × the standard; 刚性支出困难 households sit between 1.5 × the standard and the
    average disposable income and mostly have a seriously ill, disabled or studying member.
    Categories belong to the household (all members share them). ``category`` holds the
    codes joined with "、" in :data:`CATEGORY_ORDER` (``dibao、relapse_watch``), NULL for
    none; ``category_start`` is the first day of the month the first of them started, in
    the past (防返贫 from 2021, 刚性支出 within the last 12 months).

Files (see :data:`HOUSEHOLD_SCHEMA`, :data:`PERSON_SCHEMA`, :data:`VILLAGE_SCHEMA`)
    ``households``: household_no (village code + 7-digit running number, 19 digits),
    division_code (12-digit village), county_code, prefecture_code, area_type, address,
    member_count, head_citizen_id, category, category_start, vehicles, extra_housing,
    business_registered, deposits, synthetic_case. ``persons``: household_no, member_no
    (1 = head), division_code, name, citizen_id, sex, birth_date, relation, disability_kind,
    disability_grade, self_care_failed_items, serious_illness, schooling, employment and the
    four monthly incomes. ``villages``: code, name, area_type, township_code. Rows are in
    county, village and household order; the seed and ``as_of`` are in the Parquet
    key-value metadata (``doudi.synthetic.seed``, ``doudi.synthetic.as_of``).

Households of a county are generated together (split in parts of at most
``_PART_PERSONS`` persons for very large counties) and written with a ``ParquetWriter``, so
memory stays bounded whatever the size of the province.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from doudi.divisions.catalog import DivisionCatalog, Level, get_catalog
from doudi.ids import make_citizen_ids
from doudi.registry import codes, schema

__all__ = [
    "CATEGORY_ORDER",
    "CATEGORY_RATES",
    "HOUSEHOLD_SCHEMA",
    "PERSON_SCHEMA",
    "ROSTER_FIELDS",
    "RURAL_STANDARD_MONTHLY_CENTS",
    "URBAN_STANDARD_MONTHLY_CENTS",
    "VILLAGE_SCHEMA",
    "Province",
    "generate_province",
    "registry_roster",
    "roster_headers",
    "write_roster",
]

# --- parameters ----------------------------------------------------------------------------

#: Guizhou average 低保 standards, Feb 2025 (domain.md §4), in cents per month.
URBAN_STANDARD_MONTHLY_CENTS = 77_800
RURAL_STANDARD_MONTHLY_CENTS = round(6_818 * 100 / 12)  # 6,818 yuan a year
#: Average monthly per-capita disposable income (approximate, Guizhou 2024), in cents.
_URBAN_DISPOSABLE_CENTS = 360_000
_RURAL_DISPOSABLE_CENTS = 125_000

#: Share of all persons in each category (a household in two categories counts in both).
CATEGORY_RATES: dict[str, float] = {
    "dibao": 0.056,
    "tekun": 0.0035,
    "marginal": 0.009,
    "rigid_spending": 0.0045,
    "relapse_watch": 0.012,
    "other": 0.002,
}
CATEGORY_ORDER: tuple[str, ...] = ("dibao", "tekun", "marginal", "rigid_spending", "relapse_watch", "other")
#: Share of 防返贫监测 persons who are also 低保 (domain.md §4: 471k of them in 低保/特困).
_RELAPSE_IN_DIBAO = 0.45
#: Rate multiplier of urban units against rural ones, per category (rural = 1).
# fmt: off
_URBAN_FACTOR = {
    "dibao": 0.45, "tekun": 0.25, "marginal": 0.6, "rigid_spending": 0.8, "relapse_watch": 0.0, "other": 1.0,
}
#: Rate multiplier per prefecture (poorer prefectures have more recipients); default 1.
_PREFECTURE_FACTOR = {
    "520100": 0.5, "520200": 1.0, "520300": 0.85, "520400": 1.0, "520500": 1.2,
    "520600": 1.15, "522300": 1.1, "522600": 1.25, "522700": 1.1,
}
# fmt: on
_TOWNSHIP_KIND_WEIGHT = {"0": 4.0, "1": 2.0, "2": 0.9, "3": 0.9}
_AUTONOMOUS_PREFECTURE_SEATS = frozenset({"522301", "522601", "522701"})

_HOUSEHOLD_SIZE_P = {
    # sizes 1..8
    "urban": np.array([0.19, 0.28, 0.23, 0.16, 0.08, 0.04, 0.015, 0.005]),
    "rural": np.array([0.14, 0.24, 0.21, 0.19, 0.11, 0.07, 0.03, 0.01]),
}
_MEAN_SIZE = {k: float((p * np.arange(1, 9)).sum() / p.sum()) for k, p in _HOUSEHOLD_SIZE_P.items()}
_PART_PERSONS = 400_000
_WRITE_BUFFER_PERSONS = 250_000

# Household shapes
_SINGLE, _OLD_COUPLE, _YOUNG_COUPLE, _SINGLE_PARENT, _SKIP_GEN, _NUCLEAR, _NUCLEAR_PARENTS, _STEM = range(8)
# Member roles in the order they are laid out inside a household
_R_HEAD, _R_SPOUSE, _R_PARENT, _R_CHILD, _R_INLAW, _R_GRANDCHILD, _R_SIBLING = range(7)
_ROLE_RELATION = np.array(["head", "spouse", "parent", "child", "other", "grandchild", "sibling"])

_DISABILITY_KINDS = np.array(
    ["physical", "hearing", "visual", "multiple", "mental", "intellectual", "speech"]
)
_DISABILITY_KIND_P = np.array([0.29, 0.22, 0.15, 0.14, 0.08, 0.09, 0.03])
_DISABILITY_GRADE_P = np.array([0.12, 0.21, 0.30, 0.37])
_DISABILITY_RATE = 0.06
_SERIOUS_ILLNESS_RATE = 0.015

_SCHOOLING = np.array(["none", "preschool", "compulsory", "high_school", "vocational", "college"])
_EMPLOYMENT = np.array(
    ["employed", "farming", "flexible", "unemployed", "retired", "student", "unable", "child"]
)
_E_EMPLOYED, _E_FARMING, _E_FLEXIBLE, _E_UNEMPLOYED, _E_RETIRED, _E_STUDENT, _E_UNABLE, _E_CHILD = range(8)

# --- names ---------------------------------------------------------------------------------

# fmt: off
_SURNAMES: dict[str, float] = {
    "王": 6.5, "李": 6.6, "张": 6.0, "刘": 4.8, "陈": 4.4, "杨": 5.6, "黄": 2.4, "赵": 2.2, "吴": 3.4,
    "周": 1.8, "徐": 1.2, "孙": 1.0, "马": 1.0, "朱": 1.1, "胡": 1.3, "郭": 1.0, "何": 1.3, "罗": 2.5,
    "高": 1.0, "林": 0.8, "龙": 1.5, "石": 1.2, "田": 1.1, "潘": 1.0, "韦": 0.9, "蒙": 0.5, "陆": 0.6,
    "邓": 0.9, "谢": 0.8, "宋": 0.6, "唐": 0.8, "冯": 0.6, "韩": 0.5, "曹": 0.5, "彭": 0.7, "曾": 0.6,
    "肖": 0.6, "蔡": 0.4, "袁": 0.6, "邹": 0.4, "许": 0.5, "傅": 0.3, "沈": 0.3, "吕": 0.3, "苏": 0.4,
    "卢": 0.4, "蒋": 0.5, "丁": 0.4, "魏": 0.4, "余": 0.6, "叶": 0.4, "程": 0.4, "杜": 0.4, "任": 0.4,
    "姚": 0.4, "熊": 0.6, "冉": 0.4, "向": 0.4, "安": 0.4, "付": 0.5, "万": 0.3, "雷": 0.4, "汪": 0.3,
    "金": 0.3, "邱": 0.3, "秦": 0.3, "方": 0.3, "贺": 0.3, "侯": 0.3, "戴": 0.3, "夏": 0.3, "钟": 0.3,
    "汤": 0.3, "尹": 0.3, "黎": 0.3, "易": 0.3, "常": 0.2, "武": 0.2, "乔": 0.2, "贾": 0.3, "文": 0.3,
    "江": 0.3, "谭": 0.4, "廖": 0.4, "邵": 0.2, "顾": 0.2, "孟": 0.2, "毛": 0.3, "郝": 0.2, "白": 0.2,
    "严": 0.2, "陶": 0.3, "姜": 0.3, "范": 0.3, "董": 0.4, "梁": 0.6, "郑": 0.7, "于": 0.4, "蒲": 0.2,
    "穆": 0.1, "岑": 0.2, "班": 0.1, "申": 0.1, "敖": 0.15, "聂": 0.2, "骆": 0.1, "饶": 0.1, "皮": 0.1,
    "粟": 0.1, "卯": 0.05, "欧阳": 0.1, "令狐": 0.05, "诸葛": 0.01, "祝": 0.1, "邢": 0.1, "牟": 0.2,
    "杭": 0.05, "滕": 0.1, "麻": 0.1, "姬": 0.05, "瞿": 0.1, "喻": 0.2, "简": 0.1, "涂": 0.2, "左": 0.1,
}
# fmt: on


def _chars(text: str) -> list[str]:
    return list(dict.fromkeys(text.replace(" ", "")))


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(text.split()))


# Given-name characters by sex and era (born before 1970 / 1970–1994 / from 1995).
_GIVEN: dict[tuple[str, int], list[str]] = {
    ("male", 0): _chars(
        "国建明华文军平志德富贵荣福成祥才林海忠正学永生光发昌中云洪兴开宝仁义礼清全万金树春友朝良庆"
        "培元顺家远有强和红卫东先新玉连俊水山保进安贤龙启泽世银廷昌泰昆松柏江"
    ),
    ("male", 1): _chars(
        "伟勇军强磊涛斌超波辉刚杰鹏飞俊峰亮健龙浩宇敏明华林平松彬兵云江海凯锋雄坤旭阳晖毅鑫东成文洋"
        "帅旺川宏亚威虎武力豪恒祥建立春勇刚文军涛斌翔剑锐庆军"
    ),
    ("male", 2): _chars(
        "浩宇轩子睿博晨泽铭俊杰豪宸一皓锦辰熙瑞奕航然文骏哲涵逸煜烨鑫昊天翔霖凯毅嘉诚楷恩阳宁明志梓"
        "安乐言希彦玮景晟钧琛君宣诺鸿星朗远"
    ),
    ("female", 0): _chars(
        "秀英兰芳玉珍桂凤华梅淑翠琴菊莲娥花云芬香群慧琼萍霞丽素贞荣彩金仙春珠银月爱燕红明芝美敏惠艳"
        "芹容先会珊莉"
    ),
    ("female", 1): _chars(
        "丽艳芳娟敏静燕红霞玲婷梅琳丹雪洁莉倩颖娜瑜萍晶慧蓉佳欣琴平英珊薇蕾莹娇媛露琼飞荣群秀兰婕晓春"
        "妍黎雯娅芸"
    ),
    ("female", 2): _chars(
        "梓涵欣怡萱雨诗佳悦琪思语可馨一彤妍若依雅晨钰心婷瑶菲紫嘉琳颖璐莹梦楠蕊沐芊晴月茜灵芷淼甜婉萌"
        "歆宁妤媛玥瑾"
    ),
}
# Probability of a one-character given name by era.
_ONE_CHAR_P = (0.30, 0.22, 0.10)

_COMMUNITY_NAMES = _words(
    "新华 人民 建设 和平 东风 解放 文化 中山 光明 胜利 团结 幸福 红旗 朝阳 向阳 新民 南门 北门 东门 西门 "
    "河滨 滨江 南湖 北湖 翠微 青山 花园 金桥 阳光 五一 四方 沙河 延安 中华 富水 市西 市东 公园 黔灵 宝山 "
    "民族 育才 桂花 碧海 兴华 世纪城 龙泉 凤凰 钟山 明湖 红岩 三岔 桃园 杏花 丹桂 荷花 梅园 玉屏 "
    "锦江 清水 振华 民主 和谐 安居 康乐 永安 长征 红星 城关 西街 东街 南街 北街 新城 老城 滨湖 湖滨 "
    "文昌 水口 双龙 兴隆 广场 育英 东华 西城 北城 南城 东城 月亮湾 龙井 星光 鼓楼 文峰 书院 锦绣 环城 营盘"
)
_VILLAGE_FIRST = _chars(
    "大小新老上下中高长黄白青石龙马杨李王张陈罗田花桃竹松柏茶木水沙红凤双三金银万平兴安和岩团"
    "坪坝鸡牛羊鱼猫虎狮麻梨杉枫鹅凉"
)
_VILLAGE_SECOND = _chars("坪坝寨山沟田湾岩坡冲河塘桥井林关溪堡场屯庄院坎洞头脚园源岭丰阳平兴江龙凼哨铺营滩")
_ROADS = _words(
    "中华路 人民路 解放路 新华路 文化路 建设路 北京路 延安路 遵义路 宝山路 沙冲路 青年路 和平路 民主路 "
    "中山路 环城路 滨河路 河滨路 南环路 北环路 东山路 西湖路 公园路 团结路 胜利路 幸福路 朝阳路 龙泉路 "
    "富水路 兴隆街 新街 老街 正街 花园路"
)

# --- schemas -------------------------------------------------------------------------------

MONEY = pa.decimal128(12, 2)

VILLAGE_SCHEMA = pa.schema(
    [("code", pa.string()), ("name", pa.string()), ("area_type", pa.string()), ("township_code", pa.string())]
)
HOUSEHOLD_SCHEMA = pa.schema(
    [
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("county_code", pa.string()),
        ("prefecture_code", pa.string()),
        ("area_type", pa.string()),
        ("address", pa.string()),
        ("member_count", pa.int8()),
        ("head_citizen_id", pa.string()),
        ("category", pa.string()),
        ("category_start", pa.date32()),
        *schema.property_fields(MONEY),
        ("synthetic_case", pa.string()),
    ]
)
PERSON_SCHEMA = pa.schema(
    [
        ("household_no", pa.string()),
        ("member_no", pa.int8()),
        ("division_code", pa.string()),
        *schema.IDENTITY,
        *schema.FROM_ID,
        *schema.PERSON_ATTRIBUTES,
        *schema.income_fields(MONEY),
    ]
)

#: Roster columns (canonical field names of roster_headers.yaml), in order.
# fmt: off
ROSTER_FIELDS: tuple[str, ...] = (
    "household_no", "division_code", "address", "area_type", "category", "category_start", "name",
    "citizen_id", "relation", "disability_kind", "disability_grade", "self_care_failed_items",
    "serious_illness", "schooling", "employment", "wage_income", "business_income", "property_income",
    "transfer_income", "vehicles", "extra_housing", "business_registered", "deposits",
)
# fmt: on


# --- result --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Province:
    """What :func:`generate_province` wrote, with its counts.

    Category counts count a household (and its members) once in each of its categories;
    ``registry_persons`` / ``registry_households`` count those in at least one category.
    """

    seed: int
    as_of: dt.date
    out_dir: Path
    households_path: Path
    persons_path: Path
    villages_path: Path
    persons: int
    households: int
    registry_persons: int
    registry_households: int
    persons_by_category: dict[str, int]
    households_by_category: dict[str, int]
    persons_by_prefecture: dict[str, int]
    households_by_prefecture: dict[str, int]
    villages: pa.Table = field(repr=False)
    catalog: DivisionCatalog = field(repr=False)

    @property
    def population_dir(self) -> Path:
        return self.households_path.parent


# --- helpers -------------------------------------------------------------------------------


def _money(cents: np.ndarray) -> pa.Array:
    """An exact ``decimal128(12, 2)`` array from integer cents (no float on the way)."""
    c = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(c), 2), dtype=np.int64)
    words[:, 0] = c
    words[:, 1] = c >> 63  # sign extension of the 128-bit little-endian integer
    return pa.Array.from_buffers(MONEY, len(c), [None, pa.py_buffer(words)])


def _lognormal_cents(
    rng: np.random.Generator, n: int, median_yuan: float, sigma: float, step_cents: int
) -> np.ndarray:
    x = median_yuan * 100 * np.exp(sigma * rng.standard_normal(n))
    return (np.round(x / step_cents) * step_cents).astype(np.int64)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32())


def _cat_rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


def _first_of_month(days: np.ndarray) -> np.ndarray:
    """Days since epoch moved to the first day of their month."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


@dataclass
class _Villages:
    code: list[str]
    name: list[str]
    urban: np.ndarray  # bool
    weight: np.ndarray  # float, absolute (township weight shared among its villages)
    county: np.ndarray  # int index into counties
    prefix: list[str]  # address prefix 贵州省…村


def _build_villages(catalog: DivisionCatalog, seed: int) -> tuple[_Villages, list[str], list[str]]:
    """Villages of every township, their weights, and the county / prefecture code lists."""
    rng = _cat_rng(seed, 1)
    province = catalog.require(catalog.province_code)
    counties = sorted(catalog.counties(), key=lambda d: d.code)
    capital_prefix = catalog.province_code[:2] + "01"
    codes_: list[str] = []
    names: list[str] = []
    urban: list[bool] = []
    weights: list[float] = []
    county_idx: list[int] = []
    prefixes: list[str] = []
    n_first, n_second = len(_VILLAGE_FIRST), len(_VILLAGE_SECOND)
    for ci, county in enumerate(counties):
        prefecture = catalog.get(county.parent_code or "")
        pref_name = prefecture.name if prefecture is not None and prefecture.level is Level.PREFECTURE else ""
        county_factor = 1.0
        if county.code.startswith(capital_prefix):
            county_factor *= 1.35
        if county.name.endswith("区") or county.code in _AUTONOMOUS_PREFECTURE_SEATS:
            county_factor *= 1.2
        for township in sorted(catalog.townships(county.code), key=lambda d: d.code):
            digit = township.code[6]
            t_weight = _TOWNSHIP_KIND_WEIGHT.get(digit, 1.0) * county_factor * float(rng.lognormal(0.0, 0.3))
            if digit == "0":
                n = int(rng.integers(6, 13))
                n_comm = n
            elif digit == "1":
                n = int(rng.integers(10, 19))
                n_comm = 1 + int(rng.random() < 0.4)
            else:
                n = int(rng.integers(7, 14))
                n_comm = 0
            t_names: list[str] = []
            if n_comm:
                picks = rng.choice(len(_COMMUNITY_NAMES), size=n_comm, replace=False)
                comm = [_COMMUNITY_NAMES[int(i)] + "社区" for i in picks]
                if digit == "1":
                    stem = township.name[:-1] if township.name.endswith("镇") else township.name
                    if stem + "社区" not in comm:
                        comm[0] = stem + "社区"
                t_names.extend(comm)
            n_vill = n - n_comm
            if n_vill:
                picks = rng.choice(n_first * n_second, size=n_vill * 2, replace=False)
                seen = set(t_names)
                for p in picks:
                    a, b = _VILLAGE_FIRST[int(p) // n_second], _VILLAGE_SECOND[int(p) % n_second]
                    nm = a + b + "村"
                    if a == b or nm in seen:
                        continue
                    seen.add(nm)
                    t_names.append(nm)
                    if len(t_names) == n:
                        break
            vw = rng.lognormal(0.0, 0.35, size=len(t_names))
            if digit == "1":
                vw[:n_comm] *= 2.5
            vw = vw / vw.sum() * t_weight
            base = province.name + pref_name + county.name + township.name
            for k, nm in enumerate(t_names):
                codes_.append(f"{township.code}{k + 1:03d}")
                names.append(nm)
                urban.append(k < n_comm)
                weights.append(float(vw[k]))
                county_idx.append(ci)
                prefixes.append(base + nm)
    villages = _Villages(
        code=codes_,
        name=names,
        urban=np.array(urban, dtype=bool),
        weight=np.array(weights),
        county=np.array(county_idx, dtype=np.int64),
        prefix=prefixes,
    )
    prefecture_codes = [c.parent_code or c.code[:4] + "00" for c in counties]
    return villages, [c.code for c in counties], prefecture_codes


# --- the generator of one part of a county ---------------------------------------------------


@dataclass
class _Context:
    as_of_days: int
    as_of: dt.date
    villages: _Villages
    village_code_int: np.ndarray
    village_code_pa: pa.Array
    village_prefix_pa: pa.Array
    village_area_pa: pa.Array
    surnames: pa.Array
    surname_p: np.ndarray
    given: dict[tuple[int, int], tuple[pa.Array, int]]
    # category rate per person per village (already scaled by area and prefecture factors)
    village_rate: dict[str, np.ndarray]


@dataclass
class _Counts:
    persons: int = 0
    households: int = 0
    registry_persons: int = 0
    registry_households: int = 0
    persons_by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_ORDER, 0))
    households_by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_ORDER, 0))
    persons_by_prefecture: dict[str, int] = field(default_factory=dict)
    households_by_prefecture: dict[str, int] = field(default_factory=dict)


def _ages_and_roles(rng: np.random.Generator, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shape, role counts and per-person role, index within role, age and sex."""
    h = len(sizes)
    r = rng.random(h)
    shape = np.full(h, _NUCLEAR, dtype=np.int8)
    shape[sizes == 1] = _SINGLE
    two = sizes == 2
    shape[two & (r < 0.42)] = _OLD_COUPLE
    shape[two & (r >= 0.42) & (r < 0.70)] = _YOUNG_COUPLE
    shape[two & (r >= 0.70) & (r < 0.90)] = _SINGLE_PARENT
    shape[two & (r >= 0.90)] = _SKIP_GEN
    big = sizes >= 3
    shape[big & (r < 0.50)] = _NUCLEAR
    shape[big & (r >= 0.50) & (r < 0.68)] = _NUCLEAR_PARENTS
    shape[big & (r >= 0.68) & (r < 0.80)] = _SINGLE_PARENT
    shape[big & (r >= 0.80) & (r < 0.93)] = _STEM
    shape[big & (r >= 0.93)] = _SKIP_GEN
    # Single parents of big households: only up to 4 children, otherwise nuclear.
    shape[(shape == _SINGLE_PARENT) & (sizes > 5)] = _NUCLEAR

    rest = sizes.astype(np.int64) - 1
    r2 = rng.random(h)
    n_sp = np.zeros(h, dtype=np.int64)
    n_sp[(shape == _OLD_COUPLE) | (shape == _YOUNG_COUPLE)] = 1
    n_sp[(shape == _NUCLEAR) & (rest >= 1) & (r2 < 0.92)] = 1
    n_sp[(shape == _NUCLEAR_PARENTS) & (r2 < 0.92)] = 1
    n_sp[(shape == _STEM) & (r2 < 0.80)] = 1
    n_sp[(shape == _SKIP_GEN) & (sizes >= 3) & (r2 < 0.65)] = 1
    rest = rest - n_sp
    n_par = np.zeros(h, dtype=np.int64)
    np_mask = shape == _NUCLEAR_PARENTS
    n_par[np_mask] = np.minimum(np.where(rng.random(h) < 0.55, 1, 2), rest)[np_mask]
    n_par[np_mask & (rest >= 1)] = np.maximum(n_par[np_mask & (rest >= 1)], 1)
    rest = rest - n_par
    n_ch = np.zeros(h, dtype=np.int64)
    n_inlaw = np.zeros(h, dtype=np.int64)
    n_gc = np.zeros(h, dtype=np.int64)
    fam = (shape == _NUCLEAR) | (shape == _NUCLEAR_PARENTS) | (shape == _SINGLE_PARENT)
    n_ch[fam] = np.minimum(rest, 4)[fam]
    stem = shape == _STEM
    n_ch[stem & (rest >= 1)] = 1
    n_inlaw[stem & (rest >= 3) & (rng.random(h) < 0.75)] = 1
    n_gc[stem] = (rest - n_ch - n_inlaw)[stem]
    extra = stem & (n_gc > 4)
    n_ch[extra] += n_gc[extra] - 4
    n_gc[extra] = 4
    skip = shape == _SKIP_GEN
    n_gc[skip] = rest[skip]
    n_sib = rest - n_ch - n_inlaw - n_gc
    n_sib = np.maximum(n_sib, 0)

    # Head age by shape
    u = rng.random(h)
    head_age = np.empty(h, dtype=np.int64)
    m = shape == _SINGLE
    old = rng.random(h) < 0.40
    head_age[m] = np.where(old, 60 + np.minimum(rng.gamma(2.0, 6.0, h), 38), 20 + 40 * u)[m].astype(np.int64)
    head_age[shape == _OLD_COUPLE] = (50 + 36 * u).astype(np.int64)[shape == _OLD_COUPLE]
    head_age[shape == _YOUNG_COUPLE] = (22 + 18 * u).astype(np.int64)[shape == _YOUNG_COUPLE]
    sp_shape = shape == _SINGLE_PARENT
    head_age[sp_shape] = (24 + 2 * n_ch + 30 * u).astype(np.int64)[sp_shape]
    head_age[skip] = (54 + 26 * u).astype(np.int64)[skip]
    nuc = shape == _NUCLEAR
    head_age[nuc] = (23 + 2 * n_ch + 22 * u).astype(np.int64)[nuc]
    head_age[np_mask] = (25 + 2 * n_ch + 20 * u).astype(np.int64)[np_mask]
    head_age[stem] = (52 + 26 * u).astype(np.int64)[stem]

    male_p = np.full(h, 0.8)
    male_p[m] = np.where(head_age >= 60, 0.42, 0.62)[m]
    male_p[sp_shape] = 0.3
    male_p[skip] = 0.6
    head_male = rng.random(h) < male_p
    sp_gap = np.where(head_male, -2, 2) + np.clip(np.round(rng.normal(0, 2.5, h)), -6, 6).astype(np.int64)
    spouse_age = np.maximum(head_age + sp_gap, 18)
    # The mother's age (children are 22+ years younger than her)
    mother_age = np.where(head_male & (n_sp > 0), spouse_age, head_age)
    mother_age = np.where(~head_male, head_age, mother_age)

    # Per person
    n = int(sizes.sum())
    hh = np.repeat(np.arange(h), sizes)
    starts = np.zeros(h, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    pos = np.arange(n) - starts[hh]
    b1 = 1 + n_sp
    b2 = b1 + n_par
    b3 = b2 + n_ch
    b4 = b3 + n_inlaw
    b5 = b4 + n_gc
    role = (
        (pos >= 1).astype(np.int8)
        + (pos >= b1[hh])
        + (pos >= b2[hh])
        + (pos >= b3[hh])
        + (pos >= b4[hh])
        + (pos >= b5[hh])
    ).astype(np.int8)
    role_start = np.select(
        [role == _R_PARENT, role == _R_CHILD, role == _R_INLAW, role == _R_GRANDCHILD, role == _R_SIBLING],
        [b1[hh], b2[hh], b3[hh], b4[hh], b5[hh]],
        default=pos,
    )
    k = pos - role_start  # index within the role
    pu = rng.random(n)
    ha = head_age[hh]
    # children: the eldest 22–30 years younger than the mother, the next 1–5 years apart
    first_child_gap = 22 + (8 * rng.random(h)).astype(np.int64)
    child_age = mother_age[hh] - first_child_gap[hh] - (k * (1 + 4 * pu)).astype(np.int64)
    child_age = np.where(stem[hh], np.maximum(child_age, 18), np.maximum(child_age, 0))
    eldest_child_age = mother_age - first_child_gap
    gc_base = np.where(
        stem,
        eldest_child_age - 22 - (6 * rng.random(h)).astype(np.int64),
        head_age - 46 - (10 * rng.random(h)).astype(np.int64),
    )
    gc_age = np.clip(gc_base[hh] - 2 * k, 0, 17)
    parent_age = np.minimum(ha + 24 + (10 * pu).astype(np.int64) + 2 * (1 - k), 99)
    age = np.select(
        [
            role == _R_HEAD,
            role == _R_SPOUSE,
            role == _R_PARENT,
            role == _R_CHILD,
            role == _R_INLAW,
            role == _R_GRANDCHILD,
        ],
        [
            ha,
            spouse_age[hh],
            parent_age,
            child_age,
            np.maximum(eldest_child_age[hh] + np.round(rng.normal(0, 2, n)).astype(np.int64), 18),
            gc_age,
        ],
        default=np.maximum(ha + (20 * pu).astype(np.int64) - 10, 16),
    )
    # Sex
    su = rng.random(n)
    first_child_male = rng.random(h) < np.where(stem, 0.85, 0.53)
    two_parents = n_par[hh] == 2
    male = np.select(
        [role == _R_HEAD, role == _R_SPOUSE, role == _R_PARENT, role == _R_CHILD, role == _R_INLAW],
        [
            head_male[hh],
            ~head_male[hh],
            np.where(two_parents, k == 0, su < 0.3),
            np.where(k == 0, first_child_male[hh], su < 0.53),
            ~first_child_male[hh],
        ],
        default=su < 0.53,
    )
    return (shape, hh, starts, role, k, age.astype(np.int64), male, head_male, n_sp, n_par, n_ch)


def _given_names(
    rng: np.random.Generator, ctx: _Context, male: np.ndarray, birth_year: np.ndarray
) -> pa.Array:
    n = len(male)
    era = np.where(birth_year < 1970, 0, np.where(birth_year < 1995, 1, 2))
    group = (~male).astype(np.int64) * 3 + era  # 0..5
    one = rng.random(n) < np.array(_ONE_CHAR_P)[era]
    g1 = np.empty(n, dtype=np.int64)
    g2 = np.empty(n, dtype=np.int64)
    offsets = []
    pool_parts = []
    off = 0
    for sex_i in range(2):
        for e in range(3):
            arr, size = ctx.given[(sex_i, e)]
            offsets.append((off, size))
            pool_parts.append(arr)
            off += size
    pool = pa.concat_arrays([*pool_parts, pa.array([""])])
    empty_idx = off
    for gi, (o, size) in enumerate(offsets):
        sel = group == gi
        cnt = int(sel.sum())
        if cnt:
            # Zipf-like preference for the first characters of each pool
            w = 1.0 / np.sqrt(np.arange(1, size + 1))
            w /= w.sum()
            g1[sel] = o + rng.choice(size, size=cnt, p=w)
            g2[sel] = o + rng.choice(size, size=cnt, p=w)
    g2[one] = empty_idx
    return pc.binary_join_element_wise(pool.take(pa.array(g1)), pool.take(pa.array(g2)), "")


def _select_prefix(
    rng: np.random.Generator, score: np.ndarray, size: np.ndarray, eligible: np.ndarray, target: float
) -> np.ndarray:
    """Households taken from the top of ``score`` among ``eligible`` until ``target`` persons.

    Households that fit entirely are taken; the one that crosses the target is taken with
    the probability of the share of it that fits, so the expected count is exactly the
    target even when it is a fraction of a household (a small county).
    """
    chosen = np.zeros(len(score), dtype=bool)
    idx = np.flatnonzero(eligible)
    u = rng.random()
    if len(idx) == 0 or target <= 0:
        return chosen
    order = idx[np.argsort(-score[idx], kind="stable")]
    cs = np.cumsum(size[order])
    fits = int(np.searchsorted(cs, target, side="right"))
    chosen[order[:fits]] = True
    if fits < len(order):
        before = float(cs[fits - 1]) if fits else 0.0
        if u < (target - before) / float(size[order[fits]]):
            chosen[order[fits]] = True
    return chosen


def _generate_part(
    ctx: _Context,
    county_code: str,
    prefecture_code: str,
    village_of_h: np.ndarray,
    hh_number: np.ndarray,
    sizes: np.ndarray,
    part: int,
    parts: int,
    rng: np.random.Generator,
    counts: _Counts,
) -> tuple[pa.Table, pa.Table]:
    h = len(sizes)
    urban_h = ctx.villages.urban[village_of_h]
    (shape, hh, starts, role, _k, age, male, _head_male, _n_sp, _n_par, n_ch) = _ages_and_roles(rng, sizes)
    n = len(hh)
    urban = urban_h[hh]

    # Birth dates: age completed years on as_of, spread over the year
    days_old = np.floor(age * 365.2425 + rng.random(n) * 364.0).astype(np.int64) + 1
    birth_days = ctx.as_of_days - days_old
    birth = birth_days.astype("datetime64[D]")
    by = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    bmd = (birth - birth.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    as_of_doy = (
        np.datetime64(ctx.as_of, "D") - np.datetime64(ctx.as_of, "Y").astype("datetime64[D]")
    ).astype(np.int64)
    # exact completed age (day-of-year comparison; leap-day differences are immaterial here)
    age = ctx.as_of.year - by - (bmd > as_of_doy).astype(np.int64)

    # Citizen ID sequences: unique per (county, birth date, sex); parity = sex
    slots = 500 // parts
    tie = rng.random(n)
    order = np.lexsort((tie, male, birth_days))
    key = birth_days[order] * 2 + male[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = key[1:] != key[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    rank = np.arange(n) - group_start
    if n and int(rank.max()) >= slots:
        raise RuntimeError("too many persons born on one day in one county for unique citizen IDs")
    offset = (tie[order][group_start] * slots).astype(np.int64)
    half = np.empty(n, dtype=np.int64)
    half[order] = (offset + rank) % slots
    sequence = 2 * (part + parts * half) + male.astype(np.int64)
    citizen_ids = pa.array(make_citizen_ids(np.full(n, int(county_code), dtype=np.int64), birth, sequence))

    # Names
    s_idx = rng.choice(len(ctx.surname_p), size=(h, 3), p=ctx.surname_p)
    fam, other_line = s_idx[:, 0], s_idx[:, 1]
    head_s = np.where(male[starts], fam, other_line)
    own = rng.choice(len(ctx.surname_p), size=n, p=ctx.surname_p)
    su = rng.random(n)
    surname_i = np.select(
        [
            role == _R_HEAD,
            role == _R_SPOUSE,
            role == _R_PARENT,
            role == _R_CHILD,
            role == _R_GRANDCHILD,
            role == _R_SIBLING,
        ],
        [
            head_s[hh],
            np.where(male, fam[hh], other_line[hh]),
            np.where(male, head_s[hh], own),
            np.where(su < 0.92, fam[hh], other_line[hh]),
            np.where(su < 0.85, fam[hh], own),
            head_s[hh],
        ],
        default=own,
    )
    names = pc.binary_join_element_wise(
        ctx.surnames.take(pa.array(surname_i)), _given_names(rng, ctx, male, by), ""
    )

    # Disability, self-care, illness
    band = np.searchsorted(np.array([18, 45, 60, 70, 80]), age, side="right")
    curve = np.array([1.0, 2.2, 5.0, 9.0, 15.0, 24.0])[band]
    p_dis = np.minimum(curve * _DISABILITY_RATE / curve.mean(), 0.6) if n else curve
    disabled = rng.random(n) < p_dis
    grade = np.where(disabled, rng.choice(4, size=n, p=_DISABILITY_GRADE_P) + 1, 0)
    kind = rng.choice(len(_DISABILITY_KINDS), size=n, p=_DISABILITY_KIND_P)
    ill_curve = np.array([0.3, 0.6, 1.8, 3.0, 4.0, 4.5])[band]
    ill = rng.random(n) < (ill_curve * _SERIOUS_ILLNESS_RATE / ill_curve.mean() if n else ill_curve)
    care = np.zeros(n, dtype=np.int64)
    g1 = grade == 1
    g2 = grade == 2
    care[g1] = np.clip(np.round(rng.normal(4.3, 1.5, n)), 0, 6).astype(np.int64)[g1]
    care[g2] = np.clip(np.round(rng.normal(2.3, 1.5, n)), 0, 6).astype(np.int64)[g2]
    care[grade == 3] = np.minimum(rng.poisson(0.5, n), 6)[grade == 3]
    care[grade == 4] = np.minimum(rng.poisson(0.12, n), 6)[grade == 4]
    cu = rng.random(n)
    frail = (grade == 0) & (((age >= 80) & (cu < 0.30)) | ((age >= 70) & (age < 80) & (cu < 0.08)))
    care[frail] = np.minimum(rng.poisson(1.2, n) + 1, 6)[frail]
    care[ill & (cu > 0.7)] = np.maximum(care, np.minimum(rng.poisson(1.5, n), 6))[ill & (cu > 0.7)]
    care[age < 3] = 0

    # Schooling
    su = rng.random(n)
    school = np.zeros(n, dtype=np.int64)
    school[(age >= 3) & (age <= 5) & (su < 0.9)] = 1
    school[(age >= 6) & (age <= 14) & (su < 0.995)] = 2
    a15 = age == 15
    school[a15] = np.where(su < 0.35, 2, np.where(su < 0.65, 3, np.where(su < 0.9, 4, 0)))[a15]
    a16 = (age >= 16) & (age <= 17)
    school[a16] = np.where(su < 0.47, 3, np.where(su < 0.82, 4, 0))[a16]
    a18 = age == 18
    school[a18] = np.where(su < 0.25, 3, np.where(su < 0.35, 4, np.where(su < 0.65, 5, 0)))[a18]
    a19 = (age >= 19) & (age <= 22)
    school[a19] = np.where(su < 0.42, 5, 0)[a19]
    school[(grade == 1) & (age >= 6) & (su > 0.5)] = 0

    # Employment
    eu = rng.random(n)
    emp = np.full(n, _E_UNEMPLOYED, dtype=np.int64)
    work = (age >= 16) & (age < 60)
    emp_urban = np.where(
        eu < 0.58,
        _E_EMPLOYED,
        np.where(eu < 0.78, _E_FLEXIBLE, np.where(eu < 0.80, _E_FARMING, _E_UNEMPLOYED)),
    )
    emp_rural = np.where(
        eu < 0.42,
        _E_EMPLOYED,
        np.where(eu < 0.75, _E_FARMING, np.where(eu < 0.88, _E_FLEXIBLE, _E_UNEMPLOYED)),
    )
    emp[work] = np.where(urban, emp_urban, emp_rural)[work]
    early_retired = work & urban & (((~male) & (age >= 50)) | (male & (age >= 55))) & (eu > 0.45)
    emp[early_retired] = _E_RETIRED
    old = age >= 60
    old_urban = np.where(eu < 0.65, _E_RETIRED, np.where(eu < 0.70, _E_FLEXIBLE, _E_UNEMPLOYED))
    old_rural = np.where(
        age < 70,
        np.where(eu < 0.55, _E_FARMING, np.where(eu < 0.60, _E_EMPLOYED, _E_UNEMPLOYED)),
        np.where(eu < 0.20, _E_FARMING, _E_UNEMPLOYED),
    )
    emp[old] = np.where(urban, old_urban, old_rural)[old]
    unable = (age >= 16) & ((grade == 1) | (grade == 2) | (care >= 3) | (ill & (eu < 0.5)) | (age >= 85))
    emp[unable] = _E_UNABLE
    emp[(school > 0) & (age >= 6)] = _E_STUDENT
    emp[(age < 6) & (school <= 1)] = _E_CHILD
    emp[(age >= 6) & (age < 16) & (school == 0)] = _E_UNEMPLOYED

    # Incomes (cents a month)
    wage = np.zeros(n, dtype=np.int64)
    business = np.zeros(n, dtype=np.int64)
    prop = np.zeros(n, dtype=np.int64)
    transfer = np.zeros(n, dtype=np.int64)
    e = emp == _E_EMPLOYED
    wage[e] = np.where(
        urban, _lognormal_cents(rng, n, 4300, 0.45, 1000), _lognormal_cents(rng, n, 3600, 0.45, 1000)
    )[e]
    f = emp == _E_FLEXIBLE
    wage[f] = np.where(
        urban, _lognormal_cents(rng, n, 2600, 0.5, 1000), _lognormal_cents(rng, n, 1900, 0.5, 1000)
    )[f]
    fa = emp == _E_FARMING
    business[fa] = np.where(
        urban, _lognormal_cents(rng, n, 500, 0.6, 100), _lognormal_cents(rng, n, 650, 0.6, 100)
    )[fa]
    pu = rng.random(n)
    has_prop = (age >= 25) & (pu < np.where(urban, 0.06, 0.03))
    prop[has_prop] = np.where(
        urban, _lognormal_cents(rng, n, 400, 0.9, 1), _lognormal_cents(rng, n, 120, 0.9, 1)
    )[has_prop]
    ret = emp == _E_RETIRED
    transfer[ret] = np.where(
        urban, _lognormal_cents(rng, n, 3300, 0.3, 1), _lognormal_cents(rng, n, 2200, 0.3, 1)
    )[ret]
    basic = old & ~ret
    transfer[basic] = rng.integers(14_800, 26_000, n)[basic]

    # Household property
    hu = rng.random((h, 5))
    vehicles = (hu[:, 0] < np.where(urban_h, 0.38, 0.22)).astype(np.int64)
    vehicles += (vehicles == 1) & (hu[:, 1] < 0.15)
    extra_housing = (hu[:, 2] < np.where(urban_h, 0.10, 0.04)).astype(np.int64)
    extra_housing += (extra_housing == 1) & (hu[:, 1] > 0.85)
    working_age_h = np.add.reduceat(((age >= 18) & (age < 60)).astype(np.int64), starts) > 0
    business_registered = (working_age_h & (hu[:, 3] < np.where(urban_h, 0.07, 0.04))).astype(np.int64)
    business_registered += (business_registered == 1) & (hu[:, 4] < 0.1)
    deposits = np.where(
        urban_h, _lognormal_cents(rng, h, 35_000, 1.1, 1), _lognormal_cents(rng, h, 12_000, 1.1, 1)
    )
    deposits[hu[:, 4] > 0.9] = 0
    # The head of a household with a registered business earns from it
    biz_h = business_registered > 0
    head_biz = np.where(
        urban_h, _lognormal_cents(rng, h, 4500, 0.7, 100), _lognormal_cents(rng, h, 3000, 0.7, 100)
    )
    business[starts[biz_h]] += head_biz[biz_h]

    # --- categories ---------------------------------------------------------------------
    standard_h = np.where(urban_h, URBAN_STANDARD_MONTHLY_CENTS, RURAL_STANDARD_MONTHLY_CENTS)
    disposable_h = np.where(urban_h, _URBAN_DISPOSABLE_CENTS, _RURAL_DISPOSABLE_CENTS)

    def per_capita() -> np.ndarray:
        total = np.add.reduceat(wage + business + prop + transfer, starts)
        return total / sizes

    pc_h = per_capita()
    severe = (grade >= 1) & (grade <= 2)
    any_severe = np.add.reduceat(severe.astype(np.int64), starts) > 0
    any_ill = np.add.reduceat(ill.astype(np.int64), starts) > 0
    min_age = np.minimum.reduceat(age, starts)
    earner = np.isin(emp, (_E_EMPLOYED, _E_FLEXIBLE, _E_FARMING))
    no_earner = np.add.reduceat(earner.astype(np.int64), starts) == 0
    students = np.add.reduceat(((school >= 3) & (school <= 5)).astype(np.int64), starts) > 0
    vuln = (
        1.2 * any_severe
        + 0.8 * any_ill
        + 0.6 * (min_age >= 60)
        + 0.5 * (shape == _SINGLE_PARENT)
        + 0.3 * (n_ch >= 3)
        + 0.8 * no_earner
    )
    income_term = -1.6 * np.log1p(pc_h / standard_h * 4.0)

    def rate_target(cat: str, mask_h: np.ndarray) -> float:
        return float((ctx.village_rate[cat][village_of_h] * sizes)[mask_h].sum())

    in_cat = {c: np.zeros(h, dtype=bool) for c in CATEGORY_ORDER}
    areas = (urban_h, ~urban_h)
    gum = rng.gumbel(0.0, 0.7, size=(h, 6))

    # 特困: one old or severely disabled person, or an old couple, without supporters
    head_age = age[starts]
    head_grade = grade[starts]
    head_kind = kind[starts]
    severe_single = (head_grade >= 1) & (
        (head_grade <= 2) | ((head_grade == 3) & np.isin(head_kind, (4, 5)))  # mental / intellectual
    )
    cand_tk = ((sizes == 1) & ((head_age >= 60) | severe_single)) | (
        (shape == _OLD_COUPLE) & (min_age >= 60) & (rng.random(h) < 0.15)
    )
    score = vuln + income_term + 0.03 * (head_age - 60) + 1.5 * severe_single + gum[:, 0]
    for area in areas:
        in_cat["tekun"] |= _select_prefix(rng, score, sizes, cand_tk & area, rate_target("tekun", area))
    # 低保
    score = vuln + income_term + gum[:, 1]
    free = ~in_cat["tekun"]
    for area in areas:
        in_cat["dibao"] |= _select_prefix(rng, score, sizes, free & area, rate_target("dibao", area))
    # 低保边缘: the next ones up
    free &= ~in_cat["dibao"]
    score = vuln + income_term + gum[:, 2]
    for area in areas:
        in_cat["marginal"] |= _select_prefix(rng, score, sizes, free & area, rate_target("marginal", area))
    # 刚性支出困难: illness, disability or students
    free &= ~in_cat["marginal"]
    score = 1.5 * any_ill + 1.0 * any_severe + 0.8 * students + 0.3 * income_term + gum[:, 3]
    for area in areas:
        in_cat["rigid_spending"] |= _select_prefix(
            rng, score, sizes, free & area, rate_target("rigid_spending", area)
        )
    free &= ~in_cat["rigid_spending"]
    # 防返贫监测: rural; part of it among 低保 households
    rural = ~urban_h
    target = rate_target("relapse_watch", rural)
    score = vuln + 0.5 * income_term + gum[:, 4]
    in_cat["relapse_watch"] |= _select_prefix(
        rng, score, sizes, in_cat["dibao"] & rural, target * _RELAPSE_IN_DIBAO
    )
    in_cat["relapse_watch"] |= _select_prefix(
        rng, score, sizes, free & rural, target * (1 - _RELAPSE_IN_DIBAO)
    )
    free &= ~in_cat["relapse_watch"]
    # 其他困难
    score = vuln + gum[:, 5]
    for area in areas:
        in_cat["other"] |= _select_prefix(rng, score, sizes, free & area, rate_target("other", area))

    # --- make incomes and property fit the categories ----------------------------------
    cu_h = rng.random((h, 4))
    case = np.zeros(h, dtype=np.int64)  # 0 none, 1 phase_out, 2 borderline, 3 excess_property
    db = in_cat["dibao"]
    # Phase-out (渐退) needs a working-age member who found a job
    worker = (age >= 18) & (age < 56) & (emp != _E_UNABLE) & (emp != _E_STUDENT)
    worker_h = np.add.reduceat(worker.astype(np.int64), starts) > 0
    case[db & worker_h & (cu_h[:, 0] < 0.075)] = 1
    case[db & (cu_h[:, 0] >= 0.06) & (cu_h[:, 0] < 0.10)] = 2
    case[db & (cu_h[:, 0] >= 0.10) & (cu_h[:, 0] < 0.12)] = 3
    # Target per-capita income (cents) where it must change; NaN = keep as generated
    target_pc = np.full(h, np.nan)
    fit = db & (case != 1) & (case != 2) & (pc_h >= 0.95 * standard_h)
    target_pc[fit] = (standard_h * (0.15 + 0.8 * cu_h[:, 1]))[fit]
    target_pc[case == 1] = (standard_h * (1.02 + 0.38 * cu_h[:, 1]))[case == 1]
    target_pc[case == 2] = (standard_h * (0.96 + 0.08 * cu_h[:, 1]))[case == 2]
    tk = in_cat["tekun"]
    target_pc[tk & (pc_h >= 0.9 * standard_h)] = (standard_h * (0.2 + 0.6 * cu_h[:, 1]))[
        tk & (pc_h >= 0.9 * standard_h)
    ]
    mg = in_cat["marginal"]
    mg_lo = np.where(cu_h[:, 2] < 0.9, 1.0, 1.45)
    mg_span = np.where(cu_h[:, 2] < 0.9, 0.5, 0.15)
    target_pc[mg] = (standard_h * (mg_lo + mg_span * cu_h[:, 1]))[mg]
    rs = in_cat["rigid_spending"]
    lo = 1.5 * standard_h
    target_pc[rs] = (lo + (0.95 * disposable_h - lo) * cu_h[:, 1])[rs]
    rw_only = in_cat["relapse_watch"] & ~db & ~tk
    target_pc[rw_only] = (60_000 + 50_000 * cu_h[:, 1])[rw_only]

    # 特困: no income from work or business
    tk_p = tk[hh]
    wage[tk_p] = 0
    business[tk_p] = 0
    change = ~np.isnan(target_pc)
    if change.any():
        total = np.add.reduceat(wage + business + prop + transfer, starts)
        want = np.where(change, np.round(np.nan_to_num(target_pc) * sizes), 0).astype(np.int64)
        new_job = case == 1
        # Scale incomes to the target; before a new job the family had at most 40 % of it
        scale_to = np.where(new_job, np.minimum(total, 0.4 * want), want)
        scale = change & (total > 0)
        factor = np.where(scale, scale_to / np.maximum(total, 1), 1.0)[hh]
        for arr in (wage, business, prop, transfer):
            arr[:] = np.where(factor != 1.0, np.round(arr * factor), arr).astype(np.int64)
        # Households without any income (or a new job): the carrier gets the whole difference
        give = change & ((total == 0) | new_job)
        if give.any():
            total2 = np.add.reduceat(wage + business + prop + transfer, starts)
            need = np.maximum(want - total2, 0)
            # carrier: first working-age able member, else the head
            cand = np.where(worker, np.arange(n), n)
            first_worker = np.minimum.reduceat(cand, starts)
            carrier = np.where(first_worker < n, first_worker, starts)
            gi = np.flatnonzero(give)
            cpos = carrier[gi]
            as_wage = worker[cpos]
            wage[cpos[as_wage]] += need[gi][as_wage]
            transfer[cpos[~as_wage]] += need[gi][~as_wage]  # support from relatives elsewhere
            emp[cpos[as_wage & new_job[gi]]] = _E_EMPLOYED
            idle = cpos[as_wage & (emp[cpos] == _E_UNEMPLOYED)]
            emp[idle] = _E_FLEXIBLE
        pc_h = per_capita()
    # Families whose own income is below the standard mostly get support from relatives
    # elsewhere (赡养费, remittances: transfer income), so not every poor family is unassisted.
    cat_free_h = ~(db | tk | mg | rs | in_cat["relapse_watch"] | in_cat["other"])
    poor = cat_free_h & (pc_h < standard_h) & (cu_h[:, 3] < 0.6)
    if poor.any():
        total = np.add.reduceat(wage + business + prop + transfer, starts)
        want = np.round(standard_h * (1.05 + 1.45 * cu_h[:, 2]) * sizes).astype(np.int64)
        transfer[starts[poor]] += np.maximum(want - total, 0)[poor]
    # 特困 adults cannot work and many need care
    emp[tk_p & (age >= 60)] = _E_UNABLE
    care_u = rng.random(n)
    care_draw = np.where(
        care_u < 0.2, rng.integers(4, 7, n), np.where(care_u < 0.5, rng.integers(1, 4, n), 0)
    )
    care[tk_p] = np.maximum(care, care_draw)[tk_p]
    # Property of assisted households is modest, except the deliberate cases
    low = db | tk | mg
    vehicles[low] = 0
    extra_housing[low] = 0
    business_registered[low & (rng.random(h) < 0.97)] = 0
    deposits[low] = np.minimum(deposits, _lognormal_cents(rng, h, 3000, 0.8, 1))[low]
    ex = case == 3
    vehicles[ex & (cu_h[:, 3] < 0.6)] = 1
    deposits[ex & (cu_h[:, 3] >= 0.6)] = _lognormal_cents(rng, h, 120_000, 0.4, 100)[ex & (cu_h[:, 3] >= 0.6)]

    # Category strings and start dates
    cat_bits = np.zeros(h, dtype=np.int64)
    for bit, c in enumerate(CATEGORY_ORDER):
        cat_bits |= in_cat[c].astype(np.int64) << bit
    labels = [""] * 64
    for mask in range(1, 64):
        labels[mask] = "、".join(c for bit, c in enumerate(CATEGORY_ORDER) if mask >> bit & 1)
    label_arr = pa.array([None, *labels[1:]], type=pa.string())
    category = label_arr.take(pa.array(cat_bits))
    span_years = {
        "dibao": 10.0,
        "tekun": 10.0,
        "marginal": 3.0,
        "rigid_spending": 0.9,
        "relapse_watch": 5.0,
        "other": 3.0,
    }
    start = np.full(h, -1, dtype=np.int64)
    su_h = rng.random(h)
    earliest_relapse = int((np.datetime64("2021-01-01") - np.datetime64("1970-01-01")).astype(np.int64))
    for c in reversed(CATEGORY_ORDER):  # the first category in order wins
        span = int(span_years[c] * 365)
        d = ctx.as_of_days - 31 - (su_h * span).astype(np.int64)
        if c == "relapse_watch":
            d = np.maximum(d, earliest_relapse)
        start = np.where(in_cat[c], _first_of_month(d), start)
    start_arr = pa.array(start.astype(np.int32), mask=start < 0).cast(pa.date32())

    # --- tables -------------------------------------------------------------------------
    vcode_int = ctx.village_code_int[village_of_h]
    household_no = pa.array(vcode_int * 10_000_000 + hh_number).cast(pa.string())
    vtake = pa.array(village_of_h)
    division_code = ctx.village_code_pa.take(vtake)
    hu2 = rng.random((h, 4))
    grp = pa.array((1 + hu2[:, 0] * 12).astype(np.int64)).cast(pa.string())
    num = pa.array((1 + hu2[:, 1] * 80).astype(np.int64)).cast(pa.string())
    bld = pa.array((1 + hu2[:, 2] * 20).astype(np.int64)).cast(pa.string())
    room_no = (1 + hu2[:, 3] * 18).astype(np.int64) * 100 + 1 + (hu2[:, 0] * 1000).astype(np.int64) % 4
    room = pa.array(room_no).cast(pa.string())
    roads = pa.array(_ROADS).take(pa.array((hu2[:, 2] * 1000).astype(np.int64) % len(_ROADS)))
    prefix = ctx.village_prefix_pa.take(vtake)
    rural_addr = pc.binary_join_element_wise(prefix, grp, "组", num, "号", "")
    urban_addr = pc.binary_join_element_wise(prefix, roads, num, "号", bld, "栋", room, "室", "")
    address = pc.if_else(pa.array(urban_h), urban_addr, rural_addr)
    area = ctx.village_area_pa.take(vtake)
    case_arr = pa.array([None, "phase_out", "borderline", "excess_property"], type=pa.string()).take(
        pa.array(case)
    )
    households = pa.Table.from_arrays(
        [
            household_no,
            division_code,
            pa.array(np.full(h, county_code)),
            pa.array(np.full(h, prefecture_code)),
            area,
            address,
            pa.array(sizes.astype(np.int8)),
            citizen_ids.take(pa.array(starts)),
            category,
            start_arr,
            pa.array(vehicles.astype(np.int32)),
            pa.array(extra_housing.astype(np.int32)),
            pa.array(business_registered.astype(np.int32)),
            _money(deposits),
            case_arr,
        ],
        schema=HOUSEHOLD_SCHEMA,
    )
    hh_take = pa.array(hh)
    kind_arr = pa.array(_DISABILITY_KINDS).take(pa.array(kind))
    persons = pa.Table.from_arrays(
        [
            household_no.take(hh_take),
            pa.array((np.arange(n) - starts[hh] + 1).astype(np.int8)),
            division_code.take(hh_take),
            names,
            citizen_ids,
            pa.array(np.where(male, "male", "female")),
            _dates(birth_days),
            pa.array(_ROLE_RELATION).take(pa.array(role)),
            pc.if_else(pa.array(grade > 0), kind_arr, pa.scalar(None, pa.string())),
            pa.array(grade.astype(np.int8), mask=grade == 0),
            pa.array(care.astype(np.int8)),
            pa.array(ill),
            pa.array(_SCHOOLING).take(pa.array(school)),
            pa.array(_EMPLOYMENT).take(pa.array(emp)),
            _money(wage),
            _money(business),
            _money(prop),
            _money(transfer),
        ],
        schema=PERSON_SCHEMA,
    )

    counts.persons += n
    counts.households += h
    any_cat = cat_bits > 0
    counts.registry_households += int(any_cat.sum())
    counts.registry_persons += int(sizes[any_cat].sum())
    for c in CATEGORY_ORDER:
        counts.households_by_category[c] += int(in_cat[c].sum())
        counts.persons_by_category[c] += int(sizes[in_cat[c]].sum())
    counts.persons_by_prefecture[prefecture_code] = counts.persons_by_prefecture.get(prefecture_code, 0) + n
    counts.households_by_prefecture[prefecture_code] = (
        counts.households_by_prefecture.get(prefecture_code, 0) + h
    )
    return households, persons


# --- public API ----------------------------------------------------------------------------


def generate_province(
    *,
    persons: int,
    seed: int,
    out_dir: Path,
    as_of: dt.date,
    catalog: DivisionCatalog | None = None,
    progress: Callable[[int], None] | None = None,
) -> Province:
    """Generate a synthetic province of ``persons`` persons and write it as Parquet.

    Files go to ``out_dir/population/`` (households, persons, villages; zstd). The villages
    are also registered in ``catalog`` (a fresh Guizhou catalogue when ``None``), which the
    result carries. ``progress`` is called with the number of persons written so far after
    each written batch. Deterministic: the same ``persons``, ``seed`` and ``as_of`` give
    byte-identical files.
    """
    if persons < 0:
        raise ValueError("persons must not be negative")
    catalog = catalog if catalog is not None else get_catalog("520000")
    out_dir = Path(out_dir)
    pop_dir = out_dir / "population"
    pop_dir.mkdir(parents=True, exist_ok=True)
    villages, county_codes, prefecture_codes = _build_villages(catalog, seed)
    catalog.add_villages(
        (code, name, "urban" if u else "rural", "synthetic")
        for code, name, u in zip(villages.code, villages.name, villages.urban, strict=True)
    )
    villages_table = pa.Table.from_arrays(
        [
            pa.array(villages.code, type=pa.string()),
            pa.array(villages.name, type=pa.string()),
            pa.array(np.where(villages.urban, "urban", "rural")),
            pa.array([c[:9] for c in villages.code], type=pa.string()),
        ],
        schema=VILLAGE_SCHEMA,
    )
    villages_path = pop_dir / "villages.parquet"
    pq.write_table(villages_table, villages_path, compression="zstd")

    # Category rates per village: rate × area factor × prefecture factor, normalised so that
    # the expected province total is the target rate.
    share = villages.weight / villages.weight.sum()
    pref_factor = np.array([_PREFECTURE_FACTOR.get(prefecture_codes[c], 1.0) for c in villages.county])
    village_rate: dict[str, np.ndarray] = {}
    for cat, rate in CATEGORY_RATES.items():
        prop = np.where(villages.urban, _URBAN_FACTOR[cat], 1.0) * pref_factor
        village_rate[cat] = rate * prop / float((share * prop).sum())

    ctx = _Context(
        as_of_days=int((np.datetime64(as_of, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)),
        as_of=as_of,
        villages=villages,
        village_code_int=np.array([int(c) for c in villages.code], dtype=np.int64),
        village_code_pa=pa.array(villages.code, type=pa.string()),
        village_prefix_pa=pa.array(villages.prefix, type=pa.string()),
        village_area_pa=pa.array(np.where(villages.urban, "urban", "rural")),
        surnames=pa.array(list(_SURNAMES), type=pa.string()),
        surname_p=np.array(list(_SURNAMES.values())) / sum(_SURNAMES.values()),
        given={
            (sex_i, era): (pa.array(_GIVEN[(sex, era)], type=pa.string()), len(_GIVEN[(sex, era)]))
            for sex_i, sex in enumerate(("male", "female"))
            for era in range(3)
        },
        village_rate=village_rate,
    )

    n_counties = len(county_codes)
    county_weight = np.bincount(villages.county, weights=villages.weight, minlength=n_counties)
    per_county = _cat_rng(seed, 2).multinomial(persons, county_weight / county_weight.sum())

    households_path = pop_dir / "households.parquet"
    persons_path = pop_dir / "persons.parquet"
    counts = _Counts()
    metadata = {
        b"doudi.synthetic.seed": str(seed).encode(),
        b"doudi.synthetic.as_of": as_of.isoformat().encode(),
    }
    hh_writer = pq.ParquetWriter(
        households_path, HOUSEHOLD_SCHEMA.with_metadata(metadata), compression="zstd"
    )
    p_writer = pq.ParquetWriter(persons_path, PERSON_SCHEMA.with_metadata(metadata), compression="zstd")
    buffer_h: list[pa.Table] = []
    buffer_p: list[pa.Table] = []
    buffered = 0

    def flush() -> None:
        nonlocal buffered
        if buffer_h:
            hh_writer.write_table(pa.concat_tables(buffer_h))
            p_writer.write_table(pa.concat_tables(buffer_p))
            buffer_h.clear()
            buffer_p.clear()
            buffered = 0
            if progress is not None:
                progress(counts.persons)

    try:
        for ci in range(n_counties):
            n_c = int(per_county[ci])
            if n_c == 0:
                continue
            rng = _cat_rng(seed, 3, ci)
            vidx = np.flatnonzero(villages.county == ci)
            vw = villages.weight[vidx]
            urban_v = villages.urban[vidx]
            # Draw households in random order (village, size), cut at exactly n_c persons
            est = int(n_c / 2.8 * 1.15) + 16
            # a village's households ∝ its weight / the mean household size of its area, so
            # that its persons are ∝ its weight
            hw = vw / np.where(urban_v, _MEAN_SIZE["urban"], _MEAN_SIZE["rural"])
            v_of_h = rng.choice(len(vidx), size=est, p=hw / hw.sum())
            u = rng.random(est)
            cdf_u = np.cumsum(_HOUSEHOLD_SIZE_P["urban"])
            cdf_r = np.cumsum(_HOUSEHOLD_SIZE_P["rural"])
            sizes = 1 + np.where(
                urban_v[v_of_h], np.searchsorted(cdf_u / cdf_u[-1], u), np.searchsorted(cdf_r / cdf_r[-1], u)
            )
            while int(sizes.sum()) < n_c:  # pragma: no cover - the estimate is generous
                sizes = np.concatenate([sizes, sizes])
                v_of_h = np.concatenate([v_of_h, v_of_h])
            cs = np.cumsum(sizes)
            last = int(np.searchsorted(cs, n_c))
            sizes = sizes[: last + 1].copy()
            v_of_h = v_of_h[: last + 1]
            sizes[-1] -= int(cs[last]) - n_c
            order = np.argsort(v_of_h, kind="stable")
            sizes = sizes[order].astype(np.int64)
            v_of_h = v_of_h[order]
            # Running number inside the village
            new_v = np.ones(len(v_of_h), dtype=bool)
            new_v[1:] = v_of_h[1:] != v_of_h[:-1]
            first = np.maximum.accumulate(np.where(new_v, np.arange(len(v_of_h)), 0))
            hh_number = np.arange(len(v_of_h)) - first + 1
            village_of_h = vidx[v_of_h]
            # Parts of at most _PART_PERSONS persons (whole households)
            parts = max(1, math.ceil(n_c / _PART_PERSONS))
            cs = np.cumsum(sizes)
            bounds = [0, *(int(np.searchsorted(cs, n_c * j / parts)) for j in range(1, parts)), len(sizes)]
            for part in range(parts):
                lo, hi = bounds[part], bounds[part + 1]
                if hi <= lo:
                    continue
                t_h, t_p = _generate_part(
                    ctx,
                    county_codes[ci],
                    prefecture_codes[ci],
                    village_of_h[lo:hi],
                    hh_number[lo:hi],
                    sizes[lo:hi],
                    part,
                    parts,
                    _cat_rng(seed, 4, ci, part),
                    counts,
                )
                buffer_h.append(t_h)
                buffer_p.append(t_p)
                buffered += t_p.num_rows
                if buffered >= _WRITE_BUFFER_PERSONS:
                    flush()
        flush()
    finally:
        hh_writer.close()
        p_writer.close()

    return Province(
        seed=seed,
        as_of=as_of,
        out_dir=out_dir,
        households_path=households_path,
        persons_path=persons_path,
        villages_path=villages_path,
        persons=counts.persons,
        households=counts.households,
        registry_persons=counts.registry_persons,
        registry_households=counts.registry_households,
        persons_by_category=counts.persons_by_category,
        households_by_category=counts.households_by_category,
        persons_by_prefecture=dict(sorted(counts.persons_by_prefecture.items())),
        households_by_prefecture=dict(sorted(counts.households_by_prefecture.items())),
        villages=villages_table,
        catalog=catalog,
    )


# --- roster --------------------------------------------------------------------------------

ROSTER_SCHEMA = pa.schema(
    [
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("address", pa.string()),
        ("area_type", pa.string()),
        ("category", pa.string()),
        ("category_start", pa.date32()),
        *schema.IDENTITY,
        *schema.PERSON_ATTRIBUTES,
        *schema.income_fields(MONEY),
        *schema.property_fields(MONEY),
    ]
)
assert tuple(ROSTER_SCHEMA.names) == ROSTER_FIELDS

PopulationSource = Province | Path | str | Sequence[Path | str]


def _population_paths(source: PopulationSource) -> tuple[Path, Path]:
    if isinstance(source, Province):
        return source.households_path, source.persons_path
    if isinstance(source, Path | str):
        base = Path(source)
        if (base / "population").is_dir():
            base = base / "population"
        return base / "households.parquet", base / "persons.parquet"
    households, persons = source
    return Path(households), Path(persons)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def registry_roster(province_or_paths: PopulationSource, *, limit_persons: int | None = None) -> pa.Table:
    """The low-income households (any category) as a roster: one row per person.

    ``province_or_paths`` is a :class:`Province`, its ``out_dir`` (or the ``population``
    directory), or a pair of paths (households, persons). Columns are :data:`ROSTER_FIELDS`
    with codes as stored (``dibao、relapse_watch``, ``head``, ``urban`` …); the household's
    property (vehicles, extra_housing, business_registered, deposits) is repeated on every
    member's row, as in the rosters counties keep. Rows are ordered by household number and
    member number.

    ``limit_persons`` caps the roster at that many persons, taking whole households (so it
    may hold a few persons less). When it exceeds the registry, whole households from the
    rest of the population fill it up, with category ``other`` and a start date in the two
    years before ``as_of`` — a roster of any size can be cut from a large province for
    benchmarks. Households are picked in a fixed pseudo-random order (DuckDB ``hash``).
    """
    households_path, persons_path = _population_paths(province_or_paths)
    hh = f"read_parquet({_sql_path(households_path)})"
    pp = f"read_parquet({_sql_path(persons_path)})"
    if limit_persons is None:
        selection = "SELECT household_no, category, category_start FROM hh WHERE category IS NOT NULL"
    else:
        if limit_persons < 0:
            raise ValueError("limit_persons must not be negative")
        metadata = pq.read_schema(households_path).metadata or {}
        as_of = metadata.get(b"doudi.synthetic.as_of", b"").decode() or dt.date.today().isoformat()
        dt.date.fromisoformat(as_of)  # refuse anything but a date in the SQL text
        limit = int(limit_persons)
        selection = f"""
            WITH reg AS (
                SELECT household_no, category, category_start,
                       SUM(member_count) OVER (ORDER BY hash(household_no), household_no
                                               ROWS UNBOUNDED PRECEDING) AS cum
                FROM hh WHERE category IS NOT NULL
            ),
            taken AS (SELECT household_no, category, category_start FROM reg WHERE cum <= {limit}),
            room AS (SELECT {limit} - COALESCE((SELECT SUM(member_count) FROM hh
                                                 JOIN taken USING (household_no)), 0) AS left_over),
            fill AS (
                SELECT household_no,
                       SUM(member_count) OVER (ORDER BY hash(household_no), household_no
                                               ROWS UNBOUNDED PRECEDING) AS cum
                FROM hh WHERE category IS NULL
            )
            SELECT * FROM taken
            UNION ALL
            SELECT household_no, 'other' AS category,
                   CAST(date_trunc('month', DATE '{as_of}'
                        - to_months(CAST(1 + hash(household_no) % 24 AS INTEGER))) AS DATE) AS category_start
            FROM fill, room WHERE cum <= room.left_over
        """
    query = f"""
        WITH hh AS (SELECT * FROM {hh}),
        sel AS ({selection})
        SELECT h.household_no, h.division_code, h.address, h.area_type, s.category, s.category_start,
               p.name, p.citizen_id, p.relation, p.disability_kind, p.disability_grade,
               p.self_care_failed_items, p.serious_illness, p.schooling, p.employment,
               p.wage_income, p.business_income, p.property_income, p.transfer_income,
               h.vehicles, h.extra_housing, h.business_registered, h.deposits
        FROM sel s
        JOIN hh h ON h.household_no = s.household_no
        JOIN {pp} p ON p.household_no = s.household_no
        ORDER BY h.household_no, p.member_no
    """
    con = duckdb.connect()
    try:
        table = con.sql(query).to_arrow_table()
    finally:
        con.close()
    return table.cast(ROSTER_SCHEMA)


@lru_cache(maxsize=1)
def roster_headers() -> dict[str, str]:
    """Field → the Chinese header written in roster files (first alias in roster_headers.yaml)."""
    path = Path(codes.__file__).parent / "data" / "roster_headers.yaml"
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return {name: str(aliases[0]) for name, aliases in data["fields"].items()}


_GRADE_LABELS = ("", "一级", "二级", "三级", "四级")


def _labels(arr: pa.ChunkedArray | pa.Array, mapping: dict[str, str]) -> pa.Array:
    """Codes → labels; unknown values are kept, nulls become empty strings."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    keys = pa.array(list(mapping), type=pa.string())
    values = pa.array(list(mapping.values()), type=pa.string())
    idx = pc.index_in(arr, value_set=keys)
    out = pc.if_else(pc.is_null(idx), arr, values.take(idx))
    return pc.fill_null(out, "")


def _category_labels(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr.cast(pa.string()), "")
    parts = pc.split_pattern(arr, "、")
    flat = _labels(parts.flatten(), codes.CATEGORIES)
    rebuilt = pa.ListArray.from_arrays(parts.offsets, flat)
    return pc.binary_join(rebuilt, "、")


def _roster_text_columns(table: pa.Table) -> tuple[list[str], list[pa.Array]]:
    headers = roster_headers()
    names: list[str] = []
    columns: list[pa.Array] = []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name == "category":
            text = _category_labels(col)
        elif name == "area_type":
            text = _labels(col, codes.AREA_TYPES)
        elif name == "relation":
            text = _labels(col, codes.RELATIONS)
        elif name == "disability_kind":
            text = _labels(col, codes.DISABILITY_KINDS)
        elif name == "schooling":
            text = _labels(col, codes.SCHOOLING)
        elif name == "employment":
            text = _labels(col, codes.EMPLOYMENT)
        elif name == "disability_grade":
            grade = pc.fill_null(col.cast(pa.int64()), 0)
            text = pa.array(_GRADE_LABELS).take(pc.min_element_wise(pc.max_element_wise(grade, 0), 4))
        elif name == "serious_illness":
            text = pc.if_else(pc.fill_null(col, False), "是", "否")
        else:
            text = pc.fill_null(col.cast(pa.string()), "")
        names.append(headers.get(name, name))
        columns.append(text)
    return names, columns


def _default_title(table: pa.Table) -> str:
    place = "贵州省"
    if "division_code" in table.column_names and table.num_rows:
        div = table.column("division_code")
        counties = pc.unique(pc.utf8_slice_codeunits(div, 0, 6)).to_pylist()
        prefectures = {c[:4] for c in counties if c}
        catalog = get_catalog(str(counties[0])[:2] + "0000") if counties and counties[0] else None
        if catalog is not None:
            province = catalog.get(catalog.province_code)
            place = province.name if province is not None else place
            if len(counties) == 1:
                county = catalog.get(str(counties[0]))
                place = county.name if county is not None else place
            elif len(prefectures) == 1:
                pref = catalog.get(next(iter(prefectures)) + "00")
                place = pref.name if pref is not None else place
    kinds: set[str] = set()
    if "category" in table.column_names:
        for value in pc.unique(table.column("category")).to_pylist():
            kinds.update(str(value or "").split("、"))
    if kinds == {"dibao"}:
        return f"{place}城乡低保对象花名册"
    if kinds == {"tekun"}:
        return f"{place}特困人员花名册"
    return f"{place}低收入人口花名册"


def write_roster(
    table: pa.Table,
    path: Path,
    *,
    encoding: str = "utf-8-sig",
    with_title: bool = False,
    title: str | None = None,
    errors: str = "replace",
) -> Path:
    """Write a roster CSV as counties keep it: Chinese headers and labels.

    Headers are the first alias of each field in roster_headers.yaml (unknown columns keep
    their name); codes become the labels of :mod:`doudi.registry.codes` (人员类别
    ``低保、防返贫监测``, 与户主关系 ``户主``, 城乡类别 ``城市``, 残疾等级 ``二级``, 是否重病
    ``是``/``否`` …); money as ``1234.50``, dates as ``2024-03-01``. ``encoding`` is
    ``utf-8-sig`` (Excel-friendly), ``utf-8``, ``gbk`` or ``gb18030``. A few real township
    names use characters outside GBK (桴㯊镇, 㵲阳镇 in 正安县 are CJK Extension A): with
    ``errors="replace"`` (default) they become ``?`` as when Excel saves a GBK CSV;
    ``errors="strict"`` raises :class:`UnicodeEncodeError` instead. ``with_title`` puts a title row
    above the header (``title``, or e.g. ``南明区城乡低保对象花名册`` derived from the rows).
    The CSV is produced by pyarrow in slices and transcoded slice by slice, so memory stays
    bounded by one slice of text.
    """
    enc = encoding.lower().replace("_", "-")
    if enc not in ("utf-8-sig", "utf-8", "gbk", "gb18030"):
        raise ValueError(f"unsupported roster encoding {encoding!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = [roster_headers().get(name, name) for name in table.column_names]
    eol = "\r\n"
    head_lines = ""
    if with_title:
        head_lines += (title or _default_title(table)) + "," * (len(headers) - 1) + eol
    head_lines += ",".join(headers) + eol
    target = "utf-8" if enc == "utf-8-sig" else enc
    quoting = "none"
    slice_rows = 200_000
    with path.open("wb") as fh:
        if enc == "utf-8-sig":
            fh.write(b"\xef\xbb\xbf")
        fh.write(head_lines.encode(target, errors))
        for start in range(0, table.num_rows, slice_rows):
            _, columns = _roster_text_columns(table.slice(start, slice_rows))
            part = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])
            buf = pa.BufferOutputStream()
            try:
                pacsv.write_csv(
                    part, buf, pacsv.WriteOptions(include_header=False, eol=eol, quoting_style=quoting)
                )
            except pa.ArrowInvalid:
                quoting = "needed"  # a value holds a comma or quote: quote what needs it from here on
                buf = pa.BufferOutputStream()
                pacsv.write_csv(
                    part, buf, pacsv.WriteOptions(include_header=False, eol=eol, quoting_style=quoting)
                )
            data = buf.getvalue().to_pybytes()
            fh.write(data if target == "utf-8" else data.decode("utf-8").encode(target, errors))
    return path
