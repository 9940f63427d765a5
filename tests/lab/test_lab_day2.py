"""Day two on the lab: a real process on an NPU (on the host and in a container) seen through npu-smi on the host and
in the container, the busy verdict with its fix, the fake driver installer's refusal, and hccn_tool -ping answering
per the lab's link state -- from the host and from a container -- turned into the ping matrix of a rank table."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ascend_env.day2.busy import BUSY, FREE, INSTALLER_REFUSAL, Reading, assess, owners_from_top
from ascend_env.day2.pingmesh import mesh, pairs
from ascend_env.lab import busy as lab_busy
from ascend_env.lab import lab as lab_mod
from ascend_env.lab.faults import make_fault
from ascend_env.lab.layout import HostPaths
from ascend_env.lab.sysroot import device_addresses
from ascend_env.probe.hccn import NetInfo, parse_ping, parse_ping_all
from ascend_env.ranktable import Server, build

from .conftest import PREFIX, lab, ssh

pytestmark = pytest.mark.usefixtures("lab_up")
ROOT = PREFIX / "hosts/t1/root"
LIBDIR = "/usr/local/Ascend/driver/lib64/driver"
TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"
HOLDER = "day2-holder"


def host_smi() -> subprocess.CompletedProcess[str]:
    return ssh("t1", f"LD_LIBRARY_PATH=$ASCEND_ENV_HOST_ROOT{LIBDIR} $ASCEND_ENV_HOST_ROOT/usr/local/bin/npu-smi info")


def test_a_process_on_an_npu_is_listed_and_the_driver_installer_refuses():
    logs = ROOT / "usr/local/ascend_lab_logs"
    had_logs = logs.exists()
    lab("fault", "t1", "npu-busy", "--device", "3")
    try:
        (rec,) = lab_busy.live(HostPaths(PREFIX / "hosts/t1"))
        table = host_smi()
        assert table.returncode == 0, table.stderr
        verdict = assess("t1", [Reading("host", table.stdout)])
        assert verdict.status == BUSY and [(h.npu_id, h.pid) for h in verdict.holders] == [(3, rec["pid"])]
        assert f"stop pid(s) {rec['pid']}" in verdict.fix     # a 4-column table cannot tell host from container
        run = next((PREFIX / "store/runs").glob("Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-*.run"))
        up = ssh("t1", f"bash {run} --nox11 --upgrade --quiet --install-path=$ASCEND_ENV_HOST_ROOT/usr/local/Ascend")
        assert up.returncode == 1 and INSTALLER_REFUSAL in up.stdout, up.stdout + up.stderr
        assert "add the force parameter" in up.stdout
        assert (ROOT / "usr/local/Ascend/driver/version.info").read_text().startswith("Version=25.0.rc1.1\n")
    finally:
        lab("fault", "t1", "--clear", "npu-busy")
        if not had_logs:
            shutil.rmtree(logs, ignore_errors=True)
    assert not lab_busy.alive(rec)                       # clearing the fault stopped the process
    assert assess("t1", [Reading("host", host_smi().stdout)]).status == FREE


@pytest.fixture()
def holder_container():
    """A container on t1's engine that maps NPU 0 and the driver, as the environment's containers do."""
    mounts = " ".join(f"-v {ROOT}/{p}:/{p}:ro" for p in ("usr/local/Ascend/driver", "usr/local/bin/npu-smi",
                                                           "dev/davinci0", "dev/davinci_manager"))
    ssh("t1", f"docker rm -f {HOLDER} >/dev/null 2>&1")
    cp = ssh("t1", f"docker run -d --name {HOLDER} --network host {mounts} -e LD_LIBRARY_PATH={LIBDIR} "
                   "ascend-env/base:bookworm sleep infinity")
    assert cp.returncode == 0, cp.stderr
    yield HOLDER
    ssh("t1", f"docker rm -f {HOLDER}")


def test_a_container_process_is_named_by_its_container_and_ping_works_from_inside(holder_container):
    cfg = lab_mod.config_from_state(PREFIX)
    hp = lab_mod.paths(cfg).host("t1")
    lab_mod.set_fault(cfg, "t1", make_fault(cfg.host("t1"), "npu-busy", device=0, container=holder_container))
    try:
        (rec,) = lab_busy.live(hp)
        assert rec["container"] == holder_container and rec["container_pid"] not in (None, rec["pid"])
        inside = ssh("t1", f"docker exec {holder_container} npu-smi info")
        assert inside.returncode == 0, inside.stdout + inside.stderr
        top = ssh("t1", f"docker top {holder_container} -eo pid").stdout
        verdict = assess("t1", [Reading("host", host_smi().stdout), Reading(holder_container, inside.stdout)],
                         owners=owners_from_top({holder_container: top}), managed={holder_container})
        assert verdict.status == BUSY
        (h,) = verdict.holders
        assert (h.pid, h.container, h.npu_id) == (rec["pid"], holder_container, 0)
        assert h.seen_in == ("host", holder_container)
        assert f"docker stop {holder_container}" in verdict.fix
        assert "ascend_upgrade_stop_containers: true" in verdict.fix
        # hccn_tool -ping from inside the container: the other hosts come from the lab's snapshot
        t3_dev0 = device_addresses(cfg.host("t3"))[0]["address"]
        ok = ssh("t1", f"docker exec {holder_container} {TOOL} -i 0 -ping -g address {t3_dev0}")
        assert parse_ping(ok.stdout, ok.returncode).status == "ok", ok.stdout
        lab("fault", "t3", "link-down", "--device", "0")
        down = ssh("t1", f"docker exec {holder_container} {TOOL} -i 0 -ping -g address {t3_dev0}")
        assert parse_ping(down.stdout, down.returncode).status == "unreachable", down.stdout
    finally:
        lab("fault", "t3", "--clear", "link-down")
        lab_mod.set_fault(cfg, "t1", None, clear="npu-busy")
    assert not lab_busy.alive(rec) and lab_busy.live(hp) == []


def test_the_ping_matrix_of_a_rank_table_names_the_port_that_is_down():
    cfg = lab_mod.config_from_state(PREFIX)
    servers = [Server(h, cfg.host(h).address, tuple(NetInfo(n, p["address"], p["netmask"], "UP", "Success")
                                                    for n, p in device_addresses(cfg.host(h)).items()))
               for h in ("t1", "t3")]
    table, problems = build(servers)
    assert not problems
    names = {cfg.host(h).address: h for h in ("t1", "t3")}

    def run_pings() -> dict:
        results = {}
        for sid, host in names.items():
            todo = [(s, d) for s, d in pairs(table, "rail") if s.server_id == sid]
            script = "; ".join(f"$ASCEND_ENV_HOST_ROOT{TOOL} -i {s.device_id} -ping -g address {d.ip}"
                               for s, d in todo)
            answers = parse_ping_all(ssh(host, script).stdout)
            assert len(answers) == len(todo)
            results.update({(s.server_id, s.device_id, d.ip): r for (s, d), r in zip(todo, answers, strict=True)})
        return results

    healthy = mesh(table, run_pings(), "rail", names)
    assert healthy.ok and len(healthy.links) == 16
    lab("fault", "t3", "link-down", "--device", "2")
    try:
        broken = mesh(table, run_pings(), "rail", names)
    finally:
        lab("fault", "t3", "--clear", "link-down")
    t3_dev2 = device_addresses(cfg.host("t3"))[2]["address"]
    t1_dev2 = device_addresses(cfg.host("t1"))[2]["address"]
    assert {(link.src.server_id, link.src.device_id, link.dst.ip) for link in broken.bad} == {
        (cfg.host("t1").address, 2, t3_dev2), (cfg.host("t3").address, 2, t1_dev2)}
    assert all(link.status == "unreachable" and "-link -g" in link.fix for link in broken.bad)
