"""The fleet plan: one enumeration of hosts and environments, typed, with each distinct stack resolved once."""

from __future__ import annotations

import pytest

from ascend_env.plan import FleetPlan, plan
from ascend_env.resolver import resolve

HOSTS = {
    "npu-a": {"ansible_host": "10.0.0.5", "ascend_chip": "910b", "ascend_arch": "x86_64",
              "ascend_host_pins": {"driver": "25.0.rc1.1"},
              "ascend_containers": [
                  {"name": "llm-pt", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}},
                  {"name": "off", "framework": "torch", "enabled": False},
                  {"name": "llm-ms", "framework": "mindspore", "ssh_port": 224,
                   "mounts": ["/srv/work:/root/work"]}]},
    "npu-b": {"ansible_host": "10.0.0.6", "ascend_chip": "910b", "ascend_arch": "x86_64",
              "ascend_host_pins": {"driver": "25.0.rc1.1"}, "ascend_host_root": "/lab/npu-b/",
              "ascend_container_enabled": False, "ascend_ranktable_enabled": True,
              "ascend_containers": [{"name": "host", "framework": "torch",
                                     "pins": {"python": "3.11", "torch": "2.13.0"}}]},
}


@pytest.fixture(scope="module")
def fleet(matrix) -> FleetPlan:
    return plan(HOSTS, matrix)


def test_environments_are_the_enabled_containers_named_host_container(fleet):
    assert [e.name for e in fleet.envs()] == ["npu-a-llm-pt", "npu-a-llm-ms", "npu-b-host"]
    assert fleet.problems == {} and fleet.ignored == {}


def test_a_container_is_reached_at_its_hosts_address_and_its_own_port(fleet):
    pt, ms = fleet.hosts["npu-a"].envs
    assert (pt.connection.address, pt.connection.port, pt.connection.user) == ("10.0.0.5", 223, "root")
    assert (ms.connection.port, ms.ssh_port) == (224, 224)
    assert pt.connection.python == "/usr/bin/python3"


def test_container_paths_are_the_containers_own(fleet):
    pt = fleet.env("npu-a-llm-pt")
    assert pt.paths.venv == "/opt/ascend-env/venv" and pt.paths.pip_conf == "/etc/pip.conf"
    assert pt.paths.store == "/opt/ascend-store"
    ms = fleet.env("npu-a-llm-ms")
    assert [(m.host, m.container, m.read_only) for m in ms.container_spec.mounts] == [
        ("/var/cache/ascend-env/store", "/opt/ascend-store", True), ("/srv/work", "/root/work", False)]


def test_host_mode_is_one_environment_under_the_hosts_root(fleet):
    (env,) = fleet.hosts["npu-b"].envs
    assert env.on_host and env.container_spec is None
    assert env.connection.address == "10.0.0.6" and env.connection.port == 22
    assert env.paths.venv == "/lab/npu-b/opt/ascend-env/venv"
    assert env.paths.pip_conf == "/lab/npu-b/opt/ascend-env/venv/pip.conf"
    assert env.paths.store == "/lab/npu-b/var/cache/ascend-env/store"
    assert env.ranktable.enabled and env.ranktable.path == "/lab/npu-b/etc/ascend-env/hccl.json"
    assert env.ranktable.server_id == "10.0.0.6"


def test_each_environment_carries_its_resolved_stack(fleet, matrix):
    pt = fleet.env("npu-a-llm-pt")
    assert pt.stack["ok"] and pt.version("torch") == "2.13.0" and pt.version("torch_npu")
    assert pt.python.python == "3.11"
    host = fleet.hosts["npu-a"]
    assert set(host.runs) == {f for e in host.envs for k, f in e.stack["installers"].items()
                              if k in ("toolkit", "kernels")}
    assert host.frameworks == ("mindspore", "torch")


def test_each_distinct_request_is_resolved_once_for_the_whole_fleet(matrix):
    calls = []

    def counting(m, request):
        calls.append(request)
        return resolve(m, request)

    many = {f"n{i:03d}": {"ascend_chip": "910b", "ascend_arch": "aarch64",
                          "ascend_containers": [{"name": "c", "framework": "torch" if i % 2 else "mindspore"}]}
            for i in range(50)}
    fleet = plan(many, matrix, resolver=counting)
    assert len(list(fleet.envs())) == 50
    assert len(calls) == 2


def test_a_host_with_problems_is_not_planned_and_its_problems_are_named(matrix):
    bad = {**HOSTS, "npu-c": {"ascend_chip": "910x", "ascend_arch": "x86_64",
                              "ascend_containers": [{"name": "c", "framework": "torch"}]}}
    fleet = plan(bad, matrix)
    assert "npu-c" not in fleet.hosts and "npu-a" in fleet.hosts
    assert any(p.startswith("npu-c: ascend_chip '910x'") for p in fleet.problems["npu-c"]), fleet.problems


def test_the_plan_dumps_to_plain_json_data(fleet):
    import json

    data = fleet.hosts["npu-a"].dump()
    assert json.loads(json.dumps(data)) == data
    assert data["envs"][0]["name"] == "npu-a-llm-pt"


def test_a_lenient_reader_plans_a_host_the_preflight_would_stop_unless_it_cannot_be_reached(matrix, tmp_path):
    """The doctor reads a fleet whose store is not there yet; an address that cannot be used is never planned."""
    missing_store = {**HOSTS["npu-a"], "ascend_offline": True, "ascend_offline_store": str(tmp_path / "none")}
    fleet = plan({"npu-a": missing_store}, matrix)
    assert "npu-a" in fleet.problems and not fleet.hosts
    fleet = plan({"npu-a": missing_store}, matrix, lenient=True)
    assert "npu-a" in fleet.hosts and "the store does not exist" in " ".join(fleet.ignored["npu-a"])
    bad_port = {**HOSTS["npu-a"], "ansible_port": 70000}
    fleet = plan({"npu-a": bad_port}, matrix, lenient=True)
    assert not fleet.hosts and "ansible_port 70000" in " ".join(fleet.problems["npu-a"])
