"""``ascend-env render container|sshd|env``: the renderers on the command line.

Exit codes: 0 ok, 2 usage error or invalid value (``error: <message>`` on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..render import (
    CONTAINER_DEVICE_DIR,
    DEFAULT_ASCEND_ROOT,
    DEFAULT_COMMAND,
    DEFAULT_DCMI_DIR,
    DEFAULT_DRIVER_DIR,
    DEFAULT_EXEC_PATH,
    DEFAULT_INSTALL_INFO,
    DEFAULT_NPU_SMI,
    DEFAULT_PROFILE,
    RUNTIMES,
    ContainerSpec,
    EnvSpec,
    Mount,
    PortMapping,
    RenderError,
    SshdSpec,
    exec_env,
    parse_device_selection,
    render_container_argv,
    render_env_block,
    render_env_hook,
    render_env_profile,
    render_env_runner,
    render_sshd_config,
)

EXIT_OK, EXIT_USAGE = 0, 2

_CONTAINER_EXAMPLES = """\
examples:
  # four cards for docker, the Ascend mounts added read-only; prints a shell-quoted command line
  python -m ascend_env render container --runtime docker --name llm --image ubuntu:22.04 --devices 0-3
  # the same for iSulad, as a JSON argv list
  python -m ascend_env render container --runtime isula --name llm --image ubuntu:22.04 --devices 0-3,7 --json
  # every card the host has (scans /dev/davinci<N>, or give --detected 0-7)
  python -m ascend_env render container --runtime docker --name llm --image IMG --devices all --shm-size 128g
  # bridge network with the IDE's sshd published on the host's port 2223
  python -m ascend_env render container --runtime docker --name llm --image IMG --devices 0 \\
      --network bridge -p 0.0.0.0:2223:223 -v /data/models:/models:ro -e HF_HOME=/models/hf
  # rely on the Ascend Docker Runtime (ASCEND_VISIBLE_DEVICES instead of --device and driver mounts)
  python -m ascend_env render container --runtime docker --name llm --image IMG --devices 0-3 --ascend-runtime
  # a different container command after --
  python -m ascend_env render container --runtime docker --name llm --image IMG --devices 0 -- /usr/sbin/sshd -D
"""

_SSHD_EXAMPLES = """\
examples:
  python -m ascend_env render sshd                                 # port 223, key-only logins
  python -m ascend_env render sshd --port 2223 --listen 10.0.0.5 --listen 127.0.0.1
  python -m ascend_env render sshd --option MaxSessions=20 --option AllowUsers=dev
  python -m ascend_env render sshd --password-login                # only when you really need passwords
"""

_ENV_EXAMPLES = """\
examples:
  # CANN before 8.5 (ascend-toolkit layout), npu-smi in /usr/local/sbin, a conda environment
  python -m ascend_env render env --set-env /usr/local/Ascend/ascend-toolkit/set_env.sh \\
      --npu-smi-dir /usr/local/sbin --conda-prefix /opt/conda --conda-env mindspore
  # CANN 8.5.0 and later (cann layout) with NNAL and a venv
  python -m ascend_env render env --set-env /usr/local/Ascend/cann/set_env.sh \\
      --nnal-set-env /usr/local/Ascend/nnal/atb/set_env.sh --venv /opt/venvs/torch
  # the same as /etc/profile.d/ascend-env.sh, the hook for the top of /etc/bash.bashrc, and ascend-run
  python -m ascend_env render env --as profile --set-env /usr/local/Ascend/ascend-toolkit/set_env.sh --venv /opt/v
  python -m ascend_env render env --as hook
  python -m ascend_env render env --as runner > /usr/local/bin/ascend-run && chmod 755 /usr/local/bin/ascend-run
  # what `docker run -e` needs so that `docker exec` gets the environment (one KEY=VALUE per line)
  python -m ascend_env render env --as exec --toolkit-home /usr/local/Ascend/ascend-toolkit/latest --venv /opt/v
