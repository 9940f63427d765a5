#!/usr/bin/env bash
# ansible-test sanity on the collection as built (the tarball's contents, not the checkout): build it, install it
# into a throw-away ansible_collections tree, run every sanity test ansible-test has for this Python.
# ansible-test's per-test venvs are bootstrapped with a pip script from ci-files.testing.ansible.com, which is not
# reachable here: scripts/get_pip_standin.py takes its place in ansible-test's cache (see that file).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash scripts/build_dist.sh "$work/dist" >/dev/null
(cd / && "$repo/.venv/bin/ansible-galaxy" collection install -p "$work/cols" "$work"/dist/ascend-env-*.tar.gz) >/dev/null
pip_version=$("$py" -c 'import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"default_packages = dict\(\s*pip=.(\d[\d.]*)", src).group(1))')
mkdir -p "$HOME/.ansible/test/cache"
cp scripts/get_pip_standin.py "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
cd "$work/cols/ansible_collections/ascend/env"
pyver=$("$repo/$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PATH="$repo/.venv/bin:$PATH" ansible-test sanity --python "$pyver" --requirements "$@"
