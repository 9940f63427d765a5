"""A cross-host collective smoke: ``torch.distributed`` all_reduce between the servers of a rank table.

On NPU hosts the launcher starts one process per device of this server with the ``hccl`` backend (rank = the
table's rank_id, device = its device_id: torch_npu requires a torch rank to equal its rank_id); without NPUs (the
lab) one process per server with ``gloo`` on the CPU (rank = the server's index in server_list, bound to its
server_id).  Every rank adds ``rank + 1``; the sum must be ``world * (world + 1) / 2`` everywhere.  The master is
the first server of the table.  Standard library + torch; the plan is pure.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import AscendEnvError

DEFAULT_PORT = 29500


class CollectiveError(AscendEnvError, ValueError):
    """The rank table and this server do not fit together; the message says how."""


@dataclass(frozen=True)
class RankPlan:
    rank: int
    device: int | None      # NPU device id (hccl), None on the CPU (gloo)


@dataclass(frozen=True)
class Plan:
    backend: str
    world_size: int
    master_addr: str
    master_port: int
    server_id: str
    ranks: tuple[RankPlan, ...]


def plan(table: dict[str, Any], server_id: str, backend: str = "gloo", port: int = DEFAULT_PORT) -> Plan:
    """Which ranks this server runs, from the rank table (validated by ascend_env.ranktable.validate first)."""
    servers = table.get("server_list") or []
    ids = [str(s.get("server_id")) for s in servers]
    if server_id not in ids:
        raise CollectiveError(f"server_id {server_id!r} is not in the rank table (it lists {', '.join(ids)}); pass "
                              "this host's address as in the table (--server-id)")
    if backend not in ("gloo", "hccl"):
        raise CollectiveError(f"backend {backend!r}: use gloo (CPU, one process per server) or hccl (NPU)")
    index = ids.index(server_id)
    if backend == "gloo":
        ranks: tuple[RankPlan, ...] = (RankPlan(index, None),)
        world = len(servers)
    else:
        mine = servers[index].get("device") or []
        ranks = tuple(RankPlan(int(d["rank_id"]), int(d["device_id"])) for d in mine)
        world = sum(len(s.get("device") or []) for s in servers)
    return Plan(backend, world, ids[0], port, server_id, ranks)


@dataclass
class RankResult:
    rank: int
    world_size: int
    backend: str
    expected: float
    got: float | None = None
    ok: bool = False
    init_s: float | None = None
    all_reduce_s: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_rank(p: Plan, r: RankPlan, timeout_s: float = 120.0, elements: int = 1 << 16) -> RankResult:
    """One rank: join the group, all_reduce ``rank + 1``, check the sum.  Imports torch (and torch_npu for hccl)."""
    import datetime

    if p.backend == "gloo":
        # the CPU path: torch would otherwise load torch_npu as a device backend, which fails without CANN's
        # libraries (libhccl.so), as the smoke's --device cpu does
        os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    import torch
    import torch.distributed as dist

    expected = p.world_size * (p.world_size + 1) / 2
    out = RankResult(r.rank, p.world_size, p.backend, expected)
    t0 = time.monotonic()
    try:
        options = None
        device = torch.device("cpu")
        if p.backend == "gloo":
            # bind gloo to this server's own address (the table's server_id), not to whatever the hostname resolves to
            options = dist.ProcessGroupGloo._Options()
            options._devices = [dist.ProcessGroupGloo.create_device(hostname=p.server_id)]
            options._timeout = datetime.timedelta(seconds=timeout_s)
        else:
            import torch_npu  # noqa: F401  (registers the npu device and the hccl backend)

            torch.npu.set_device(r.device)
            device = torch.device(f"npu:{r.device}")
        dist.init_process_group(p.backend, init_method=f"tcp://{p.master_addr}:{p.master_port}", rank=r.rank,
                                world_size=p.world_size, timeout=datetime.timedelta(seconds=timeout_s),
                                pg_options=options)
        out.init_s = round(time.monotonic() - t0, 3)
        tensor = torch.full((elements,), float(r.rank + 1), device=device)
        t1 = time.monotonic()
        dist.all_reduce(tensor)
        if p.backend == "hccl":
            torch.npu.synchronize()
        out.all_reduce_s = round(time.monotonic() - t1, 4)
        values = tensor.cpu()
        out.got = float(values[0])
        out.ok = bool((values == expected).all())
        dist.destroy_process_group()
    except Exception as e:  # the report says what failed; the caller's exit code says that it did
        out.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return out


def run(p: Plan, timeout_s: float = 120.0) -> list[RankResult]:
    """This server's ranks: in this process (gloo, one rank) or one process each (hccl)."""
    if len(p.ranks) == 1:
        return [run_rank(p, p.ranks[0], timeout_s)]
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(len(p.ranks)) as pool:
        return pool.starmap(run_rank, [(p, r, timeout_s) for r in p.ranks])


def report(p: Plan, results: list[RankResult], elapsed_s: float) -> dict[str, Any]:
    return {"ok": bool(results) and all(x.ok for x in results), "backend": p.backend, "world_size": p.world_size,
            "master": f"{p.master_addr}:{p.master_port}", "server_id": p.server_id, "elapsed_s": round(elapsed_s, 3),
            "expected": p.world_size * (p.world_size + 1) / 2, "ranks": [asdict(x) for x in results],
            "pid": os.getpid(), "started": started()}


def started() -> dict[str, Any]:
    """How this process was started: over ssh (sshd sets SSH_CONNECTION), by which Python, in which environment."""
    return {"over_ssh": bool(os.environ.get("SSH_CONNECTION")), "python": sys.executable, "prefix": sys.prefix}


def ssh_argv(host: str, command: Sequence[str], *, port: int | str = 22, user: str = "root", key: str | None = None,
             ssh_args: str = "") -> list[str]:
    """A launcher's ``ssh HOST CMD`` (torchrun's, mpirun's, msrun's way of starting remote ranks): BatchMode (a key,
    never a prompt), the port, the key and the inventory's ssh arguments (e.g. ``-o UserKnownHostsFile=...``), and
    ``command`` as ONE shell-quoted string, which sshd hands to the user's login shell non-interactively."""
    if not host or not command:
        raise CollectiveError(f"ssh needs a host and a command, got host {host!r}, command {list(command)!r}")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-p", str(int(port))]
    if key:
        argv += ["-i", key]
    argv += shlex.split(ssh_args or "")
    return [*argv, f"{user}@{host}", shlex.join(command)]


def load_table(path: str) -> dict[str, Any]:
    with open(path) as f:
        doc: dict[str, Any] = json.load(f)
    return doc
