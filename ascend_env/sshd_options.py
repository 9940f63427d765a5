"""sshd_config(5) keywords and the values sshd accepts for each: ``sshd -t`` refuses, ascend-env refuses first.

Taken from OpenSSH's own parser, ``servconf.c`` (``process_server_config_line``) and ``servconf.h``
(``SSHD_CONFIG_ENTRIES``), openssh/openssh-portable at V_9_2_P1 (Debian bookworm's sshd) and at master (2026-08),
whose keyword lists are merged here; the algorithm names from ``cipher.c`` (``ciphers[]``), ``mac.c`` (``macs[]``),
``kex.h``/``kex-names.c`` (``kexalgs[]``) and the key types of ``sshkey.c`` / ``ssh-*.c``, OpenSSH 8.0 to master.
A keyword a newer sshd knows may still be refused by an older one: the renderer's command line also runs ``sshd -t``
on the result when sshd is installed (:mod:`ascend_env.cli.render`), and the ascend_ssh role validates the drop-in
with ``sshd -t`` in the container before it replaces the running one.

Standard library only; pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import AscendEnvError

__all__ = ["KEYWORDS", "SshdOptionError", "canonical_keyword", "check_option"]


class SshdOptionError(AscendEnvError, ValueError):
    """An sshd keyword or value sshd would refuse; the message names it and says what sshd accepts."""


_FLAG = ("yes", "no")
_ENUMS: dict[str, tuple[str, ...]] = {
    "flag": _FLAG,
    "addressfamily": ("any", "inet", "inet6"),
    "permitrootlogin": ("prohibit-password", "without-password", "forced-commands-only", "yes", "no"),
    "ignorerhosts": ("yes", "no", "shosts-only"),
    "compression": ("yes", "delayed", "no"),
    "gatewayports": ("clientspecified", "yes", "no"),
    "tcpfwd": ("yes", "all", "no", "remote", "local"),
    "tunnel": ("yes", "no", "point-to-point", "ethernet"),
}
_LOG_LEVELS = ("QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3")
_FACILITIES = ("DAEMON", "USER", "AUTH", "AUTHPRIV", *(f"LOCAL{i}" for i in range(8)))
_DIGESTS = ("md5", "sha1", "sha256", "sha384", "sha512")
_IPQOS = ("af11", "af12", "af13", "af21", "af22", "af23", "af31", "af32", "af33", "af41", "af42", "af43",
          "cs0", "cs1", "cs2", "cs3", "cs4", "cs5", "cs6", "cs7", "ef", "le", "lowdelay", "throughput",
          "reliability", "none")

CIPHERS = frozenset({
    "3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "rijndael-cbc@lysator.liu.se", "aes128-ctr", "aes192-ctr",
    "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"})
MACS = frozenset({
    "hmac-sha1", "hmac-sha1-96", "hmac-sha2-256", "hmac-sha2-512", "hmac-md5", "hmac-md5-96", "umac-64@openssh.com",
    "umac-128@openssh.com", "hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com", "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"})
KEX = frozenset({
    "diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group-exchange-sha256", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "curve25519-sha256", "curve25519-sha256@libssh.org", "sntrup4591761x25519-sha512@tinyssh.org",
    "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256",
    "mlkem768nistp256-sha256"})
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com", "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com", "ssh-dss",
    "ssh-dss-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "ssh-xmss@openssh.com", "ssh-xmss-cert-v01@openssh.com",
    "ssh-mldsa44-ed25519@openssh.com", "ssh-mldsa44-ed25519-cert-v01@openssh.com"})

#: keyword (canonical spelling) -> kind of value.  Kinds: an _ENUMS key; int; time; time-or-none; ciphers; macs;
#: kex; keytypes; word (one argument); words (one or more); loglevel; facility; digest; ipqos; maxstartups;
#: netblock; int-or-none; rekeylimit; octal; subsystem; pubkeyauthoptions; permituserenv; unsupported; ignored.
KEYWORDS: dict[str, str] = {
    "AcceptEnv": "words", "AddressFamily": "addressfamily", "AllowAgentForwarding": "flag",
    "AllowGroups": "words", "AllowStreamLocalForwarding": "tcpfwd", "AllowTcpForwarding": "tcpfwd",
    "AllowUsers": "words", "AuthenticationMethods": "words", "AuthorizedKeysCommand": "words",
    "AuthorizedKeysCommandUser": "word", "AuthorizedKeysFile": "words", "AuthorizedPrincipalsCommand": "words",
    "AuthorizedPrincipalsCommandUser": "word", "AuthorizedPrincipalsFile": "word", "Banner": "word",
    "CASignatureAlgorithms": "keytypes", "ChallengeResponseAuthentication": "flag", "ChannelTimeout": "words",
    "ChrootDirectory": "word", "Ciphers": "ciphers", "ClientAliveCountMax": "int", "ClientAliveInterval": "time",
    "Compression": "compression", "DenyGroups": "words", "DenyUsers": "words", "DisableForwarding": "flag",
    "DSAAuthentication": "flag", "ExposeAuthInfo": "flag", "FingerprintHash": "digest", "ForceCommand": "words",
    "GatewayPorts": "gatewayports", "GSSAPIAuthentication": "flag", "GSSAPICleanupCredentials": "flag",
    "GSSAPIDelegateCredentials": "flag", "GSSAPIStrictAcceptorCheck": "flag",
    "HostbasedAcceptedAlgorithms": "keytypes", "HostbasedAcceptedKeyTypes": "keytypes",
    "HostbasedAuthentication": "flag", "HostbasedUsesNameFromPacketOnly": "flag", "HostCertificate": "word",
    "HostDSAKey": "word", "HostKey": "word", "HostKeyAgent": "word", "HostKeyAlgorithms": "keytypes",
    "IgnoreRhosts": "ignorerhosts", "IgnoreUserKnownHosts": "flag", "Include": "words", "IPQoS": "ipqos",
    "KbdInteractiveAuthentication": "flag", "KeepAlive": "flag", "KerberosAuthentication": "flag",
    "KerberosGetAFSToken": "flag", "KerberosOrLocalPasswd": "flag", "KerberosTicketCleanup": "flag",
    "KexAlgorithms": "kex", "ListenAddress": "words", "LoginGraceTime": "time", "LogLevel": "loglevel",
    "LogVerbose": "words", "MACs": "macs", "Match": "words", "MaxAuthTries": "int", "MaxSessions": "int",
    "MaxStartups": "maxstartups", "ModuliFile": "word", "PAMServiceName": "word", "PasswordAuthentication": "flag",
    "PermitEmptyPasswords": "flag", "PermitListen": "words", "PermitOpen": "words",
    "PermitRootLogin": "permitrootlogin", "PermitTTY": "flag", "PermitTunnel": "tunnel",
    "PermitUserEnvironment": "permituserenv", "PermitUserRC": "flag", "PerSourceMaxStartups": "int-or-none",
    "PerSourceNetBlockSize": "netblock", "PerSourcePenalties": "words", "PerSourcePenaltyExemptList": "word",
    "PidFile": "word", "Port": "int", "PrintLastLog": "flag", "PrintMotd": "flag",
    "PubkeyAcceptedAlgorithms": "keytypes", "PubkeyAcceptedKeyTypes": "keytypes",
    "PubkeyAuthentication": "flag", "PubkeyAuthOptions": "pubkeyauthoptions", "RDomain": "unsupported",
    "RefuseConnection": "flag", "RekeyLimit": "rekeylimit", "RequiredRSASize": "int", "RevokedKeys": "word",
    "SecurityKeyProvider": "word", "SetEnv": "words", "SKeyAuthentication": "flag", "SshdAuthPath": "word",
    "SshdSessionPath": "word", "StreamLocalBindMask": "octal", "StreamLocalBindUnlink": "flag",
    "StrictModes": "flag", "Subsystem": "subsystem", "SyslogFacility": "facility", "TCPKeepAlive": "flag",
    "TrustedUserCAKeys": "word", "UnusedConnectionTimeout": "time-or-none", "UseDNS": "flag", "UsePAM": "flag",
    "VersionAddendum": "words", "X11DisplayOffset": "int", "X11Forwarding": "flag", "X11UseLocalhost": "flag",
    "XAuthLocation": "word",
    # deprecated or ignored: sshd says so and does nothing with them
    "AFSTokenPassing": "ignored", "AuthorizedKeysFile2": "ignored", "CheckMail": "ignored",
    "KerberosTgtPassing": "ignored", "KeyRegenerationInterval": "ignored", "PAMAuthenticationViaKbdInt": "ignored",
    "Protocol": "ignored", "ReverseMappingCheck": "ignored", "RhostsAuthentication": "ignored",
    "RhostsRSAAuthentication": "ignored", "RSAAuthentication": "ignored", "ServerKeyBits": "ignored",
    "UseLogin": "ignored", "UsePrivilegeSeparation": "ignored", "VerifyReverseMapping": "ignored",
}
_BY_LOWER = {k.lower(): k for k in KEYWORDS}
_INT_MAX = 2**31 - 1
_TIME_RE = re.compile(r"^(?:[0-9]+[sSmMhHdDwW]?)+$")
_TIME_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SCALED_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?[KMGTPE]?$", re.IGNORECASE)
_NAME_RE = re.compile(r"^[A-Za-z0-9@._*?!-]+$")


def canonical_keyword(key: str) -> str | None:
    """sshd's spelling of ``key`` (keywords are case-insensitive), or None when sshd has no such keyword."""
    return _BY_LOWER.get(key.lower())


