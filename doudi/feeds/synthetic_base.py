"""Shared pieces of the synthetic feed generator: the calendar, names, and a part's context.

:class:`PartContext` is what the event generators (:mod:`doudi.feeds.synthetic_events`) and the
snapshot generators (:mod:`doudi.feeds.synthetic_holdings`) of one part share: the part, its
places and names, the seed and scope, the contracts, and who is alive or has left the province.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doudi.feeds.contract import FeedContract, get_contract
from doudi.feeds.synthetic_people import (
    DIBAO,
    MARGINAL,
    TEKUN,
    Part,
    Places,
    day_number,
    join,
    other_province_ids,
    rng_for,
)

#: Feed kinds in the order the generator produces them (the contracts' kinds).
KINDS: tuple[str, ...] = (
    "medical",
    "disability",
    "death",
    "hukou_move",
    "unemployment",
    "pension",
    "disaster",
    "school",
    "vehicle",
    "business",
    "real_estate",
    "public_employee",
)

Scope = Literal["registry", "population"]
"""Who snapshot feeds list: ``registry`` — the departments' replies to the civil-affairs check
list (members of registered households only, as 信息核对 works); ``population`` — everyone on
record in the province."""

#: People with hukou in another province who own vehicles, entities or property in the part,
#: per person of the part (population scope only); assumption.
OUTSIDER_SHARE = 0.004

# --- calendar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """One period: ``YYYY-MM`` with its first and last day as day numbers."""

    index: int
    period: str
    year: int
    month: int
    start: int
    end: int

    @property
    def days(self) -> int:
        return self.end - self.start + 1

    @property
    def ordinal(self) -> int:
        """Months since year 0, a stable key for random streams of this month."""
        return self.year * 12 + self.month - 1

    @classmethod
    def parse(cls, index: int, period: str) -> Month:
        try:
            first = dt.date.fromisoformat(period + "-01")
        except ValueError:
            raise ValueError(f"period must be YYYY-MM, not {period!r}") from None
        if len(period) != 7:
            raise ValueError(f"period must be YYYY-MM, not {period!r}")
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return cls(index, period, first.year, first.month, day_number(first), day_number(nxt) - 1)


def age_on(birth: np.ndarray, day: int) -> np.ndarray:
    """Completed years of age on ``day`` (exact, from day numbers)."""
    b = birth.astype("datetime64[D]")
    by = b.astype("datetime64[Y]").astype(np.int64) + 1970
    bm = b.astype("datetime64[M]").astype(np.int64) % 12
    bd = (b - b.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    d = dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
    # Compare month and day rather than day of year, so that leap years do not shift birthdays.
    before = (bm > d.month - 1) | ((bm == d.month - 1) & (bd > d.day - 1))
    return d.year - by - before.astype(np.int64)


def lognormal_cents(
    rng: np.random.Generator, n: int, median_yuan: float | np.ndarray, sigma: float
) -> np.ndarray:
    x = np.asarray(median_yuan) * 100.0 * np.exp(sigma * rng.standard_normal(n))
    return np.maximum(np.round(x), 1).astype(np.int64)


def codes(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def contract_table(contract: FeedContract, n: int, columns: dict[str, pa.Array]) -> pa.Table:
    """The contract's columns in order; columns not given are all null."""
    schema = contract.arrow_schema()
    arrays = []
    for field in schema:
        arr = columns.get(field.name)
        if arr is None:
            arr = pa.nulls(n, type=field.type)
        elif arr.type != field.type:
            arr = arr.cast(field.type)
        arrays.append(arr)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"{contract.kind}: no such columns {sorted(unknown)}")
    return pa.Table.from_arrays(arrays, schema=schema)


def random_days(rng: np.random.Generator, month: Month, n: int) -> np.ndarray:
    return month.start + rng.integers(0, month.days, n)


# --- names of places, hospitals, schools, employers ------------------------------------------------

