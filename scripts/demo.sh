#!/usr/bin/env bash
# The README's first command: set everything up and run the main job on the embedded default
# (SQLite + DuckDB under ./data): build a synthetic Guizhou, load its registry, assess it, load a
# month of department feeds, run the monthly monitoring, do the case work of a county, print the
# summary and the demo accounts, then serve the web application on http://127.0.0.1:8000/.
#
#   ./scripts/demo.sh                      200,000 persons (about a minute with the install)
#   ./scripts/demo.sh --persons 5000000    the full-size province
#   DOUDI_NO_SERVE=1 ./scripts/demo.sh     stop after the summary (no web server)
#   DOUDI_PORT=8080 ./scripts/demo.sh      serve on another port
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DOUDI_TEST_ONLY=venv ./scripts/test.sh >/dev/null
.venv/bin/doudi db upgrade
.venv/bin/doudi demo "$@"
if [[ "${DOUDI_NO_SERVE:-}" == "1" ]]; then
  exit 0
fi
exec .venv/bin/doudi serve --host 127.0.0.1 --port "${DOUDI_PORT:-8000}"
