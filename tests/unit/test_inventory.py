"""Reading an inventory as site.yml sees it: the containers it builds and the stack it resolves for each."""

from __future__ import annotations

from ascend_env.inventory import enabled_containers, env_targets, expected_stack, group_hosts, stack_request

DATA = {
    "_meta": {"hostvars": {
        "npu-a": {"ansible_host": "10.0.0.5", "ascend_chip": "910b", "ascend_arch": "x86_64",
                  "ascend_host_pins": {"driver": "25.0.rc1.1", "python": "3.10"},
                  "ascend_containers": [
                      {"name": "llm-pt", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}},
                      {"name": "off", "framework": "torch", "enabled": False},
                      {"name": "llm-ms", "framework": "mindspore", "ssh_port": 224}]},
        "npu-b": {"ascend_chip": "310p", "ascend_arch": "aarch64", "ascend_containers": []},
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


def test_disabled_containers_are_not_built():
    assert [c["name"] for c in enabled_containers(DATA["_meta"]["hostvars"]["npu-a"])] == ["llm-pt", "llm-ms"]


def test_env_targets_are_named_and_reached_as_add_host_does():
    got = [(t.name, t.address, t.port) for t in env_targets(DATA)]
    assert got == [("npu-a-llm-pt", "10.0.0.5", 223), ("npu-a-llm-ms", "10.0.0.5", 224)]


def test_container_pins_override_the_hosts():
    hv = DATA["_meta"]["hostvars"]["npu-a"]
    req = stack_request(hv, hv["ascend_containers"][0])
    assert req == {"chip": "910b", "arch": "x86_64", "framework": "torch",
                   "pins": {"driver": "25.0.rc1.1", "python": "3.11", "torch": "2.13.0"}}


def test_expected_stack_is_the_resolvers():
    hv = DATA["_meta"]["hostvars"]["npu-a"]
    stack = expected_stack(hv, hv["ascend_containers"][0])
    assert stack["ok"] is True
    comps = stack["components"]
    assert comps["torch"]["version"] == "2.13.0" and comps["python"]["version"].startswith("3.11")
    assert comps["torch_npu"]["version"]
