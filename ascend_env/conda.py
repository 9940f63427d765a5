"""The Python environment of a container: a venv, or a conda environment (``ascend_python_provider: conda``).

Pure functions shared by the roles (through the filters ``ascend_env_python_env`` and ``ascend_env_conda_plan``),
the preflight, the testinfra suite and the doctor, so each of them finds the same environment at the same path:

* :func:`python_env` — where the environment of a container is (``/opt/ascend-env/venv``, or
  ``<ascend_conda_prefix>/envs/<ascend_python_env_name>``) and its name; the default name follows the stack
  (``ascend-cann8.2-py3.9``), so a Python change in the stack gives a new environment, never an in-place change;
* :func:`conda_plan` — what the ascend_python role runs for a conda environment: the installer (a site's
  Miniforge/Miniconda ``.sh`` from the artefact store, ``bash X.sh -b -p PREFIX``, then ``conda create``; or
  ``rattler``: py-rattler from the store's wheels, in a small tool venv, solving and installing from the channel),
  the channels (default: the store's own indexed channel, ``file://<store>/conda/channel``), the ``.condarc`` with
  the channels, the CA bundle and the proxy pip.conf has, and the commands.

Every bad value raises :class:`CondaSettingError`, whose message names the variable, the value and the fix.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .errors import AscendEnvError

__all__ = ["DEFAULT_CONDA_PREFIX", "DEFAULT_TOOL_VENV", "DEFAULT_VENV", "INSTALLERS_DIR", "PROVIDERS", "RATTLER",
           "RATTLER_SCRIPT", "STORE_CHANNEL", "CondaSettingError", "check_settings", "conda_plan", "condarc",
           "default_env_name", "python_env", "python_range", "spec_allows", "subdir"]

PROVIDERS = ("venv", "conda")
DEFAULT_VENV = "/opt/ascend-env/venv"
DEFAULT_CONDA_PREFIX = "/opt/conda"
#: The tool venv py-rattler is installed into (the rattler installer), outside the conda prefix.
DEFAULT_TOOL_VENV = "/opt/ascend-env/conda-tools"
RATTLER = "rattler"
RATTLER_SCRIPT = "ascend_conda_rattler.py"
#: Where, in the artefact store, conda installers (``conda/<file>.sh``) and the offline channel live.
INSTALLERS_DIR = "conda"
STORE_CHANNEL = "conda/channel"
#: The wheel the rattler installer needs in the store's wheels/ (the distribution name, normalised).
RATTLER_DIST = "py_rattler"
#: The role's record of the environment it manages in a conda prefix (a stack change replaces that one).
MANAGED_RECORD = ".ascend-env-environment"

_ENV_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_PY_RE = re.compile(r"^3\.\d+(\.\d+)?$")
_INSTALLER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*\.sh$")
_SUBDIRS = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}


class CondaSettingError(AscendEnvError, ValueError):
    """A Python-environment setting that cannot be used: ``field`` (the variable), ``value``, ``message`` (what is
    wrong) and ``fix``; ``str()`` is one line naming all four."""

    def __init__(self, field: str, value: Any, message: str, fix: str):
        super().__init__(f"{field} {value!r}: {message}. Fix: {fix}")
        self.field, self.value, self.message, self.fix = field, value, message, fix


def subdir(arch: str | None) -> str:
    """conda's platform subdir of a machine architecture (``x86_64`` -> ``linux-64``)."""
    a = str(arch or "x86_64").lower().replace("-", "_")
    a = {"amd64": "x86_64", "arm64": "aarch64"}.get(a, a)
    if a not in _SUBDIRS:
        raise CondaSettingError("ascend_arch", arch, "has no conda platform", "use x86_64 or aarch64")
    return _SUBDIRS[a]


def _minor(version: Any) -> str:
    m = re.match(r"^(\d+\.\d+)", str(version or ""))
    return m.group(1) if m else ""


