"""One typed settings object, read from DOUDI_* environment variables.

Every setting carries help text; ``doudi settings`` prints them all, and a test checks
that each one is documented in docs/operations.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Each field is the env var ``DOUDI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DOUDI_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Directory for the embedded database, Parquet files, rejects and exports.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the operational database. Empty means a SQLite file "
            "doudi.sqlite3 in the data directory; production uses postgresql+psycopg://…"
        ),
    )
    province_code: str = Field(
        default="520000",
        description="6-digit GB/T 2260 code of the province this installation serves (Guizhou = 520000).",
    )
    duckdb_memory_limit: str = Field(
        default="4GB",
        description="Memory limit for DuckDB batch work; beyond it DuckDB spills to the data directory.",
    )
    duckdb_threads: int = Field(default=2, description="Threads DuckDB may use for batch work.")
    import_batch_rows: int = Field(
        default=200_000,
        description="Rows written to the operational database per batch during imports.",
    )
    actor: str = Field(
        default="cli",
        description="Name recorded in the audit log for command-line actions (the operator's account).",
    )

    session_hours: int = Field(
        default=8, description="How long a web sign-in lasts (hours) before the user must sign in again."
    )
    login_max_failures: int = Field(
        default=5,
        description="Failed sign-ins of one account (or 4x that from one client) within the lockout window that lock it.",
    )
    login_lockout_minutes: int = Field(
        default=15,
        description="The window of failed sign-ins counted, and how long a lockout lasts (minutes).",
    )
    max_upload_mb: int = Field(
        default=200, description="Largest file accepted by web and API uploads (feeds, attachments), in MB."
    )
    web_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        description=(
            "Requests one web worker process works on at once (its thread pool); its database "
            "pool holds twice as many connections, so that none is opened per request."
        ),
    )

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force, defaulting to the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'doudi.sqlite3').resolve()}"

    def ensure_dirs(self) -> None:
        """Create the data directory tree."""
        for sub in ("", "population", "rejects", "exports", "rosters"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
