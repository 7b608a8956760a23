"""Taking the walls down from inside: namespace, mount, tracing and other
kernel interfaces are refused with EPERM (seccomp stage 1), and the process
holds no capability, no_new_privs and a seccomp filter."""

import errno
import platform
import pwd

import pytest

# (x86_64, aarch64) numbers; arguments are valid enough that without the
# filter most calls would do something or fail otherwise than EPERM.
SYSCALLS = {
    "unshare(CLONE_NEWUSER)": ((272, 97), "0x10000000"),
    "unshare(CLONE_NEWNS)": ((272, 97), "0x00020000"),
    "setns": ((308, 268), "0, 0"),
    "mount tmpfs": ((165, 40), "b'none', b'tmp', b'tmpfs', 0, 0"),
    "umount2 /": ((166, 39), "b'/', 2"),
    "pivot_root": ((155, 41), "b'tmp', b'tmp'"),
    "chroot": ((161, 51), "b'tmp'"),
    "open_tree": ((428, 428), "-100, b'/', 1"),
    "fsopen": ((430, 430), "b'tmpfs', 0"),
    "ptrace(TRACEME)": ((101, 117), "0, 0, 0, 0"),
    "ptrace(ATTACH 1)": ((101, 117), "16, 1, 0, 0"),
    "process_vm_readv": ((310, 270), "1, 0, 0, 0, 0, 0"),
    "kcmp": ((312, 272), "1, 2, 0, 0, 0"),
    "bpf": ((321, 280), "0, ctypes.create_string_buffer(128), 128"),
    "keyctl": ((250, 219), "0, -3, 0, 0, 0"),
    "add_key": ((248, 217), "b'user', b'x', b'y', 1, -3"),
    "perf_event_open": ((298, 241), "ctypes.create_string_buffer(128), 0, -1, -1, 0"),
    "userfaultfd": ((323, 282), "0"),
    "io_uring_setup": ((425, 425), "8, ctypes.create_string_buffer(120)"),
    "open_by_handle_at": ((304, 265), "-100, ctypes.create_string_buffer(128), 0"),
    "init_module": ((175, 105), "0, 0, b''"),
    "personality(ADDR_NO_RANDOMIZE)": ((135, 92), "0x0040000"),
    "clone(CLONE_NEWUSER)": ((56, 220), "0x10000000 | 17, 0, 0, 0, 0"),
    "clone(CLONE_NEWNET)": ((56, 220), "0x40000000 | 17, 0, 0, 0, 0"),
}


def _nr(nrs):
    return {"x86_64": nrs[0], "aarch64": nrs[1]}[platform.machine()]


@pytest.mark.parametrize("call", SYSCALLS)
def test_syscall_is_eperm(service, call):
    nrs, args = SYSCALLS[call]
    code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"rc = libc.syscall({_nr(nrs)}, {args})\nerr = ctypes.get_errno()\n"
            "if rc == 0 and 'clone' in CALL:\n    os._exit(0)  # the child, had it worked\n")
    g = service.run(code, {"CALL": call})
    assert (g["rc"], g["err"]) == (-1, errno.EPERM), g


def test_runs_as_nobody(service):
    nobody = pwd.getpwnam("nobody")
    g = service.run("import os\nids = [os.getresuid(), os.getresgid(), os.getgroups()]")
    assert g["ids"] == [[nobody.pw_uid] * 3, [nobody.pw_gid] * 3, []]


def test_no_capabilities_no_new_privs_and_seccomp(service):
    code = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
bounding = [libc.prctl(23, cap, 0, 0, 0) for cap in range(41)]  # PR_CAPBSET_READ
ambient = [libc.prctl(47, 1, cap, 0, 0) for cap in range(41)]   # PR_CAP_AMBIENT_IS_SET
no_new_privs = libc.prctl(39, 0, 0, 0, 0)                        # PR_GET_NO_NEW_PRIVS
seccomp = libc.prctl(21, 0, 0, 0, 0)                             # PR_GET_SECCOMP
class Header(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]
data = (ctypes.c_uint32 * 6)()
capget = [libc.capget(ctypes.byref(Header(0x20080522, 0)), data), list(data)]
"""
    g = service.run(code)
    assert g["bounding"] == [0] * 41
    assert g["ambient"] == [0] * 41
    assert g["no_new_privs"] == 1
    assert g["seccomp"] == 2
    assert g["capget"] == [0, [0] * 6]
