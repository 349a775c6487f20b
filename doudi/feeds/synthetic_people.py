"""The synthetic population as the feed generator sees it: places and parts of persons.

:func:`load_places` reads the divisions (counties and townships from the MCA catalogue,
villages from ``population/villages.parquet``) into arrays that name hospitals, schools,
employers and certificates. :func:`iter_parts` reads ``population/persons.parquet`` and
``households.parquet`` in parts of whole households (both files are in household order, the
persons of a household together, head first), so memory stays bounded whatever the size of
the province. A :class:`Part` holds numpy arrays per person and per household, plus the
citizen IDs and names as Arrow strings.

Also here: building blocks shared by the per-kind generators (exact money from integer
cents, dates from day numbers, valid citizen IDs of people from other provinces).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from doudi.divisions.catalog import get_catalog
from doudi.feeds.contract import FEED_MONEY
from doudi.ids import make_citizen_ids

#: Persons per part (whole households): the arrays of one part are a few hundred MB at most.
PART_PERSONS = 400_000

#: Codes as stored in persons.parquet (doudi.registry.codes), in the order of the integer codes.
SCHOOLING = ("none", "preschool", "compulsory", "high_school", "vocational", "college")
EMPLOYMENT = ("employed", "farming", "flexible", "unemployed", "retired", "student", "unable", "child")
S_NONE, S_PRESCHOOL, S_COMPULSORY, S_HIGH, S_VOCATIONAL, S_COLLEGE = range(6)
E_EMPLOYED, E_FARMING, E_FLEXIBLE, E_UNEMPLOYED, E_RETIRED, E_STUDENT, E_UNABLE, E_CHILD = range(8)
#: Disability kinds in the order of the 2nd-generation certificate number's 19th digit
#: (1 视力, 2 听力, 3 言语, 4 肢体, 5 智力, 6 精神, 7 多重).
DISABILITY_KINDS = ("visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple")
#: Household categories (bits of ``Part.cat_bits``), as in ``households.category``.
CATEGORIES = ("dibao", "tekun", "marginal", "rigid_spending", "relapse_watch", "other")
DIBAO, TEKUN, MARGINAL, RIGID, RELAPSE, OTHER = (1 << i for i in range(6))

#: Plate prefixes of Guizhou's prefectures (贵A 贵阳 … 贵J 黔南).
PLATE_LETTER = {
    "520100": "A",
    "520200": "B",
    "520300": "C",
    "520600": "D",
    "522300": "E",
    "520500": "F",
    "520400": "G",
    "522600": "H",
    "522700": "J",
}

#: County codes of other provinces that Guizhou people travel to or come from (Guangdong,
#: Zhejiang, Fujian and Jiangsu draw most of Guizhou's migrant workers; Sichuan, Chongqing,
#: Yunnan, Hunan and Guangxi are the neighbours). Used for people from other provinces.
OTHER_PROVINCE_COUNTIES = np.array(
    [
        440106, 440304, 441900, 442000, 440113, 441302, 330106, 330782, 330302, 350582, 350102,
        320106, 320583, 310115, 110105, 510104, 510107, 511502, 500103, 500112, 500233, 530102,
        530103, 430102, 430105, 431202, 450102, 450103, 420106, 370102, 410105, 610113,
    ],
    dtype=np.int64,
)  # fmt: skip


# --- building blocks -------------------------------------------------------------------------


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """An exact ``decimal128(18, 2)`` array from integer cents (no float on the way)."""
    c = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(c), 2), dtype=np.int64)
    words[:, 0] = c
    words[:, 1] = c >> 63  # sign extension of the 128-bit little-endian integer
    validity = None
    null_count = 0
    if valid is not None and not bool(np.all(valid)):
        validity = pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
        null_count = int(len(c) - np.count_nonzero(valid))
    return pa.Array.from_buffers(FEED_MONEY, len(c), [validity, pa.py_buffer(words)], null_count=null_count)


def dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A ``date32`` array from days since 1970-01-01."""
    d = np.ascontiguousarray(days, dtype=np.int32)
    validity = None
    null_count = 0
    if valid is not None and not bool(np.all(valid)):
        validity = pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
        null_count = int(len(d) - np.count_nonzero(valid))
    return pa.Array.from_buffers(pa.date32(), len(d), [validity, pa.py_buffer(d)], null_count=null_count)


