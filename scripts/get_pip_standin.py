"""Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates each sanity test's virtual environment without pip and runs a cached get-pip script from
https://ci-files.testing.ansible.com to put pip in it (ansible_test/_util/target/setup/requirements.py:bootstrap,
which names ~/.ansible/test/cache/get_pip_<version>.py as the place to put a copy).  That host is not reachable
where this project is built, so scripts/sanity.sh puts this file there instead.  It does what get-pip does with
the same arguments, from what every Python and the package index provide: ``ensurepip`` (the pip wheel bundled
with Python) gives the empty venv a pip, then that pip installs the exact packages ansible-test asked for
(``pip==24.2``) from the configured index.  get-pip's own flags (--no-setuptools, --no-wheel) are dropped: a
fresh venv made by ensurepip has neither.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
