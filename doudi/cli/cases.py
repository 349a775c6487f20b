"""``doudi cases``: case work from the command line (the web pages come later).

Each command acts as a staff account (``--user``, default the DOUDI_ACTOR setting) with that
account's role and division scope, exactly as the services apply them.
"""

from __future__ import annotations

import typer

from doudi.cli import cases_alerts, cases_applications, cases_payments

app = typer.Typer(
    help="个案办理：预警处置、救助申请、救助对象与发放名册、定期复核、动态清零统计。", no_args_is_help=True
)
cases_alerts.register(app)
app.add_typer(cases_applications.app, name="application")
cases_payments.register(app)
