#!/usr/bin/env bash
# The README's first command: set everything up and run the main job on the embedded default
# (SQLite + DuckDB under ./data): build a synthetic Guizhou, load its registry, print a summary.
#
#   ./scripts/demo.sh                      200,000 persons (about half a minute with the install)
#   ./scripts/demo.sh --persons 5000000    the full-size province
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DOUDI_TEST_ONLY=venv ./scripts/test.sh >/dev/null
.venv/bin/doudi db upgrade
exec .venv/bin/doudi demo "$@"
