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


ENVS = [{"name": "h1-llm", "host": "h1", "container": "llm", "on_host": False},
        {"name": "h1-new", "host": "h1", "container": "new", "on_host": False}]
HOST = {"ascend_plan": {**PLAN, "envs": ENVS}, "ascend_host_state": STATE,
        "ascend_container_todo": {"image": False, "containers": []}, "ascend_ssh_todo_list": []}
ENV_READ = {"ascend_env_state": {"changed": False}, "ascend_python_plan_changes": [],
            "ascend_cann_plan_changes": [], "ascend_framework_plan_changes": []}


def test_an_environment_s_changes_are_rows_under_its_host_counted_in_changes():
    llm = {**ENV_READ,
           "ascend_cann_plan_changes": [{"role": "cann", "part": "kernels",
                                         "reason": "CANN kernels 8.0.RC1 -> 8.2.RC1"}],
           "ascend_framework_plan_changes": [{"role": "framework", "part": "install",
                                              "reason": "torch_npu (none) -> 2.1.0.post3"}]}
    out = fleet_report({"h1": HOST, "h1-llm": llm, "h1-new": ENV_READ}, ["h1"], envs=True)
    changes = out["report"]["hosts"]["h1"]["changes"]
    assert [(c["target"], c["role"], c["what"], c["why"]) for c in changes] == [
        ("h1/llm", "cann", "CANN kernels 8.0.RC1 -> 8.2.RC1", "kernels"),
        ("h1/llm", "framework", "torch_npu (none) -> 2.1.0.post3", "install")]
    assert out["report"]["changes"] == 2 and out["report"]["unread_envs"] == []
    assert "h1/llm  framework: torch_npu (none) -> 2.1.0.post3 (install)" in out["lines"]
    assert not any("nothing to change" in ln for ln in out["lines"])


def test_unchanged_environments_leave_nothing_to_change():
    out = fleet_report({"h1": HOST, "h1-llm": ENV_READ, "h1-new": ENV_READ}, ["h1"], envs=True)
    assert out["report"]["changes"] == 0 and out["lines"][0].endswith("nothing to change")


def test_an_environment_not_read_is_listed_never_nothing_to_do():
    unreachable = {"ascend_env_state": {"unreachable": True, "msg": "ssh: connect refused"}}
    for env in ({}, unreachable, {"ascend_env_state": {"failed": True}}, {"ascend_env_state": {}}):
        out = fleet_report({"h1": HOST, "h1-llm": env, "h1-new": ENV_READ}, ["h1"], envs=True)
        assert out["report"]["unread_envs"] == ["h1/llm"], env
        assert out["report"]["hosts"]["h1"]["unread_envs"] == ["h1/llm"]
        assert not any("nothing to change" in ln for ln in out["lines"])
        assert any(ln.startswith("h1/llm") and "NOT READ" in ln for ln in out["lines"])
        assert "1 environment(s) not read" in out["lines"][-1]


def test_a_container_the_run_creates_or_starts_is_read_after_it_a_note_not_unread():
    host = {**HOST, "ascend_container_todo": {"image": False, "containers": [
        {"name": "new", "action": "create", "why": ["it does not exist"]}]}}
    out = fleet_report({"h1": host, "h1-llm": ENV_READ}, ["h1"], envs=True)
    doc = out["report"]
    assert doc["unread_envs"] == [] and doc["changes"] == 1
    assert doc["hosts"]["h1"]["notes"] == [{"target": "h1/new", "role": "env",
                                             "what": "read after the container is created", "why": ""}]


def test_an_environment_on_the_host_is_named_by_its_env_host_name():
    host = {**HOST, "ascend_plan": {**PLAN, "envs": [{"name": "h1-env", "host": "h1", "container": "",
                                                      "on_host": True}]}}
    env = {**ENV_READ, "ascend_python_plan_changes": [{"role": "python", "part": "venv",
                                                      "reason": "the venv /opt/v does not exist"}]}
    out = fleet_report({"h1": host, "h1-env": env}, ["h1"], envs=True)
    assert [(c["target"], c["role"]) for c in out["report"]["hosts"]["h1"]["changes"]] == [("h1-env", "python")]


def test_without_envs_the_environments_are_not_looked_at():
    # site.yml's table at the top of a run: the environments are read by the run itself, not by the plan
    out = fleet_report({"h1": HOST}, ["h1"])
    assert out["report"]["unread_envs"] == [] and out["lines"][0].endswith("nothing to change")


def test_an_environment_of_an_unread_host_is_not_listed_twice():
    out = fleet_report({"h1": {"ascend_plan": {**PLAN, "envs": ENVS}}}, ["h1"], envs=True)
    assert out["report"]["unread"] == ["h1"] and out["report"]["unread_envs"] == []
