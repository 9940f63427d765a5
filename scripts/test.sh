#!/usr/bin/env bash
# The test command: set up, lint (ruff, mypy, ansible-lint production profile, syntax check, changelog fragments,
# ansible-test sanity on the built collection), run the tests.
# As root it also installs the lab's Debian packages (docker.io, makeself, debootstrap, openssh, gcc) so the
# lab suite (tests/lab: real dockerd + sshd) runs; on CI (CI=true) a skipped lab suite is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ "$(id -u)" = 0 ]; then echo "== lab deps"; python -m ascend_env lab deps; fi
if [ "${CI:-}" = true ]; then export ASCEND_ENV_REQUIRE_LAB=1; fi
echo "== ruff"; ruff check .
echo "== mypy (strict on the modules pyproject.toml's [tool.mypy] lists)"; mypy
echo "== matrix data"; python -m ascend_env matrix check
echo "== matrix audit (every row against every version read of its page)"; python -m ascend_env matrix audit --strict >/tmp/ascend-env-audit.log \
  || { grep -E "✗|!" /tmp/ascend-env-audit.log | head -40; exit 1; }; tail -3 /tmp/ascend-env-audit.log
echo "== ansible syntax"; ansible-playbook --syntax-check site.yml
echo "== ansible-lint (production profile): the collection, the checkout's site.yml and the example inventory"
ansible-lint --offline -q
echo "== changelog fragments"; antsibull-changelog lint
echo "== ansible-test sanity on the built collection"; bash scripts/sanity.sh >/tmp/ascend-env-sanity.log 2>&1 \
  || { tail -60 /tmp/ascend-env-sanity.log; exit 1; }; grep -c '^Running sanity test' /tmp/ascend-env-sanity.log
echo "== pytest"; python -m pytest "$@"
