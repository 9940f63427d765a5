"""ascend-env plan's command line: the limit covers the named hosts' environments, the table lists environments
not read, and those make the exit non-zero."""

from __future__ import annotations

import pytest

from ascend_env.cli.plan import _table, plan_limit


@pytest.mark.parametrize(("limit", "want"), [
    ("t1", "t1,t1-*"),
    ("t1,t2", "t1,t1-*,t2,t2-*"),
    ("t*", "t*"),
    ("t1,!t2", "t1,t1-*,!t2"),
    ("ascend_hosts:&rack1", "ascend_hosts:&rack1"),
    ("web[1:3]", "web[1:3]"),
])
def test_the_limit_takes_each_named_host_s_environments(limit, want):
    assert plan_limit(limit) == want


def test_the_table_names_an_environment_not_read():
    doc = {"hosts": {"h1": {"read": True, "ready": True, "problems": [], "changes": [], "notes": [],
                            "unread_envs": ["h1/llm"]}},
           "changes": 0, "unread": [], "unread_envs": ["h1/llm"]}
    lines = _table(doc)
    assert lines[0].startswith("h1/llm") and "NOT READ" in lines[0]
    assert not any("nothing to change" in ln for ln in lines)
    assert lines[-1].endswith("1 environment(s) not read")
