#!/usr/bin/env bash
# The main job: set up, then run site.yml (today: resolve every host's and container's stack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
exec ansible-playbook site.yml "$@"
