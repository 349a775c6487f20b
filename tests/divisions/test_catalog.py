"""The Guizhou division catalogue from the Ministry list."""

from __future__ import annotations

import pytest

from doudi.divisions import DivisionError, Level, get_catalog, level_of_code


def test_guizhou_has_the_official_counts() -> None:
    catalog = get_catalog("520000")
    assert len(catalog.of_level(Level.PROVINCE)) == 1
    assert len(catalog.of_level(Level.PREFECTURE)) == 9
    assert len(catalog.counties()) == 88
    assert len(catalog.townships()) == 1510


def test_parents_and_ancestors() -> None:
    catalog = get_catalog()
    chain = [d.name for d in catalog.ancestors("520102001")]
    assert chain == ["贵州省", "贵阳市", "南明区", "五里冲街道"]
    assert catalog.prefecture_of("522701").name == "黔南布依族苗族自治州"
    assert catalog.contains("520100", "520102001")
    assert not catalog.contains("520200", "520102001")


def test_urban_rural_classification() -> None:
    catalog = get_catalog()
    assert catalog.require("520102001").area_type == "urban"  # 街道
    towns = [t for t in catalog.townships("520121") if t.code[6] == "1"]
    assert towns and all(t.area_type == "rural" for t in towns)


def test_villages_extend_a_copy_only() -> None:
    catalog = get_catalog()
    catalog.add_village("520102001001", "新华社区", "urban")
    assert catalog.require("520102001001").parent_code == "520102001"
    assert "520102001001" not in get_catalog()


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("5201", "6位、9位或12位"),
        ("52010A", "只能由数字"),
        ("530102", "不属于本省"),
        ("520199", "不在行政区划目录中"),
    ],
)
def test_bad_codes_explain_themselves(code: str, fragment: str) -> None:
    with pytest.raises(DivisionError) as info:
        get_catalog().require(code)
    assert fragment in info.value.reason


def test_village_needs_a_known_township() -> None:
    with pytest.raises(DivisionError) as info:
        get_catalog().add_village("520102999001", "某村", "rural")
    assert "乡镇部分" in info.value.reason


def test_nbs_township_maps_to_mca_by_name() -> None:
    """The statistics bureau numbers 五里冲街道 520102033; the Ministry 520102001."""
    found = get_catalog().township_by_name("520102", "五里冲街道")
    assert found is not None and found.code == "520102001"
    assert level_of_code("520102033") is Level.TOWNSHIP
