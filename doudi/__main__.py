"""python -m doudi"""

from doudi.cli.main import app

app()
