#!/usr/bin/env bash
# The main job, end to end against the simulated Ascend lab (the embedded default):
#   set up -> `python -m ascend_env lab up` (2 simulated NPU servers) -> ansible-playbook site.yml on them
#   -> the testinfra suite verifies what it built.
# Pass your own inventory to run against real servers instead:  bash scripts/main.sh -i inventory/mysite
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
for a in "$@"; do
  case "$a" in -i|--inventory|-i*|--inventory=*) exec ansible-playbook site.yml "$@";; esac
done
python -m ascend_env lab up
python -m ascend_env lab status
ansible-playbook site.yml -i .lab/inventory/hosts.yml "$@"
exec python -m pytest tests/infra --ansible-inventory=.lab/inventory/hosts.yml -q -p no:cacheprovider
