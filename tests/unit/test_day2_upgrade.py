"""The rollout's decisions (ascend_env.day2.upgrade, waves, hooks, records): waves into Ansible serial batches, the
busy decision from the probe's npu-smi facts and the runtime's process lists, free space, hooks as argv, the stack
records and the rollback target, the recap of a wave's site.yml run."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from ascend_env.day2 import records
from ascend_env.day2.hooks import HookError, parse_hook
from ascend_env.day2.upgrade import (
    busy_decision,
    driver_changes,
    hook_argv,
    recap,
    record_text,
    rollout,
    site_failed,
    space_problem,
)
from ascend_env.day2.waves import WaveError, parse_waves, plan_waves

DATA = Path(__file__).parent / "data/npu_smi"
IDLE_8 = (DATA / "910b3_8card_24.1.0.txt").read_text()
THREE_PROCS = (DATA / "real_910b2c_25.0.rc1.2_busid-func02_2procs-same-chip_gpustat.txt").read_text()  # 3 pids


def smi(stdout: str | None, rc: int = 0) -> dict:
    """The probe's npu_smi facts (ascend_env/probe/host.py probe_npu_smi) around one ``npu-smi info`` run."""
    return {"path": "/usr/local/bin/npu-smi", "info": {"stdout": stdout, "rc": rc, "stderr": ""}}


# --- waves ---------------------------------------------------------------------------------------------------------
HOSTS40 = [f"n{i:02d}" for i in range(40)]


def test_waves_are_the_canary_then_cumulative_sizes_as_serial_batches():
    plan = rollout(HOSTS40, {})                                  # default [1, "10%", "100%"]
    assert plan["serial"] == [1, 3, 36] and sum(plan["serial"]) == 40
    assert plan["waves"][0] == {"label": "canary (n00)", "hosts": ["n00"]}
    assert plan["waves"][1]["hosts"] == ["n01", "n02", "n03"]
    assert rollout(HOSTS40, {h: [1, 5, "50%", "100%"] for h in HOSTS40})["serial"] == [1, 4, 15, 20]
    assert rollout(["a", "b", "c"], {})["serial"] == [1, 2]      # 10% of 3 is 1: the canary already did it
    assert rollout(["a"], {"a": ["100%"]})["serial"] == [1]


@pytest.mark.parametrize("value, words", [
    ([1, "10%"], ['last wave is 10%', 'end with "100%"']),
    ([1, "50%", "10%", "100%"], ["10% comes after 50%"]),
    ([5, 2, "100%"], ["2 comes after 5"]),
    ([0, "100%"], ["0 hosts is not a wave"]),
    (["ten", "100%"], ["'ten' is neither a number of hosts nor a percentage"]),
    ([1, "150%"], ["outside 0-100"]),
    ([True, "100%"], ["True is not a wave size"]),
    ("1,,100%", ["empty wave"]),
    ({"a": 1}, ["not a list of wave sizes"]),
])
def test_bad_waves_are_refused_naming_the_value_and_the_fix(value, words):
    with pytest.raises(WaveError) as e:
        rollout(["a", "b"], {"a": value, "b": value})
    msg = str(e.value)
    assert "ascend_upgrade_waves" in msg and "e.g. ascend_upgrade_waves" in msg
    assert all(w in msg for w in words), msg


def test_waves_that_differ_between_hosts_are_refused():
    with pytest.raises(WaveError, match="differs between the hosts"):
        rollout(["a", "b"], {"a": [1, "100%"], "b": ["100%"]})


def test_sizes_that_shrink_on_this_fleet_are_refused():
    with pytest.raises(WaveError, match="fewer than the 5"):
        plan_waves([f"h{i}" for i in range(20)], parse_waves([5, "10%", "100%"]))


# --- busy ----------------------------------------------------------------------------------------------------------
def test_free_npus_go():
    d = busy_decision("h1", smi(IDLE_8), {}, ["llm"], "docker", driver=False, stop_containers=False)
    assert (d["action"], d["status"], d["stop"]) == ("go", "free", [])


