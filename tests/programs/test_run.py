"""Whole-registry runs: the registry and the population give the same yuan as one household."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from factories import family, roster
from sqlalchemy import Engine
from typer.testing import CliRunner

from doudi.cli.main import app
from doudi.programs.engine import assess
from doudi.programs.inputs import HouseholdInput
from doudi.programs.run import run_programs
from doudi.programs.sources import from_population
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table
from doudi.registry.synthetic import generate_province
from doudi.settings import Settings

ON = dt.date(2025, 10, 15)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_registry_run_matches_single_assessment(settings: Settings, engine: Engine) -> None:
    rows = family("H001", wage="600") + family("H002", category="特困", wage="0", seq0=31)
    import_roster_table(
        engine,
        roster(rows),
        catalog=divisions_store.load_catalog(engine),
        as_of=dt.date(2025, 10, 1),
        actor="t",
        file_name="f",
        file_sha="s",
    )
    result = run_programs("registry", on=ON, engine=engine, data_dir=settings.data_dir)
    by_id = {r["household_id"]: r for r in result.results.to_pylist()}
    # S = 778.00 urban; n = 3; wage 600 → employment disregard min(600, 0.30 × 778) = 233.40;
    # counted = 366.60 < 2,334.00 → 2,334.00 − 366.60 = 1,967.40.
    assert by_id["H001"]["dibao_amount"] == Decimal("1967.40")
    assert by_id["H001"]["dibao_basis"] == "household"
    single = assess(
        HouseholdInput.model_validate(
            {
                "date": ON.isoformat(),
                "division_code": "520102001001",
                "area_type": "urban",
                "members": [
                    {"birth_date": "1968-03-02", "relation": "head", "monthly_income": {"wage": "600"}},
                    {"birth_date": "1970-07-09", "relation": "spouse"},
                    {"birth_date": "2010-09-01", "relation": "child", "schooling": "compulsory"},
                ],
                "current_categories": ["dibao"],
            }
        )
    )
    assert single["dibao"].monthly_amount == by_id["H001"]["dibao_amount"]
    # A household registered as 特困 has no supporter on record: its members are assessed as 特困
    # where the other conditions hold (the head is 57, able to work: not 特困; the child is a minor).
    assert by_id["H002"]["tekun_covered"] == 1
    assert result.path is not None and pq.read_table(result.path).num_rows == 2
    programs = {r["program"]: r for r in result.by_program.to_pylist()}
    assert programs["dibao"]["households"] >= 1


def test_population_run_covers_every_household(tmp_path: Path) -> None:
    province = generate_province(persons=8000, seed=5, out_dir=tmp_path, as_of=dt.date(2025, 10, 1))
    households, members = from_population(province.population_dir, ON)
    assert households.num_rows == province.households and members.num_rows == province.persons
    result = run_programs("population", on=ON, data_dir=tmp_path, write=False)
    assert result.results.num_rows == province.households
    total = sum(
        Decimal(r["monthly_amount"]) for r in result.by_prefecture.to_pylist() if r["program"] == "dibao"
    )
    assert total == Decimal(
        next(r for r in result.by_program.to_pylist() if r["program"] == "dibao")["monthly_amount"]
    )


def test_assess_cli_prints_explained_json(settings: Settings) -> None:
    out = runner.invoke(app, ["programs", "assess", str(EXAMPLES / "household-urban-dibao.json")])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    dibao = data["programs"]["dibao"]
    assert dibao["monthly_amount"] == "2167.40" and dibao["basis"] == "household"
    assert "低于低保标准778.00元" in dibao["explanation"]["summary"]
    assert dibao["explanation"]["parameters"]["dibao.standard"]["from_division"] == "520000"
    assert data["programs"]["temporary_assistance"]["basis"] == "county"


def test_assess_cli_names_the_bad_fields(settings: Settings, tmp_path: Path) -> None:
    bad = json.loads((EXAMPLES / "household-urban-dibao.json").read_text(encoding="utf-8"))
    bad["division_code"] = "520199001001"
    bad["members"][0]["monthly_income"]["wage"] = "-5"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    out = runner.invoke(app, ["programs", "assess", str(path)])
    assert out.exit_code == 2
    assert "division_code" in out.output and "members.0.monthly_income.wage" in out.output
    path.write_text("{not json", encoding="utf-8")
    out = runner.invoke(app, ["programs", "assess", str(path)])
    assert out.exit_code == 2 and "不是有效的 JSON" in out.output


def test_chunked_batch_equals_one_query(tmp_path: Path) -> None:
    """A large batch runs in chunks of whole households; the result is the same, in the same order."""
    from doudi.programs.engine import evaluate

    province = generate_province(persons=6000, seed=9, out_dir=tmp_path, as_of=dt.date(2025, 10, 1))
    households, members = from_population(province.population_dir, ON)
    whole = evaluate(households, members)
    chunked = evaluate(households, members, chunk_households=97)
    assert chunked.num_rows == whole.num_rows == province.households
    assert chunked.equals(whole)
