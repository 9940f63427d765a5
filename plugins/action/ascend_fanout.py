# Copyright: ascend-env developers
# Apache License 2.0 (see LICENSE)
"""The artefact fan-out, once per run on the controller (run_once): the wave loop of ``ascend_env.fanout_exec`` over
rsync/SSH (``ascend_env.fanout_rsync``), each host reached as the plan's ``Connection`` says.  Writes the report
(waves, transfers, bytes from the controller and from peers) and fails when a live host still lacks files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

display = Display()


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = False
    _VALID_ARGS = frozenset(("route", "hosts", "store", "bwlimit", "report", "attempts", "backoff", "workers"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        problem = package_problem()
        if problem:
            raise AnsibleActionFail(problem)
        from ascend_env.fanout import State
        from ascend_env.fanout_exec import run_fanout
        from ascend_env.fanout_rsync import Endpoint, RsyncTransport

        args = self._task.args
        hostvars = (task_vars or {}).get("hostvars") or {}
        route = _plain(args.get("route") or {})
        files: dict[str, dict[str, Any]] = route.get("files") or {}
        # the hosts still in the play (one that failed since the route was decided is not waited for)
        hosts = [str(h) for h in args.get("hosts") or [] if (route.get("hosts") or {}).get(str(h), {}).get("send")]
        need = {h: set(route["hosts"][h]["send"]) for h in hosts}
        endpoints = {}
        for h in hosts:
            plan = hostvars[h].get("ascend_plan") or {}
            endpoints[h] = Endpoint.from_plan(h, _plain({"connection": plan.get("connection"),
                                                         "store_dir": plan.get("store_dir")}))
        transport = RsyncTransport(endpoints, str(args.get("store")), {p: str(f["sha256"]) for p, f in files.items()},
                                   bwlimit=int(args.get("bwlimit") or 0))
        state = State(sizes={p: int(f["size"]) for p, f in files.items()}, need=need, alive=set(hosts))
        report = run_fanout(state, transport, attempts=int(args.get("attempts") or 3),
                            backoff_s=float(args.get("backoff") if args.get("backoff") is not None else 1.0),
                            workers=int(args.get("workers") or 128), say=display.display, warn=display.warning)
        path = Path(str(args.get("report"))).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=4) + "\n", encoding="utf-8")
        bundle = sum(state.sizes.values())
        held = {h for h in report["alive"] if not (set(report["need"].get(h, [])) - set(report["has"].get(h, [])))}
        ctl = report["bytes"]["controller"]
        summary = (f"artefacts: fan-out {'done' if report['done'] else 'NOT done'} in {len(report['log'])} wave(s): "
                   f"the controller sent {ctl:,} bytes ({ctl / bundle if bundle else 0:.3f} x the {bundle:,} bytes of "
                   f"distinct files), peers {report['bytes']['peers']:,} bytes"
                   + (f"; left the run: {', '.join(report['lost'])}" if report["lost"] else "")
                   + f"; report {path}")
        display.display(summary)
        retries = sum(len(w.get("retries") or []) for w in report["log"])
        result.update(changed=bool(report["log"]), done=report["done"], waves=len(report["log"]),
                      bytes=report["bytes"], lost=report["lost"], complete=sorted(held), retries=retries,
                      report=str(path), msg=summary)
        if not report["done"]:
            lacking = sorted(h for h in report["alive"] if h not in held)
            result.update(failed=True, msg=f"the fan-out did not finish: {lacking} (see {path}). Fix: re-run, or set "
                                           "ascend_artifacts_fanout: false to copy from the controller.")
        return result
