#!/usr/bin/env bash
# Install what ascend-env needs on a fresh Debian/Ubuntu machine (run as root), into ./.venv.
# Idempotent: a second run only checks.  Used by scripts/main.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${ASCEND_ENV_VENV:-$ROOT/.venv}

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v sh >/dev/null || need_apt+=(dash)
if ! command -v python3 >/dev/null; then need_apt+=(python3 python3-venv python3-pip); fi
if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv python3-pip)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"bootstrap: Python >= 3.11 is needed on the controller, this is {sys.version.split()[0]}")
PY

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.ascend-env-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: pip install -e '.[all]' (pip honours your PIP_INDEX_URL / PIP_CERT / proxy settings)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[all]'
  touch "$stamp"
fi
