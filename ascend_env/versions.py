"""One version type for every spelling the Ascend stack uses.

Three schemes share the :class:`Version` type:

``ascend``
    CANN, driver (HDK) and firmware versions: ``8.0.RC1``, ``8.0.rc1``, ``8.0.RC1.beta1``,
    ``7.0.0.beta1``, ``7.0.RC1.B060``, ``24.1.rc3``, ``25.0.rc1.1``, ``23.0.3``, firmware
    ``7.1.0.5.220``, test builds ``7.0.T3`` / ``7.0.t9.0.b221``.  Within a ``major.minor`` line the
    release order is ``T<n>`` (test builds) < ``RC<n>`` < ``0`` < ``1`` ..., and ``alpha``/``beta``
    tags precede the release they tag (``8.0.RC1.beta1`` < ``8.0.RC1``; ``7.0.RC1`` <
    ``7.0.0.beta1`` < ``7.0.0``).  A ``B<nnn>`` build number follows its release.
``pep440``
    Python packages and interpreters: torch ``2.1.0``, torch_npu ``2.1.0.post3``, MindSpore
    ``2.3.0rc2``, Python ``3.11.4``.  Parsed by :mod:`packaging` as-is.
``inner``
    Driver/toolkit inner versions ``V100R001C15SPC006B220``.

Ascend versions are ordered by mapping them onto a PEP 440 key (``8.0.RC1.beta1`` ->
``8.0.1.1b1``) so that :mod:`packaging` does the comparing and the specifier matching; the
original spelling is kept in :attr:`Version.raw` and printing uses a canonical spelling
(``24.1.rc3`` prints ``24.1.RC3``; :meth:`Version.file_spelling` gives ``24.1.rc3``).
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version as _PyVersion

from .errors import AscendEnvError

__all__ = [
    "COMPONENTS",
    "Arch",
    "Scheme",
    "Spec",
    "Version",
    "VersionError",
    "parse_spec",
    "parse_version",
]


class VersionError(AscendEnvError, ValueError):
    """A version, range or architecture that cannot be parsed; the message says how to fix it."""


class Scheme(enum.Enum):
    ASCEND = "ascend"
    PEP440 = "pep440"
    INNER = "inner"


@dataclass(frozen=True)
class _Component:
    name: str
    label: str
    scheme: Scheme
    examples: tuple[str, ...]


#: Every versioned component the matrix knows, with the scheme its versions use.
COMPONENTS: dict[str, _Component] = {
    c.name: c
    for c in (
        _Component("cann", "CANN", Scheme.ASCEND, ("8.0.RC1", "8.0.0", "7.0.0.beta1")),
        _Component("driver", "driver", Scheme.ASCEND, ("24.1.RC3", "25.0.RC1.1", "23.0.3")),
        _Component("firmware", "firmware", Scheme.ASCEND, ("7.1.0.5.220", "7.3.0.1.231")),
        _Component("python", "Python", Scheme.PEP440, ("3.9", "3.10", "3.11.4")),
        _Component("mindspore", "MindSpore", Scheme.PEP440, ("2.2.11", "2.3.0rc2", "2.6.0")),
        _Component("mindformers", "MindFormers", Scheme.PEP440, ("1.0.0", "1.3.2")),
        _Component("torch", "torch", Scheme.PEP440, ("2.1.0", "2.4.0")),
        _Component("torch_npu", "torch_npu", Scheme.PEP440, ("2.1.0.post3", "2.4.0.post2")),
        _Component("inner", "inner version", Scheme.INNER, ("V100R001C15SPC006B220", "V100R001C15")),
    )
}

_EXAMPLES = {
    Scheme.ASCEND: COMPONENTS["cann"].examples,
    Scheme.PEP440: COMPONENTS["torch_npu"].examples,
    Scheme.INNER: COMPONENTS["inner"].examples,
}

# --- ascend scheme grammar -------------------------------------------------------------------
_ASCEND_RE = re.compile(
    r"""^
    (?:(?P<vendor>c\d+)-)?            # ModelArts driver builds: c81-22.0.0.3
    (?P<major>\d+)\.(?P<minor>\d+)
    (?:\.(?:(?P<tier>rc|t)(?P<tiern>\d+)|(?P<micro>\d+)))?
    (?P<patches>(?:\.\d+)*)
    (?:\.(?P<pre>alpha|beta)(?P<pren>\d*))?
    (?:\.b(?P<build>\d{3,}))?
    $""",
    re.IGNORECASE | re.VERBOSE,
)
_TIER_RANK = {"t": 0, "rc": 1, None: 2}
_INNER_RE = re.compile(r"^V(\d+)R(\d+)(?:C(\d+))?(?:SPC(\d+))?(?:B(\d+))?$", re.IGNORECASE)
_ASCEND_MARKER = re.compile(r"\.(rc|t)\d+|\.(alpha|beta)\d*|\.b\d{3,}|^c\d+-", re.IGNORECASE)
_NUMERIC_RE = re.compile(r"^\d+(\.\d+)+$")


def _example_text(scheme: Scheme, component: str | None) -> str:
    examples = COMPONENTS[component].examples if component in COMPONENTS else _EXAMPLES[scheme]
    return ", ".join(examples[:-1]) + " or " + examples[-1]


def _label(component: str | None) -> str:
    return COMPONENTS[component].label if component in COMPONENTS else "version"


#: the longest version and range texts read: the longest real spelling (an inner version, a firmware
#: 7.1.0.5.220, a union of ranges) is a few dozen characters; longer text is a paste error, and Python refuses to
#: turn a number of more than 4300 digits into an int (sys.get_int_max_str_digits)
MAX_VERSION_CHARS = 64
MAX_SPEC_CHARS = 256


def _shown(text: str, limit: int = 40) -> str:
    """``text`` as an error message quotes it: repr, cut to ``limit`` characters with its length."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text)} characters)"


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version of any Ascend-stack component.

    Versions of the same scheme compare with ``<``/``==``; a purely numeric version (``8.5.0``)
    compares with either scheme.  ``hash`` follows equality, so ``8.0.rc1`` and ``8.0.RC1`` are the
    same dictionary key.
    """

    raw: str
    scheme: Scheme
    canonical: str
    key: _PyVersion | tuple[int, ...] = field(repr=False)
    numeric: bool = field(default=False, repr=False)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: object, component: str | None = None, scheme: Scheme | None = None) -> Version:
        """Parse ``text``; ``component`` (e.g. ``"cann"``) picks the scheme and the error's example."""
        if isinstance(text, Version):
            return text
        if component is not None and component not in COMPONENTS:
            raise VersionError(f"unknown component {component!r}; known: {', '.join(COMPONENTS)}")
        if scheme is None and component is not None:
            scheme = COMPONENTS[component].scheme
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            raise VersionError(
                f"{_label(component)} version {text!r} was read as a number; quote it in YAML "
                f"(\"{text}\") so that trailing zeros and dots survive"
            )
        if not isinstance(text, str):
            raise VersionError(f"{_label(component)} version must be a string, got {text!r}")
        s = text.strip()
        if not s:
            raise VersionError(f"empty {_label(component)} version; expected a spelling like "
                               f"{_example_text(scheme or Scheme.ASCEND, component)}")
        if len(s) > MAX_VERSION_CHARS:
            raise VersionError(f"{_label(component)} version {_shown(s)} is longer than {MAX_VERSION_CHARS} "
                               f"characters, which no version is; expected a spelling like "
                               f"{_example_text(scheme or Scheme.ASCEND, component)}")
        parsers = {Scheme.ASCEND: cls._parse_ascend, Scheme.PEP440: cls._parse_pep440,
                   Scheme.INNER: cls._parse_inner}
        if scheme is None:
            scheme = cls._guess_scheme(s)
            v = parsers[scheme](s) or (cls._parse_pep440(s) if scheme is Scheme.ASCEND else None)
        else:
            v = parsers[scheme](s)
        if v is None:
            what = f"{_label(component)} version" if component else "version"
            raise VersionError(f"{_shown(s)} is not a valid {what}; expected a spelling like "
                               f"{_example_text(scheme, component)}")
        return v

    @staticmethod
    def _guess_scheme(s: str) -> Scheme:
        if _INNER_RE.match(s):
            return Scheme.INNER
        if _ASCEND_MARKER.search(s):
            return Scheme.ASCEND
        if _NUMERIC_RE.match(s):
            return Scheme.ASCEND
        return Scheme.PEP440

    @classmethod
    def _parse_ascend(cls, s: str) -> Version | None:
        m = _ASCEND_RE.match(s)
        if not m:
            return None
        major, minor = int(m["major"]), int(m["minor"])
        tier = m["tier"].lower() if m["tier"] else None
        patches = [int(p) for p in m["patches"].split(".") if p]
        parts = [major, minor]
        text = f"{major}.{minor}"
        if tier is not None:
            n = int(m["tiern"])
            parts += [_TIER_RANK[tier], n]
            text += f".{tier.upper()}{n}"
        elif m["micro"] is not None:
            parts += [_TIER_RANK[None], int(m["micro"])]
            text += f".{int(m['micro'])}"
        elif patches:  # "7.0.5" cannot be missing its micro; the regex makes this unreachable
            return None
        parts += patches
        text += "".join(f".{p}" for p in patches)
        key = ".".join(str(p) for p in parts)
        if m["pre"]:
            pre = m["pre"].lower()
            digits = m["pren"] or ""
            key += ("a" if pre == "alpha" else "b") + str(int(digits or 0))
            text += f".{pre}{digits}"
        if m["build"]:
            key += f"+b{int(m['build'])}"
            text += f".B{m['build']}"
        if m["vendor"]:
            text = f"{m['vendor'].lower()}-{text}"
            key += f"{'+' if '+' not in key else '.'}{m['vendor'].lower()}"
        numeric = tier is None and not m["pre"] and not m["build"] and not m["vendor"]
        return cls(raw=s, scheme=Scheme.ASCEND, canonical=text, key=_PyVersion(key), numeric=numeric)

    @classmethod
    def _parse_pep440(cls, s: str) -> Version | None:
        try:
            pv = _PyVersion(s)
        except InvalidVersion:
            return None
        if pv.local is not None or pv.epoch:
            return None
        numeric = not (pv.pre or pv.post is not None or pv.dev is not None)
        return cls(raw=s, scheme=Scheme.PEP440, canonical=str(pv), key=pv, numeric=numeric)

    @classmethod
    def _parse_inner(cls, s: str) -> Version | None:
        m = _INNER_RE.match(s)
        if not m:
            return None
        nums = tuple(-1 if g is None else int(g) for g in m.groups())
        text = f"V{m[1]}R{m[2]}" + (f"C{m[3]}" if m[3] else "") + (f"SPC{m[4]}" if m[4] else "") + \
            (f"B{m[5]}" if m[5] else "")
        return cls(raw=s, scheme=Scheme.INNER, canonical=text, key=nums)

    # -- views ----------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.canonical

    def file_spelling(self) -> str:
        """The spelling used in ``version.info`` files and ``.run`` names of drivers (``24.1.rc3``)."""
        return re.sub(r"\.RC(\d+)", r".rc\1", self.canonical)

    @property
    def release(self) -> tuple[int, ...]:
        """Numeric release tuple: ``(3, 11, 4)`` for Python, ``(8, 0)`` for CANN ``8.0.RC1``."""
        key = self.key
        if isinstance(key, tuple):  # Scheme.INNER, the only scheme whose key is a tuple
            return tuple(x for x in key if x >= 0)
        if self.scheme is Scheme.PEP440:
            return key.release
        return key.release[:2]

    @property
    def major_minor(self) -> str:
        return ".".join(str(x) for x in self.release[:2])

    @property
    def is_prerelease(self) -> bool:
        key = self.key
        if isinstance(key, tuple):  # Scheme.INNER
            return False
        return bool(key.is_prerelease) or (self.scheme is Scheme.ASCEND and key.release[2:3] in ((0,), (1,)))

    # -- comparison -----------------------------------------------------------------------------
    def _coerce(self, other: object) -> tuple[Any, Any]:
        """The keys of ``self`` and ``other`` in one scheme (both packaging versions or both tuples), or
        ``NotImplemented`` twice when ``other`` is not a version."""
        if isinstance(other, str):
            other = Version.parse(other, scheme=self.scheme)
        if not isinstance(other, Version):
            return NotImplemented, NotImplemented
        if other.scheme is self.scheme:
            return self.key, other.key
        if other.numeric and self.scheme is not Scheme.INNER:
            return self.key, Version.parse(other.canonical, scheme=self.scheme).key
        if self.numeric and other.scheme is not Scheme.INNER:
            return Version.parse(self.canonical, scheme=other.scheme).key, other.key
        raise TypeError(f"cannot compare {self.scheme.value} version {self} with "
                        f"{other.scheme.value} version {other}")

    def __eq__(self, other: object) -> bool:
        try:
            a, b = self._coerce(other)
        except (TypeError, VersionError):
            return False
        if a is NotImplemented:
            return NotImplemented
        equal: bool = a == b
        return equal

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Version) and other.scheme is self.scheme:
            mine: Any = self.key  # one scheme: both keys are packaging versions or both are tuples
            less: bool = mine < other.key
            return less
        a, b = self._coerce(other)
        if a is NotImplemented:
            return NotImplemented
        less = a < b
        return less

    def __hash__(self) -> int:
        return hash(self.key)


