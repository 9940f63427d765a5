"""Read what a shared object asks of the dynamic loader: its soname, DT_NEEDED sonames, run paths, the dynamic
symbols it leaves undefined (with the symbol version and the library that version belongs to) and those it defines.

Pure Python over the ELF structures the loader itself reads (the System V gABI "Dynamic Section" and "Symbol Table",
and the GNU symbol-versioning sections ``.gnu.version``/``.gnu.version_r``/``.gnu.version_d`` as documented in the
Linux Standard Base Core specification, "Symbol Versioning").  Only 64-bit little-endian objects are read: the two
architectures Ascend servers use (x86_64 and aarch64); anything else is refused with a message that names it.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import AscendEnvError

__all__ = ["ElfError", "ElfInfo", "ElfSymbol", "read_elf", "read_elf_bytes"]

SymbolKind = Literal["func", "object", "tls", "notype", "other"]

_ELF_MAGIC = b"\x7fELF"
_MACHINES = {62: "x86_64", 183: "aarch64"}
# section types
_SHT_DYNSYM, _SHT_DYNAMIC = 11, 6
_SHT_GNU_VERSYM, _SHT_GNU_VERNEED, _SHT_GNU_VERDEF = 0x6FFFFFFF, 0x6FFFFFFE, 0x6FFFFFFD
# dynamic tags
_DT_NULL, _DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 14, 15, 29
# symbol binding / type
_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE = 1, 2, 10
_STT = {0: "notype", 1: "object", 2: "func", 6: "tls", 10: "func"}  # 10: STT_GNU_IFUNC
_SHN_UNDEF = 0
_VERSYM_HIDDEN = 0x8000


class ElfError(AscendEnvError, ValueError):
    """Not an ELF object this reader handles; the message names the file and why."""


@dataclass(frozen=True)
class ElfSymbol:
    name: str
    kind: SymbolKind
    weak: bool
    size: int
    #: the version a reference needs (``GLIBC_2.17``) or a definition carries; None when unversioned
    version: str | None = None
    #: for an undefined versioned symbol: the library that version comes from (``libc.so.6``)
    version_file: str | None = None


@dataclass(frozen=True)
class ElfInfo:
    machine: str
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    undefined: tuple[ElfSymbol, ...]
    defined: tuple[ElfSymbol, ...]

    @property
    def defined_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.defined)


@dataclass(frozen=True)
class _Section:
    type: int
    offset: int
    size: int
    link: int
    entsize: int


def read_elf(path: str | Path) -> ElfInfo:
    """Read ``path`` (memory-mapped: a 400 MB library costs what its dynamic sections cost)."""
    p = Path(path)
    with p.open("rb") as f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise ElfError(f"{p}: empty file, not an ELF object") from None
        with mm:
            return _parse(mm, str(p))


def read_elf_bytes(data: bytes, name: str = "<bytes>") -> ElfInfo:
    return _parse(data, name)


def _parse(buf: bytes | mmap.mmap, name: str) -> ElfInfo:
    machine, sections = _section_headers(buf, name)
    dynsym = next((s for s in sections if s.type == _SHT_DYNSYM), None)
    dynamic = next((s for s in sections if s.type == _SHT_DYNAMIC), None)
    if dynsym is None or dynamic is None:
        raise ElfError(f"{name}: no dynamic symbol table or dynamic section: not a shared object or executable")
    dynstr = sections[dynsym.link]

    def cstr(table: _Section, offset: int) -> str:
        start = table.offset + offset
        end = buf.find(b"\0", start, table.offset + table.size)
        if end < 0:
            raise ElfError(f"{name}: unterminated string at offset {offset}")
        return bytes(buf[start:end]).decode("utf-8", "replace")

    needed, soname, rpath, runpath = _dynamic_strings(buf, dynamic, dynstr, cstr)
    undefined, defined = _dynamic_symbols(buf, sections, dynsym, dynstr, cstr)
    return ElfInfo(machine=machine, soname=soname, needed=tuple(needed), rpath=tuple(rpath), runpath=tuple(runpath),
                   undefined=tuple(undefined), defined=tuple(defined))


def _section_headers(buf: bytes | mmap.mmap, name: str) -> tuple[str, list[_Section]]:
    """The object's machine and its section headers (64-bit little-endian ELF only)."""
    if len(buf) < 64 or buf[:4] != _ELF_MAGIC:
        raise ElfError(f"{name}: not an ELF object (no \\x7fELF header)")
    if buf[4] != 2 or buf[5] != 1:
        raise ElfError(f"{name}: a {'32' if buf[4] == 1 else '?'}-bit {'big' if buf[5] == 2 else 'little'}-endian "
                       "ELF object; only 64-bit little-endian objects (x86_64, aarch64) are read")
    e_machine = struct.unpack_from("<H", buf, 18)[0]
    machine = _MACHINES.get(e_machine, f"machine {e_machine}")
    e_shoff, = struct.unpack_from("<Q", buf, 40)
    e_shentsize, e_shnum, _ = struct.unpack_from("<HHH", buf, 58)
    if e_shoff == 0 or e_shnum == 0:
        raise ElfError(f"{name}: no section headers (a stripped or truncated object); cannot read its symbols")
    if e_shoff + e_shnum * e_shentsize > len(buf):
        raise ElfError(f"{name}: section headers past the end of the file (truncated at {len(buf)} bytes)")
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        _, sh_type, _, _, sh_offset, sh_size, sh_link, _, _, sh_entsize = struct.unpack_from("<IIQQQQIIQQ", buf, off)
        sections.append(_Section(sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    return machine, sections


def _dynamic_strings(buf: bytes | mmap.mmap, dynamic: _Section, dynstr: _Section,
                     cstr: Callable[[_Section, int], str]) -> tuple[list[str], str | None, list[str], list[str]]:
    """DT_NEEDED sonames, DT_SONAME, DT_RPATH and DT_RUNPATH entries."""
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    soname = None
    for tag, val in _dyn_entries(buf, dynamic):
        if tag == _DT_NEEDED:
            needed.append(cstr(dynstr, val))
        elif tag == _DT_SONAME:
            soname = cstr(dynstr, val)
        elif tag == _DT_RPATH:
            rpath += [p for p in cstr(dynstr, val).split(":") if p]
        elif tag == _DT_RUNPATH:
            runpath += [p for p in cstr(dynstr, val).split(":") if p]
    return needed, soname, rpath, runpath


def _dynamic_symbols(buf: bytes | mmap.mmap, sections: list[_Section], dynsym: _Section, dynstr: _Section,
                     cstr: Callable[[_Section, int], str]) -> tuple[list[ElfSymbol], list[ElfSymbol]]:
    """The global and weak dynamic symbols, undefined and defined, with their symbol versions."""
    versym = next((s for s in sections if s.type == _SHT_GNU_VERSYM), None)
    need_names = _verneed(buf, sections, dynstr, cstr)
    def_names = _verdef(buf, sections, dynstr, cstr)
    count = dynsym.size // (dynsym.entsize or 24)
    undefined: list[ElfSymbol] = []
    defined: list[ElfSymbol] = []
    for i in range(1, count):
        st_name, st_info, _, st_shndx, _, st_size = struct.unpack_from("<IBBHQQ", buf, dynsym.offset + i * 24)
        bind, typ = st_info >> 4, st_info & 0xF
        if bind not in (_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE):
            continue
        sym_name = cstr(dynstr, st_name)
        if not sym_name:
            continue
        ver = ver_file = None
        if versym is not None:
            idx = struct.unpack_from("<H", buf, versym.offset + i * 2)[0] & ~_VERSYM_HIDDEN
            if idx >= 2:
                if st_shndx == _SHN_UNDEF and idx in need_names:
                    ver_file, ver = need_names[idx]
                elif idx in def_names:
                    ver = def_names[idx]
        sym = ElfSymbol(sym_name, _STT.get(typ, "other"), bind == _STB_WEAK, st_size, ver, ver_file)  # type: ignore[arg-type]
        (undefined if st_shndx == _SHN_UNDEF else defined).append(sym)
    return undefined, defined


def _dyn_entries(buf: bytes | mmap.mmap, dynamic: _Section) -> Iterator[tuple[int, int]]:
    for off in range(dynamic.offset, dynamic.offset + dynamic.size, 16):
        tag, val = struct.unpack_from("<qQ", buf, off)
        if tag == _DT_NULL:
            return
        yield tag, val


def _verneed(buf: bytes | mmap.mmap, sections: list[_Section], dynstr: _Section, cstr) -> dict[int, tuple[str, str]]:
    """version index -> (library file, version name) from .gnu.version_r."""
    out: dict[int, tuple[str, str]] = {}
    for sec in (s for s in sections if s.type == _SHT_GNU_VERNEED):
        strtab = sections[sec.link] if sec.link else dynstr
        off = sec.offset
        while True:
            _, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", buf, off)
            file = cstr(strtab, vn_file)
            aoff = off + vn_aux
            for _ in range(vn_cnt):
                _, _, vna_other, vna_name, vna_next = struct.unpack_from("<IHHII", buf, aoff)
                out[vna_other] = (file, cstr(strtab, vna_name))
                if not vna_next:
                    break
                aoff += vna_next
            if not vn_next:
                break
            off += vn_next
    return out


def _verdef(buf: bytes | mmap.mmap, sections: list[_Section], dynstr: _Section, cstr) -> dict[int, str]:
    """version index -> version name from .gnu.version_d (the object's own versions)."""
    out: dict[int, str] = {}
    for sec in (s for s in sections if s.type == _SHT_GNU_VERDEF):
        strtab = sections[sec.link] if sec.link else dynstr
        off = sec.offset
        while True:
            _, _, vd_ndx, vd_cnt, _, vd_aux, vd_next = struct.unpack_from("<HHHHIII", buf, off)
            if vd_cnt:
                vda_name, = struct.unpack_from("<I", buf, off + vd_aux)
                out[vd_ndx] = cstr(strtab, vda_name)
            if not vd_next:
                break
            off += vd_next
    return out


def read_strings(path: str | Path, pattern: str, section: str = ".rodata") -> frozenset[str]:
    """The NUL-terminated strings of ``section`` that match ``pattern`` in full: the names a module looks up at run
    time with dlsym (MindSpore's ``DlsymAscend`` keeps its CANN function names there)."""
    import re

    regex = re.compile(pattern.encode())
    p = Path(path)
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if len(buf) < 64 or buf[:4] != _ELF_MAGIC or buf[4] != 2 or buf[5] != 1:
            raise ElfError(f"{p}: not a 64-bit little-endian ELF object")
        e_shoff, = struct.unpack_from("<Q", buf, 40)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", buf, 58)
        heads = [struct.unpack_from("<IIQQQQIIQQ", buf, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        names_off = heads[e_shstrndx][4]
        for sh_name, _, _, _, sh_offset, sh_size, *_ in heads:
            end = buf.find(b"\0", names_off + sh_name)
            if bytes(buf[names_off + sh_name:end]) != section.encode():
                continue
            data = bytes(buf[sh_offset:sh_offset + sh_size])
            return frozenset(s.decode() for s in data.split(b"\0") if regex.fullmatch(s))
    return frozenset()