def test_processes_on_the_host_refuse_with_pids_and_kill():
    top = "PID\n999\n"                                 # the container runs, none of the holders is in it
    d = busy_decision("h1", smi(THREE_PROCS), {"llm": top}, ["llm"], "docker", False, True)
    assert d["action"] == "refuse" and d["status"] == "busy"
    text = " ".join(d["lines"]) + d["fix"]
    assert all(p in text for p in ("6513", "33776", "33777")) and "kill" in d["fix"]


def test_holders_in_the_environments_containers_are_stopped_only_when_allowed():
    top = "UID PID PPID\nroot 6513 1\nroot 33776 1\nroot 33777 1\n"
    refused = busy_decision("h1", smi(THREE_PROCS), {"llm": top}, ["llm"], "docker", False, False)
    assert refused["action"] == "refuse" and "ascend_upgrade_stop_containers: true" in refused["fix"]
    assert "docker stop llm" in refused["fix"]
    allowed = busy_decision("h1", smi(THREE_PROCS), {"llm": top}, ["llm"], "docker", False, True)
    assert (allowed["action"], allowed["stop"]) == ("stop", ["llm"])


def test_a_container_ascend_env_does_not_manage_is_never_stopped():
    top = "PID\n6513\n33776\n33777\n"
    d = busy_decision("h1", smi(THREE_PROCS), {"theirs": top}, ["llm"], "isula", False, True)
    assert d["action"] == "refuse" and "isula stop theirs" in d["fix"]


def test_a_driver_upgrade_is_refused_while_the_environments_containers_map_the_npus():
    running = {"llm": "PID\n4242\n"}
    assert busy_decision("h1", smi(IDLE_8), running, ["llm"], "docker", False, False)["action"] == "go"
    d = busy_decision("h1", smi(IDLE_8), running, ["llm"], "docker", True, False)
    assert d["action"] == "refuse" and "llm" in d["fix"]
    assert busy_decision("h1", smi(IDLE_8), running, ["llm"], "docker", True, True)["stop"] == ["llm"]


@pytest.mark.parametrize("facts", [{}, smi(None, rc=None), smi("", 0), smi("dcmi module initialize failed", 8),
                                   smi(IDLE_8.split("| NPU     Chip")[0])])
def test_an_unreadable_table_refuses_as_unknown_never_free(facts):
    d = busy_decision("h1", facts, {}, [], "docker", False, True)
    assert (d["action"], d["status"]) == ("refuse", "unknown")


def test_driver_changes_only_when_managed_and_a_pin_differs_or_is_unread():
    facts = {"driver": {"values": {"Version": "25.0.rc1.1"}}, "firmware": {"values": {"Version": "7.7.0.1.231"}}}
    pins = {"driver": "25.0.RC1.1", "firmware": "7.7.0.1.231"}
    assert not driver_changes(facts, pins, True)
    assert not driver_changes(facts, {**pins, "driver": "25.2.0"}, False)
    assert driver_changes(facts, {**pins, "driver": "25.2.0"}, True)
    assert driver_changes({}, pins, True)


def test_free_space():
    disk = {"install_path": {"path": "/usr/local/Ascend", "free_bytes": 1024 * 1024 * 1024, "size_bytes": 1}}
    assert space_problem("h1", disk, 1024) == ""
    assert "ascend_upgrade_min_free_mb=2048" in space_problem("h1", disk, 2048)
    assert "could not be read" in space_problem("h1", {"error": "boom"}, 1)


# --- hooks ---------------------------------------------------------------------------------------------------------
NASTY = "n1'; touch /tmp/PWNED; echo '$(id)"


def test_a_hook_is_an_argv_with_the_host_as_one_word():
    assert hook_argv("kubectl cordon {host}", "npu-a", "ascend_upgrade_drain_cmd") == ["kubectl", "cordon", "npu-a"]
    assert hook_argv(["scontrol", "update", "nodename={host}", "state=drain"], NASTY, "x") == [
        "scontrol", "update", f"nodename={NASTY}", "state=drain"]
    assert hook_argv(None, "a", "x") == [] and hook_argv("", "a", "x") == []


