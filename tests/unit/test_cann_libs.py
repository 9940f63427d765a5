"""The lab's CANN libraries: the ELF reader on objects compiled here, the planning rules, and the whole pipeline on a
small synthetic framework wheel (load with and without the library folders, the "no device" answers)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ascend_env.lab import cann_libs as cl
from ascend_env.lab.elf import ElfError, read_elf, read_elf_bytes, read_strings

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (apt-get install gcc)")


def cc(tmp: Path, name: str, source: str, *flags: str) -> Path:
    src = tmp / (name.split(".so")[0] + ".c")
    src.write_text(source)
    out = tmp / name
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src), f"-Wl,-soname,{name}", *flags], check=True,
                   capture_output=True, text=True)
    return out


MODULE_C = r"""
#include <stdio.h>
#include <stdint.h>
extern int HcclSetConfig(int, void *);
extern int aclrtGetDeviceCount(uint32_t *);
extern const char *aclGetRecentErrMsg(void);
extern void torch_helper(void);                       /* from the framework's own library */
extern int PyLong_FromLong;                            /* the interpreter's C API */
extern void maybe_there(void) __attribute__((weak));   /* weak: may stay undefined */
extern char _ZTVN2ge5GraphE[];                         /* a vtable: data */
static const char *looked_up = "aclrtSetExceptionInfoCallback";
int lab_module_count(void) {
    uint32_t n = 99;
    int rc = aclrtGetDeviceCount(&n);
    printf("rc=%d count=%u msg=%s\n", rc, n, aclGetRecentErrMsg() ? "yes" : "no");
    return rc;
}
int lab_module_unused(void) { HcclSetConfig(0, 0); torch_helper(); if (maybe_there) maybe_there(); puts(looked_up);
                              return PyLong_FromLong + _ZTVN2ge5GraphE[0]; }
