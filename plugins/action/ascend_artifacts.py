# Copyright: ascend-env developers
# Apache License 2.0 (see LICENSE)
"""What each host of the run lacks of the controller's artefact store (step need), and how the files travel (step
route): once per run on the controller, for every host of the play (run_once), from the plan's slice of each host
(``ascend_plan``), the host's one-call reading (``ascend_host_state.store``) and the store's manifest (read once).
The logic is ``ascend_env.artifacts`` (pure, unit-tested); this plugin gathers its inputs and says the result."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

display = Display()

_CHECK_OUTPUT = "ascend_artifacts_unrecorded_check"
#: what this role reads of a host's plan (HostPlan)
_PLAN_FIELDS = ("runs", "frameworks", "conda", "containers", "image_tar", "store_dir", "shared_store")


def _plain(value: Any) -> Any:
    """Ansible's (tagged, lazy) containers as plain JSON data."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("step", "hosts", "store", "wheels", "fanout", "need", "known_hosts", "key"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        t0 = time.monotonic()
        result = super().run(tmp, task_vars)
        problem = package_problem()
        if problem:
            raise AnsibleActionFail(problem)
        args = self._task.args
        hostvars = (task_vars or {}).get("hostvars") or {}
        hosts = [str(h) for h in args.get("hosts") or []]
        step = str(args.get("step") or "need")
        if step == "need":
            result.update(self._need(args, hostvars, hosts))
        elif step == "route":
            result.update(self._route(args, hostvars, hosts))
        else:
            raise AnsibleActionFail(f"step {step!r}: must be need or route")
        result["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
        return result

    # -- step need ---------------------------------------------------------------------------------------------------
    def _need(self, args: Mapping[str, Any], hostvars: Any, hosts: list[str]) -> dict[str, Any]:
        from ascend_env.artifacts import host_need, manifest_files, route, wanted_files
        from ascend_env.preflight import read_manifest

        store = str(args.get("store") or "")
        try:
            doc = read_manifest(Path(store))
        except ValueError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if doc is None:
            raise AnsibleActionFail(f"{store}/manifest.json does not exist: the artefact store has no manifest. Fix: "
                                    "set ascend_offline_store to the store (python -m ascend_env lab store makes the "
                                    "lab's), or refresh its manifest.json")
        manifest = manifest_files(doc)
        out: dict[str, Any] = {}
        files: dict[str, dict[str, Any]] = {}
        shared: dict[str, str] = {}
        for h in hosts:
            hv = hostvars[h]
            full = hv.get("ascend_plan") or {}
            plan = _plain({k: full.get(k) for k in _PLAN_FIELDS})
            reading = _plain((hv.get("ascend_host_state") or {}).get("store"))
            if not full or reading is None:
                what = "plan slice (ascend_plan)" if not full else "reading of its store copy (ascend_host_state.store)"
                raise AnsibleActionFail(f"{h}: no {what}; the role runs in the play of playbooks/hosts.yml, after the "
                                        "preflight planned the fleet and the play read the host. Fix: run site.yml "
                                        "(or ascend.env.site), not the role alone")
            wheels = hv.get("ascend_artifacts_wheels", args.get("wheels", True))
            wanted, unlisted = wanted_files(plan, manifest, wheels=str(wheels).lower() not in ("false", "no", "0"))
            need = host_need(wanted, reading, shared=bool(plan.get("shared_store")), unlisted=unlisted)
            if need.shared:
                shared[h] = str(plan.get("store_dir"))
            out[h] = need.to_dict()
            for f in need.send:
                files[f.path] = {"size": f.size, "sha256": f.sha256}
        todo = any(v["todo"] for v in out.values())
        res: dict[str, Any] = {"changed": False, "todo": todo, "hosts": out, "files": files}
        if not todo:
            # nothing moves: this is the run's word on how files travel (the change tasks are skipped)
            r = route({h: {} for h in hosts if h not in shared}, args.get("fanout", "auto"), shared=shared)
            display.display(r.line)
            res.update(mode=r.mode, why=r.why, msg=r.line)
        return res

    # -- step route --------------------------------------------------------------------------------------------------
    def _route(self, args: Mapping[str, Any], hostvars: Any, hosts: list[str]) -> dict[str, Any]:
        from ascend_env.artifacts import checked_ok, route
        from ascend_env.fanout_rsync import Endpoint, ensure_key, known_hosts_file, known_lines

        need = _plain(args.get("need") or {})
        files: dict[str, dict[str, Any]] = need.get("files") or {}
        sends: dict[str, dict[str, int]] = {}
        shared: dict[str, str] = {}
        tools: dict[str, list[str]] = {}
        plans: dict[str, dict[str, Any]] = {}
        out: dict[str, Any] = {}
        for h in hosts:
            entry = (need.get("hosts") or {}).get(h) or {}
            if not entry.get("todo"):
                continue
            hv = hostvars[h]
            full = hv.get("ascend_plan") or {}
            plans[h] = _plain({"connection": full.get("connection"), "store_dir": full.get("store_dir")})
            check = _plain(hv.get(_CHECK_OUTPUT) or {})
            ok = checked_ok(str(check.get("stdout") or "")) if check.get("stdout") is not None else set()
            send = [p for p in entry.get("send") or [] if p not in ok]
            if entry.get("shared"):
                shared[h] = str(plans[h].get("store_dir"))
            else:
                sends[h] = {p: int(files[p]["size"]) for p in send}
                tools[h] = sorted(_plain(((hv.get("ascend_host_state") or {}).get("store") or {}).get("tools") or {}))
            out[h] = {"send": send, "sums": "".join(f"{files[p]['sha256']}  {p}\n" for p in send)}
        r = route(sends, args.get("fanout", "auto"), shared=shared,
                  controller_tools=[t for t in ("rsync", "ssh", "ssh-keygen") if shutil.which(t)], host_tools=tools)
        display.display(r.line)
        if r.mode == "impossible":
            raise AnsibleActionFail(f"ascend_artifacts_fanout is true, but {r.why}")
        res: dict[str, Any] = {"changed": False, "mode": r.mode, "why": r.why, "msg": r.line, "hosts": out,
                               "files": {p: files[p] for e in out.values() for p in e["send"]}}
        if self._task.check_mode:
            for h, e in out.items():
                if e["send"]:
                    display.display(f"artefacts: {h} would receive {len(e['send'])} file(s): {', '.join(e['send'])}")
            res["changed"] = any(e["send"] for e in out.values())
            return res
        if r.mode == "fanout":
            public, made = ensure_key(str(args.get("key")))
            known: list[str] = []
            unknown: list[str] = []
            for h in sends:
                ep = Endpoint.from_plan(h, plans[h])
                kh = str(args.get("known_hosts") or "") or known_hosts_file(ep.ssh_common_args, "~/.ssh/known_hosts")
                lines = known_lines(ep, kh)
                if not lines:
                    unknown.append(f"{h}: no host key for {ep.address}" + (f" port {ep.port}" if ep.port != 22 else "")
                                   + f" in {kh}; peers check it before pulling. Fix: ssh to it once from the "
                                   "controller (or ssh-keyscan it into that file), or set ascend_artifacts_fanout: "
                                   "false.")
                known += lines
            if unknown:
                raise AnsibleActionFail("\n".join(unknown))
            res.update(changed=made, public_key=public, known_hosts="\n".join(dict.fromkeys(known)) + "\n")
        return res