def test_a_shell_hook_gets_the_host_quoted(tmp_path):
    argv = hook_argv("sh -c 'echo {host} > " + str(tmp_path / "out") + "'", NASTY, "x")
    subprocess.run(argv, check=True, cwd=tmp_path)
    assert (tmp_path / "out").read_text() == NASTY + "\n" and not Path("/tmp/PWNED").exists()
    assert argv[2] == f"echo {shlex.quote(NASTY)} > {tmp_path / 'out'}"


@pytest.mark.parametrize("value, words", [
    ("kubectl cordon {node}", ["{node}", "only {host}"]),
    ("echo 'unclosed", ["cannot be split", "close the quote"]),
    ("echo {host", ["unmatched brace"]),
    ({"cmd": "x"}, ["is not a command"]),
    ("   ", ["names no command"]),
])
def test_bad_hooks_are_refused_naming_host_setting_and_value(value, words):
    with pytest.raises(HookError) as e:
        parse_hook(value, "npu-a: ascend_upgrade_drain_cmd")
    msg = str(e.value)
    assert msg.startswith("npu-a: ascend_upgrade_drain_cmd") and all(w in msg for w in words), msg


# --- records -------------------------------------------------------------------------------------------------------
def host_plan(cann: str = "8.2.RC1", driver: str = "25.0.rc1.1") -> dict:
    from ascend_env.inventory import fleet_plan

    hv = {"ascend_chip": "910b", "ascend_arch": "x86_64", "ascend_host_pins": {"driver": driver,
                                                                               "firmware": "7.7.0.1.231"},
          "ascend_containers": [{"name": "llm-ms", "framework": "mindspore",
                                 "pins": {"python": "3.11", "mindspore": "2.7.0", "cann": cann}}]}
    data = {"_meta": {"hostvars": {"h1": hv}}, "ascend_hosts": {"hosts": ["h1"]}, "all": {"children": ["ascend_hosts"]}}
    return fleet_plan(data).hosts["h1"].dump()


def test_a_passing_stack_is_appended_once_and_a_rollback_goes_to_the_one_before(tmp_path):
    plan_a = host_plan()
    text = record_text("", "h1", plan_a, "upgrade", at="2026-12-07T08:00:00Z")
    text = record_text(text, "h1", plan_a, "upgrade", at="2026-12-07T09:00:00Z")     # the same stack: replaced
    doc = json.loads(text)
    assert len(doc["stacks"]) == 1 and doc["stacks"][0]["recorded_at"] == "2026-12-07T09:00:00Z"
    assert doc["stacks"][0]["envs"]["llm-ms"]["versions"] == {"cann": "8.2.RC1", "python": "3.11",
                                                              "mindspore": "2.7.0", "mindformers": "1.6.0"}
    assert doc["stacks"][0]["host"] == {"driver": "25.0.RC1.1", "firmware": "7.7.0.1.231"}
    (tmp_path / "h1.json").write_text(text)
    entries = records.load(tmp_path, "h1")
    from ascend_env.plan.model import HostPlan

    current_a = records.entry_from_plan(HostPlan.model_validate(plan_a), "inventory")
    assert records.rollback_target(entries, current_a) is None        # nothing but what is asked for now
    current_b = records.entry_from_plan(HostPlan.model_validate(host_plan(driver="25.2.0")), "inventory")
    target = records.rollback_target(entries, current_b)
    assert target is not None and target.host["driver"] == "25.0.RC1.1"
    over = records.overlay({"h1": target}, {"h1": {"ascend_host_pins": {"driver": "25.2.0"},
                                                   "ascend_containers": [{"name": "llm-ms", "pins": {"x": 1}}]}})
    h1 = over["ascend_hosts"]["hosts"]["h1"]
    assert h1["ascend_host_pins"]["driver"] == "25.0.RC1.1"
    assert h1["ascend_containers"][0]["pins"]["cann"] == "8.2.RC1" and h1["ascend_containers"][0]["pins"]["x"] == 1


