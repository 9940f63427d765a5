"""What a run would change, gathered from the roles' own comparisons (ascend_env.plan.report)."""

from __future__ import annotations

from ascend_env.plan.report import fleet_report

PLAN = {"name": "h1", "image": "ascend-env/base:bookworm", "driver_manage": False, "pins": {}}
STATE = {"facts": {"driver": {"driver": {"values": {"Version": "25.0.rc1.1"}}}}}


def test_an_unchanged_host_has_nothing_to_change_and_exit_zero_material():
    out = fleet_report({"h1": {"ascend_plan": PLAN, "ascend_host_state": STATE,
                               "ascend_container_todo": {"image": False, "containers": []},
                               "ascend_ssh_todo_list": [], "ascend_driver_check_problems": []}}, ["h1"])
    assert out["report"]["changes"] == 0 and out["report"]["unread"] == []
    assert out["lines"][0].endswith("nothing to change")


def test_changes_name_the_target_the_role_and_why():
    facts = {"ascend_plan": {**PLAN, "driver_manage": True, "pins": {"driver": "25.2.0"}}, "ascend_host_state": STATE,
             "ascend_container_todo": {"image": True, "containers": [
                 {"name": "llm", "action": "recreate", "why": ["env: PATH", "image a -> b"]}]},
             "ascend_ssh_todo_list": [{"name": "llm", "todo": ["dropin"], "read": True},
                                      {"name": "other", "todo": ["sshd"], "read": False}]}
    out = fleet_report({"h1": facts}, ["h1"])
    changes = out["report"]["hosts"]["h1"]["changes"]
    assert [(c["target"], c["role"], c["what"]) for c in changes] == [
        ("h1", "driver", "driver 25.0.rc1.1 -> 25.2.0"),
        ("h1", "container", "load the base image ascend-env/base:bookworm"),
        ("h1/llm", "container", "recreate"), ("h1/llm", "ssh", "dropin")]
    assert changes[2]["why"] == "env: PATH; image a -> b"
    # a stopped container's sshd is read once it runs: a note, not a change
    assert out["report"]["changes"] == 4
    assert out["report"]["hosts"]["h1"]["notes"][0]["what"] == "read once the container runs"


def test_a_host_not_read_is_never_nothing_to_do():
    out = fleet_report({"h1": {"ascend_plan": PLAN}}, ["h1"])
    assert out["report"]["unread"] == ["h1"] and "NOT READ" in out["lines"][0]


def test_a_host_not_ready_is_named_with_its_problems():
    out = fleet_report({"h1": {"ascend_plan": PLAN, "ascend_host_state": STATE,
                               "ascend_driver_check_problems": ["h1: the NPU host is not ready:", "- npu-smi ..."]}},
                       ["h1"])
    assert out["report"]["hosts"]["h1"]["ready"] is False and "NOT READY" in out["lines"][0]