def parse_version(text: object, component: str | None = None) -> Version:
    """Shorthand for :meth:`Version.parse`."""
    return Version.parse(text, component)


# --- ranges ------------------------------------------------------------------------------------
_OPS = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")


@dataclass(frozen=True, eq=False)  # identity hash: cheap memo key (see _spec_contains)
class Spec:
    """A set of accepted versions: ``8.0.RC1`` (exact), ``25.0.*`` (series), ``>=24.1.RC2,<26``.

    Ascend-scheme clauses are translated onto the PEP 440 key of :class:`Version`, so
    :class:`packaging.specifiers.SpecifierSet` does the matching in both schemes.
    """

    text: str
    scheme: Scheme
    specifier: SpecifierSet = field(repr=False)
    canonical: str = ""
    #: the single version this spec names, when it is an exact pin
    exact: Version | None = None

    def contains(self, version: Version | str) -> bool:
        v = Version.parse(version, scheme=self.scheme) if isinstance(version, str) else version
        return _spec_contains(self, v)

    __contains__ = contains

    def __str__(self) -> str:
        return self.canonical or self.text



@functools.lru_cache(maxsize=65536)
def _spec_contains(spec: Spec, v: Version) -> bool:
    """Memoised: the resolver asks the same (spec, version) questions many times."""
    if v.scheme is not spec.scheme:
        if not v.numeric:
            return False
        v = Version.parse(v.canonical, scheme=spec.scheme)
    key = v.key
    # a tuple key is an inner version's, which has no ranges (parse_spec refuses them): no Spec holds one
    return not isinstance(key, tuple) and spec.specifier.contains(key, prereleases=True)


