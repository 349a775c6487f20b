"""``doudi cases recipients|roll|reviews …``: recipients, monthly payment rolls, periodic reviews."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the recipients, payment-roll and review groups to the ``cases`` group."""
