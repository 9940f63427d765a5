#!/usr/bin/env bash
# The test command: set up, lint (ruff, ansible-lint production profile, syntax check), run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== matrix data"; python -m ascend_env matrix check
echo "== ansible syntax"; ansible-playbook --syntax-check site.yml
echo "== ansible-lint (production profile)"; ansible-lint --offline -q site.yml playbooks/ inventory/
echo "== pytest"; python -m pytest "$@"
