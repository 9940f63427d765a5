"""The shared libraries of the lab's CANN: generated stubs for exactly the sonames and symbols the frameworks' Ascend
extension modules load, read from the real wheels in the lab's store.

``import torch_npu`` loads ``torch_npu/_C*.so``, whose DT_NEEDED list names ``libhccl.so``, ``libascendcl.so``, ... --
libraries that only CANN provides.  Without them the import fails with ``libhccl.so: cannot open shared object
file`` whatever the environment.  This module reads each framework wheel's ELF objects (``elf.read_elf``), keeps the
DT_NEEDED sonames that neither the wheels nor the system provide (CANN's) and the undefined dynamic symbols nobody else
defines (CANN's), and generates one C stub per soname that defines exactly those symbols, placed where the real CANN
keeps that library.  The loader then behaves as on a real server: the import works when ``LD_LIBRARY_PATH`` (from
``set_env.sh``) reaches CANN's and the driver's library folders, and fails with the loader's own ``cannot open shared
object file`` message for the first one it cannot find otherwise.

Pure planning first (:func:`demand_of`, :func:`plan_stubs`, :func:`render_c`), I/O at the end (:func:`scan_wheel`,
:func:`build_stubs`, :func:`ensure_stubs`).  What the stubs do when called: the device entry points (device count,
set device, last error) answer "no device" as the real libraries do without an NPU (``cann_stubs/*_lab.c`` cite the
codes); every other generated function prints what was called and aborts the process, so nothing in the lab can
mistake a stub for a working CANN.  docs/lab.md's fidelity table says the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AscendEnvError
from .elf import ElfError, ElfInfo, ElfSymbol, read_elf, read_strings

__all__ = [
    "Demand",
    "Place",
    "Plan",
    "StubBuildError",
    "StubLib",
    "build_stubs",
    "demand_of",
    "ensure_stubs",
    "place_of",
    "plan_stubs",
    "render_c",
    "scan_wheel",
]

SOURCES = Path(__file__).with_name("cann_stubs")
#: bump when the scan's output changes shape (old cache entries are then ignored)
SCAN_VERSION = 4


class StubBuildError(AscendEnvError, RuntimeError):
    """The stubs cannot be planned or built; the message names the wheel, object, soname or symbol and the fix."""


# --- where each library lives -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    #: toolkit: <toolkit home>/<arch>-linux/lib64 (reached as latest/lib64); nnal: nnal/atb/<ver>/atb/cxx_abi_{0,1}/lib;
    #: driver: /usr/local/Ascend/driver/<directory>; external: not CANN (objects needing it are left out)
    package: str
    directory: str
    source: str


#: The folder set_env.sh puts first on LD_LIBRARY_PATH, ``${ASCEND_TOOLKIT_HOME}/lib64`` (the set_env.sh copied into
#: public Dockerfiles, see run_payload/install.sh), is a link to ``<arch>-linux/lib64``, which holds the runtime
#: libraries: ``ascend-toolkit/<ver>/aarch64-linux/lib64/libge_runner.so`` (opencv/opencv_contrib#3900, CANN
#: 8.0.RC1), ``latest/aarch64-linux/lib64/libascend_dump.so`` (gpustack/gpustack#1101), ``${ASCEND_PATH}/x86_64-linux/
#: lib64/libregister.so`` and ``libplatform.so`` (public CMake files found by the code search), and in a CANN 9.1.0
#: install ``lib64 -> x86_64-linux/lib64`` with ``x86_64-linux/lib64/libhccl.so`` (an install inventory in a public
#: repository).  A CANN soname not listed below is placed there.
TOOLKIT = Place("toolkit", "lib64", "set_env.sh: ${ASCEND_TOOLKIT_HOME}/lib64 -> <arch>-linux/lib64 "
                                    "(opencv/opencv_contrib#3900, gpustack/gpustack#1101)")
PLACES: dict[str, Place] = {
    # the driver's libraries, mounted into containers with /usr/local/Ascend/driver
    "libascend_hal.so": Place("driver", "lib64/driver", "driver/lib64/driver: \"export LD_LIBRARY_PATH=/usr/local/"
                              "Ascend/driver/lib64/driver\" fixes \"ImportError: libascend_hal.so: cannot open shared "
                              "object file\" (public ktransformers-for-Ascend notes)"),
    "libc_sec.so": Place("driver", "lib64/common", "\"${INSTALL_DIR}/driver/lib64/common/libc_sec.so\" (CANN log "
                         "documentation on mapping libascendalog.so and libc_sec.so into containers)"),
    # NNAL (the ATB acceleration library): ${ATB_HOME_PATH}/lib, ATB_HOME_PATH=<nnal>/atb/latest/atb/cxx_abi_{0,1}
    "libatb.so": Place("nnal", "lib", "/usr/local/Ascend/nnal/atb/8.5.2/atb/cxx_abi_1/lib/libatb.so (public vllm-ascend"
                       " deployment notes); ${ATB_HOME_PATH}/lib/libatb.so (public CMake files)"),
    "liblcal.so": Place("nnal", "lib", "${ATB_HOME_PATH}/lib/liblcal.so (public CMake files)"),
    "libasdops.so": Place("nnal", "lib", "${ATB_HOME_PATH}/lib/libasdops.so (public CMake files)"),
    # not CANN: MindSpore's mpirun collective links OpenMPI; a host without it cannot load that module either
    "libmpi.so.40": Place("external", "", "OpenMPI 4 (MindSpore's libascend_collective.so, used under mpirun)"),
}


def place_of(soname: str) -> Place:
    return PLACES.get(soname, TOOLKIT)


# --- which objects of which wheel are the frameworks' Ascend extension modules ----------------------------------------
#: The CANN C API names a module may look up by name (dlsym) rather than link: MindSpore's Ascend plugin resolves
#: its AscendCL, profiling and HCCL functions at start-up ("Dynamically load symbol aclprofStart failed, result =
#: .../libmsprofiler.so: undefined symbol: aclprofStart") and refuses to run a device without them ("MindSpore running
#: check failed. aclrtSetExceptionInfoCallback is null."); aclnn operator entry points (libopapi.so, looked up when a
#: kernel first runs) are not among them.
DLSYM_NAMES = r"(acl(rt|op|mdl|tdt|prof)?[A-Z][A-Za-z0-9]*|Hccl[A-Z][A-Za-z0-9]*|Hcom[A-Z][A-Za-z0-9]*)"
#: projects whose modules' dlsym names are stubbed too
DLSYM_PROJECTS = frozenset({"mindspore"})

#: wheel project -> member patterns of the modules that load CANN, and the projects whose libraries they also link
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # every ELF object of torch_npu: _C, libtorch_npu, torchair's modules, the ATB op plugin
    "torch_npu": (("torch_npu/**/*.so", "torch_npu/**/*.so.*"), ("torch",)),
    # MindSpore's Ascend plugin: the device plugin MindSpore loads at start-up and its own plugin folder
    "mindspore": (("mindspore/lib/plugin/libmindspore_ascend.so*", "mindspore/lib/plugin/libmindspore_ops_ascend.so",
                   "mindspore/lib/plugin/ascend/*.so"), ()),
}

#: CPython's C API: "All user-visible names defined by Python.h ... have one of the prefixes Py or _Py"
#: (https://docs.python.org/3/c-api/intro.html#include-files); the interpreter that imports the module defines them.
_PYTHON_API = re.compile(r"^_?Py[A-Z_]")


# --- the stub libraries' own dependencies and hand-written behaviour --------------------------------------------------
#: Libraries written by hand (their whole export list is known): the driver's, in ascend_env/lab/cann_stubs.
HANDWRITTEN: dict[str, tuple[str, frozenset[str]]] = {
    "libascend_hal.so": ("ascend_hal_lab.c", frozenset({"drvGetDevNum", "drvGetDevIDs", "halGetDeviceInfo"})),
    "libc_sec.so": ("c_sec_lab.c", frozenset({
        "memset_s", "memcpy_s", "memmove_s", "strcpy_s", "strncpy_s", "strcat_s", "strncat_s", "vsnprintf_s",
        "snprintf_s", "vsprintf_s", "sprintf_s"})),
}
#: Generated libraries with hand-written device entry points (always built: the others depend on them).
BEHAVIOURS: dict[str, tuple[str, frozenset[str]]] = {
    "libruntime.so": ("runtime_lab.c", frozenset({
        "rtGetDeviceCount", "rtSetDevice", "rtGetDevice", "__ascend_lab_record_error", "__ascend_lab_recent_error"})),
    "libascendcl.so": ("ascendcl_lab.c", frozenset({
        "aclInit", "aclFinalize", "aclrtGetDeviceCount", "aclrtSetDevice", "aclrtGetDevice", "aclrtResetDevice",
        "aclGetRecentErrMsg", "aclrtGetSocName", "aclAppLog", "aclrtSetExceptionInfoCallback"})),
}
#: DT_NEEDED of the stubs.  Lab simplification of CANN's deeper graph (in CANN 9.1 libhccl.so needs libhcomm.so and
#: libacl_rt.so, which needs libruntime.so, ...): every generated library needs libascendcl.so, which needs
#: libruntime.so, which needs the driver's libascend_hal.so and libc_sec.so -- so a process whose LD_LIBRARY_PATH
#: lacks the driver folders fails with "libascend_hal.so: cannot open shared object file", as users report
#: ("dlopen failed (.../libascendcl.so): libascend_hal.so: cannot open shared object file").
BASE_CHAIN = ("libascend_hal.so", "libc_sec.so", "libruntime.so", "libascendcl.so")  # in build order


def stub_needs(soname: str) -> tuple[str, ...]:
    if soname in HANDWRITTEN:
        return ()
    if soname == "libruntime.so":
        return ("libascend_hal.so", "libc_sec.so")
    if soname == "libascendcl.so":
        return ("libruntime.so",)
    return ("libascendcl.so",)


#: Which library defines a symbol, by the public header family it belongs to (acl/acl.h -> libascendcl.so,
#: acl/acl_op_compiler.h -> libacl_op_compiler.so, acl/acl_tdt.h -> libacl_tdt_channel.so, hccl/hccl.h -> libhccl.so,
#: ge/ge_api.h -> libge_runner.so, graph/*.h -> libgraph.so, securec.h -> libc_sec.so, ascend_hal.h ->
#: libascend_hal.so).  A symbol whose library the referencing object does not reach goes into the first CANN library
#: that object needs.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), s) for p, s in (
    (r"^(mem(cpy|move|set)|str(n?cpy|n?cat|tok)|v?s(n)?printf|v?f?w?s?scanf|gets|wcs\w+|wmem\w+|v?swprintf)_s$",
     "libc_sec.so"),
    (r"^(drv|hal)[A-Z]", "libascend_hal.so"),
    (r"^(aclop(Compile\w*|CreateKernel|UpdateParams|SetCompileFlag|SetKernelArgs)|aclSetCompileopt|"
     r"aclGetCompileopt\w*|aclGenGraphAndDumpForOp)$", "libacl_op_compiler.so"),
    (r"^acltdt", "libacl_tdt_channel.so"),
    (r"^aclprof", "libmsprofiler.so"),
    (r"^acl", "libascendcl.so"),
    (r"^(Hccl|Hcom|hcom)", "libhccl.so"),
    (r"^(rt[A-Z]|Msprof)", "libruntime.so"),
    (r"^_ZN?K?2ge(7Session|12GEInitialize|10GEFinalize|13GEGetErrorMsg|\d+GEGetWarningMsg|20CompiledGraphSummary)",
     "libge_runner.so"),
    (r"^_ZN?K?2ge", "libgraph.so"),
    (r"^_ZN?K?3atb", "libatb.so"),
    (r"^_ZN?K?14ascend_private", "libascend_protobuf.so"),
))


def _rule_soname(symbol: str) -> str | None:
    return next((soname for pattern, soname in _RULES if pattern.search(symbol)), None)


_SYMBOL_NAME = re.compile(r"^[A-Za-z_.$][A-Za-z0-9_.$]*$")


def is_data_symbol(name: str) -> bool:
    """Whether a mangled C++ name is data (vtable, typeinfo, VTT, or a variable: a nested name with no parameter list).
    Unmangled names are taken as functions (CANN's C APIs export functions)."""
    if re.match(r"^_ZT[VIST]", name):
        return True
    m = re.match(r"^_ZN[rVK]*((?:\d+[A-Za-z_][A-Za-z0-9_]*)+)E$", name)
    if not m:
        return False
    # the lengths must consume the nested name exactly, otherwise it is not a plain variable name
    rest = m.group(1)
    while rest:
        n = re.match(r"^(\d+)", rest)
        if not n:
            return False
        length = int(n.group(1))
        rest = rest[len(n.group(1)):]
        if len(rest) < length:
            return False
        rest = rest[length:]
    return True


def cxx_structor(name: str) -> bool:
    """Whether a mangled name is a C++ constructor or destructor (``_ZN2ge23OperatorCreatorRegisterC1E...``).

    Only plain nested names (length-prefixed source names, optional ``St``) are read; anything else is "no"."""
    m = re.match(r"^_ZN[rVKRO]*(?:St)?", name)
    if not m:
        return False
    rest, names = name[m.end():], 0
    while rest and rest[0].isdigit():
        n = re.match(r"^(\d+)", rest)
        assert n is not None
        length = int(n.group(1))
        rest = rest[len(n.group(1)):]
        if len(rest) < length:
            return False
        rest, names = rest[length:], names + 1
    return names >= 1 and rest[:3] in ("C1E", "C2E", "C3E", "D0E", "D1E", "D2E")


# --- what one framework object asks of CANN (pure) --------------------------------------------------------------------
@dataclass(frozen=True)
class Demand:
    obj: str
    needed: tuple[str, ...]
    symbols: tuple[str, ...]
    tls: tuple[str, ...] = ()
    #: why the object is left out (it needs a library that is not CANN's and not on the system), else ""
    skipped: str = ""
    #: names the object looks up with dlsym (defined, by the rules, in the library they belong to)
    dlsym: tuple[str, ...] = ()


def demand_of(obj: str, info: ElfInfo, providers: frozenset[str], provided_files: frozenset[str],
              system_sonames: frozenset[str], dlsym: Iterable[str] = ()) -> Demand:
    """The CANN sonames and symbols ``obj`` needs: DT_NEEDED entries that neither the wheels (``provided_files``,
    file names of their ELF objects) nor the system loader (``system_sonames``) provide, and the non-weak,
    unversioned undefined symbols that no provider defines and that are not CPython's C API."""
    cann = tuple(n for n in info.needed if n not in provided_files and n not in system_sonames)
    external = [n for n in cann if place_of(n).package == "external"]
    if external:
        return Demand(obj, cann, (), (), skipped=f"needs {', '.join(external)} ({place_of(external[0]).source}), "
                                                 "which is not part of CANN")
    syms: list[str] = []
    tls: list[str] = []
    for s in info.undefined:
        if s.weak or s.name in providers or _PYTHON_API.match(s.name):
            continue
        if s.version is not None:
            if s.version_file in system_sonames or s.version_file in provided_files:
                continue
            raise StubBuildError(f"{obj} needs {s.name}@{s.version} from {s.version_file}: a versioned symbol of a "
                                 "CANN library, which the stub generator does not produce; extend cann_libs.py")
        if not _SYMBOL_NAME.match(s.name):
            raise StubBuildError(f"{obj} needs a symbol with an unexpected name {s.name!r}; the stub generator only "
                                 "emits C identifiers and mangled C++ names")
        (tls if s.kind == "tls" else syms).append(s.name)
    looked_up = tuple(sorted(n for n in set(dlsym) if n not in providers and n not in syms))
    return Demand(obj, cann, tuple(sorted(set(syms))), tuple(sorted(set(tls))), dlsym=looked_up)


# --- the plan (pure) --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StubLib:
    soname: str
    place: Place
    needs: tuple[str, ...]
    functions: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    tls: tuple[str, ...] = ()
    wanted_by: tuple[str, ...] = ()

    @property
    def handwritten(self) -> str | None:
        return HANDWRITTEN.get(self.soname, (None, None))[0]

    @property
    def behaviour(self) -> str | None:
        return BEHAVIOURS.get(self.soname, (None, None))[0]


@dataclass(frozen=True)
class Plan:
    libs: tuple[StubLib, ...]
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def lib(self, soname: str) -> StubLib:
        return next(lib for lib in self.libs if lib.soname == soname)

    def to_dict(self) -> dict[str, object]:
        return {"libs": [asdict(lib) for lib in self.libs], "skipped": list(self.skipped), "notes": list(self.notes)}

    def digest(self) -> str:
        """Changes with the plan and with the C sources the stubs are built from."""
        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        for src in sorted(SOURCES.glob("*.c")):
            h.update(src.name.encode() + b"\0" + src.read_bytes())
        h.update(Path(__file__).read_bytes())
        return h.hexdigest()[:20]


def plan_stubs(demands: Iterable[Demand]) -> Plan:
    """One stub per CANN soname the demands name (plus the base chain), each defining the symbols assigned to it."""
    wanted: dict[str, set[str]] = {s: set() for s in BASE_CHAIN}
    funcs: dict[str, set[str]] = {s: set() for s in BASE_CHAIN}
    tls: dict[str, set[str]] = {s: set() for s in BASE_CHAIN}
    skipped: list[str] = []
    notes: set[str] = set()
    for d in demands:
        if d.skipped:
            skipped.append(f"{d.obj}: {d.skipped}")
            continue
        reach = list(dict.fromkeys([*d.needed, *BASE_CHAIN]))
        for soname in d.needed:
            wanted.setdefault(soname, set()).add(d.obj)
            funcs.setdefault(soname, set())
            tls.setdefault(soname, set())
        for sym in d.dlsym:  # looked up by name in the library it belongs to: no fallback library
            owner = _owner(sym)
            if owner and owner not in HANDWRITTEN:
                funcs.setdefault(owner, set()).add(sym)
                tls.setdefault(owner, set())
        for sym, is_tls in [*((s, False) for s in d.symbols), *((s, True) for s in d.tls)]:
            owner = _owner(sym)
            if owner in reach:
                target = owner
            elif d.needed:
                target = d.needed[0]
            else:  # resolved through the libraries a sibling loads (libnpu_profiler.so: aclAppLog via libtorch_npu.so)
                target = owner if owner in BASE_CHAIN else "libascendcl.so"
            if target in HANDWRITTEN:
                if sym in HANDWRITTEN[target][1]:
                    continue
                # the driver's hand-written library lacks it: a generated stub in libruntime.so, which needs the
                # driver's libraries and is loaded with them (the loader takes a symbol from any loaded library)
                notes.add(f"{sym}: the lab's {target} ({HANDWRITTEN[target][0]}) lacks it; a generated stub in "
                          "libruntime.so")
                target = "libruntime.so"
            (tls if is_tls else funcs)[target].add(sym)
    libs = []
    for soname in sorted(funcs, key=lambda s: (BASE_CHAIN.index(s) if s in BASE_CHAIN else len(BASE_CHAIN), s)):
        place = place_of(soname)
        if soname in HANDWRITTEN:
            libs.append(StubLib(soname, place, (), tuple(sorted(HANDWRITTEN[soname][1])), (), (),
                                tuple(sorted(wanted.get(soname, ())))))
            continue
        own = BEHAVIOURS.get(soname, ("", frozenset()))[1]
        names = sorted(funcs[soname] - own)
        libs.append(StubLib(soname, place, stub_needs(soname),
                            functions=tuple(n for n in names if not is_data_symbol(n)),
                            data=tuple(n for n in names if is_data_symbol(n)),
                            tls=tuple(sorted(tls[soname] - own)),
                            wanted_by=tuple(sorted(wanted.get(soname, ())))))
    return Plan(tuple(libs), tuple(skipped), tuple(sorted(notes)))


def _owner(symbol: str) -> str:
    for soname, (_, exports) in {**HANDWRITTEN, **BEHAVIOURS}.items():
        if symbol in exports:
            return soname
    return _rule_soname(symbol) or ""


# --- C source (pure) --------------------------------------------------------------------------------------------------
def render_c(lib: StubLib, symbols: Sequence[str] | None = None) -> str:
    """The C source of a generated stub: the behaviour file (if any), then one definition per symbol.  ``symbols``
    restricts the generated definitions (the NNAL C++ ABI variants)."""
    keep = set(symbols) if symbols is not None else None
    funcs = [s for s in lib.functions if keep is None or s in keep]
    data = [s for s in lib.data if keep is None or s in keep]
    tls = [s for s in lib.tls if keep is None or s in keep]
    out = [
        f"/* {lib.soname} for the simulated Ascend lab (NOT Huawei code), generated by ascend_env/lab/cann_libs.py.",
        f" * It defines the symbols the lab's framework wheels need from {lib.soname}: "
        f"{len(funcs)} functions, {len(data) + len(tls)} data objects.",
        " * Wanted by: " + (", ".join(lib.wanted_by) if lib.wanted_by else "the other stubs (base chain)") + ".",
        " * A generated function prints what was called and aborts: there is no NPU behind this library. */",
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "",
        "static void lab_stub_called(const char *sym) __attribute__((noreturn, cold));",
        "static void lab_stub_called(const char *sym)",
        "{",
        f'    fprintf(stderr, "ascend-env lab: %s (from {lib.soname}) was called, but the lab\'s CANN libraries are '
        'stubs with no NPU behind them; only the device queries (device count, set device, last error) are '
        'answered. Run this on an Ascend server.\\n", sym);',
        "    fflush(stderr);",
        "    abort();",
        "}",
        "",
    ]
    if lib.behaviour:
        out += [f"/* ---- hand-written behaviour: cann_stubs/{lib.behaviour} ---- */",
                (SOURCES / lib.behaviour).read_text(encoding="utf-8"), "/* ---- generated ---- */"]
    for i, name in enumerate(funcs):
        out.append(f'void lab_f{i}(void) __asm__("{name}");')
        if cxx_structor(name):  # run by static initialisers (op registrars): construct/destroy nothing
            out.append(f"void lab_f{i}(void) {{ }}")
        else:
            out.append(f'void lab_f{i}(void) {{ lab_stub_called("{name}"); }}')
    for i, name in enumerate(data):
        out.append(f'char lab_d{i}[256] __asm__("{name}") __attribute__((aligned(16))) = {{0}};')
    for i, name in enumerate(tls):
        out.append(f'__thread char lab_t{i}[64] __asm__("{name}") __attribute__((aligned(16)));')
    return "\n".join(out) + "\n"


def nnal_variants(lib: StubLib) -> dict[str, tuple[str, ...]]:
    """NNAL ships each library twice, built for the old and the new libstdc++ ABI: cxx_abi_0 exports no ``__cxx11``
    symbol (public vllm-ascend notes: "libatb.so 的 cxx_abi_0 变体 __cxx11 符号 0 个")."""
    every = (*lib.functions, *lib.data, *lib.tls)
    return {"cxx_abi_0": tuple(s for s in every if "__cxx11" not in s), "cxx_abi_1": every}


# --- reading wheels (I/O) ---------------------------------------------------------------------------------------------
@dataclass
class WheelScan:
    wheel: str
    project: str
    #: every defined dynamic symbol of every ELF object in the wheel
    provides: set[str] = field(default_factory=set)
    #: file names of the wheel's ELF objects (what a DT_NEEDED entry can resolve to inside it)
    files: set[str] = field(default_factory=set)
    #: target object -> {machine, needed, undefined: [name, kind, weak, version, version_file], dlsym}
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _project(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("-", "_")


def _is_elf_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


def _member_matches(name: str, pattern: str) -> bool:
    """Glob over wheel member paths: ``*`` never crosses a ``/``, a ``**/`` segment matches any number of folders."""
    parts = []
    for seg in pattern.split("/"):
        if seg == "**":
            parts.append("(?:[^/]+/)*")
        else:
            parts.append(re.escape(seg).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "/")
    return re.fullmatch("".join(parts)[:-1], name) is not None


def scan_wheel(wheel: Path, cache: Path | None = None) -> WheelScan:
    """Read every ELF object of ``wheel`` (one at a time through a temporary file); cached by name, size and mtime."""
    st = wheel.stat()
    key = f"scan-v{SCAN_VERSION}-{wheel.name}-{st.st_size}-{int(st.st_mtime)}.json"
    if cache is not None and (cache / key).is_file():
        try:
            doc = json.loads((cache / key).read_text())
            return WheelScan(doc["wheel"], doc["project"], set(doc["provides"]), set(doc["files"]), doc["targets"])
        except (OSError, ValueError, KeyError):
            pass
    project = _project(wheel)
    patterns = TARGETS.get(project, ((), ()))[0]
    scan = WheelScan(wheel.name, project)
    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory(prefix="ascend-lab-elf-") as tmp:
        for member in z.infolist():
            if member.is_dir() or not _is_elf_member(member.filename):
                continue
            path = Path(tmp) / "obj"
            with z.open(member) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            try:
                info = read_elf(path)
            except ElfError:
                continue  # a data file named like a library
            finally:
                pass
            scan.files.add(member.filename.rsplit("/", 1)[-1])
            scan.provides |= info.defined_names
            if any(_member_matches(member.filename, p) for p in patterns):
                scan.targets[member.filename] = {
                    "machine": info.machine, "needed": list(info.needed),
                    "undefined": [[s.name, s.kind, s.weak, s.version, s.version_file] for s in info.undefined],
                    "dlsym": sorted(read_strings(path, DLSYM_NAMES)) if project in DLSYM_PROJECTS else []}
            path.unlink()
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        tmp_out = cache / f".{key}.{os.getpid()}"
        tmp_out.write_text(json.dumps({"wheel": scan.wheel, "project": scan.project, "provides": sorted(scan.provides),
                                       "files": sorted(scan.files), "targets": scan.targets}))
        tmp_out.replace(cache / key)
    return scan


def _target_info(entry: Mapping[str, Any]) -> ElfInfo:
    undefined = tuple(ElfSymbol(n, k, w, 0, v, f) for n, k, w, v, f in entry["undefined"])
    return ElfInfo(machine=str(entry["machine"]), soname=None, needed=tuple(entry["needed"]),
                   rpath=(), runpath=(), undefined=undefined, defined=())


@functools.lru_cache(maxsize=1)
def system_libraries() -> dict[str, str]:
    """soname -> path of every library the machine's loader cache knows (``ldconfig -p``), for this architecture."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StubBuildError(f"cannot list the system's libraries with {ldconfig} -p: {exc}; install libc-bin") \
            from None
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\S+) \(([^)]*)\) => (\S+)$", line)
        if m and ("x86-64" in m.group(2) or "AArch64" in m.group(2) or "libc6," in m.group(2)):
            found.setdefault(m.group(1), m.group(3))
    return found


def _system_provides(sonames: Iterable[str]) -> set[str]:
    libs = system_libraries()
    out: set[str] = set()
    for soname in sorted(set(sonames)):
        path = libs.get(soname)
        if path:
            out |= read_elf(path).defined_names
    return out


def demands_from_wheels(wheels: Sequence[Path], cache: Path | None = None) -> tuple[list[Demand], list[str]]:
    """The demands of every framework wheel among ``wheels`` (others serve as providers); notes for the build log."""
    scans = [scan_wheel(w, cache) for w in wheels if _project(w) in {*TARGETS, *(d for _, ds in TARGETS.values()
                                                                                   for d in ds)}]
    by_project: dict[str, list[WheelScan]] = {}
    for s in scans:
        by_project.setdefault(s.project, []).append(s)
    system = system_libraries()
    machine = platform.machine()
    demands: list[Demand] = []
    notes: list[str] = []
    for scan in scans:
        if scan.project not in TARGETS or not scan.targets:
            continue
        deps = TARGETS[scan.project][1]
        missing = [d for d in deps if d not in by_project]
        if missing:
            raise StubBuildError(f"{scan.wheel} links {', '.join(missing)}'s libraries; put the {missing[0]} wheel in "
                                 "the store next to it (lab store --wheels), so its symbols are told from CANN's")
        providers = set(scan.provides)
        files = set(scan.files)
        for d in deps:
            for dep in by_project[d]:
                providers |= dep.provides
                files |= dep.files
        needed = {n for t in scan.targets.values() for n in t["needed"]}
        system_needed = {n for n in needed if n in system}
        providers |= _system_provides(system_needed | {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"})
        frozen, sysnames = frozenset(providers), frozenset(system)
        for member, entry in sorted(scan.targets.items()):
            if entry["machine"] != machine:  # a device-side object shipped in the wheel (aarch64 AI CPU kernels)
                notes.append(f"{scan.wheel}:{member}: built for {entry['machine']}, not loaded on this {machine} host")
                continue
            demands.append(demand_of(f"{scan.wheel}:{member}", _target_info(entry), frozen, frozenset(files),
                                     sysnames, dlsym=entry.get("dlsym", ())))
        notes.append(f"{scan.wheel}: {len(scan.targets)} objects read")
    return demands, notes


# --- building (I/O) ---------------------------------------------------------------------------------------------------
def _find_cc(cc: str) -> str:
    found = shutil.which(cc)
    if found is None:
        raise StubBuildError(f"no C compiler {cc!r} on PATH; the lab's CANN libraries are compiled locally. Install "
                             "one with: apt-get install gcc libc6-dev")
    return found


def _compile(cc: str, source: str, out: Path, soname: str, link_dir: Path, needs: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="ascend-lab-cc-") as tmp:
        src = Path(tmp) / (soname.split(".so")[0] + ".c")
        src.write_text(source, encoding="utf-8")
        cmd = [cc, "-shared", "-fPIC", "-O1", "-w", "-o", str(out), str(src), f"-Wl,-soname,{soname}",
               "-Wl,--no-as-needed", f"-L{link_dir}", *[f"-l:{n}" for n in needs]]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise StubBuildError(f"compiling the lab's {soname} failed ({' '.join(cmd)}):\n"
                                 f"{proc.stderr.strip()[-3000:]}")


def layout_path(lib: StubLib, variant: str = "") -> str:
    """Where a built library goes inside the output folder: toolkit/lib64/X, nnal/cxx_abi_N/lib/X, driver/<dir>/X."""
    if lib.place.package == "nnal":
        return f"nnal/{variant}/{lib.place.directory}/{lib.soname}"
    return f"{lib.place.package}/{lib.place.directory}/{lib.soname}"


def build_stubs(plan: Plan, out_dir: Path, cc: str = "cc") -> list[str]:
    """Compile every library of ``plan`` into ``out_dir`` (see :func:`layout_path`); returns the relative paths."""
    compiler = _find_cc(cc)
    link = out_dir / ".link"  # every soname once, for -l:<soname> of the libraries built after it
    link.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    for lib in plan.libs:
        source = (SOURCES / lib.handwritten).read_text(encoding="utf-8") if lib.handwritten else render_c(lib)
        variants = nnal_variants(lib) if lib.place.package == "nnal" else {"": None}
        for variant, symbols in variants.items():
            rel = layout_path(lib, variant)
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            text = source if symbols is None or lib.handwritten else render_c(lib, symbols)
            _compile(compiler, text, dst, lib.soname, link, lib.needs)
            made.append(rel)
        shutil.copyfile(out_dir / layout_path(lib, "cxx_abi_1" if lib.place.package == "nnal" else ""),
                        link / lib.soname)
    shutil.rmtree(link)
    (out_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=1, sort_keys=True) + "\n")
    return made


def framework_wheels(wheels_dir: Path) -> list[Path]:
    """The store's wheels the stubs are read from: the frameworks' and those their libraries link."""
    projects = {*TARGETS, *(d for _, ds in TARGETS.values() for d in ds)}
    return sorted(p for p in wheels_dir.glob("*.whl") if _project(p) in projects) if wheels_dir.is_dir() else []


@dataclass(frozen=True)
class StubSet:
    path: Path
    digest: str
    plan: Plan
    notes: tuple[str, ...]


def ensure_stubs(wheels_dir: Path, cache: Path, cc: str = "cc") -> StubSet:
    """Plan the stubs for the framework wheels in ``wheels_dir`` and build them once (``cache/stubs-<digest>``)."""
    wheels = framework_wheels(wheels_dir)
    demands, notes = demands_from_wheels(wheels, cache / "scans")
    plan = plan_stubs(demands)
    digest = plan.digest()
    built = cache / f"stubs-{digest}"
    if not (built / "plan.json").is_file():
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
        try:
            build_stubs(plan, staging, cc)
            try:
                staging.rename(built)
            except OSError:  # another build won the race; its outputs are the same
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    notes += [f"skipped {s}" for s in plan.skipped] + list(plan.notes)
    return StubSet(built, digest, plan, tuple(notes))


def build_driver_libs(cache: Path, cc: str = "cc") -> Path:
    """The driver's hand-written libraries (libascend_hal.so, libc_sec.so) laid out as under ``driver/``
    (``lib64/driver/...``, ``lib64/common/...``), built once per source digest in ``cache``."""
    h = hashlib.sha256()
    for soname, (src, _) in sorted(HANDWRITTEN.items()):
        h.update(soname.encode() + b"\0" + (SOURCES / src).read_bytes())
    built = cache / f"driver-{h.hexdigest()[:20]}"
    if all((built / place_of(s).directory / s).is_file() for s in HANDWRITTEN):
        return built
    compiler = _find_cc(cc)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
    try:
        for soname, (src, _) in HANDWRITTEN.items():
            dst = staging / place_of(soname).directory / soname
            dst.parent.mkdir(parents=True, exist_ok=True)
            _compile(compiler, (SOURCES / src).read_text(encoding="utf-8"), dst, soname, staging, ())
        try:
            staging.rename(built)
        except OSError:  # another build won the race
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return built
