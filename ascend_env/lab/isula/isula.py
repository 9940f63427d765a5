#!/usr/bin/env python3
"""isula: the lab's iSulad client, a shim over the host's Docker engine (stdlib only).

It exists so site.yml's isula code path runs for real in the lab: it parses the command line the way iSulad's
client does (openeuler-mirror/iSulad: src/cmd/command_parser.c, src/cmd/isula/base/create.h), refuses what
isula refuses with isula's own message and exit code (``Unknown flag found:'--network=host'``, 125), and runs
the equivalent docker command against ``$DOCKER_HOST``.  It is not iSulad: images, inspect output and the engine
are Docker's (iSulad's inspect JSON has the same ``State.Running`` and ``Config.Labels`` keys, which is what the
roles read).
"""

import os
import shutil
import sys

EINVALIDARGS = 125  # iSulad: src/common/constants.h

# isula create/run options: long name -> (short letter or "", takes a value). From create.h CREATE_OPTIONS and
# CREATE_EXTEND_OPTIONS, plus run's -d/--detach and --rm.
CREATE = {
    "accel": ("", True), "read-only": ("", False), "cap-add": ("", True), "cap-drop": ("", True),
    "cpu-shares": ("", True), "cpu-period": ("", True), "cpu-quota": ("", True), "cpuset-cpus": ("", True),
    "cpuset-mems": ("", True), "device-read-bps": ("", True), "device-write-bps": ("", True),
    "oom-score-adj": ("", True), "device": ("", True), "env": ("e", True), "env-file": ("", True),
    "label": ("l", True), "label-file": ("", True), "entrypoint": ("", True), "external-rootfs": ("", True),
    "files-limit": ("", True), "hook-spec": ("", True), "hostname": ("h", True), "add-host": ("", True),
    "dns": ("", True), "dns-opt": ("", True), "dns-search": ("", True), "user-remap": ("", True),
    "ipc": ("", True), "shm-size": ("", True), "kernel-memory": ("", True), "hugetlb-limit": ("", True),
    "log-driver": ("", True), "log-opt": ("", True), "memory": ("m", True), "memory-reservation": ("", True),
    "memory-swap": ("", True), "memory-swappiness": ("", True), "mount": ("", True), "group-add": ("", True),
    "name": ("n", True), "net": ("", True), "pid": ("", True), "pids-limit": ("", True),
    "privileged": ("", False), "tty": ("t", False), "restart": ("", True), "host-channel": ("", True),
    "runtime": ("R", True), "user": ("u", True), "uts": ("", True), "volume": ("v", True),
    "annotation": ("", True), "workdir": ("", True), "system-container": ("", False),
    "oom-kill-disable": ("", False), "security-opt": ("", True), "storage-opt": ("", True),
    "health-cmd": ("", True), "sysctl": ("", True), "env-target-file": ("", True), "cgroup-parent": ("", True),
    "health-interval": ("", True), "health-retries": ("", True), "health-timeout": ("", True),
    "health-start-period": ("", True), "no-healthcheck": ("", False), "health-exit-on-unhealthy": ("", False),
    "ns-change-opt": ("", True), "ulimit": ("", True), "interactive": ("i", False),
    "detach": ("d", False), "rm": ("", False),
}
# iSulad-only options docker has no equivalent for; the lab refuses them rather than pretend.
ISULA_ONLY = {"accel", "external-rootfs", "files-limit", "hook-spec", "user-remap", "host-channel",
              "system-container", "ns-change-opt", "env-target-file", "annotation", "health-exit-on-unhealthy"}
RESTART = ("no", "always", "on-reboot", "on-failure")
EXEC = {"detach": ("d", False), "env": ("e", True), "interactive": ("i", False), "tty": ("t", False),
        "user": ("u", True), "workdir": ("", True), "time": ("", True)}
INSPECT = {"format": ("f", True), "time": ("t", True)}
LOAD = {"input": ("i", True), "type": ("", True), "tag": ("", True)}
RM = {"force": ("f", False), "volumes": ("v", False)}
STOP = {"force": ("f", False), "time": ("t", True)}
PS = {"all": ("a", False), "quiet": ("q", False), "no-trunc": ("", False), "format": ("", True),
      "filter": ("f", True)}
