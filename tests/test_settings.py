"""Every setting has help text and is documented in docs/operations.md."""

from __future__ import annotations

from pathlib import Path

from doudi.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def test_every_setting_has_help_and_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"
        assert f"`DOUDI_{name.upper()}`" in text, f"DOUDI_{name.upper()} missing from docs/operations.md"


def test_database_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.sqlalchemy_url == f"sqlite:///{(tmp_path / 'doudi.sqlite3').resolve()}"
    assert Settings(database_url="postgresql+psycopg://u@h/doudi").sqlalchemy_url.startswith("postgresql")


def test_roster_headers_are_documented() -> None:
    import yaml

    fields = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "doudi/registry/data/roster_headers.yaml").read_text(
            encoding="utf-8"
        )
    )["fields"]
    doc = (DOCS.parent / "roster-format.md").read_text(encoding="utf-8")
    for field, aliases in fields.items():
        assert f"`{field}`" in doc and "、".join(aliases) in doc, f"roster field {field} not documented"
