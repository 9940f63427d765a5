"""The doctor's check of CANN's own Python dependencies: the install guide's packages of the installed CANN, in the
environment's Python, within their limits -- and the pip constraints that keep them there.

Registers itself in the doctor's registry when imported (``ascend_env.cli.doctor`` imports it with the checks).
Pure: facts
(the probe's ``python`` section: packages and the pip constraints the environment's pip honours) in, rows out.
"""

from __future__ import annotations

import shlex
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..pydeps import python_deps, unmet
from .checks import Check, Context, check, toolkit_version
from .status import FAIL, OK, SKIP, WARN

GROUP = "python"


def _normal(line: str) -> tuple[str, str] | None:
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    return canonicalize_name(req.name), str(req.specifier)


@check("python.cann_deps", GROUP, "CANN's own Python dependencies (its install guide's packages and limits) in the "
                                  "environment, and pip's constraints that keep them")
def cann_deps(f: dict[str, Any], ctx: Context) -> list[Check]:
    cann = toolkit_version(f)
    if cann is None:
        return []   # no CANN here: nothing of CANN's to require
    py = f.get("python") or {}
    if not py.get("python"):
        return [Check("python.cann_deps", GROUP, SKIP, f"could not check: {py.get('error') or 'python not probed'}")]
    deps = python_deps(ctx.matrix, cann, py["python"])
    if deps is None:
        return [Check("python.cann_deps", GROUP, SKIP,
                      f"could not check: the matrix has no sourced row for CANN {cann}'s Python dependencies "
                      "(data/cann_pydeps.yaml: its install guide's list)")]
    packages = py.get("packages") or {}
    exe = py.get("executable") or "python3"
    out: list[Check] = []
    missing = unmet(deps.requirements, packages)
    have = {canonicalize_name(k): v for k, v in packages.items()}
    if missing:
        shown = ", ".join(f"{r} (found {got})" if got else f"{r} (missing)" for r, got in missing)
        out.append(Check("python.cann_deps", GROUP, FAIL,
                         f"CANN {cann} needs {shown} in Python {py['python']}",
                         f"CANN's install guide lists these for its Python parts: {'; '.join(deps.sources)}",
                         f"{shlex.quote(exe)} -m pip install {' '.join(shlex.quote(r) for r, _ in missing)}"))
    else:
        shown = ", ".join(f"{r.split(';')[0]} ({have.get(canonicalize_name(Requirement(r).name), '?')})"
                          for r in deps.requirements)
        out.append(Check("python.cann_deps", GROUP, OK, f"CANN {cann}'s Python dependencies: {shown}"))
    if not deps.constraints:
        return out
    if "pip_constraints" not in py:
        return [*out, Check("python.pip_constraints", GROUP, SKIP,
                            "could not check: this probe does not read pip's constraint settings")]
    wanted = {n for n in (_normal(c) for c in deps.constraints) if n}
    held: set[tuple[str, str]] = set()
    for entry in py["pip_constraints"]:
        held |= {n for n in (_normal(line) for line in entry.get("lines") or []) if n}
    lost = sorted(c for c in deps.constraints if _normal(c) not in held)
    files = ", ".join(f"{e['file']} (from {e['from']})" for e in py["pip_constraints"]) or "none"
    if lost:
        target = "/etc/ascend-env-constraints.txt"
        out.append(Check("python.pip_constraints", GROUP, WARN,
                         f"pip does not hold CANN {cann}'s limits {', '.join(lost)}: a later pip install can replace "
                         f"them (constraint files pip reads: {files})",
                         "",
                         f"printf '%s\\n' {' '.join(shlex.quote(c) for c in deps.constraints)} > {target} && "
                         f"{shlex.quote(exe)} -m pip config --global set global.constraint {target} "
                         "(ansible-playbook site.yml --tags python writes both)"))
    elif wanted:
        out.append(Check("python.pip_constraints", GROUP, OK,
                         f"pip holds CANN {cann}'s limits {', '.join(deps.constraints)} ({files})"))
    return out
