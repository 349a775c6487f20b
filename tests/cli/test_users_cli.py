"""``doudi users``: accounts with a role and a division scope, as an operator creates them."""

from __future__ import annotations

import pytest
from factories import citizen_id
from rich.console import Console
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from doudi.auth.users import get_actor, verify_password
from doudi.cli import common
from doudi.cli.main import app
from doudi.db.models import StaffRelative
from doudi.settings import Settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "console", Console(width=200))


def test_add_list_disable(settings: Settings, engine: Engine) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "add",
            "wang.w",
            "--role",
            "township_caseworker",
            "--division",
            "520102001",
            "--name",
            "王五",
            "--password",
            "s3cret-pass",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "乡镇（街道）经办人" in result.output
    actor = get_actor(engine, "wang.w")
    assert (actor.role, actor.division_code, actor.display_name) == (
        "township_caseworker",
        "520102001",
        "王五",
    )
    assert verify_password(engine, "wang.w", "s3cret-pass") == actor

    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "wang.w" in listed.output and "在用" in listed.output

    assert runner.invoke(app, ["users", "disable", "wang.w"]).exit_code == 0
    assert verify_password(engine, "wang.w", "s3cret-pass") is None
    assert "停用" in runner.invoke(app, ["users", "list"]).output


def test_bad_role_scope_and_duplicate_are_explained(settings: Settings, engine: Engine) -> None:
    bad_role = runner.invoke(app, ["users", "add", "a1", "--role", "boss", "--division", "520102"])
    assert bad_role.exit_code == 2 and "角色“boss”不存在" in bad_role.output
    bad_scope = runner.invoke(
        app, ["users", "add", "a1", "--role", "county_reviewer", "--division", "520102001"]
    )
    assert bad_scope.exit_code == 2 and "6位县级" in bad_scope.output
    unknown = runner.invoke(app, ["users", "add", "a1", "--role", "county_reviewer", "--division", "529999"])
    assert unknown.exit_code == 2 and "529999" in unknown.output
    ok = runner.invoke(app, ["users", "add", "a1", "--role", "county_reviewer", "--division", "520102"])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["users", "add", "a1", "--role", "county_reviewer", "--division", "520102"])
    assert again.exit_code == 2 and "已存在" in again.output


def test_relative_is_declared_with_a_valid_citizen_id(settings: Settings, engine: Engine) -> None:
    runner.invoke(app, ["users", "add", "li.s", "--role", "township_caseworker", "--division", "520102001"])
    cid = citizen_id("1980-02-03", 15)
    ok = runner.invoke(app, ["users", "relative", "li.s", "--citizen-id", cid, "--relation", "配偶"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app, ["users", "relative", "li.s", "--citizen-id", cid[:-1] + "0", "--relation", "配偶"]
    )
    assert bad.exit_code == 2 and "无效" in bad.output
    with engine.connect() as conn:
        assert conn.execute(select(StaffRelative.username, StaffRelative.citizen_id)).all() == [("li.s", cid)]