"""

_DEVICE_NAME_RE = re.compile(r"^davinci([0-9]+)$")


def detect_cards(device_dir: str | Path) -> list[int]:
    """The card numbers of the ``davinci<N>`` entries in ``device_dir`` (the manager devices are not cards)."""
    root = Path(device_dir)
    if not root.is_dir():
        return []
    cards = []
    for entry in root.glob("davinci[0-9]*"):
        match = _DEVICE_NAME_RE.match(entry.name)
        if match:
            cards.append(int(match.group(1)))
    return sorted(cards)


def _key_values(items: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise RenderError(f"{what} {item!r} has no '='; write it as KEY=VALUE")
        key, value = item.split("=", 1)
        if key in out:
            raise RenderError(f"{what} {key!r} is given twice; keep one")
        out[key] = value
    return out


def _sshd_binary() -> str | None:
    return shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).is_file()),
                                        None)


def sshd_test(text: str) -> str | None:
    """``sshd -t`` on a rendered drop-in when sshd (and ssh-keygen) are installed here: its complaint, or None (it
    accepts the file, or this sshd cannot test here: then the default drop-in fails too and nothing is blamed)."""
    sshd, keygen = _sshd_binary(), shutil.which("ssh-keygen")
    if sshd is None or keygen is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ascend-env-sshd-") as tmp:
        key = Path(tmp) / "host_key"
        made = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], capture_output=True,
                              check=False, timeout=30)
        if made.returncode != 0:
            return None

        def test(config: str) -> subprocess.CompletedProcess[str]:
            conf = Path(tmp) / "sshd_config"
            conf.write_text(config, encoding="utf-8")
            return subprocess.run([sshd, "-t", "-f", str(conf), "-h", str(key)], capture_output=True, text=True,
                                  check=False, timeout=30)

        cp = test(text)
        if cp.returncode == 0 or test(render_sshd_config(SshdSpec())).returncode != 0:
            return None
        said = " ".join(ln.strip() for ln in (cp.stderr or cp.stdout).splitlines() if ln.strip())
        return said.replace(str(Path(tmp) / "sshd_config"), "the drop-in") or f"exit {cp.returncode}"


def add_render_parser(sub: Any) -> None:
    """Add ``render container|sshd|env`` to the top-level subparsers."""
    p = sub.add_parser("render", help="render the container run argv, the sshd drop-in or the shell environment",
                       description="Render the docker/isula run argv of an NPU container, the sshd_config drop-in "
                                   "for IDE access, or the Ascend shell environment block.")
    rsub = p.add_subparsers(dest="render_cmd", metavar="{container,sshd,env}", required=True)
    _add_container_parser(rsub)
    _add_sshd_parser(rsub)
    _add_env_parser(rsub)


def _add_container_parser(rsub: Any) -> None:
    """``render container``: the engine, the container, its devices and the host's Ascend paths."""
    fmt = argparse.RawDescriptionHelpFormatter
    q = rsub.add_parser("container", help="the docker run / isula run argv of an NPU container",
                        description="Print the docker run / isula run command of an NPU container: a shell-quoted "
                                    "line, or with --json the argv list.",
                        epilog=_CONTAINER_EXAMPLES, formatter_class=fmt)
    q.add_argument("--runtime", required=True, choices=RUNTIMES, help="the container CLI")
    q.add_argument("--name", required=True, help="container name")
    q.add_argument("--image", required=True,
                   help="image reference, e.g. quay.io/ascend/cann:8.0.0-910b-ubuntu22.04-py3.10")
    q.add_argument("--devices", default="all", metavar="SEL",
                   help="cards: '0-3,7' or 'all' (default: all, i.e. --detected or the cards found in --device-dir)")
    q.add_argument("--detected", metavar="LIST",
                   help="the host's cards, e.g. 0-7 (default for 'all': scan --device-dir)")
    q.add_argument("--device-dir", default=CONTAINER_DEVICE_DIR, metavar="DIR",
                   help="host directory of the davinci* devices (default: /dev); the container side stays /dev")
    q.add_argument("--no-manager-device", action="append", default=[], dest="no_manager", metavar="NAME",
                   choices=("davinci_manager", "devmm_svm", "hisi_hdc"),
                   help="leave out a manager device (hisi_hdc is absent on Atlas 200/200I SoC); repeatable")
    q.add_argument("--ascend-root", default=DEFAULT_ASCEND_ROOT, metavar="DIR", help="host Ascend root")
    q.add_argument("--driver-dir", metavar="DIR", help=f"host driver dir (default: <ascend-root>/driver, "
                                                       f"i.e. {DEFAULT_DRIVER_DIR})")
    q.add_argument("--dcmi-dir", default=DEFAULT_DCMI_DIR, metavar="DIR", help="host dcmi dir")
    q.add_argument("--npu-smi", default=DEFAULT_NPU_SMI, metavar="PATH",
                   help="host npu-smi binary (/usr/local/sbin/npu-smi on some hosts)")
    q.add_argument("--install-info", default=DEFAULT_INSTALL_INFO, metavar="PATH", help="host ascend_install.info")
    q.add_argument("--mount-driver-dir", action="store_true",
                   help="mount the whole driver dir instead of lib64, include and version.info")
    _add_container_options(q)


