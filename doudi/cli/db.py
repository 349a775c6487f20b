"""``doudi db``: create or migrate the operational database."""

from __future__ import annotations

import typer

from doudi.cli import common
from doudi.db.migrate import current_revision, upgrade
from doudi.registry import divisions_store

app = typer.Typer(help="数据库：创建或升级业务数据库。", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """创建或升级数据库结构，并载入行政区划目录。"""
    s = common.settings()
    upgrade(s.sqlalchemy_url)
    engine = common.engine(s, migrate=False)
    catalog = divisions_store.load_catalog(engine, s.province_code)
    with engine.begin() as conn:
        added = divisions_store.sync_mca(conn, catalog)
    common.console.print(
        f"数据库已升级到版本 {current_revision(s.sqlalchemy_url)}；新载入行政区划 {added} 条。"
    )