_PROVINCIAL_HOSPITALS = (
    "贵州医科大学附属医院",
    "贵州省人民医院",
    "遵义医科大学附属医院",
    "贵阳市第一人民医院",
    "贵州中医药大学第一附属医院",
    "贵州省肿瘤医院",
    "贵阳市妇幼保健院",
    "遵义市第一人民医院",
)
_COLLEGES = (
    "贵州大学",
    "贵州师范大学",
    "贵州医科大学",
    "遵义医科大学",
    "贵州财经大学",
    "贵州民族大学",
    "贵州中医药大学",
    "贵阳学院",
    "凯里学院",
    "铜仁学院",
    "六盘水师范学院",
    "遵义师范学院",
    "安顺学院",
    "黔南民族师范学院",
    "兴义民族师范学院",
    "贵州工程应用技术学院",
    "贵州交通职业技术学院",
    "贵州轻工职业技术学院",
    "贵州电子信息职业技术学院",
    "四川大学",
    "重庆大学",
    "云南大学",
    "湖南师范大学",
    "广西大学",
)
_PRIVATE_COLLEGES = ("贵州商学院", "贵阳人文科技学院", "茅台学院", "贵州黔南经济学院")
_SHOP_WORDS = (
    "便利店", "副食店", "小吃店", "餐馆", "五金店", "理发店", "农资店", "服装店", "水果店",
    "建材店", "汽车修理部", "养殖场", "烟酒店", "手机店", "粮油店", "药店",
)  # fmt: skip
_FIRM_SYLLABLES = tuple("黔鑫源山盛恒达华兴通丰顺远宏锦晟汇诚和泰安金广聚瑞")
_FIRM_TRADES = (
    "商贸", "建筑工程", "农业开发", "物流", "科技", "餐饮管理", "劳务", "茶业", "旅游开发",
    "房地产开发", "装饰工程", "生态农业",
)  # fmt: skip
_COOP_TRADES = ("种植", "养殖", "茶叶", "蔬菜", "中药材", "食用菌", "精品水果", "生猪养殖")
COUNTY_EMPLOYERS = (
    "人民政府办公室", "财政局", "公安局", "教育局", "人力资源和社会保障局", "自然资源局",
    "农业农村局", "市场监督管理局", "民政局", "卫生健康局", "第一中学", "第二中学",
    "人民医院", "中医医院", "职业教育中心", "疾病预防控制中心",
)  # fmt: skip
TOWNSHIP_EMPLOYERS = ("人民政府", "中心小学", "卫生院", "中学", "农业服务中心", "财政所")


def suffix_all(names: pa.Array, suffix: str) -> pa.Array:
    return join(names, suffix)


@dataclass(frozen=True)
class Names:
    """Arrays of names indexed by county / township / village, built once per run."""

    hospitals: pa.Array  # provincial, then county people's, county TCM, township centre, village clinic
    county_first: int  # offset of the counties' people's hospitals
    township_first: int
    village_first: int
    schools_high: pa.Array  # 3 per county
    schools_vocational: pa.Array  # 1 per county
    kindergartens: pa.Array  # 1 per township
    colleges: pa.Array
    private_colleges: pa.Array
    county_employers: pa.Array  # len(_COUNTY_EMPLOYERS) per county
    township_employers: pa.Array  # len(_TOWNSHIP_EMPLOYERS) per township
    shop_words: pa.Array
    firm_syllables: pa.Array
    firm_trades: pa.Array
    coop_trades: pa.Array


def build_names(places: Places) -> Names:
    c_names = places.county_names
    t_names = places.township_names
    street = pa.array(places.township_is_street)
    township_centre = pc.if_else(street, join(t_names, "社区卫生服务中心"), join(t_names, "卫生院"))
    hospitals = pa.concat_arrays(
        [
            pa.array(_PROVINCIAL_HOSPITALS, type=pa.string()),
            suffix_all(c_names, "人民医院"),
            suffix_all(c_names, "中医医院"),
            township_centre,
            join(t_names.take(pa.array(places.village_township)), places.village_names, "卫生室"),
        ]
    )
    c = places.counties
    t = places.townships
    high = pa.concat_arrays([join(c_names, s) for s in ("第一中学", "第二中学", "民族中学")])
    # Laid out suffix-major: index = k * counties + county
    county_employers = pa.concat_arrays([join(c_names, s) for s in COUNTY_EMPLOYERS])
    township_employers = pa.concat_arrays([join(t_names, s) for s in TOWNSHIP_EMPLOYERS])
    return Names(
        hospitals=hospitals,
        county_first=len(_PROVINCIAL_HOSPITALS),
        township_first=len(_PROVINCIAL_HOSPITALS) + 2 * c,
        village_first=len(_PROVINCIAL_HOSPITALS) + 2 * c + t,
        schools_high=high,
        schools_vocational=suffix_all(c_names, "中等职业学校"),
        kindergartens=suffix_all(t_names, "中心幼儿园"),
        colleges=pa.array(_COLLEGES, type=pa.string()),
        private_colleges=pa.array(_PRIVATE_COLLEGES, type=pa.string()),
        county_employers=county_employers,
        township_employers=township_employers,
        shop_words=pa.array(_SHOP_WORDS, type=pa.string()),
        firm_syllables=pa.array(_FIRM_SYLLABLES, type=pa.string()),
        firm_trades=pa.array(_FIRM_TRADES, type=pa.string()),
        coop_trades=pa.array(_COOP_TRADES, type=pa.string()),
    )


# --- items on record and the part context ----------------------------------------------------------