def _add_container_options(q: argparse.ArgumentParser) -> None:
    """The container's run options beyond its devices and the host's Ascend paths."""
    q.add_argument("--network", default="host", metavar="NET",
                   help="host (default), bridge, none, or a network name (isula: a native network's name)")
    q.add_argument("-p", "--publish", action="append", default=[], metavar="[HOSTIP:]HOST:CONTAINER",
                   help="publish a port (not with --network host); repeatable")
    q.add_argument("--shm-size", metavar="SIZE", help="/dev/shm size, e.g. 16g, 128G, 512m")
    q.add_argument("--workdir", metavar="DIR", help="working directory in the container")
    q.add_argument("--user", metavar="USER[:GROUP]", help="user in the container")
    q.add_argument("-v", "--volume", action="append", default=[], metavar="HOST:CTR[:ro]",
                   help="an extra bind mount (absolute paths); repeatable")
    q.add_argument("-e", "--env", action="append", default=[], metavar="K=V", help="an environment variable; "
                                                                                    "repeatable")
    q.add_argument("--label", action="append", default=[], metavar="K=V", help="a container label; repeatable")
    q.add_argument("--privileged", action="store_true", help="--privileged (never implied)")
    q.add_argument("--no-ipc-host", action="store_true", help="leave out --ipc=host")
    q.add_argument("--pids-limit", type=int, metavar="N", help="pids limit (-1: unlimited)")
    q.add_argument("--restart", metavar="POLICY",
                   help="restart policy (docker: no|always|unless-stopped|on-failure[:N]; "
                        "isula: no|always|on-reboot|on-failure[:N])")
    q.add_argument("--ascend-runtime", action="store_true",
                   help="rely on the Ascend Docker Runtime: ASCEND_VISIBLE_DEVICES instead of devices and mounts")
    q.add_argument("--oci-runtime", metavar="NAME",
                   help="pass --runtime=NAME (docker with the Ascend runtime not the default: 'ascend'; "
                        "isula gets --runtime=ascend with --ascend-runtime anyway)")
    q.add_argument("--no-detach", action="store_true", help="run in the foreground")
    q.add_argument("--json", action="store_true", help="print the argv as a JSON list")
    # dest must not be "command": the top-level parser stores the subcommand name there
    q.add_argument("container_command", nargs="*", metavar="-- CMD",
                   help=f"container command after '--' (default: {shlex.join(DEFAULT_COMMAND)})")


def _add_sshd_parser(rsub: Any) -> None:
    """``render sshd``: the drop-in's port, addresses, logins and extra options."""
    fmt = argparse.RawDescriptionHelpFormatter
    q = rsub.add_parser("sshd", help="the sshd_config drop-in for IDE access",
                        description="Print the sshd_config(5) drop-in for IDE access: key-only unless "
                                    "--password-login.", epilog=_SSHD_EXAMPLES, formatter_class=fmt)
    q.add_argument("--port", type=int, default=223, help="sshd port (default: 223)")
    q.add_argument("--listen", action="append", default=[], metavar="ADDR",
                   help="ListenAddress; repeatable (default: 0.0.0.0, every IPv4 interface)")
    q.add_argument("--password-login", action="store_true", help="allow password logins (default: keys only)")
    q.add_argument("--permit-root-login", default="prohibit-password",
                   choices=("prohibit-password", "forced-commands-only", "no", "yes"),
                   help="PermitRootLogin (default: prohibit-password; 'yes' needs --allow-insecure)")
    q.add_argument("--authorized-keys-file", default=".ssh/authorized_keys", metavar="PATH",
                   help="AuthorizedKeysFile (default: .ssh/authorized_keys)")
    q.add_argument("--client-alive-interval", type=int, default=60, metavar="SEC", help="default: 60")
    q.add_argument("--client-alive-count-max", type=int, default=3, metavar="N", help="default: 3")
    q.add_argument("--option", action="append", default=[], metavar="K=V",
                   help="an extra sshd_config keyword and value, checked against sshd's keywords and value types "
                        "(and with sshd -t when sshd is installed here); repeatable")
    q.add_argument("--allow-insecure", action="store_true",
                   help="allow --option to override the security settings")