def default_env_name(stack: Mapping[str, Any] | None, python: str | None = None) -> str:
    """``ascend-cann<X.Y>-py<X.Y>`` from a resolved stack (``ascend-cann8.2-py3.9``; ``python`` overrides the stack's
    Python); ``ascend-py<X.Y>`` without CANN, ``ascend`` without either."""
    comps = (stack or {}).get("components") or {}
    cann = _minor((comps.get("cann") or {}).get("version"))
    py = _minor(python or (comps.get("python") or {}).get("version"))
    return "ascend" + (f"-cann{cann}" if cann else "") + (f"-py{py}" if py else "")


def python_range(stack: Mapping[str, Any] | None, wanted: str | None = None) -> str:
    """The conda version spec of the environment's Python.  ``wanted``: the Python the role was given
    (``ascend_python_version``, X.Y; default the stack's).  For the stack's own minor, the patches every constraint
    of the stack allows (CANN 8.0.RC1 allows 3.9.0-3.9.7: ``>=3.9.0,<=3.9.7``; no patch bound: ``3.9.*``); a pinned
    ``X.Y.Z`` is that version; another minor (an override) is ``X.Y.*``."""
    from .versions import Version, VersionError, parse_spec

    py = ((stack or {}).get("components") or {}).get("python") or {}
    resolved = str(py.get("version") or "")
    text = str(wanted or resolved)
    if not _PY_RE.match(text):
        raise CondaSettingError("pins.python", text, "is not a Python version like 3.9 or 3.9.7",
                                "pin python in the container's pins")
    if text.count(".") == 2 and (text != resolved or py.get("pinned")):
        return f"=={text}"
    minor = _minor(text)
    if minor != _minor(resolved):
        return f"{minor}.*"
    alternatives = []
    # a rule several pages state lists them (resolver: "statements"); the environment gets what every page allows
    statements = [st for c in py.get("constraints") or [] for st in ((c or {}).get("statements") or [c])]
    for c in statements:
        specs = []
        for alt in str((c or {}).get("spec") or "").split(" or "):
            try:
                specs.append(parse_spec(alt.strip(), "python"))
            except VersionError:
                continue
        if specs:
            alternatives.append(specs)
    allowed = [p for p in range(100)
               if all(any(sp.contains(Version.parse(f"{minor}.{p}", "python")) for sp in alts)
                      for alts in alternatives)]
    if not allowed or allowed == list(range(100)):
        return f"{minor}.*"
    lo, hi = allowed[0], allowed[-1]
    if allowed != list(range(lo, hi + 1)):
        return "|".join(f"=={minor}.{p}" for p in allowed)
    if lo == hi:
        return f"=={minor}.{lo}"
    return f"{minor}.*,>={minor}.{lo}" if hi == 99 else f">={minor}.{lo},<={minor}.{hi}"


def _abs(name: str, value: Any, example: str) -> str:
    text = str(value or "")
    if not text.startswith("/") or any(c in text for c in " \t\n:") or text.rstrip("/") == "":
        raise CondaSettingError(name, value, "is not an absolute path without spaces or ':'",
                                f"write e.g. {name}: {example}")
    return text.rstrip("/")


