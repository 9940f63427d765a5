"""Reading an inventory as site.yml sees it: the NPU hosts in inventory order, planned by the preflight's planner."""

from __future__ import annotations

import pytest

from ascend_env.inventory import InventoryError, fleet_plan, group_hosts, hostvars_of

DATA = {
    "_meta": {"hostvars": {
        "npu-a": {"ansible_host": "10.0.0.5", "ascend_chip": "910b", "ascend_arch": "x86_64",
                  "ascend_host_pins": {"driver": "25.0.rc1.1", "python": "3.10"},
                  "ascend_containers": [
                      {"name": "llm-pt", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}},
                      {"name": "off", "framework": "torch", "enabled": False},
                      {"name": "llm-ms", "framework": "mindspore", "ssh_port": 224}]},
        "npu-b": {"ansible_host": "10.0.0.6", "ascend_chip": "310p", "ascend_arch": "aarch64",
                  "ascend_containers": []},
        "other": {},
    }},
    "all": {"children": ["ungrouped", "ascend_hosts"]},
    "ascend_hosts": {"children": ["rack1"], "hosts": ["npu-b"]},
    "rack1": {"hosts": ["npu-a"]},
    "ungrouped": {"hosts": ["other"]},
}


def test_group_hosts_follow_children_without_duplicates():
    assert group_hosts(DATA, "ascend_hosts") == ["npu-b", "npu-a"]
    assert group_hosts(DATA, "missing") == []


def test_the_npu_hosts_are_those_of_ascend_hosts_in_inventory_order():
    assert list(hostvars_of(DATA)) == ["npu-b", "npu-a"]


def test_the_environments_are_the_plans_enabled_containers_reached_as_add_host_does():
    fleet = fleet_plan(DATA)
    got = [(e.name, e.connection.address, e.connection.port) for e in fleet.envs()]
    assert got == [("npu-a-llm-pt", "10.0.0.5", 223), ("npu-a-llm-ms", "10.0.0.5", 224)]


def test_container_pins_override_the_hosts_and_the_stack_is_the_resolvers():
    env = fleet_plan(DATA).env("npu-a-llm-pt")
    assert env.stack["request"]["pins"] == {"driver": "25.0.rc1.1", "python": "3.11", "torch": "2.13.0"}
    assert env.version("torch") == "2.13.0" and env.version("python").startswith("3.11") and env.version("torch_npu")


def test_limit_names_npu_hosts_only():
    assert list(fleet_plan(DATA, "npu-a").hosts) == ["npu-a"]
    with pytest.raises(InventoryError, match="--limit 'other': no NPU host other"):
        fleet_plan(DATA, "other")


def test_an_inventory_without_npu_hosts_is_an_error_not_an_empty_fleet():
    with pytest.raises(InventoryError, match="has no host in the group ascend_hosts"):
        fleet_plan({"_meta": {"hostvars": {"x": {}}}, "ungrouped": {"hosts": ["x"]}})
