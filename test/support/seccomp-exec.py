#!/usr/bin/env python3
"""Runs a command under a seccomp filter built as systemd builds packaging/link.service's.

    seccomp-exec.py SYSCALLS FAMILIES -- COMMAND [ARG...]

SYSCALLS: comma-separated system calls allowed (the unit's SystemCallFilter=, expanded by the
test from `systemd-analyze syscall-filter`); every other one fails with EPERM
(SystemCallErrorNumber=EPERM). Only the native architecture's calls pass
(SystemCallArchitectures=native: libseccomp kills on any other ABI).
FAMILIES: comma-separated AF_* names socket() may create (RestrictAddressFamilies=).
Also as systemd does it: RestrictNamespaces=yes (no unshare/setns, clone without CLONE_NEW*,
clone3 answers ENOSYS so libc falls back to clone), LockPersonality=yes (personality() may only
query or keep PER_LINUX), NoNewPrivileges=yes (libseccomp sets no_new_privs to load the filter).

The tests need the unit's restrictions without systemd as PID 1 (no systemd-run here); Node
cannot exec, Python can, so the filter is loaded here and the command exec'd in this process: the
pid the lab records stays the agent's. Uses libseccomp, which systemd itself depends on.
"""
import ctypes
import errno
import os
import socket
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
CLONE_NEW = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080


def act_errno(code):
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    allowed = [name for name in argv[0].split(",") if name]
    families = [getattr(socket, name) for name in argv[1].split(",") if name]
    command = argv[3:]

    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCmp),
    ]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]

    ctx = lib.seccomp_init(act_errno(errno.EPERM))
    if not ctx:
        raise OSError("seccomp_init failed")

    def rule(action, name, *cmps):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # another architecture's call (systemd's groups list every ABI's)
        array = (ArgCmp * len(cmps))(*cmps) if cmps else None
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name}")

    special = {"socket", "personality", "clone", "clone3", "unshare", "setns"}
    for name in allowed:
        if name not in special:
            rule(SCMP_ACT_ALLOW, name)
    if "socket" in allowed:
        for family in families:
            rule(SCMP_ACT_ALLOW, "socket", ArgCmp(0, SCMP_CMP_EQ, family, 0))
    if "personality" in allowed:
        for persona in (0, 0xFFFFFFFF):
            rule(SCMP_ACT_ALLOW, "personality", ArgCmp(0, SCMP_CMP_EQ, persona, 0))
    if "clone" in allowed:
        rule(SCMP_ACT_ALLOW, "clone", ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_NEW, 0))
    if "clone3" in allowed:
        rule(act_errno(errno.ENOSYS), "clone3")

    rc = lib.seccomp_load(ctx)
    if rc < 0:
        raise OSError(-rc, "seccomp_load")
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