def _add_env_parser(rsub: Any) -> None:
    """``render env``: what to print, and the paths of the stack it sets up."""
    fmt = argparse.RawDescriptionHelpFormatter
    q = rsub.add_parser("env", help="the Ascend shell environment block, profile, hook, runner or exec environment",
                        description="Print the Ascend shell environment block (POSIX sh, without managed-block "
                                    "markers), or with --as the file /etc/profile.d/ascend-env.sh, the line that "
                                    "sources it from the top of /etc/bash.bashrc and ~/.bashrc, the ascend-run "
                                    "wrapper, or the KEY=VALUE environment of a process started without a shell "
                                    "(docs/environment.md).", epilog=_ENV_EXAMPLES, formatter_class=fmt)
    q.add_argument("--as", dest="form", choices=("block", "profile", "hook", "runner", "exec"), default="block",
                   help="what to print (default: block)")
    q.add_argument("--profile", default=DEFAULT_PROFILE, metavar="PATH",
                   help=f"the profile the hook and the runner source (default: {DEFAULT_PROFILE})")
    q.add_argument("--toolkit-home", metavar="DIR",
                   help="with --as exec: the CANN toolkit home (<install>/ascend-toolkit/latest before 8.5, "
                        "<install>/cann from 8.5.0); without it, no CANN variables")
    q.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"),
                   help="with --as exec: the CPU architecture in CANN's op_tiling library path (default x86_64)")
    q.add_argument("--base-path", default=DEFAULT_EXEC_PATH, metavar="PATH",
                   help=f"with --as exec: the rest of PATH (default Docker's: {DEFAULT_EXEC_PATH})")
    q.add_argument("--set-env", metavar="PATH",
                   help="CANN set_env.sh (<install>/ascend-toolkit/set_env.sh before 8.5, <install>/cann/set_env.sh "
                        "from 8.5.0)")
    q.add_argument("--driver-root", default=DEFAULT_DRIVER_DIR, metavar="PATH",
                   help=f"driver dir whose lib64, lib64/common, lib64/driver go on LD_LIBRARY_PATH "
                        f"(default: {DEFAULT_DRIVER_DIR})")
    q.add_argument("--npu-smi-dir", metavar="DIR", help="directory of npu-smi to put on PATH")
    q.add_argument("--nnal-set-env", metavar="PATH", help="NNAL set_env.sh")
    q.add_argument("--conda-prefix", metavar="P", help="conda installation (with --conda-env)")
    q.add_argument("--conda-env", metavar="E", help="conda environment to activate (with --conda-prefix)")
    q.add_argument("--venv", metavar="P", help="virtual environment to activate")
    q.add_argument("--export", action="append", default=[], metavar="K=V", help="an extra export; repeatable")


def _container_spec(args: argparse.Namespace) -> ContainerSpec:
    available: list[int] | None = None
    if args.detected is not None:
        available = parse_device_selection(args.detected, None)
    elif args.devices.strip().lower() == "all":
        available = detect_cards(args.device_dir)
        if not available:
            raise RenderError(f"--devices all found no davinci<N> devices in {args.device_dir}; pass the host's "
                              "cards with --detected 0-7, or name the cards with --devices 0-3")
    data: dict[str, Any] = {
        "runtime": args.runtime,
        "name": args.name,
        "image": args.image,
        "devices": args.devices,
        "detach": not args.no_detach,
        "device_dir": args.device_dir,
        "host_ascend_root": args.ascend_root,
        "host_driver_dir": args.driver_dir,
        "host_dcmi_dir": args.dcmi_dir,
        "host_npu_smi": args.npu_smi,
        "host_install_info": args.install_info,
        "mount_driver_dir": args.mount_driver_dir,
        "ipc_host": not args.no_ipc_host,
        "network": args.network,
        "ports": [PortMapping.parse(p) for p in args.publish],
        "shm_size": args.shm_size,
        "workdir": args.workdir,
        "user": args.user,
        "mounts": [Mount.parse(v) for v in args.volume],
        "env": _key_values(args.env, "env"),
        "labels": _key_values(args.label, "label"),
        "privileged": args.privileged,
        "pids_limit": args.pids_limit,
        "restart": args.restart,
        "ascend_runtime": args.ascend_runtime,
        "oci_runtime": args.oci_runtime,
    }
    for manager in args.no_manager:
        data[manager] = False
    if args.container_command:
        data["command"] = list(args.container_command)
    return ContainerSpec.from_dict(data, available=available)


