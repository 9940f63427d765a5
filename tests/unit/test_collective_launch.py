"""How the cross-host all_reduce starts its ranks: a plain `ssh ENV 'python -m ascend_env collective ...'`, as torchrun,
mpirun and msrun start remote ranks; the fleet table says so."""

from __future__ import annotations

import subprocess

import pytest

from ascend_env.collective import CollectiveError, ssh_argv, started
from ascend_env.smoke.fleet import collective_line


def test_the_ssh_command_is_batch_mode_with_the_inventorys_settings_and_one_quoted_command():
    argv = ssh_argv("127.0.0.12", ["python", "-m", "ascend_env", "collective", "--rank-table", "/etc/a b/hccl.json"],
                    port=223, user="root", key="/k/id",
                    ssh_args="-o UserKnownHostsFile=/k/known -o StrictHostKeyChecking=yes")
    assert argv[:7] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-p", "223"]
    assert argv[7:9] == ["-i", "/k/id"] and argv[9:13] == ["-o", "UserKnownHostsFile=/k/known", "-o",
                                                           "StrictHostKeyChecking=yes"]
    assert argv[13] == "root@127.0.0.12"
    # the remote login shell gets ONE string (sshd runs `$SHELL -c STRING`); it splits back into the same words
    back = subprocess.run(["sh", "-c", f'set -- {argv[14]}; for a in "$@"; do echo "[$a]"; done'],
                          capture_output=True, text=True).stdout.split("\n")
    assert back[:6] == ["[python]", "[-m]", "[ascend_env]", "[collective]", "[--rank-table]", "[/etc/a b/hccl.json]"]
    assert "-i" not in ssh_argv("h", ["true"])
    with pytest.raises(CollectiveError, match="needs a host and a command"):
        ssh_argv("", ["true"])


def test_a_rank_says_it_was_started_over_ssh(monkeypatch):
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    assert started()["over_ssh"] is False
    monkeypatch.setenv("SSH_CONNECTION", "127.0.0.1 50000 127.0.0.12 223")
    assert started()["over_ssh"] is True and started()["python"]


def _rep(rank, over_ssh):
    return {"world_size": 2, "backend": "gloo", "expected": 3.0, "started": {"over_ssh": over_ssh},
            "ranks": [{"rank": rank, "ok": True, "init_s": 0.5, "all_reduce_s": 0.001}]}


def test_the_fleet_line_counts_the_servers_whose_rank_came_over_ssh():
    line = collective_line([("t1-llm-torch", _rep(0, True)), ("t3-llm-torch", _rep(1, True))])
    assert line.startswith("collective all_reduce across t1-llm-torch, t3-llm-torch: world 2, backend gloo, sum 3.0 "
                           "correct on 2/2 ranks") and line.endswith("; started over ssh on 2/2 servers")
    assert "over ssh" not in collective_line([("a", _rep(0, False)), ("b", _rep(1, False))])
