"""The fan-out's rsync/SSH transport (ascend_env.fanout_rsync) end to end on this machine: real rsync, rrsync and
sha256sum, with a stand-in `ssh` that runs the remote command through `sh -c` in the named host's place (and, for a
peer's key, through `rrsync -ro <that host's store>` as the authorized_keys line does).  Store paths carry quotes,
spaces and `$(...)`: nothing of them may run, every byte must arrive."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.fanout import CONTROLLER, State, Transfer
from ascend_env.fanout_exec import run_fanout
from ascend_env.fanout_rsync import Endpoint, RsyncTransport, known_hosts_file, known_lines, rsync_bytes

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("rsync", "rrsync", "sha256sum", "sh")),
                                reason="needs rsync, rrsync and sha256sum (Debian: apt-get install rsync coreutils)")

FAKE_SSH = r'''#!PYTHON
"""ssh stand-in: log argv, then run the command as the named host would."""
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
opts, i, key = {}, 0, None
while i < len(args):
    a = args[i]
    if a == "--":
        i += 1
        break
    if a in ("-p", "-i", "-o", "-l", "-F", "-J"):
        if a == "-i":
            key = args[i + 1]
        i += 2
        continue
    if a.startswith("-"):
        i += 1
        continue
    break
host, command = args[i], " ".join(args[i + 1:])
stores = json.loads(os.environ["FAKE_SSH_STORES"])
if host in os.environ.get("FAKE_SSH_DEAD", "").split():
    sys.stderr.write(f"ssh: connect to host {host} port 22: Connection refused\n")
    sys.exit(255)
if key and key.endswith("/.fanout/key"):
    # the source's authorized_keys: restrict,command="rrsync -ro <store copy>"
    env = dict(os.environ, SSH_ORIGINAL_COMMAND=command)
    sys.exit(subprocess.call(["rrsync", "-ro", stores[host]], env=env))
sys.exit(subprocess.call(["sh", "-c", command], cwd=os.environ["FAKE_SSH_CWD"]))
'''

EVIL = "st'o\"re $(touch PWNED) ;x"


@pytest.fixture()
def fleet(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH.replace("PYTHON", sys.executable))
    ssh.chmod(0o755)
    store = tmp_path / "controller store"
    files = {"runs/toolkit.run": os.urandom(300_000), "wheels/torch-2.1.0-cp39-none-any.whl": os.urandom(70_000),
             "images/base image.tar": os.urandom(5_000)}
    for p, data in files.items():
        (store / p).parent.mkdir(parents=True, exist_ok=True)
        (store / p).write_bytes(data)
    sums = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    hosts = {}
    for n in (1, 2, 3):
        d = tmp_path / f"h{n}" / EVIL
        d.mkdir(parents=True)
        (d / ".fanout").mkdir()
        hosts[f"h{n}"] = Endpoint(name=f"h{n}", address=f"10.0.0.{n}", port=2200 + n, user="root", store_dir=str(d),
                                  key_file="/keys/id with space",
                                  ssh_common_args="-o UserKnownHostsFile='/k/known hosts' -o StrictHostKeyChecking=yes")
    log = tmp_path / "ssh.log"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_SSH_LOG=str(log), FAKE_SSH_CWD=str(tmp_path),
               FAKE_SSH_STORES=json.dumps({e.address: e.store_dir for e in hosts.values()}))
    return {"tmp": tmp_path, "store": store, "files": files, "sums": sums, "hosts": hosts, "env": env, "log": log}


def transport(f, **env):
    run = functools.partial(subprocess.run, env={**f["env"], **env})
    return RsyncTransport(f["hosts"], str(f["store"]), f["sums"], run=run)


def logged(f) -> list[list[str]]:
    return [json.loads(line) for line in f["log"].read_text().splitlines()]


def test_controller_push_then_peer_pull_carry_every_byte_and_run_nothing_of_the_paths(fleet):
    t = transport(fleet)
    paths = tuple(sorted(fleet["files"]))
    push = t.send(Transfer(CONTROLLER, "h1", paths, 0))
    assert push.ok, push.message
    assert push.bytes >= sum(len(d) for d in fleet["files"].values())           # rsync --stats: bytes sent
    assert t.check("h1", paths).ok
    pull = t.send(Transfer("h1", "h2", paths, 0))
    assert pull.ok, pull.message
    assert pull.bytes >= sum(len(d) for d in fleet["files"].values())           # bytes received by the puller
    for h in ("h1", "h2"):
        for p, data in fleet["files"].items():
            assert (Path(fleet["hosts"][h].store_dir) / p).read_bytes() == data
    assert not list(fleet["tmp"].rglob("PWNED")) and not Path("PWNED").exists()
    calls = logged(fleet)
    # the controller's ssh: the plan's port, key and the site's options, as separate words
    first = calls[0]
    assert first[:4] == ["-p", "2201", "-i", "/keys/id with space"]
    assert first[4:8] == ["-o", "UserKnownHostsFile=/k/known hosts", "-o", "StrictHostKeyChecking=yes"]
    # the peer's ssh (run on h2): the fan-out key and h2's copy of the peers' host keys, strict checking
    peer = next(c for c in calls if c[c.index("-i") + 1].endswith("/.fanout/key"))
    h2 = fleet["hosts"]["h2"].store_dir
    assert peer[peer.index("-i") + 1] == f"{h2}/.fanout/key" and "10.0.0.1" in peer
    assert f"UserKnownHostsFile={h2}/.fanout/known_hosts" in peer and "StrictHostKeyChecking=yes" in peer
    assert peer[peer.index("-p") + 1] == "2201"


def test_a_copy_that_differs_is_named_by_the_check(fleet):
    t = transport(fleet)
    paths = tuple(sorted(fleet["files"]))
    assert t.send(Transfer(CONTROLLER, "h1", paths, 0)).ok
    (Path(fleet["hosts"]["h1"].store_dir) / "runs/toolkit.run").write_bytes(b"rotten")
    step = t.check("h1", paths)
    assert not step.ok and step.bad == ("runs/toolkit.run",) and not step.unreachable
    missing = t.check("h3", paths)
    assert not missing.ok and set(missing.bad) == set(paths)


def test_a_dead_host_is_unreachable_not_bad(fleet):
    t = transport(fleet, FAKE_SSH_DEAD="10.0.0.2")
    step = t.check("h2", ("runs/toolkit.run",))
    assert not step.ok and step.unreachable and "Connection refused" in step.message
    assert not t.alive("h2") and t.alive("h1")
    sent = t.send(Transfer(CONTROLLER, "h2", ("runs/toolkit.run",), 0))
    assert not sent.ok and "rsync exit" in sent.message


def test_the_wave_loop_over_rsync_fans_out_to_three_hosts_with_one_bundle_from_the_controller(fleet):
    sizes = {p: len(d) for p, d in fleet["files"].items()}
    state = State(sizes=sizes, need={h: set(sizes) for h in fleet["hosts"]}, alive=set(fleet["hosts"]))
    report = run_fanout(state, transport(fleet), say=lambda s: None, warn=lambda s: None, sleep=lambda s: None)
    assert report["done"] and report["lost"] == []
    bundle = sum(sizes.values())
    assert bundle <= report["bytes"]["controller"] <= bundle * 1.05
    assert 2 * bundle <= report["bytes"]["peers"] <= 2 * bundle * 1.05
    for h in fleet["hosts"].values():
        for p, data in fleet["files"].items():
            assert (Path(h.store_dir) / p).read_bytes() == data


def test_known_hosts_lines_and_file(tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("needs ssh-keygen")
    kh = tmp_path / "known_hosts"
    kh.write_text("[10.0.0.1]:2201 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf0\n"
                  "10.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf1\n")
    ep = Endpoint("h1", "10.0.0.1", 2201, "root", "/s")
    assert known_lines(ep, str(kh)) == ["[10.0.0.1]:2201 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf0"]
    assert known_lines(Endpoint("h2", "10.0.0.2", 22, "root", "/s"), str(kh)) == \
        ["10.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf1"]
    assert known_lines(Endpoint("h3", "10.0.0.3", 22, "root", "/s"), str(kh)) == []
    assert known_hosts_file("-o UserKnownHostsFile=/a/b -o StrictHostKeyChecking=yes", "d") == "/a/b"
    assert known_hosts_file("-o 'UserKnownHostsFile /x y'", "d") == "/x"
    assert known_hosts_file("-o ControlMaster=auto", "~/.ssh/known_hosts") == "~/.ssh/known_hosts"


def test_rsync_bytes_reads_its_stats():
    out = "Number of files: 3\nTotal bytes sent: 375,112\nTotal bytes received: 96\n"
    assert rsync_bytes(out, "sent") == 375112 and rsync_bytes(out, "received") == 96 and rsync_bytes("", "sent") == 0