def day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """An independent generator per (seed, key…): the same key always gives the same stream."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 4, *key])))


def other_province_ids(rng: np.random.Generator, n: int, latest_birth: int) -> pa.Array:
    """Valid citizen IDs of people registered in other provinces (never in the population,
    whose IDs all start with 52), born 1950 up to ``latest_birth`` (a day number)."""
    address = OTHER_PROVINCE_COUNTIES[rng.integers(0, len(OTHER_PROVINCE_COUNTIES), n)]
    earliest = day_number(dt.date(1950, 1, 1))
    birth = rng.integers(earliest, max(latest_birth, earliest + 1), n).astype("datetime64[D]")
    sequence = rng.integers(0, 1000, n)
    return pa.array(make_citizen_ids(address, birth, sequence), type=pa.string())


# --- places ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Counties, townships and villages of the synthetic province, as arrays by index."""

    county_codes: pa.Array
    county_names: pa.Array
    county_plate: pa.Array  # e.g. "贵A"
    township_codes: pa.Array
    township_names: pa.Array
    township_county: np.ndarray  # int index into counties
    township_is_street: np.ndarray  # bool: 街道 (urban sub-district)
    village_codes: pa.Array
    village_names: pa.Array
    village_township: np.ndarray  # int index into townships

    @property
    def counties(self) -> int:
        return len(self.county_codes)

    @property
    def townships(self) -> int:
        return len(self.township_codes)


def load_places(population_dir: Path) -> Places:
    villages = pq.read_table(population_dir / "villages.parquet", columns=["code", "name", "township_code"])
    catalog = get_catalog("520000")
    counties = sorted(catalog.counties(), key=lambda d: d.code)
    townships = sorted(catalog.townships(), key=lambda d: d.code)
    county_index = {c.code: i for i, c in enumerate(counties)}
    county_plate = []
    for c in counties:
        prefecture = c.parent_code or c.code[:4] + "00"
        county_plate.append("贵" + PLATE_LETTER.get(prefecture, "A"))
    township_codes = pa.array([t.code for t in townships], type=pa.string())
    village_township = pc.index_in(villages.column("township_code"), value_set=township_codes)
    if village_township.null_count:
        raise ValueError("villages.parquet names townships that are not in the division catalogue")
    return Places(
        county_codes=pa.array([c.code for c in counties], type=pa.string()),
        county_names=pa.array([c.name for c in counties], type=pa.string()),
        county_plate=pa.array(county_plate, type=pa.string()),
        township_codes=township_codes,
        township_names=pa.array([t.name for t in townships], type=pa.string()),
        township_county=np.array([county_index[t.code[:6]] for t in townships], dtype=np.int64),
        township_is_street=np.array([t.code[6] == "0" for t in townships], dtype=bool),
        village_codes=villages.column("code").combine_chunks(),
        village_names=villages.column("name").combine_chunks(),
        village_township=np.asarray(village_township.to_numpy(zero_copy_only=False), dtype=np.int64),
    )


# --- parts of the population -----------------------------------------------------------------

_PERSON_COLUMNS = [
    "name",
    "citizen_id",
    "sex",
    "birth_date",
    "relation",
    "disability_kind",
    "disability_grade",
    "serious_illness",
    "schooling",
    "employment",
    "wage_income",
    "transfer_income",
]
_HOUSEHOLD_COLUMNS = [
    "division_code",
    "area_type",
    "member_count",
    "category",
    "vehicles",
    "extra_housing",
    "business_registered",
]


