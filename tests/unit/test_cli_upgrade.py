"""ascend-env upgrade / rollback: bad input is exit 2 with the value and the fix, before ansible-playbook runs; a good
inventory runs ascend.env.upgrade with the run's settings; its exit maps to 0/1; a rollback pins the last passing
stack through an inventory overlay."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ascend_env import cli
from ascend_env.day2 import rollout

HOST = {"ascend_chip": "910b", "ascend_arch": "x86_64",
        "ascend_host_pins": {"driver": "25.0.rc1.1", "firmware": "7.7.0.1.231"},
        "ascend_containers": [{"name": "llm-ms", "framework": "mindspore",
                               "pins": {"python": "3.11", "mindspore": "2.7.0"}}]}


def inventory(tmp_path: Path, **extra: Any) -> Path:
    hosts = {"a": dict(HOST), "b": dict(HOST)}
    for host, hv in extra.items():
        hosts[host].update(hv)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"ascend_hosts": {"hosts": hosts}}))
    return path


class Runs:
    """ansible-playbook as the CLI would run it: the argv kept, the overlay read, the exit code given."""

    def __init__(self, rc: int = 0) -> None:
        self.rc, self.calls, self.overlays = rc, [], []

    def run(self, argv, **kw):
        self.calls.append(argv)
        self.overlays += [yaml.safe_load(Path(a).read_text()) for a in argv if str(a).endswith("rollback.yml")]
        return SimpleNamespace(returncode=self.rc)


@pytest.fixture()
def runs(monkeypatch):
    r = Runs()
    monkeypatch.setattr(rollout, "subprocess", SimpleNamespace(run=r.run))
    monkeypatch.setattr(rollout, "ansible_playbook", lambda command: "ansible-playbook")
    return r


def main(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("extra, flags, words", [
    ({}, ["--waves", "1,50%"], ["--waves", "the last wave is 50%", 'end with "100%"']),
    ({"a": {"ascend_upgrade_waves": [1, "10%"]}, "b": {"ascend_upgrade_waves": [1, "10%"]}}, [],
     ["ascend_upgrade_waves", "the last wave is 10%"]),
    ({"a": {"ascend_upgrade_drain_cmd": "kubectl cordon {node}"}}, [],
     ["a: ascend_upgrade_drain_cmd", "{node}", "only {host}"]),
    ({"b": {"ascend_upgrade_undrain_cmd": "echo 'open"}}, [], ["b: ascend_upgrade_undrain_cmd", "close the quote"]),
    ({"a": {"ascend_host_pins": {"driver": "25.0.rc1.1", "firmware": "7.7.0.1.231"},
            "ascend_containers": [{"name": "llm-ms", "framework": "mindspore",
                                   "pins": {"python": "3.11", "mindspore": "2.7.0", "cann": "8.3.RC1"}}]}}, [],
     ["nothing was touched", "MindSpore 2.7.0 needs CANN 8.2.RC1"]),
    ({}, ["--limit", "zz"], ["--limit 'zz'", "no NPU host zz"]),
])
def test_bad_input_is_exit_2_naming_it_before_ansible_runs(tmp_path, capsys, runs, extra, flags, words):
    code, err = main(capsys, "upgrade", "-i", str(inventory(tmp_path, **extra)), *flags)
    assert code == 2 and all(w in err for w in words), err
    assert runs.calls == []


def test_a_missing_inventory_is_exit_2(tmp_path, capsys, runs):
    code, err = main(capsys, "upgrade", "-i", str(tmp_path / "nope.yml"))
    assert code == 2 and "no such file or folder" in err and runs.calls == []


@pytest.mark.parametrize("rc, code", [(0, 0), (2, 1), (4, 1)])
def test_the_playbook_runs_with_the_runs_settings_and_its_exit_maps_to_0_or_1(tmp_path, capsys, runs, rc, code):
    runs.rc = rc
    inv = inventory(tmp_path)
    got, err = main(capsys, "upgrade", "-i", str(inv), "--waves", "1,100%", "--limit", "b", "--stop-containers")
    assert got == code
    (argv,) = runs.calls
    assert argv[:4] == ["ansible-playbook", "ascend.env.upgrade", "-i", str(inv.resolve())]
    extra = json.loads(argv[argv.index("-e") + 1])
    assert extra == {"ascend_upgrade_records_dir": str(tmp_path / ".ascend-env/stacks"),
                     "ascend_upgrade_source": "upgrade", "ascend_upgrade_waves": ["1", "100%"],
                     "ascend_upgrade_stop_containers": True}
    assert argv[argv.index("--limit") + 1] == "b,localhost"
    assert "rollout: canary (b): b" in err


def test_rollback_without_a_record_is_exit_2_and_runs_nothing(tmp_path, capsys, runs):
    code, err = main(capsys, "rollback", "-i", str(inventory(tmp_path)))
    assert code == 2 and "nothing to roll back to" in err and "a: no passing stack" in err and runs.calls == []


def test_rollback_pins_the_last_passing_stack_through_an_overlay(tmp_path, capsys, runs):
    from ascend_env.day2.upgrade import record_text
    from ascend_env.inventory import fleet_plan, read_inventory

    old = fleet_plan(read_inventory(inventory(tmp_path)))
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "a.json").write_text(record_text("", "a", old.hosts["a"].dump(), "upgrade"))
    newer = {"ascend_host_pins": {"driver": "25.2.0", "firmware": "7.7.0.1.231"}}
    inv = inventory(tmp_path, a=newer)
    code, err = main(capsys, "rollback", "-i", str(inv), "--limit", "a", "--records", str(stacks))
    assert code == 0, err
    assert "rollback: a -> driver 25.0.RC1.1" in err
    (argv,) = runs.calls
    assert json.loads(argv[argv.index("-e") + 1])["ascend_upgrade_source"] == "rollback"
    (over,) = runs.overlays
    a = over["ascend_hosts"]["hosts"]["a"]
    assert a["ascend_host_pins"]["driver"] == "25.0.RC1.1"
    assert a["ascend_containers"][0]["pins"]["cann"] == "8.2.RC1"
