"""Read an Ansible inventory the way Ansible does (``ansible-inventory --list``), for the doctor, the rank table and
the testinfra suite, and plan it with the preflight's planner (:func:`fleet_plan`): what site.yml builds is read
from the same :class:`~ascend_env.plan.FleetPlan` everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AscendEnvError

if TYPE_CHECKING:
    from .plan import FleetPlan


class InventoryError(AscendEnvError, ValueError):
    """The inventory cannot be read; the message names the file and the fix."""


def ansible_inventory_exe() -> str | None:
    """``ansible-inventory`` on PATH, else beside this Python (a venv that is not activated)."""
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else None


_EXAMPLE = "see inventory/example/hosts.yml: all: {children: {ascend_hosts: {hosts: {npu-a: {ansible_host: ...}}}}}"


def _yaml_ignoring_tags(text: str) -> Any:
    """YAML as Ansible reads it: ``!vault`` and ``!unsafe`` values are strings here (only the shape is checked)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _any(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    _Loader.add_multi_constructor("!", _any)
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def check_inventory_file(path: str | Path) -> None:
    """What ``ansible-inventory`` would read silently as an empty inventory, or fail on with a traceback: a missing
    path, a file that is not UTF-8, an empty or unparseable YAML file, a YAML file whose top level is not a mapping.
    Raises :class:`InventoryError` naming the file and the fix; folders and INI files are left to Ansible."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise InventoryError(f"inventory {path} does not exist; give the path of your inventory file or folder with "
                             f"-i/--inventory (e.g. inventory/hosts.yml, or .lab/inventory/hosts.yml for the lab)")
    if p.is_dir():
        return
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InventoryError(f"inventory {path} cannot be read: {e.strerror or e}; check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InventoryError(f"inventory {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); "
                             "save it as UTF-8 (e.g. iconv -f GBK -t UTF-8)") from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise InventoryError(f"inventory {path} is empty; list your NPU servers in it ({_EXAMPLE})")
    if p.suffix.lower() not in (".yml", ".yaml", ".json"):
        return  # an INI inventory (or a script): Ansible says what is wrong with it
    try:
        doc = _yaml_ignoring_tags(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InventoryError(f"inventory {path} is not valid YAML{at}: {what}; fix the syntax there") from None
    if doc is None:
        raise InventoryError(f"inventory {path} is empty; list your NPU servers in it ({_EXAMPLE})")
    if not isinstance(doc, dict):
        raise InventoryError(f"inventory {path}: the top level is a {type(doc).__name__}, not a mapping of groups; "
                             f"write it as groups with hosts ({_EXAMPLE})")


def _ansible_error(stderr: str) -> str:
    """The lines of ansible-inventory's stderr that say what is wrong (not Python's deprecation warnings)."""
    keep = [ln.strip() for ln in stderr.splitlines()
            if ln.strip() and "Warning:" not in ln and not ln.startswith("  from ") and "caused by" not in ln]
    text = " ".join(keep)
    return text[-400:] or "no message"


def read_inventory(path: str | Path, require_hosts: bool = True) -> dict[str, Any]:
    """``ansible-inventory -i path --list`` as a dict (group_vars, host_vars and vault handled by Ansible).

    A path Ansible cannot parse is an error here (Ansible itself would go on with an empty inventory), and so is an
    inventory without a single host (``require_hosts``): a command that reads no host must not report success."""
    check_inventory_file(path)
    exe = ansible_inventory_exe()
    if exe is None:
        raise InventoryError("reading an inventory needs ansible-inventory (pip install -e '.[ansible]')")
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
           "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True", "PYTHONWARNINGS": "ignore"}
    cp = subprocess.run([exe, "-i", str(path), "--list"], capture_output=True, text=True, check=False, env=env,
                        errors="replace")
    if cp.returncode != 0 or not cp.stdout.strip():
        raise InventoryError(f"inventory {path} cannot be read by Ansible: {_ansible_error(cp.stderr)}; "
                             "fix the file (ansible-inventory -i PATH --list shows what Ansible reads)")
    try:
        data: dict[str, Any] = json.loads(cp.stdout)
    except ValueError as e:
        raise InventoryError(f"inventory {path}: ansible-inventory printed no JSON ({e})") from None
    if require_hosts and not (data.get("_meta") or {}).get("hostvars") and not _any_host(data):
        raise InventoryError(f"inventory {path} has no hosts: nothing to check; list your NPU servers under a group "
                             f"({_EXAMPLE})")
    return data


def _any_host(data: Mapping[str, Any]) -> bool:
    return any(isinstance(g, Mapping) and g.get("hosts") for k, g in data.items() if k != "_meta")


def group_hosts(data: dict[str, Any], group: str) -> list[str]:
    """Hosts of ``group`` including its children, in inventory order."""
    out: list[str] = []
    g = data.get(group, {})
    for h in g.get("hosts", []):
        if h not in out:
            out.append(h)
    for child in g.get("children", []):
        out += [h for h in group_hosts(data, child) if h not in out]
    return out


def hostvars_of(data: Mapping[str, Any], group: str | None = None) -> dict[str, dict[str, Any]]:
    """The variables of every host of ``group`` (default: the NPU hosts, ``ascend_hosts``), in inventory order."""
    from .plan.settings import HOST_GROUP

    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    return {h: dict(hostvars.get(h) or {}) for h in group_hosts(dict(data), group or HOST_GROUP)}


def fleet_plan(data: Mapping[str, Any], limit: str | None = None, where: str = "the inventory",
               lenient: bool = False) -> FleetPlan:
    """The fleet plan of an inventory read with :func:`read_inventory` (``ascend_env.plan``: the same planner the
    preflight runs, each host's ``ascend_matrix_overrides`` honoured); ``limit``: comma-separated NPU hosts;
    ``lenient``: plan every host that can be planned, its preflight problems in ``ignored`` (readers of a fleet that
    need its hosts and environments, such as the doctor and the rank table)."""
    from .matrix import load_matrix
    from .plan import plan
    from .plan.settings import HOST_GROUP

    hosts = hostvars_of(data)
    if not hosts:
        raise InventoryError(f"{where} has no host in the group {HOST_GROUP}: nothing to check; list your NPU servers "
                             f"under it ({_EXAMPLE})")
    if limit is not None:
        want = [n.strip() for n in limit.split(",") if n.strip()]
        unknown = [n for n in want if n not in hosts]
        if unknown or not want:
            raise InventoryError(f"--limit {limit!r}: no NPU host {', '.join(unknown) or '(empty)'} in {where}; "
                                 f"hosts: {', '.join(hosts)}")
        hosts = {n: hosts[n] for n in want}
    matrices: dict[tuple[str, ...], Any] = {}

    def matrix_for(overrides: tuple[str, ...]) -> Any:
        if overrides not in matrices:
            matrices[overrides] = load_matrix(list(overrides))
        return matrices[overrides]

    return plan(hosts, matrix_for, lenient=lenient)