@dataclass
class Part:
    """Whole households of the population and their persons (numpy per row, Arrow strings)."""

    no: int
    person_offset: int  # row number of the first person in persons.parquet
    household_offset: int  # row number of the first household in households.parquet
    # persons
    citizen_id: pa.Array
    name: pa.Array
    birth: np.ndarray  # int64 day numbers
    male: np.ndarray
    hh: np.ndarray  # local household index
    head: np.ndarray  # bool: member 1
    spouse: np.ndarray  # bool: the head's spouse
    grade: np.ndarray  # int64 disability grade, 0 = none
    disability_kind: np.ndarray  # int64 index into DISABILITY_KINDS, -1 = none
    ill: np.ndarray  # bool: seriously ill
    schooling: np.ndarray  # int64 index into SCHOOLING
    employment: np.ndarray  # int64 index into EMPLOYMENT
    wage_cents: np.ndarray
    transfer_cents: np.ndarray
    # households
    hh_start: np.ndarray  # index of the head among the part's persons
    hh_size: np.ndarray
    hh_urban: np.ndarray
    hh_village: np.ndarray  # index into Places.village_codes
    hh_township: np.ndarray
    hh_county: np.ndarray
    hh_vehicles: np.ndarray
    hh_extra_housing: np.ndarray
    hh_business: np.ndarray
    hh_cat: np.ndarray  # category bits (DIBAO, TEKUN, …), 0 = not registered

    @property
    def n(self) -> int:
        return len(self.hh)

    @property
    def households(self) -> int:
        return len(self.hh_size)

    @property
    def registered(self) -> np.ndarray:
        """Per person: the household is in at least one category."""
        return self.hh_cat[self.hh] != 0

    @property
    def person_global(self) -> np.ndarray:
        return self.person_offset + np.arange(self.n, dtype=np.int64)

    @property
    def household_global(self) -> np.ndarray:
        return self.household_offset + np.arange(self.households, dtype=np.int64)


def _codes(values: pa.ChunkedArray | pa.Array, vocabulary: tuple[str, ...], missing: int) -> np.ndarray:
    idx = pc.index_in(values, value_set=pa.array(vocabulary, type=pa.string()))
    return np.asarray(pc.fill_null(idx, missing).to_numpy(zero_copy_only=False), dtype=np.int64)


def _cents(values: pa.ChunkedArray) -> np.ndarray:
    scaled = pc.cast(pc.fill_null(values, 0), pa.decimal128(18, 2))
    # decimal → int64 cents exactly: multiply by 100 in decimal, then cast (no float).
    as_int = pc.cast(pc.multiply(scaled, pa.scalar(100, pa.decimal128(5, 0))), pa.int64())
    return np.asarray(as_int.to_numpy(zero_copy_only=False), dtype=np.int64)


def _category_bits(category: pa.ChunkedArray) -> np.ndarray:
    text = pc.fill_null(category, "")
    bits = np.zeros(len(text), dtype=np.int64)
    for i, name in enumerate(CATEGORIES):
        has = pc.match_substring(text, name).to_numpy(zero_copy_only=False)
        bits |= np.asarray(has, dtype=np.int64) << i
    return bits


def count_persons(population_dir: Path) -> int:
    return int(pq.ParquetFile(population_dir / "persons.parquet").metadata.num_rows)


def iter_parts(population_dir: Path, places: Places, part_persons: int = PART_PERSONS) -> Iterator[Part]:
    """The population in parts of whole households of about ``part_persons`` persons."""
    households = pq.read_table(population_dir / "households.parquet", columns=_HOUSEHOLD_COLUMNS)
    size = np.asarray(households.column("member_count").to_numpy(), dtype=np.int64)
    ends = np.cumsum(size)
    total = int(ends[-1]) if len(ends) else 0
    # Household boundaries closest above each multiple of part_persons
    cuts = [0]
    target = part_persons
    while target < total:
        k = int(np.searchsorted(ends, target, side="left")) + 1
        if k >= len(size):
            break
        cuts.append(k)
        target = int(ends[k - 1]) + part_persons
    cuts.append(len(size))

    persons_file = pq.ParquetFile(population_dir / "persons.parquet")
    batches = persons_file.iter_batches(batch_size=65_536, columns=_PERSON_COLUMNS)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    village_codes = places.village_codes
    for no in range(len(cuts) - 1):
        h_lo, h_hi = cuts[no], cuts[no + 1]
        p_lo = int(ends[h_lo - 1]) if h_lo else 0
        p_hi = int(ends[h_hi - 1]) if h_hi else 0
        need = p_hi - p_lo
        while pending_rows < need:
            batch = next(batches)
            pending.append(batch)
            pending_rows += batch.num_rows
        table = pa.Table.from_batches(pending).combine_chunks()
        persons = table.slice(0, need)
        rest = table.slice(need)
        pending = rest.to_batches() if rest.num_rows else []
        pending_rows = rest.num_rows
        yield _make_part(no, p_lo, h_lo, households.slice(h_lo, h_hi - h_lo), persons, places, village_codes)


