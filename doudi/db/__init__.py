"""The operational database: SQLAlchemy models, engine and Alembic migrations."""