PLAIN: "dict[str, tuple[str, bool]]" = {}  # a string: the shim runs on the lab host's own python3
COMMANDS = {"run": CREATE, "create": CREATE, "exec": EXEC, "inspect": INSPECT, "load": LOAD, "rm": RM,
            "start": PLAIN, "stop": STOP, "restart": STOP, "kill": PLAIN, "ps": PS, "images": {"quiet": ("q", False)},
            "version": PLAIN, "info": PLAIN,
            # isula top [OPTIONS] container [ps options] (openEuler's iSulad guide, "Querying Process Information in
            # a Container"); the ps options follow the name, so they pass through as docker top's
            "top": PLAIN}


def fail(msg, code=EINVALIDARGS):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(code)


def parse(cmd, opts, args):
    """(options as [(long, value)], positional args) the way command_parse_args reads them: options end at the
    first non-flag word (the image, for run), ``--`` ends them too."""
    shorts = {s: name for name, (s, _) in opts.items() if s}
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            break
        if a == "--":
            i += 1
            break
        if a.startswith("--"):
            body = a[2:]
            if body == "help":
                print(f"Usage:  isula {cmd} [OPTIONS]")
                sys.exit(0)
            name, eq, val = body.partition("=")
            if name not in opts:
                fail(f"Unknown flag found:'--{body}'\n")
            takes = opts[name][1]
            if takes and not eq:
                if i + 1 >= len(args):
                    fail(f"Flag needs an argument: --{name}")
                i += 1
                val = args[i]
            out.append((name, val if takes else (val or "true")))
        else:
            j = 1
            while j < len(a):
                c = a[j]
                if c not in shorts:
                    fail(f"Unknown flag found:'{c}'")
                name = shorts[c]
                if opts[name][1]:
                    val = a[j + 1:].lstrip("=")
                    if not val:
                        if i + 1 >= len(args):
                            fail(f"Flag needs an argument: --{name}")
                        i += 1
                        val = args[i]
                    out.append((name, val))
                    break
                out.append((name, "true"))
                j += 1
        i += 1
    return out, args[i:]


def docker_flags(cmd, options):
    argv = []
    for name, val in options:
        if cmd in ("run", "create"):
            if name in ISULA_ONLY:
                fail(f"isula {cmd}: --{name} is an iSulad feature the ascend-env lab does not simulate")
            if name == "runtime":
                if val in ("lcr", "runc"):
                    continue  # the lab engine's default OCI runtime
                fail(f"isula {cmd}: runtime {val!r} is not configured on this (lab) host; the lab maps devices "
                     "itself and has no Ascend Docker Runtime, so render without --runtime")
            if name == "restart" and val.split(":")[0] not in RESTART:
                fail(f"Unsupported restart policy: {val}")
            if name == "restart" and val == "on-reboot":
                val = "unless-stopped"
            if name == "net":
                name = "network"
        if cmd == "load" and name in ("type", "tag"):
            continue
        if cmd == "exec" and name == "time":
            continue
        if val == "true" and name in {k for k, (_, takes) in COMMANDS[cmd].items() if not takes}:
            argv.append("--" + name)
        else:
            argv.append(f"--{name}={val}")
    return argv


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("USAGE:\n\tisula <command> [args...]\n\nCOMMANDS:\n\t" + "\n\t".join(sorted(COMMANDS)))
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        fail(f"command \"{cmd}\" not found")
    docker = shutil.which("docker") or "/usr/bin/docker"
    if cmd == "version":
        engine = os.environ.get("DOCKER_HOST", "default socket")
        print(f"Client:\n  Version:\t2.1.5 (ascend-env lab shim)\n  Engine:\tDocker at {engine}")
        return 0
    options, positional = parse(cmd, COMMANDS[cmd], rest)
    if cmd in ("run", "create") and not positional:
        fail(f"isula {cmd} requires at least 1 argument.")
    if cmd == "load" and not any(n == "input" for n, _ in options):
        fail("isula load requires input file path")
    full = [docker, cmd, *docker_flags(cmd, options), *positional]
    os.execv(docker, full)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