def _make_part(
    no: int,
    person_offset: int,
    household_offset: int,
    households: pa.Table,
    persons: pa.Table,
    places: Places,
    village_codes: pa.Array,
) -> Part:
    hh_size = np.asarray(households.column("member_count").to_numpy(), dtype=np.int64)
    h = len(hh_size)
    hh_start = np.zeros(h, dtype=np.int64)
    if h:
        np.cumsum(hh_size[:-1], out=hh_start[1:])
    n = int(hh_size.sum())
    hh = np.repeat(np.arange(h, dtype=np.int64), hh_size)
    head = np.zeros(n, dtype=bool)
    head[hh_start] = True
    village = pc.index_in(households.column("division_code"), value_set=village_codes)
    if village.null_count:
        raise ValueError("households.parquet names villages that are not in villages.parquet")
    hh_village = np.asarray(village.to_numpy(zero_copy_only=False), dtype=np.int64)
    hh_township = places.village_township[hh_village]
    grade = persons.column("disability_grade")
    return Part(
        no=no,
        person_offset=person_offset,
        household_offset=household_offset,
        citizen_id=persons.column("citizen_id").combine_chunks(),
        name=persons.column("name").combine_chunks(),
        birth=np.asarray(persons.column("birth_date").cast(pa.int32()).to_numpy(), dtype=np.int64),
        male=np.asarray(pc.equal(persons.column("sex"), "male").to_numpy(), dtype=bool),
        hh=hh,
        head=head,
        spouse=np.asarray(pc.equal(persons.column("relation"), "spouse").to_numpy(), dtype=bool),
        grade=np.asarray(pc.fill_null(grade, 0).to_numpy(), dtype=np.int64),
        disability_kind=_codes(persons.column("disability_kind"), DISABILITY_KINDS, -1),
        ill=np.asarray(pc.fill_null(persons.column("serious_illness"), False).to_numpy(), dtype=bool),
        schooling=_codes(persons.column("schooling"), SCHOOLING, S_NONE),
        employment=_codes(persons.column("employment"), EMPLOYMENT, E_UNEMPLOYED),
        wage_cents=_cents(persons.column("wage_income")),
        transfer_cents=_cents(persons.column("transfer_income")),
        hh_start=hh_start,
        hh_size=hh_size,
        hh_urban=np.asarray(pc.equal(households.column("area_type"), "urban").to_numpy(), dtype=bool),
        hh_village=hh_village,
        hh_township=hh_township,
        hh_county=places.township_county[hh_township],
        hh_vehicles=np.asarray(households.column("vehicles").to_numpy(), dtype=np.int64),
        hh_extra_housing=np.asarray(households.column("extra_housing").to_numpy(), dtype=np.int64),
        hh_business=np.asarray(households.column("business_registered").to_numpy(), dtype=np.int64),
        hh_cat=_category_bits(households.column("category")),
    )


def fixed_ascii(chars: np.ndarray) -> pa.Array:
    """A string array from an (N, K) uint8 matrix of ASCII codes (every value K long)."""
    mat = np.ascontiguousarray(chars, dtype=np.uint8)
    n, k = mat.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * k).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat)])


def digits_matrix(values: np.ndarray, width: int, alphabet: bytes = b"0123456789") -> np.ndarray:
    """(N, width) ASCII codes of ``values`` written in base ``len(alphabet)``, zero-padded.

    Examples:
        >>> fixed_ascii(digits_matrix(np.array([7, 42]), 3)).to_pylist()
        ['007', '042']
        >>> fixed_ascii(digits_matrix(np.array([35]), 2, b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")).to_pylist()
        ['11']
    """
    base = len(alphabet)
    lookup = np.frombuffer(alphabet, dtype=np.uint8)
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width - 1, -1, -1):
        out[:, k] = lookup[v % base]
        v //= base
    return out


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")