def _seconds(text: str) -> int | None:
    if not _TIME_RE.match(text):
        return None
    total = 0
    for num, unit in re.findall(r"([0-9]+)([sSmMhHdDwW]?)", text):
        total += int(num) * _TIME_UNIT[unit.lower()]
    return total if total <= _INT_MAX else None


def _scaled(text: str) -> float | None:
    """OpenSSH's scan_scaled: a number with an optional K/M/G/T/P/E (powers of 1024)."""
    m = _SCALED_RE.match(text)
    if m is None:
        return None
    suffix = text[-1].upper() if text[-1].isalpha() else ""
    return float(text[:-1] if suffix else text) * 1024 ** (" KMGTPE".index(suffix) if suffix else 0)


def _algorithms(key: str, value: str, known: frozenset[str], wildcards: bool) -> None:
    body = value[1:] if value[:1] in "+-^" else value
    if value.startswith("-"):   # sshd removes matching names without checking them
        return
    names = body.split(",")
    bad = [n for n in names if n not in known and not (wildcards and any(c in n for c in "*?") and _NAME_RE.match(n))]
    if not body or bad:
        shown = ", ".join(repr(b) for b in bad) or "an empty list"
        raise SshdOptionError(f"sshd option {key} {value!r}: {shown} is not an algorithm sshd knows; use a comma-"
                              f"separated list (prefix + to add, - to remove, ^ to put first) of: "
                              f"{', '.join(sorted(known))} (`sshd -T | grep -i {key}` shows this sshd's own)")


