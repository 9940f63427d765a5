"""NPUs busy?  Real npu-smi tables (tests/unit/data/npu_smi, sources in its SOURCES.md), host and containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.day2.busy import (
    BUSY,
    FREE,
    INSTALLER_REFUSAL,
    UNKNOWN,
    Reading,
    assess,
    container_of_cgroup,
    owners_from_cgroups,
    owners_from_top,
    reading_from_probe,
)

DATA = Path(__file__).parent / "data/npu_smi"


def sample(name: str) -> str:
    return (DATA / name).read_text()


IDLE_8 = sample("910b3_8card_24.1.0.txt")
THREE_PROCS = sample("real_910b2c_25.0.rc1.2_busid-func02_2procs-same-chip_gpustat.txt")   # pids 6513 33776 33777
IN_CONTAINER_4266 = sample("real_a3-ascend910-16die_25.3.rc1_empty-procname_vllm-ascend-4266.txt")
WIDE_26 = sample("real_910b4_26.0.rc1_wide_prompt-double-space_triton-ascend-doc.txt")


def test_an_idle_table_that_accounts_for_every_npu_is_free():
    v = assess("h1", [Reading("host", IDLE_8)])
    assert (v.status, v.holders, v.unread, v.fix) == (FREE, (), (), None)


def test_processes_are_named_with_pid_name_npu_and_the_installer_refusal():
    v = assess("h1", [Reading("host", THREE_PROCS)])
    assert v.status == BUSY and v.busy
    assert [(h.npu_id, h.chip_id, h.pid, h.name, h.memory_mb) for h in v.holders] == [
        (0, 0, 6513, "rayWorkerDict", 617), (0, 0, 33776, "VLLMWorker_TP", 31747),
        (1, 0, 33777, "VLLMWorker_TP", 31747)]
    assert INSTALLER_REFUSAL in v.message and "containers included" in v.message
    assert "NPU 1 chip 0: pid 33777 (VLLMWorker_TP, 31747 MB) owner unknown" in v.lines
    # nobody said where the pids live: the fix tells how to find out, it does not guess
    assert "stop pid(s) 6513 33776 33777" in v.fix and "docker ps -q" in v.fix


def test_the_runtime_names_the_container_and_the_fix_follows_who_manages_it():
    v = assess("h1", [Reading("host", THREE_PROCS)], owners={33776: "llm-ms", 33777: "llm-ms"},
               managed={"llm-ms"}, runtime="isula")
    by_pid = {h.pid: h for h in v.holders}
    assert by_pid[33776].container == "llm-ms" and by_pid[33777].in_container is True
    assert by_pid[6513].in_container is False      # the runtime listed every container's pids; 6513 is the host's
    assert "set ascend_upgrade_stop_containers: true" in v.fix and "isula stop llm-ms" in v.fix
    assert "stop the process(es) on the host: kill 6513 (6513 rayWorkerDict)" in v.fix
    other = assess("h1", [Reading("host", THREE_PROCS)], owners={33776: "their-job", 33777: "their-job"},
                   managed={"llm-ms"})
    assert "ascend-env does not manage: docker stop their-job" in other.fix
    assert "ascend_upgrade_stop_containers: true so" not in other.fix


@pytest.mark.parametrize("reading", [
    Reading("host", sample("real_error_-8005_container_vllm-ascend-2698.txt"), rc=1),   # dcmi -8005
    Reading("host", None, None, error="timed out after 20 s"),
    Reading("host", "", 0),
    Reading("host", sample("910b1_24.1.0_first_card.txt")),          # a table cut before its process section
    Reading("host", sample("real_910b1_23.0.rc2_elided_arthurchiao-blog.txt")),     # no process section
])
def test_an_unreadable_or_incomplete_process_table_is_unknown_never_free(reading):
    v = assess("h1", [reading])
    assert v.status == UNKNOWN and v.unread and "unknown" in v.message and v.fix
    assert "does not start on an unknown answer" in v.fix


def test_only_the_host_table_can_say_free():
    v = assess("h1", [Reading("llm-ms", IDLE_8)])
    assert v.status == UNKNOWN and "not read on the host" in v.unread[0]
    ok = assess("h1", [Reading("host", IDLE_8), Reading("llm-ms", None, 1, error="npu-smi: command not found")])
    assert ok.status == FREE and ok.notes == ("llm-ms: npu-smi could not run: npu-smi: command not found",)


def test_a_busy_npu_is_busy_even_when_part_of_the_table_is_missing():
    # nputop's capture lists NPU 0's process but says nothing of NPU 1: busy, and the gap is reported
    v = assess("h1", [Reading("host", sample("real_910b2c_23.0.2.1_nputop.txt"))])
    assert v.status == BUSY and [h.pid for h in v.holders] == [124528]
    assert any("NPU 1" in u for u in v.unread)


def test_readings_are_joined_on_the_pid_and_the_container_view_keeps_its_numbering():
    # the 25.3.rc1 table read in a container: host pids, empty names
    alone = assess("a3", [Reading("host", IDLE_8.replace("No running processes found in NPU 0", "x")),
                          Reading("vllm", IN_CONTAINER_4266)])
    assert alone.status == BUSY
    h = next(h for h in alone.holders if h.pid == 2173027)
    assert (h.name, h.npu_seen_in, h.seen_in) == (None, "vllm", ("vllm",))
    assert "NPU 0 chip 0 (as container vllm numbers it): pid 2173027 (43266 MB)" in h.describe()
    # the host's own table names the same pid: one holder, the host's NPU id and name
    host_text = THREE_PROCS.replace("6513 ", "2173027 ").replace("rayWorkerDict", "python3      ")
    both = assess("a3", [Reading("host", host_text), Reading("vllm", IN_CONTAINER_4266)])
    h = next(h for h in both.holders if h.pid == 2173027)
    assert (h.name, h.npu_id, h.seen_in) == ("python3", 0, ("host", "vllm"))
    assert len([x for x in both.holders if x.pid == 2173027]) == 1


def _wide_with(rows: str) -> str:
    """The real 26.0.rc1 table (5-column process section) with process rows in place of its idle row."""
    idle = next(ln for ln in WIDE_26.splitlines() if "No running processes found in NPU 0" in ln)
    return WIDE_26.replace(idle, rows.rstrip("\n"))


def test_process_id_in_container_tells_host_from_container():
    cells = "| 0       0                 | {pid}         | python3            | {mb}                  | {cp:<24}|\n"
    rows = cells.format(pid=41020, mb=2871, cp="NA") + cells.format(pid=51234, mb=3140, cp="57")
    v = assess("h1", [Reading("host", _wide_with(rows)), Reading("llm-ms", _wide_with(rows)),
                      Reading("llm-pt", WIDE_26)])
    by_pid = {h.pid: h for h in v.holders}
    assert by_pid[41020].in_container is False and by_pid[41020].container is None
    assert (by_pid[51234].in_container, by_pid[51234].container_pid) == (True, 57)
    # llm-ms is the only container whose npu-smi saw pid 51234 -- the only one it can live in
    assert by_pid[51234].container == "llm-ms"
    assert "in container llm-ms, pid 57 there" in by_pid[51234].describe()
    assert "kill 41020" in v.fix and "docker stop llm-ms" in v.fix


def test_a_container_that_reports_the_device_used_is_evidence_of_a_holder():
    text = sample("real_error_-8020_device-used_cann-container-image-46.txt")
    v = assess("h1", [Reading("host", None, 1, error="ssh failed"), Reading("job", text, 1)])
    assert v.status == BUSY and v.holders[0].pid is None
    assert "device is used" in v.holders[0].describe() and "fuser -uv /dev/davinci_manager" in v.fix


def test_a_running_container_that_maps_the_npus_blocks_the_installer():
    v = assess("h1", [Reading("host", IDLE_8)], mapping_containers=["llm-ms"], managed={"llm-ms"})
    assert v.status == BUSY and v.holders == () and v.mapping_containers == ("llm-ms",)
    assert "container llm-ms maps /dev/davinci_manager" in v.message and "stop_containers: true" in v.fix


def test_owners_from_the_runtime():
    top = "PID\n4242\n4300\n"
    assert owners_from_top({"llm-ms": top, "other": "UID PID PPID\nroot 77 1\n", "bad": "no header\n12\n"}) == {
        4242: "llm-ms", 4300: "llm-ms", 77: "other"}
    cid = "3f4e" + "a" * 60
    assert container_of_cgroup(f"12:pids:/docker/{cid}\n") == cid                            # cgroup v1
    assert container_of_cgroup(f"0::/system.slice/docker-{cid}.scope\n") == cid              # v2, systemd driver
    assert container_of_cgroup(f"0::/kubepods/burstable/pod1/cri-containerd-{cid}.scope\n") == cid
    assert container_of_cgroup(f"11:cpu:/isulad/{cid}\n") == cid
    assert container_of_cgroup("0::/user.slice/user-0.slice/session-3.scope\n") is None      # a host process
    assert owners_from_cgroups({10: f"0::/system.slice/docker-{cid}.scope", 11: "0::/init.scope"},
                               {cid[:12]: "llm-ms"}) == {10: "llm-ms"}


def test_reading_from_the_probe_facts():
    assert reading_from_probe("host", {"path": None}).error
    r = reading_from_probe("host", {"path": "/usr/local/bin/npu-smi",
                                    "info": {"rc": 0, "stdout": IDLE_8, "stderr": ""}})
    assert assess("h1", [r]).status == FREE
    retried = reading_from_probe("host", {"path": "x", "info": {"rc": 127, "stdout": "", "stderr": "loader"},
                                          "info_with_libpath": {"rc": 0, "stdout": THREE_PROCS, "stderr": ""}})
    assert assess("h1", [retried]).status == BUSY


def test_the_host_numbering_wins_whatever_the_order_of_the_readings():
    host_text = THREE_PROCS.replace("6513 ", "2173027 ")
    v = assess("a3", [Reading("vllm", IN_CONTAINER_4266), Reading("host", host_text)])
    h = next(h for h in v.holders if h.pid == 2173027)
    assert (h.npu_seen_in, h.seen_in, h.name) == ("host", ("host", "vllm"), "rayWorkerDict")
