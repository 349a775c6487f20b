#!/usr/bin/env bash
# The project's test command: installs and starts everything the tests need, then runs
# ruff, mypy and pytest, stopping at the first failure.
#
#   ./scripts/test.sh                  everything (this is what CI runs, via .ci/run)
#   ./scripts/test.sh -k ids -x        extra arguments go to pytest
#   DOUDI_TEST_ONLY=setup ./scripts/test.sh    system packages and .venv only (make setup)
#   DOUDI_TEST_ONLY=lint  ./scripts/test.sh    .venv, ruff and mypy only (make lint)
#   DOUDI_TEST_ONLY=venv  ./scripts/test.sh    .venv only (used by scripts/demo.sh)
#
# Phases and what makes them idempotent:
#   apt       installs the Debian packages below only when one is missing
#             (PostgreSQL for the tests, Chromium and a CJK font for the browser suites).
#   venv      creates .venv if missing and runs `pip install -e ".[EXTRAS]"` only when
#             pyproject.toml or the extras changed since the last install (stamp file in .venv).
#   postgres  a private throw-away cluster in a temp dir on a free loopback port, stopped
#             and deleted on exit whatever happens. Its admin URL is exported as
#             DOUDI_TEST_POSTGRES_URL; tests create and drop their own databases from it.
#             If DOUDI_TEST_POSTGRES_URL is already set, that server is used instead.
#   ruff, mypy, pytest.
set -euo pipefail

# Extras of the project installed into .venv. Later suites add theirs here (e.g. "test,spark").
EXTRAS="test,spark"
APT_PACKAGES=(postgresql fonts-wqy-microhei chromium chromium-l10n)
PYTHON="${PYTHON:-python3}"
PG_FIRST_PORT=55432

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# --- timing ------------------------------------------------------------------------------
T0=$EPOCHREALTIME
TIMINGS=()
CURRENT_PHASE=""
PHASE_START=""

say() { printf '\n==> %s\n' "$*"; }

begin() {
    CURRENT_PHASE="$1"
    PHASE_START=$EPOCHREALTIME
    say "$1"
}

end() {
    TIMINGS+=("$(printf '%-9s %7.1f s' "$CURRENT_PHASE" "$(elapsed "$PHASE_START")")")
    CURRENT_PHASE=""
}

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# --- cleanup (runs on every exit, including failures and Ctrl-C) ---------------------------
PG_TMP=""
PG_BIN=""
PG_STARTED=0

as_pg_owner() {
    # PostgreSQL refuses to run as root: when we are root, run its tools as the postgres user
    # (from /, since the postgres user may not be allowed into the current directory).
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$PG_STARTED" -eq 1 ]; then
        as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_TMP" ]; then rm -rf "$PG_TMP"; fi
    if [ -n "$CURRENT_PHASE" ]; then
        TIMINGS+=("$(printf '%-9s %7.1f s  (failed, exit %d)' "$CURRENT_PHASE" "$(elapsed "$PHASE_START")" "$rc")")
    fi
    printf '\n==> timings\n'
    printf '  %s\n' "${TIMINGS[@]}" "$(printf '%-9s %7.1f s' total "$(elapsed "$T0")")"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- phases ------------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

phase_apt() {
    begin apt
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "already installed: ${APT_PACKAGES[*]}"
    else
        local sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null || {
                echo "error: not root and no sudo; install these packages first: ${missing[*]}" >&2
                exit 1
            }
            sudo=(sudo)
        fi
        echo "installing: ${missing[*]}"
        local log
        log="$(mktemp)"
        # Quiet unless it fails; the lock timeout covers a concurrent apt (e.g. unattended upgrades).
        if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 update &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=300 \
                install "${missing[@]}"; } >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "error: apt-get failed (output above)" >&2
            exit 1
        fi
        rm -f "$log"
    fi
    end
}

phase_venv() {
    begin venv
    if ! "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        echo "creating .venv with $($PYTHON --version 2>&1)"
        rm -rf "$VENV"
        if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
            # Debian's own Python needs python3-venv for `python3 -m venv`.
            echo "python3 -m venv failed: installing python3-venv"
            rm -rf "$VENV"
            APT_PACKAGES=(python3-venv)
            phase_apt
            CURRENT_PHASE=venv
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.doudi-installed" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=$EXTRAS"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        echo "up to date (.[${EXTRAS}])"
    else
        echo "pip install -e .[${EXTRAS}]"
        "$VENV/bin/python" -m pip install -q -e ".[${EXTRAS}]"
        echo "$want" >"$stamp"
    fi
    end
}

free_port() {
    "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
while True:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            port += 1
            continue
    print(port)
    break
EOF
}

phase_postgres() {
    begin postgres
    if [ -n "${DOUDI_TEST_POSTGRES_URL:-}" ]; then
        echo "using the server in DOUDI_TEST_POSTGRES_URL (already set)"
        end
        return
    fi
    PG_BIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        echo "error: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2
        exit 1
    fi
    PG_TMP="$(mktemp -d /tmp/doudi-pg.XXXXXX)"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_TMP"; fi
    local port
    port="$(free_port "$PG_FIRST_PORT")"
    as_pg_owner "$PG_BIN/initdb" -D "$PG_TMP/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
        >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; exit 1; }
    # Durability is pointless for a throw-away cluster: fsync and friends off.
    PG_STARTED=1
    as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -s \
        -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start || { cat "$PG_TMP/server.log" >&2; exit 1; }
    export DOUDI_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$port (data in $PG_TMP)"
    end
}

phase_ruff() {
    begin ruff
    local paths=() p
    # bench/ may be empty, and git does not keep empty directories.
    for p in doudi tests bench; do [ -d "$p" ] && paths+=("$p"); done
    "$VENV/bin/ruff" check "${paths[@]}"
    end
}

phase_mypy() {
    begin mypy
    "$VENV/bin/mypy"
    end
}

phase_pytest() {
    begin pytest
    "$VENV/bin/pytest" "$@"
    end
}

case "${DOUDI_TEST_ONLY:-}" in
    "") phase_apt; phase_venv; phase_postgres; phase_ruff; phase_mypy; phase_pytest "$@" ;;
    setup) phase_apt; phase_venv ;;
    lint) phase_venv; phase_ruff; phase_mypy ;;
    venv) phase_venv ;;
    *) echo "error: DOUDI_TEST_ONLY must be empty, 'setup', 'lint' or 'venv'" >&2; exit 2 ;;
esac