def check_option(key: str, value: str) -> str:
    """Check one ``Keyword value`` line as sshd's parser would; returns sshd's spelling of the keyword.

    Raises :class:`SshdOptionError` naming the keyword, the value and what sshd accepts."""
    name = _keyword(key)
    kind = KEYWORDS[name]
    args = _arguments(name, kind, value)
    if kind in _ENUMS:
        if args[0] not in _ENUMS[kind]:
            raise SshdOptionError(f"sshd option {name} {args[0]!r} is not one of {', '.join(_ENUMS[kind])}")
    elif kind in _VALUE_CHECKS:
        _VALUE_CHECKS[kind](name, kind, value, args)
    return name


def _keyword(key: str) -> str:
    """sshd's spelling of ``key``; a keyword sshd does not have is an error (with the nearest one it has)."""
    name = canonical_keyword(key)
    if name is None:
        import difflib

        close = difflib.get_close_matches(key.lower(), list(_BY_LOWER), n=1, cutoff=0.75)
        hint = f"did you mean {_BY_LOWER[close[0]]}? " if close else ""
        raise SshdOptionError(f"sshd option {key!r} is not an sshd_config keyword (sshd would refuse the file: "
                              f"\"Bad configuration option\"); {hint}see man sshd_config")
    return name


def _arguments(name: str, kind: str, value: str) -> list[str]:
    """The value's words: at least one, quotes balanced, one unless the keyword takes several; a keyword sshd
    ignores or does not support on Linux is an error whatever its value."""
    args = value.split()
    if not args:
        raise SshdOptionError(f"sshd option {name} has no value; give one")
    if value.count('"') % 2:
        raise SshdOptionError(f"sshd option {name} {value!r} has an unbalanced '\"' (sshd: \"invalid quotes\"); "
                              "close the quote or drop it")
    if kind == "ignored":
        raise SshdOptionError(f"sshd option {name} is deprecated or ignored by sshd (it changes nothing); drop it")
    if kind == "unsupported":
        raise SshdOptionError(f"sshd option {name} is not supported by sshd on Linux; drop it")
    multi = kind in ("words", "ipqos", "rekeylimit", "subsystem", "pubkeyauthoptions")
    if not multi and len(args) > 1:
        raise SshdOptionError(f"sshd option {name} takes one value, got {len(args)} ({value!r}); give one")
    return args