def run_render(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``render container|sshd|env``; returns the exit code."""
    try:
        if args.render_cmd == "container":
            argv = render_container_argv(_container_spec(args))
            print(json.dumps(argv) if args.json else shlex.join(argv), file=out)
        elif args.render_cmd == "sshd":
            spec = SshdSpec(port=args.port, listen_addresses=tuple(args.listen or ["0.0.0.0"]),
                            password_login=args.password_login, permit_root_login=args.permit_root_login,
                            authorized_keys_file=args.authorized_keys_file,
                            client_alive_interval=args.client_alive_interval,
                            client_alive_count_max=args.client_alive_count_max,
                            extra_options=_key_values(args.option, "option"), allow_insecure=args.allow_insecure)
            text = render_sshd_config(spec)
            refused = sshd_test(text) if args.option else None
            if refused:
                raise RenderError(f"this machine's sshd refuses the result (sshd -t: {refused}); fix or drop that "
                                  "--option")
            out.write(text)
        elif args.render_cmd == "env":
            spec_env = EnvSpec(set_env=args.set_env, driver_root=args.driver_root, npu_smi_dir=args.npu_smi_dir,
                               nnal_set_env=args.nnal_set_env, conda_prefix=args.conda_prefix,
                               conda_env=args.conda_env, venv=args.venv,
                               exports=_key_values(args.export, "export"))
            if args.form == "profile":
                out.write(render_env_profile(spec_env))
            elif args.form == "hook":
                out.write(render_env_hook(args.profile))
            elif args.form == "runner":
                out.write(render_env_runner(args.profile))
            elif args.form == "exec":
                for key, value in exec_env(spec_env, args.toolkit_home, args.arch, args.base_path).items():
                    print(f"{key}={value}", file=out)
            else:
                out.write(render_env_block(spec_env))
        else:  # pragma: no cover - argparse rejects it first
            print(f"error: unknown render command {args.render_cmd!r}", file=err)
            return EXIT_USAGE
    except RenderError as exc:
        print(f"error: {cli_words(str(exc), args.render_cmd)}", file=err)
        return EXIT_USAGE
    return EXIT_OK


#: the spec keys (inventory and playbook spelling) each ``render`` subcommand takes as a flag, for error messages:
#: the renderers name what the inventory calls a value; the command line user typed a flag
_FLAGS: dict[str, dict[str, str]] = {
    "sshd": {"allow_insecure": "--allow-insecure", "permit_root_login": "--permit-root-login",
             "password_login": "--password-login", "listen_addresses": "--listen",
             "authorized_keys_file": "--authorized-keys-file", "client_alive_interval": "--client-alive-interval",
             "client_alive_count_max": "--client-alive-count-max", "extra_options": "--option"},
    "container": {"host_ascend_root": "--ascend-root", "host_driver_dir": "--driver-dir",
                  "host_dcmi_dir": "--dcmi-dir", "host_npu_smi": "--npu-smi", "host_install_info": "--install-info",
                  "mount_driver_dir": "--mount-driver-dir", "ipc_host": "--no-ipc-host", "shm_size": "--shm-size",
                  "pids_limit": "--pids-limit", "oci_runtime": "--oci-runtime", "ascend_runtime": "--ascend-runtime",
                  "device_dir": "--device-dir"},
    "env": {"set_env": "--set-env", "driver_root": "--driver-root", "npu_smi_dir": "--npu-smi-dir",
            "nnal_set_env": "--nnal-set-env", "conda_prefix": "--conda-prefix", "conda_env": "--conda-env",
            "exports": "--export"},
}


def cli_words(message: str, command: str) -> str:
    """``message`` (a renderer's, which names spec keys as the inventory spells them) with each key the subcommand
    takes as a flag named as that flag: "set allow_insecure: true" -> "pass --allow-insecure", "permit_root_login
    'yes'" -> "--permit-root-login 'yes'"."""
    flags = _FLAGS.get(command, {})
    if not flags:
        return message
    keys = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
    message = re.sub(rf"\bset ({keys}): true\b", lambda mo: f"pass {flags[mo[1]]}", message)
    message = re.sub(rf"\buse ({keys}): true\b", lambda mo: f"use {flags[mo[1]]}", message)
    return re.sub(rf"(?<![\w-])({keys})\b", lambda mo: flags[mo[1]], message)