"""


@pytest.fixture(scope="module")
def objs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("elf")
    helper = cc(tmp, "libtorch_helper.so", "void torch_helper(void) {}\n")
    # link against throw-away libraries of the CANN sonames so the module records them in DT_NEEDED
    for soname in ("libhccl.so", "libascendcl.so"):
        cc(tmp, soname, "int placeholder_" + soname.split(".")[0][3:] + ";\n")
    module = cc(tmp, "_C.so", MODULE_C, "-Wl,--no-as-needed", f"-L{tmp}", "-l:libhccl.so", "-l:libascendcl.so",
                "-l:libtorch_helper.so", "-Wl,-rpath,$ORIGIN")
    return {"module": module, "helper": helper, "dir": tmp}


def test_read_elf_reads_needed_undefined_versions_and_defined(objs):
    info = read_elf(objs["module"])
    assert info.soname == "_C.so" and (info.runpath or info.rpath) == ("$ORIGIN",)
    assert info.needed[:3] == ("libhccl.so", "libascendcl.so", "libtorch_helper.so")
    und = {s.name: s for s in info.undefined}
    assert {"HcclSetConfig", "aclrtGetDeviceCount", "aclGetRecentErrMsg", "torch_helper",
            "PyLong_FromLong", "_ZTVN2ge5GraphE"} <= set(und)
    assert und["aclrtGetDeviceCount"].version is None
    assert und["maybe_there"].weak
    assert und["printf"].version_file == "libc.so.6" and und["printf"].version.startswith("GLIBC_")
    assert {"lab_module_count", "lab_module_unused"} <= info.defined_names
    assert "aclrtSetExceptionInfoCallback" in read_strings(objs["module"], cl.DLSYM_NAMES)


def test_read_elf_refuses_what_is_not_a_64_bit_object(tmp_path):
    with pytest.raises(ElfError, match="not an ELF object"):
        read_elf_bytes(b"#!/bin/sh\n" + b"\0" * 80, "script")
    with pytest.raises(ElfError, match="32-bit"):
        read_elf_bytes(b"\x7fELF\x01\x01" + b"\0" * 80, "old.so")
    (tmp_path / "empty.so").write_bytes(b"")
    with pytest.raises(ElfError, match="empty file"):
        read_elf(tmp_path / "empty.so")


def test_demand_keeps_only_what_nobody_but_cann_provides(objs):
    info = read_elf(objs["module"])
    helper = read_elf(objs["helper"])
    d = cl.demand_of("w:_C.so", info, providers=frozenset(helper.defined_names), provided_files=frozenset(
        {"libtorch_helper.so"}), system_sonames=frozenset({"libc.so.6"}))
    assert d.needed == ("libhccl.so", "libascendcl.so")
    assert set(d.symbols) == {"HcclSetConfig", "aclrtGetDeviceCount", "aclGetRecentErrMsg", "_ZTVN2ge5GraphE"}
    # a module that needs a library outside CANN and the system is left out, with the reason
    odd = cl.demand_of("w:mpi.so", dataclasses.replace(info, needed=("libmpi.so.40",)), frozenset(), frozenset(),
                       frozenset({"libc.so.6"}))
    assert odd.skipped and "OpenMPI" in odd.skipped


def test_plan_places_symbols_by_their_header_family_and_chains_the_driver():
    d = cl.Demand("w:m.so", ("libhccl.so", "libge_runner.so"),
                  ("HcclSetConfig", "aclrtMalloc", "acltdtCreateDataset", "_ZN2ge7SessionC1Ev", "_ZN2ge5GraphC1EPKc",
                   "snprintf_s", "somethingUnknown"))
    plan = cl.plan_stubs([d])
    by = {lib.soname: lib for lib in plan.libs}
    assert "HcclSetConfig" in by["libhccl.so"].functions
    assert "aclrtMalloc" in by["libascendcl.so"].functions                 # via the base chain
    assert "_ZN2ge7SessionC1Ev" in by["libge_runner.so"].functions
    # libgraph.so is not reachable from this module: its symbol goes to the module's first CANN library
    assert "_ZN2ge5GraphC1EPKc" in by["libhccl.so"].functions and "libgraph.so" not in by
    assert "somethingUnknown" in by["libhccl.so"].functions
    assert "acltdtCreateDataset" in by["libhccl.so"].functions
    assert "snprintf_s" not in by["libhccl.so"].functions                   # the driver's libc_sec.so has it
    assert by["libruntime.so"].needs == ("libascend_hal.so", "libc_sec.so")
    assert by["libascendcl.so"].needs == ("libruntime.so",) and by["libhccl.so"].needs == ("libascendcl.so",)
    assert by["libascend_hal.so"].place.directory == "lib64/driver" and by["libc_sec.so"].place.directory == \
        "lib64/common"
    # a securec/HAL function the lab's hand-written driver libraries lack: a generated stub the loader still finds
    extra = cl.plan_stubs([cl.Demand("w:m.so", ("libhccl.so",), ("sscanf_s", "halHostRegister"))])
    assert {"sscanf_s", "halHostRegister"} <= set(extra.lib("libruntime.so").functions)
    assert any("sscanf_s: the lab's libc_sec.so (c_sec_lab.c) lacks it" in n for n in extra.notes)


def test_data_symbols_structors_and_abi_variants():
    assert cl.is_data_symbol("_ZTVN2ge5GraphE") and cl.is_data_symbol("_ZN2ge10kSomeValueE")
    assert not cl.is_data_symbol("_ZN2ge5GraphC1EPKc") and not cl.is_data_symbol("aclInit")
    assert cl.cxx_structor("_ZN2ge23OperatorCreatorRegisterC1EPKcRKSt8functionIFNS_8OperatorERKNS_12AscendStringEEE")
    assert cl.cxx_structor("_ZN2ge7SessionD1Ev") and not cl.cxx_structor("_ZN2ge7Session8RunGraphEj")
    lib = cl.StubLib("libatb.so", cl.place_of("libatb.so"), ("libascendcl.so",),
                     functions=("_ZN3atb1fENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE", "_ZN3atb1gEv"))
    v = cl.nnal_variants(lib)
    assert v["cxx_abi_0"] == ("_ZN3atb1gEv",) and len(v["cxx_abi_1"]) == 2
    src = cl.render_c(lib)
    assert '__asm__("_ZN3atb1gEv")' in src and "lab_stub_called" in src


def _wheel(path: Path, members: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, src in members.items():
            z.write(src, name)
    return path


def test_stubs_from_a_wheel_load_only_with_the_library_folders_and_answer_no_device(objs, tmp_path):
    """The whole pipeline on a synthetic torch_npu wheel: scan, plan, compile, load, call."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / "torch-0.0.1-py3-none-any.whl", {"torch/lib/libtorch_helper.so": objs["helper"]})
    _wheel(wheels / "torch_npu-0.0.1-py3-none-any.whl", {"torch_npu/_C.so": objs["module"]})
    stubs = cl.ensure_stubs(wheels, tmp_path / "cache")
    plan = json.loads((stubs.path / "plan.json").read_text())
    assert {lib["soname"] for lib in plan["libs"]} == {"libascend_hal.so", "libc_sec.so", "libruntime.so",
                                                        "libascendcl.so", "libhccl.so"}
    assert cl.ensure_stubs(wheels, tmp_path / "cache").path == stubs.path          # cached: same digest, no rebuild
    libdirs = [stubs.path / "toolkit/lib64", stubs.path / "driver/lib64/driver", stubs.path / "driver/lib64/common"]
    site = tmp_path / "site"
    shutil.copytree(objs["dir"], site, ignore=shutil.ignore_patterns("libhccl.so", "libascendcl.so", "*.c"))
    code = ("import ctypes, sys; m = ctypes.CDLL(sys.argv[1]); sys.stdout.flush(); "
            "rc = m.lab_module_count(); sys.exit(0 if rc == 207004 else 3)")

    def run(dirs: list[Path]) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, LD_LIBRARY_PATH=":".join(map(str, dirs)))
        return subprocess.run([sys.executable, "-c", code, str(site / "_C.so")], capture_output=True, text=True,
                              env=env, timeout=60)

    ok = run(libdirs)
    assert ok.returncode == 0, ok.stderr
    assert "rc=207004 count=0 msg=yes" in ok.stdout
    none = run([])
    assert "libhccl.so: cannot open shared object file" in none.stderr
    no_driver = run(libdirs[:1])
    assert "libascend_hal.so: cannot open shared object file" in no_driver.stderr
    # a generated function that has no behaviour stops the process with its name, never a false success
    boom = subprocess.run([sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1]).HcclSetConfig(0, 0)",
                           str(stubs.path / "toolkit/lib64/libhccl.so")], capture_output=True, text=True,
                          env=dict(os.environ, LD_LIBRARY_PATH=":".join(map(str, libdirs))), timeout=60)
    assert boom.returncode != 0 and "HcclSetConfig (from libhccl.so) was called" in boom.stderr


def test_a_framework_wheel_without_the_wheel_it_links_is_refused(objs, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / "torch_npu-0.0.1-py3-none-any.whl", {"torch_npu/_C.so": objs["module"]})
    with pytest.raises(cl.StubBuildError, match="put the torch wheel in the store"):
        cl.ensure_stubs(wheels, tmp_path / "cache")


def test_the_member_glob_does_not_cross_folders():
    assert cl._member_matches("torch_npu/lib/libtorch_npu.so", "torch_npu/**/*.so")
    assert cl._member_matches("torch_npu/_C.cpython-311-x86_64-linux-gnu.so", "torch_npu/**/*.so")
    assert cl._member_matches("mindspore/lib/plugin/ascend/libd_collective.so", "mindspore/lib/plugin/ascend/*.so")
    assert not cl._member_matches("mindspore/lib/plugin/ascend/x/y.so", "mindspore/lib/plugin/ascend/*.so")
