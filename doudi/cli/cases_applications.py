"""``doudi cases application …``: applications from intake to decision."""

from __future__ import annotations

import typer

app = typer.Typer(help="救助申请：登记、核对、审核、公示、审核确认。", no_args_is_help=True)