def python_env(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Where the environment is.  ``settings``: ``provider``, ``venv``, ``conda_prefix``, ``env_name`` (empty: from
    the stack), ``stack`` (the resolved stack dict), ``python`` (X.Y; default the stack's).  Returns ``provider``,
    ``path``, ``bin``, ``name`` (conda), ``prefix`` (conda), ``python`` (X.Y)."""
    provider = str(settings.get("provider") or "venv")
    if provider not in PROVIDERS:
        raise CondaSettingError("ascend_python_provider", provider, "is not a provider this version has",
                                "use venv (the image's python3) or conda (a conda environment with the stack's "
                                "Python)")
    stack = settings.get("stack") or {}
    python = _minor(settings.get("python") or ((stack.get("components") or {}).get("python") or {}).get("version"))
    if provider == "venv":
        path = _abs("ascend_python_venv", settings.get("venv") or DEFAULT_VENV, DEFAULT_VENV)
        return {"provider": "venv", "path": path, "bin": path + "/bin", "name": None, "prefix": None,
                "python": python}
    prefix = _abs("ascend_conda_prefix", settings.get("conda_prefix") or DEFAULT_CONDA_PREFIX, DEFAULT_CONDA_PREFIX)
    name = str(settings.get("env_name") or "") or default_env_name(stack, python)
    if not _ENV_NAME_RE.match(name) or name in ("base", "root"):
        raise CondaSettingError("ascend_python_env_name", name, "is not a usable conda environment name",
                                "use letters, digits, '_', '.', '+' and '-' (not 'base'), e.g. ascend-cann8.2-py3.9")
    path = f"{prefix}/envs/{name}"
    return {"provider": "conda", "path": path, "bin": path + "/bin", "name": name, "prefix": prefix,
            "python": python}


def _channels(value: Any, store: str, offline: bool) -> list[str]:
    if value in (None, "", []):
        return [f"file://{store.rstrip('/')}/{STORE_CHANNEL}"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(c, str) for c in value):
        raise CondaSettingError("ascend_conda_channels", value, "must be a list of channel URLs",
                                "write e.g. [https://mirror.example/conda-forge] (empty: the store's channel)")
    out = []
    for c in value:
        c = c.strip().rstrip("/")
        if not re.match(r"^(file:///[^\s]+|https?://[^\s/]+(/[^\s]*)?)$", c):
            raise CondaSettingError("ascend_conda_channels", c, "is not a channel URL",
                                    "write a mirror's URL (https://mirror.example/conda-forge) or "
                                    "file:///path/to/channel (a folder with noarch/repodata.json)")
        if offline and not c.startswith("file://"):
            raise CondaSettingError("ascend_conda_channels", c, "is a network channel, but the environment is "
                                    "offline (ascend_offline)", "leave ascend_conda_channels empty to use the store's "
                                    "channel (conda/channel), or set ascend_offline: false")
        out.append(c)
    return out


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the conda settings; returns them normalised (``installer``, ``channels``, ``python``, ``arch``...).
    ``settings``: ``installer``, ``channels``, ``store``, ``offline``, ``python`` (the stack's), ``arch``,
    ``tool_venv``, ``ca_file``, ``proxy``, plus :func:`python_env`'s."""
    env = python_env({**settings, "provider": "conda"})
    installer = str(settings.get("installer") or RATTLER)
    arch = str(settings.get("arch") or "x86_64")
    sub = subdir(arch)
    if installer != RATTLER:
        if not _INSTALLER_RE.match(installer):
            raise CondaSettingError("ascend_conda_installer", installer, "is neither rattler nor the file name of a "
                                    f"conda installer in the store's {INSTALLERS_DIR}/ folder",
                                    "write rattler, or the installer's file name in <store>/conda/, e.g. "
                                    "Miniforge3-25.3.0-3-Linux-x86_64.sh")
        machine = "x86_64" if sub == "linux-64" else "aarch64"
        other = "aarch64" if machine == "x86_64" else "x86_64"
        if installer.endswith(f"-{other}.sh"):
            raise CondaSettingError("ascend_conda_installer", installer, f"is built for {other}, the host is {machine}",
                                    f"put the {machine} installer (...-Linux-{machine}.sh) in the store's "
                                    f"{INSTALLERS_DIR}/ folder and name it")
    wanted = str(settings.get("python") or "") or None
    spec = python_range(settings.get("stack"), wanted)
    python = _minor(wanted or env["python"])
    store = _abs("ascend_python_store", settings.get("store") or "/opt/ascend-store", "/opt/ascend-store")
    offline = bool(settings.get("offline"))
    channels = _channels(settings.get("channels"), store, offline)
    tool_venv = _abs("ascend_conda_tool_venv", settings.get("tool_venv") or DEFAULT_TOOL_VENV, DEFAULT_TOOL_VENV)
    return {**env, "installer": installer, "arch": arch, "subdir": sub, "python": python, "python_spec": spec,
            "store": store,
            "offline": offline, "channels": channels, "tool_venv": tool_venv,
            "ca_file": str(settings.get("ca_file") or ""), "proxy": str(settings.get("proxy") or "")}


def condarc(s: Mapping[str, Any]) -> str:
    """``<prefix>/.condarc`` (conda's system-wide settings file): the channels (also as ``default_channels``, so
    ``defaults`` is the site's mirror), the environment and package folders, ``offline`` for a store-only
    environment, the CA bundle (``ssl_verify``) and the proxy pip.conf has."""
    doc: dict[str, Any] = {"channels": list(s["channels"]), "default_channels": list(s["channels"]),
                           "envs_dirs": [s["prefix"] + "/envs"], "pkgs_dirs": [s["prefix"] + "/pkgs"]}
    if s["offline"]:
        doc["offline"] = True
    if s["ca_file"]:
        doc["ssl_verify"] = s["ca_file"]
    if s["proxy"]:
        doc["proxy_servers"] = {"http": s["proxy"], "https": s["proxy"]}
    doc.update({"auto_update_conda": False, "notify_outdated_conda": False})
    head = ("# managed by ascend-env (ascend_python role): the site's channels, CA bundle and proxy, as pip.conf has\n"
            "# them; edit the inventory (ascend_conda_channels, ascend_python_pip_cert_src, ascend_python_pip_proxy)\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def conda_plan(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the ascend_python role does for a conda environment (see the module doc).  Raises
    :class:`CondaSettingError` for a bad setting."""
    s = check_settings(settings)
    prefix, path, spec = s["prefix"], s["path"], s["python_spec"]
    # conda's CLI: python=3.9.* / python>=3.9.0,<=3.9.7 / python==3.9.7; rattler's MatchSpec: name, space, version
    conda_specs = [f"python{spec}" if spec[0] in "=<>" else f"python={spec}", "pip"]
    rattler_specs = [f"python {spec}", "pip"]
    env_vars: dict[str, str] = {}
    if s["proxy"]:
        env_vars.update(HTTPS_PROXY=s["proxy"], HTTP_PROXY=s["proxy"])
    if s["ca_file"]:
        env_vars.update(SSL_CERT_FILE=s["ca_file"], REQUESTS_CA_BUNDLE=s["ca_file"])
    if s["installer"] == RATTLER:
        tool_python = s["tool_venv"] + "/bin/python"
        script = s["tool_venv"] + "/" + RATTLER_SCRIPT
        install_argv: list[str] = []
        create = [tool_python, script, "create", "--prefix", path, "--pkgs-dir", prefix + "/pkgs"]
        for c in s["channels"]:
            create += ["--channel", c]
        for spec in rattler_specs:
            create += ["--spec", spec]
        create += ["--platform", s["subdir"]]
        conda_bin = ""
    else:
        installer_file = f"{s['store']}/{INSTALLERS_DIR}/{s['installer']}"
        # constructor-made installers (Miniforge, Miniconda): -b batch (licence accepted, no shell rc edits), -p prefix
        install_argv = ["bash", installer_file, "-b", "-p", prefix]
        conda_bin = prefix + "/bin/conda"
        create = [conda_bin, "create", "--yes", "--quiet", "--prefix", path, "--override-channels"]
        for c in s["channels"]:
            create += ["--channel", c]
        if s["offline"]:
            create.append("--offline")
        create += conda_specs
    return {
        **s,
        "python_specs": conda_specs if s["installer"] != RATTLER else rattler_specs,
        "install_argv": install_argv,
        "installer_file": install_argv[1] if install_argv else "",
        "conda_bin": conda_bin,
        "create_argv": create,
        "environment": env_vars,
        "condarc": condarc(s),
        "condarc_path": prefix + "/.condarc",
        "record_path": prefix + "/" + MANAGED_RECORD,
        "pkgs_dir": prefix + "/pkgs",
        "local_channels": [c[len("file://"):] for c in s["channels"] if c.startswith("file://")],
        "remote_channels": [c for c in s["channels"] if not c.startswith("file://")],
        "script": posixpath.basename(RATTLER_SCRIPT),
    }


def spec_allows(spec: str, version: str) -> bool:
    """Whether a conda version spec of :func:`python_range` (``3.9.*``, ``>=3.9.0,<=3.9.7``, ``==3.9.7``, ``a|b``)
    allows ``version``."""
    from .versions import Version, VersionError, parse_spec

    try:
        v = Version.parse(version, "python")
    except VersionError:
        return False
    for alt in spec.split("|"):
        try:
            if parse_spec(alt.strip(), "python").contains(v):
                return True
        except VersionError:
            continue
    return False
