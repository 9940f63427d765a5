#!/usr/bin/env bash
# Build the two release artefacts into dist/ (or $1): the Python wheel + sdist of ascend_env (python -m build) and the
# Ansible collection ascend.env (ansible-galaxy collection build).  Both carry one version: the build stops when
# ascend_env/__init__.py and galaxy.yml disagree.  Air-gapped sites carry dist/ across the gap (README: Install).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
py=${PYTHON:-python3}
[ -x .venv/bin/python ] && py=.venv/bin/python
wheel_version=$("$py" -c 'import ascend_env; print(ascend_env.__version__)')
collection_version=$(sed -n 's/^version: *//p' galaxy.yml | tr -d "\"'")
if [ "$wheel_version" != "$collection_version" ]; then
  echo "version mismatch: ascend_env/__init__.py says $wheel_version, galaxy.yml says $collection_version;" \
       "set both to the release's version" >&2
  exit 2
fi
mkdir -p "$out"
"$py" -m build --outdir "$out" . >/dev/null
# run ansible-galaxy from outside the checkout: its ansible.cfg makes the checkout itself an installed ascend.env
galaxy=$(dirname "$("$py" -c 'import sys; print(sys.executable)')")/ansible-galaxy
(cd / && "$galaxy" collection build --force --output-path "$(cd "$OLDPWD" && cd "$out" && pwd)" "$OLDPWD") >/dev/null
ls -1 "$out"/ascend_env-"$wheel_version"* "$out"/ascend-env-"$collection_version".tar.gz