def parse_spec(text: object, component: str | None = None, scheme: Scheme | None = None) -> Spec:
    """Parse an accepted-versions spec for ``component``.

    Accepted spellings: ``X`` (exactly X), ``X.*`` or ``X.x`` (the series X), and
    comma-separated clauses ``>=X``, ``<Y``, ``==X``, ``!=X``, ``<=X``, ``>X``, ``~=X`` (Python only).
    """
    if scheme is None:
        scheme = COMPONENTS[component].scheme if component else Scheme.PEP440
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        raise VersionError(f"{_label(component)} range {text!r} was read as a number; quote it in YAML")
    if not isinstance(text, str) or not text.strip():
        raise VersionError(f"{_label(component)} range must be a non-empty string, got {text!r}")
    if len(text) > MAX_SPEC_CHARS:
        raise VersionError(f"{_label(component)} range {_shown(text)} is longer than {MAX_SPEC_CHARS} characters; "
                           f"write one version or a range like >=X,<Y")
    clauses = [c.strip() for c in text.split(",")]
    key_clauses: list[str] = []
    canon: list[str] = []
    exact: Version | None = None
    for clause in clauses:
        op = next((o for o in _OPS if clause.startswith(o)), None)
        body = clause[len(op):].strip() if op else clause
        if op is None:
            op = "=="
        wildcard = False
        if re.search(r"\.[*xX]$", body):
            wildcard, body = True, body[:-2]
            if op not in ("==", "!="):
                raise VersionError(f"{_label(component)} range {text!r}: a wildcard works only with == or !=; "
                                   f"write {body}.* or >={body}")
        if scheme is Scheme.INNER:
            raise VersionError("inner versions have no ranges; compare them with ascend_env.compat")
        try:
            v = Version.parse(body, component if component in COMPONENTS else None, scheme=scheme)
        except VersionError as exc:
            raise VersionError(f"bad {_label(component)} range {_shown(text)}: {exc}") from None
        # 25.0.* must match the whole 25.0 line; 24.1.RC2.* a release and its patches.
        key = _ascend_prefix_key(v) if scheme is Scheme.ASCEND and wildcard else str(v.key)
        if op == "~=" and scheme is Scheme.ASCEND:
            raise VersionError(f"{_label(component)} range {text!r}: ~= is for Python packages; "
                               f"use >= and < for Ascend versions")
        key_clauses.append(f"{op}{key}{'.*' if wildcard else ''}")
        pretty = v.canonical + (".*" if wildcard else "")
        canon.append(pretty if op == "==" else f"{op}{pretty}")
        if op == "==" and not wildcard and len(clauses) == 1:
            exact = v
    try:
        spec = SpecifierSet(",".join(key_clauses), prereleases=True)
    except InvalidSpecifier as exc:
        raise VersionError(f"bad {_label(component)} range {text!r}: {exc}") from None
    return Spec(text=text, scheme=scheme, specifier=spec, canonical=",".join(canon), exact=exact)


