"""``doudi cases`` commands of the alert loop (inbox, assign, verify, decide, escalate, chain, stats)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the alert-loop commands to the ``cases`` group."""
