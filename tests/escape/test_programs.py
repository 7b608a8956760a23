"""Running any program, the sandbox's own interpreter included: execve and
execveat are refused (EACCES) by the filter codejail-noexec.so installs
before the interpreter's main()."""

import errno
import platform
import subprocess

import pytest

DENIED = ("PermissionError", errno.EACCES)

ATTEMPTS = {
    "execv /usr/bin/true": "os.execv('/usr/bin/true', ['true'])",
    "execv the interpreter": "os.execv(sys.executable, [sys.executable, '-c', 'pass'])",
    "subprocess /bin/sh": "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'true'])",
    "subprocess the interpreter": "import subprocess\nsubprocess.run([sys.executable, '-c', 'pass'])",
    "os.system": "import subprocess\nsubprocess.check_call('true', shell=True)",
    "posix_spawn": "os.posix_spawn('/usr/bin/true', ['true'], {})",
    "the dynamic loader": "import glob\nld = sorted(glob.glob('/usr/lib*/ld-linux*') + glob.glob('/usr/lib/*/ld-linux*'))[0]\n"
                          "os.execv(ld, [ld, '/usr/bin/true'])",
    "fexecve of a memfd": "fd = os.memfd_create('x')\nos.write(fd, open('/usr/bin/true', 'rb').read())\n"
                          "os.execve(fd, ['true'], {})",
    "execve without LD_PRELOAD": "os.execve(sys.executable, [sys.executable, '-c', 'pass'], {})",
}


@pytest.mark.parametrize("what", ATTEMPTS)
def test_running_a_program_is_denied(service, what):
    assert service.attempt(ATTEMPTS[what]) == DENIED


def test_multiprocessing_spawn_is_denied(service):
    """multiprocessing does not report its child's failed exec: the child
    exits 255 (_posixsubprocess's code for it) and runs nothing."""
    stmt = """
    import multiprocessing
    p = multiprocessing.get_context('spawn').Process(target=os.mkdir, args=('tmp/ran',))
    p.start()
    p.join(5)
    result = [p.exitcode, os.path.exists('tmp/ran')]
    """
    assert service.attempt(stmt) == ("ALLOWED", None)
    assert service.last["result"] == [255, False]


I386_GETPID = "bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])"  # mov eax, 20; int 0x80; ret
CALL_CODE = """
import ctypes, mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(CODE)
r = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the i386 ABI exists only on x86_64")
def test_i386_syscall_kills_the_sandbox(service):
    """Another ABI's syscall numbers would slip past rules keyed on native
    ones: the filter kills the process (SIGSYS) instead."""
    host = subprocess.run(["/usr/bin/python3", "-c", f"CODE = {I386_GETPID}\n{CALL_CODE}\nprint(r)"],
                          capture_output=True, timeout=10)
    if host.returncode != 0:
        pytest.fail(f"this host cannot run i386 syscalls at all (status {host.returncode}): "
                    "the test proves nothing here")
    r = service.post(f"CODE = {I386_GETPID}\n{CALL_CODE}")
    assert r.status_code == 200
    assert r.json()["emsg"] == "Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: -31"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists only on x86_64")
def test_x32_syscall_kills_the_sandbox(service):
    r = service.post("import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 59, b'/usr/bin/true', 0, 0)")
    assert r.status_code == 200
    assert r.json()["emsg"] == "Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: -31"