# --- one check per kind of value: (keyword, kind, the whole value, its words) -> None, or SshdOptionError ---------
def _integer(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    if not (kind == "int-or-none" and word == "none") and not (word.isdigit() and int(word) <= _INT_MAX):
        none = " or none" if kind == "int-or-none" else ""
        raise SshdOptionError(f"sshd option {name} {word!r} is not a whole number{none} (sshd: \"integer value "
                              "invalid\"); e.g. " + ("MaxSessions 10" if name == "MaxSessions" else f"{name} 10"))
    if name == "Port" and not 1 <= int(word) <= 65535:
        raise SshdOptionError(f"sshd option Port {word}: use 1-65535")


def _time(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    if not (kind == "time-or-none" and word == "none") and _seconds(word) is None:
        raise SshdOptionError(f"sshd option {name} {word!r} is not a time; write seconds or a number with a unit "
                              "s/m/h/d/w, e.g. 30, 90s, 2m or 1h30m")


def _named(choices: tuple[str, ...], keyword: str, fold: str) -> Callable[[str, str, str, list[str]], None]:
    """A value that is one of ``choices`` (compared in upper or lower case, as sshd does)."""
    def check(name: str, kind: str, value: str, args: list[str]) -> None:
        word = args[0]
        if (word.upper() if fold == "upper" else word.lower()) not in choices:
            raise SshdOptionError(f"sshd option {keyword} {word!r} is not one of {', '.join(choices)}")
    return check


def _ipqos(name: str, kind: str, value: str, args: list[str]) -> None:
    if len(args) > 2 or any(a.lower() not in _IPQOS and not a.isdigit() for a in args):
        raise SshdOptionError(f"sshd option IPQoS {value!r}: give one or two of {', '.join(_IPQOS)} or numbers")


def _max_startups(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    m = re.fullmatch(r"([0-9]+)(?::([0-9]+):([0-9]+))?", word)
    ok = m is not None and int(m[1]) > 0
    if ok and m is not None and m[2] is not None:
        ok = int(m[1]) <= int(m[3]) and 1 <= int(m[2]) <= 100 and int(m[3]) > 0
    if not ok:
        raise SshdOptionError(f"sshd option MaxStartups {word!r} is not start:rate:full (e.g. 10:30:100) or a "
                              "number")


def _netblock(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    m = re.fullmatch(r"([0-9]+)(?::([0-9]+))?", word)
    if m is None or int(m[1]) > 32 or (m[2] is not None and int(m[2]) > 128):
        raise SshdOptionError(f"sshd option PerSourceNetBlockSize {word!r}: write IPv4[:IPv6] prefix lengths, "
                              "e.g. 32:128")


def _rekey_limit(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    amount = _scaled(word)
    ok = word == "default" or (amount is not None and (amount == 0 or amount >= 16))
    if not ok or len(args) > 2 or (len(args) == 2 and args[1] != "none" and _seconds(args[1]) is None):
        raise SshdOptionError(f"sshd option RekeyLimit {value!r}: write an amount of data (default, or at least "
                              "16 bytes, e.g. 1G) and an optional time (none, or e.g. 1h)")


def _octal(name: str, kind: str, value: str, args: list[str]) -> None:
    word = args[0]
    if not re.fullmatch(r"[0-7]+", word) or int(word, 8) > 0o777:
        raise SshdOptionError(f"sshd option StreamLocalBindMask {word!r} is not an octal mode, e.g. 0177")


def _subsystem(name: str, kind: str, value: str, args: list[str]) -> None:
    if len(args) < 2:
        raise SshdOptionError(f"sshd option Subsystem {value!r}: write a name and a command, e.g. "
                              "Subsystem sftp internal-sftp")


def _pubkey_auth_options(name: str, kind: str, value: str, args: list[str]) -> None:
    if [a for a in args if a not in ("none", "touch-required", "verify-required")]:
        raise SshdOptionError(f"sshd option PubkeyAuthOptions {value!r}: use none, touch-required or "
                              "verify-required")


def _algorithm_list(known: frozenset[str], wildcards: bool) -> Callable[[str, str, str, list[str]], None]:
    def check(name: str, kind: str, value: str, args: list[str]) -> None:
        _algorithms(name, args[0], known, wildcards)
    return check


#: kind -> its check (the _ENUMS kinds are checked by check_option; words, word, permituserenv: anything)
_VALUE_CHECKS: dict[str, Callable[[str, str, str, list[str]], None]] = {
    "int": _integer, "int-or-none": _integer, "time": _time, "time-or-none": _time,
    "ciphers": _algorithm_list(CIPHERS, False), "macs": _algorithm_list(MACS, False),
    "kex": _algorithm_list(KEX, False), "keytypes": _algorithm_list(KEY_TYPES, True),
    "loglevel": _named(_LOG_LEVELS, "LogLevel", "upper"), "facility": _named(_FACILITIES, "SyslogFacility", "upper"),
    "digest": _named(_DIGESTS, "FingerprintHash", "lower"), "ipqos": _ipqos, "maxstartups": _max_startups,
    "netblock": _netblock, "rekeylimit": _rekey_limit, "octal": _octal, "subsystem": _subsystem,
    "pubkeyauthoptions": _pubkey_auth_options,
}