def _ascend_prefix_key(v: Version) -> str:
    """The PEP 440 prefix that selects ``v`` and everything below it in the Ascend tree."""
    key = v.key
    if isinstance(key, tuple):  # parse_spec refuses inner-version ranges before it gets here
        raise VersionError(f"inner versions have no series: {v}.*")
    if key.pre or key.local:
        raise VersionError(f"a series cannot end in a pre-release or build tag: {v}.*")
    return ".".join(str(x) for x in key.release)


# --- architectures -----------------------------------------------------------------------------
class Arch(enum.Enum):
    """CPU architecture, with every spelling the packages use."""

    X86_64 = "x86_64"
    AARCH64 = "aarch64"

    @classmethod
    def parse(cls, text: object) -> Arch:
        if isinstance(text, Arch):
            return text
        s = str(text).strip().lower().replace("-", "_")
        aliases = {"x86_64": cls.X86_64, "amd64": cls.X86_64, "x64": cls.X86_64,
                   "aarch64": cls.AARCH64, "arm64": cls.AARCH64, "armv8": cls.AARCH64}
        if s not in aliases:
            raise VersionError(f"unknown architecture {text!r}; use x86_64 (also x86-64, amd64) "
                               f"or aarch64 (also arm64)")
        return aliases[s]

    def __str__(self) -> str:
        return self.value

    @property
    def cann(self) -> str:
        """Spelling in CANN package names: ``x86_64`` / ``aarch64``."""
        return self.value

    @property
    def driver(self) -> str:
        """Spelling in driver package names: ``x86-64`` / ``aarch64``."""
        return self.value.replace("_", "-")

    @property
    def wheel(self) -> str:
        """Spelling in wheel platform tags: ``x86_64`` / ``aarch64``."""
        return self.value