@dataclass
class Holdings:
    """Items on record (vehicles, entities, properties, posts): parallel arrays."""

    columns: dict[str, np.ndarray]
    active: np.ndarray

    @classmethod
    def empty(cls, **dtypes: type) -> Holdings:
        return cls({k: np.zeros(0, dtype=v) for k, v in dtypes.items()}, np.zeros(0, dtype=bool))

    def add(self, **values: np.ndarray) -> None:
        n = len(next(iter(values.values())))
        if n == 0:
            return
        for k in self.columns:
            self.columns[k] = np.concatenate(
                [self.columns[k], np.asarray(values[k], dtype=self.columns[k].dtype)]
            )
        self.active = np.concatenate([self.active, np.ones(n, dtype=bool)])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.columns[key]

    def __len__(self) -> int:
        return len(self.active)


class PartContext:
    """One part of the population across the months, as every generator sees it."""

    def __init__(
        self, part: Part, places: Places, names: Names, months: list[Month], seed: int, scope: Scope
    ) -> None:
        if scope not in ("registry", "population"):
            raise ValueError(f"scope must be 'registry' or 'population', not {scope!r}")
        self.p = part
        self.places = places
        self.names = names
        self.months = months
        self.seed = seed
        self.scope = scope
        self.contracts = {k: get_contract(k) for k in KINDS}
        n = part.n
        self.alive = np.ones(n, dtype=bool)
        self.moved_out = np.zeros(n, dtype=bool)
        self.urban = part.hh_urban[part.hh]
        self.township = part.hh_township[part.hh]
        self.county = part.hh_county[part.hh]
        self.registered = part.registered
        b = part.birth.astype("datetime64[D]")
        self._birth_year = b.astype("datetime64[Y]").astype(np.int64) + 1970
        month0 = b.astype("datetime64[M]")
        self._birth_md = (
            (month0.astype(np.int64) % 12 + 1) * 100
            + (b - month0.astype("datetime64[D]")).astype(np.int64)
            + 1
        )
        self._ages: dict[int, np.ndarray] = {}
        # People from other provinces owning things here: owners -1, -2, … in the holdings
        rng = self.rng(0, 1)
        k = max(1, round(n * OUTSIDER_SHARE)) if n else 0
        self.outsiders = k
        outsider_ids = other_province_ids(rng, k, months[0].start - 18 * 366)
        outsider_names = (
            part.name.take(pa.array(rng.integers(0, max(n, 1), k))) if n else pa.array([], pa.string())
        )
        self._ids = pa.concat_arrays([part.citizen_id, outsider_ids])
        self._names = pa.concat_arrays([part.name, outsider_names])

    def age(self, day: int) -> np.ndarray:
        """Completed years of age of every person of the part on ``day`` (a day number)."""
        age = self._ages.get(day)
        if age is None:
            d = dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
            age = d.year - self._birth_year - (self._birth_md > d.month * 100 + d.day)
            if len(self._ages) > 8:
                self._ages.clear()
            self._ages[day] = age
        return age

    def rng(self, stream: int, month: int) -> np.random.Generator:
        """The random stream ``stream`` of this part for month index ``month``."""
        return rng_for(self.seed, 1, self.p.no, stream, month)

    def _owner_rows(self, owner: np.ndarray) -> pa.Array:
        owner = np.asarray(owner, dtype=np.int64)
        return pa.array(np.where(owner >= 0, owner, self.p.n - 1 - owner))

    def ids(self, owner: np.ndarray) -> pa.Array:
        """Citizen IDs of persons (≥ 0) and of people from other provinces (< 0)."""
        return self._ids.take(self._owner_rows(owner))

    def person_names(self, owner: np.ndarray) -> pa.Array:
        return self._names.take(self._owner_rows(owner))

    def adult_member(
        self, rng: np.random.Generator, hh_idx: np.ndarray, day: int, head_share: float
    ) -> np.ndarray:
        """A person of each household: the head with ``head_share``, else a random adult member."""
        p = self.p
        hh_idx = np.asarray(hh_idx, dtype=np.int64)
        start = p.hh_start[hh_idx]
        size = p.hh_size[hh_idx]
        pick = start + (rng.random(len(hh_idx)) * size).astype(np.int64)
        adult = self.age(day)[pick] >= 18
        use_head = (rng.random(len(hh_idx)) < head_share) | ~adult
        return np.where(use_head, start, pick)

    def in_scope(self, owner: np.ndarray) -> np.ndarray:
        """Rows a snapshot lists: all, or (registry scope) persons of registered households."""
        owner = np.asarray(owner, dtype=np.int64)
        if self.scope == "population":
            return np.ones(len(owner), dtype=bool)
        return (owner >= 0) & self.registered[np.maximum(owner, 0)]

    def hidden_rate(
        self, dibao: float, tekun: float | None, marginal: float | None, other: float
    ) -> np.ndarray:
        """Per household: the rate of a 防错 signal by category (0 for unregistered households)."""
        cat = self.p.hh_cat
        rate = np.where(cat != 0, other, 0.0)
        if marginal is not None:
            rate = np.where(cat & MARGINAL, marginal, rate)
        rate = np.where(cat & DIBAO, dibao, rate)
        if tekun is not None:
            rate = np.where(cat & TEKUN, tekun, rate)
        return rate
