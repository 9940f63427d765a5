"""Create a conda environment with py-rattler (conda's Rust library, PyPI ``py-rattler``), offline from a channel.

The ``rattler`` installer of the ascend_python role (``ascend_conda_installer: rattler``): no conda distribution is
needed, only the py-rattler wheel from the artefact store in a small tool venv.  It solves the specs against the
site's channels (a ``file://`` channel in the store, or the site's mirror URLs; the channels are indexed where they
are made, nothing is indexed here), installs the packages into ``<prefix>/envs/<name>`` through rattler's package
cache ``<prefix>/pkgs`` and leaves the prefix as conda leaves one: ``conda-meta/<name>-<version>-<build>.json`` for
each package (written by rattler) and ``conda-meta/history`` with one revision in conda's format (``==> date <==``,
``# cmd:``, ``+channel/subdir::name-version-build``, ``# update specs: [...]``), which ``conda list --revisions``
reads; the environment is also listed in ``~/.conda/environments.txt`` as ``conda create`` lists it.

    python ascend_conda_rattler.py create --prefix /opt/conda/envs/NAME --pkgs-dir /opt/conda/pkgs \\
        --channel file:///opt/ascend-store/conda/channel --spec 'python 3.9.*' --spec pip

Exit codes: 0 created (one JSON line: prefix, python, packages), 2 nothing to do or usable (the prefix exists, a
channel cannot be read, the specs cannot be solved: the message names the channels and the specs; nothing is
created), 1 the install failed (the half-made prefix is removed).  py-rattler needs Python >= 3.10.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import sys


def _fail(code: int, message: str) -> int:
    sys.stderr.write(message.rstrip() + "\n")
    return code


def _history(prefix: str, records: list, specs: list, cmd: str, version: str) -> None:
    """Append one revision in conda's history format (conda/history.py: write_head, write_changes, write_specs)."""
    lines = [f"==> {datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')} <==",
             f"# cmd: {cmd}",
             f"# rattler version: py-rattler {version}"]
    for r in sorted(records, key=lambda r: r.name.normalized):
        channel_subdir = str(r.url).rsplit("/", 1)[0]
        lines.append(f"+{channel_subdir}::{r.name.normalized}-{r.version}-{r.build}")
    lines.append(f"# update specs: {[str(s) for s in specs]!r}")
    meta = os.path.join(prefix, "conda-meta")
    os.makedirs(meta, exist_ok=True)
    with open(os.path.join(meta, "history"), "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _register(prefix: str) -> None:
    """~/.conda/environments.txt, conda's list of environments outside its envs_dirs (conda create writes it)."""
    path = os.path.join(os.path.expanduser("~"), ".conda", "environments.txt")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        have = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                have = f.read().split("\n")
        if prefix not in have:
            with open(path, "a", encoding="utf-8") as f:
                f.write(prefix + "\n")
    except OSError:
        pass  # only a convenience for a conda installed later


def _python_version(records: list) -> str | None:
    for r in records:
        if r.name.normalized == "python":
            return str(r.version)
    return None


async def _solve(rattler, channels: list, specs: list, platform: str) -> list:
    return await rattler.solve(sources=[rattler.Channel(c) for c in channels], specs=specs,
                               platforms=[platform, "noarch"], virtual_packages=rattler.VirtualPackage.detect())


async def _install(rattler, records: list, prefix: str, pkgs_dir: str, specs: list) -> None:
    requested = [rattler.MatchSpec(s) for s in specs]
    try:
        await rattler.install(records, target_prefix=prefix, cache_dir=pkgs_dir, requested_specs=requested,
                              show_progress=False)
    except TypeError as exc:
        # py-rattler 0.28.0 hands requested_specs unwrapped to its Rust side ("'MatchSpec' object is not an
        # instance of 'PyMatchSpec'"); give it the inner objects
        if "MatchSpec" not in str(exc):
            raise
        await rattler.install(records, target_prefix=prefix, cache_dir=pkgs_dir,
                              requested_specs=[m._match_spec for m in requested], show_progress=False)


def create(args: argparse.Namespace) -> int:
    try:
        import rattler
    except ImportError as exc:
        return _fail(2, f"py-rattler is not importable in {sys.prefix} ({exc}); install the py-rattler wheel from "
                        "the store into this venv")
    prefix = os.path.abspath(args.prefix)  # rattler writes the prefix verbatim into shebangs: never relative
    if os.path.lexists(prefix):
        return _fail(2, f"{prefix} exists; remove it first (the role recreates an environment, it never changes "
                        "one in place)")
    channels = [c.rstrip("/") for c in args.channel]
    try:
        records = asyncio.run(_solve(rattler, channels, args.spec, args.platform))
    except Exception as exc:  # rattler raises its own exception types per cause; the message is what matters
        text = str(exc).strip() or type(exc).__name__
        return _fail(2, f"cannot make {os.path.basename(prefix)} from channel(s) {', '.join(channels)}: the specs "
                        f"{', '.join(args.spec)} could not be solved: {text}")
    try:
        asyncio.run(_install(rattler, records, prefix, args.pkgs_dir, args.spec))
        _history(prefix, records, args.spec, " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
                 getattr(rattler, "__version__", "?"))
    except BaseException as exc:
        shutil.rmtree(prefix, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _fail(1, f"installing into {prefix} failed (removed again): {str(exc).strip() or repr(exc)}")
    _register(prefix)
    print(json.dumps({"prefix": prefix, "python": _python_version(records),
                      "packages": sorted(f"{r.name.normalized}-{r.version}-{r.build}" for r in records)}))
    return 0


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="solve and install a new environment")
    c.add_argument("--prefix", required=True, help="the environment, e.g. /opt/conda/envs/NAME (must not exist)")
    c.add_argument("--pkgs-dir", required=True, help="rattler's package cache (conda's <prefix>/pkgs)")
    c.add_argument("--channel", action="append", required=True, help="channel URL (file:// or https://); repeat")
    c.add_argument("--spec", action="append", required=True, help="MatchSpec, e.g. 'python 3.9.*'; repeat")
    c.add_argument("--platform", default="linux-64", help="conda subdir: linux-64 or linux-aarch64")
    return create(ap.parse_args(argv))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # py-rattler's runtime threads can crash the interpreter's shutdown after a failed request (SIGSEGV/SIGABRT in
    # finalization, observed with 0.28.0): the outcome is decided and printed, so leave without finalizing
    os._exit(code)