@pytest.mark.parametrize("text", ["{", "[]", '{"stacks": [{"source": "x"}]}'])
def test_a_mangled_record_is_refused_naming_the_fix(text):
    with pytest.raises(records.RecordError, match=r"fix or remove|remove that entry"):
        record_text(text, "h1", host_plan(), "upgrade")


# --- a wave's site.yml run -----------------------------------------------------------------------------------------
RECAP = """PLAY RECAP *********************************************************************
localhost                  : ok=9    changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
t1                         : ok=40   changed=0    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0
t1-llm-torch               : ok=30   changed=0    unreachable=0    failed=1    skipped=9    rescued=0    ignored=0
t2                         : ok=40   changed=0    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0
"""


def test_a_wave_fails_for_the_host_whose_environment_failed():
    assert recap(RECAP) == {"localhost": False, "t1": False, "t1-llm-torch": True, "t2": False}
    assert site_failed(RECAP, 2, "t1", ["t1-llm-torch"])
    assert not site_failed(RECAP, 2, "t2", ["t2-llm-ms"])
    assert not site_failed(RECAP, 0, "t1", ["t1-llm-torch"])
    # a run that failed before any host (the preflight on localhost, no recap): every host of the wave
    assert site_failed("ERROR! the playbook could not be found", 1, "t2", [])
    assert site_failed(RECAP.replace("t1-llm-torch               : ok=30   changed=0    unreachable=0    failed=1",
                                     "t1-llm-torch               : ok=30   changed=0    unreachable=0    failed=0")
                       .replace("localhost                  : ok=9    changed=0    unreachable=0    failed=0",
                                "localhost                  : ok=9    changed=0    unreachable=0    failed=1"),
                       2, "t2", [])


# --- the playbook's settings ---------------------------------------------------------------------------------------
def test_every_setting_the_upgrade_playbook_reads_is_known_to_the_preflight():
    """A setting the preflight does not know would be taken for a misspelling (and a misspelt one not caught)."""
    import re

    from ascend_env.preflight import INVENTORY_VARIABLES

    text = (Path(__file__).parents[2] / "playbooks/upgrade.yml").read_text()
    used = set(re.findall(r"\b(ascend_upgrade_\w+)", text))
    made = set(re.findall(r"^\s+(ascend_upgrade_\w+):", text, re.M)) | set(re.findall(r"register: (ascend_upgrade_\w+)",
                                                                                    text))
    settings = used - made
    assert {"ascend_upgrade_waves", "ascend_upgrade_drain_cmd", "ascend_upgrade_stop_containers"} <= settings
    assert settings <= INVENTORY_VARIABLES, settings - INVENTORY_VARIABLES


def test_the_playbook_checks_everything_then_fans_out_once_then_runs_the_waves_stopping_at_the_first_failure():
    import yaml

    plays = yaml.safe_load((Path(__file__).parents[2] / "playbooks/upgrade.yml").read_text())
    names = [p.get("ansible.builtin.import_playbook") or p["name"] for p in plays]
    assert names[:2] == ["preflight.yml", "plan_fleet.yml"]              # pins the matrix refuses stop here
    check, fanout, waves = plays[2:]
    assert check["any_errors_fatal"] is True and "always" in check["tags"]
    assert "ascend_env_upgrade_rollout" in check["tasks"][0]["ansible.builtin.set_fact"]["ascend_upgrade_rollout"]
    assert [r["role"] for r in fanout["roles"]] == ["ascend.env.ascend_artifacts"] and "serial" not in fanout
    assert "ascend_upgrade_rollout.serial" in waves["serial"] and waves["max_fail_percentage"] == 0
    order = [t["name"] for t in waves["tasks"]]
    first = {k: next(i for i, n in enumerate(order) if n.startswith(k))
             for k in ("Stop if the install path", "Stop if the NPUs are held", "Drain the host",
                       "Upgrade this wave's hosts", "Stop if the doctor", "Record the stack", "Undrain the host")}
    assert list(first.values()) == sorted(first.values()), first
