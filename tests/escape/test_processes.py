"""Processes: the sandbox's pid namespace, signals, the limits, and other
executions (their files, their IPC objects), and that nothing of an
execution outlives its answer."""

import errno
import os
import threading
import time

import pytest

FAILED = "Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: {}"


def test_interpreter_is_pid_2_under_its_own_init(service):
    g = service.run("import os\npids = [os.getpid(), os.getppid()]")
    assert g["pids"] == [2, 1]


@pytest.mark.parametrize("target", ["1", "os.getppid()"])
def test_signal_the_sandbox_init_is_denied(service, target):
    assert service.attempt(f"os.kill({target}, 9)") == ("PermissionError", errno.EPERM)
    assert service.health() == (200, {"status": "OK"})


@pytest.mark.parametrize("target", ["300", "-1"])
def test_host_processes_do_not_exist(service, target):
    """Nothing outside the namespace can be named; kill(-1) finds nobody
    but the caller, whom it spares."""
    assert service.attempt(f"os.kill({target}, 9)") == ("ProcessLookupError", errno.ESRCH)


def test_pid_2_is_the_interpreter_itself(service):
    """kill(2, SIGKILL) is suicide, not an attack: only this execution ends."""
    r = service.post("import os\nos.kill(2, 9)")
    assert r.status_code == 200 and r.json()["emsg"] == FAILED.format(-9)
    assert service.health() == (200, {"status": "OK"})
    assert service.run("x = 1") == {"x": 1}


def test_fork_bomb(service):
    code = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except BaseException as e:
    outcome = [type(e).__name__, getattr(e, 'errno', None)]
"""
    t0 = time.monotonic()
    g = service.run(code)
    assert g["outcome"] == ["BlockingIOError", errno.EAGAIN]
    assert 0 < g["n"] < 15
    assert time.monotonic() - t0 < 5  # the sleeping children did not hold the answer up to REALTIME
    service.assert_idle(timeout=3)


def test_children_die_with_the_execution(service):
    """A daemonised grandchild (setsid, double fork) does not outlive the answer."""
    code = ("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(30)\n    os._exit(0)\nos.waitpid(pid, 0)\n")
    service.run(code)
    service.assert_idle(timeout=3)


def test_memory_bomb(service):
    assert service.attempt("bytearray(2 << 30)") == ("MemoryError", None)


def test_memory_bomb_in_steps(service):
    """Memory really touched (bytearray fills it), up to the limit: a
    MemoryError, not an OOM kill.  Touching 512 MiB takes CPU: more than 1 s."""
    assert service.attempt("hoard = []\nwhile True:\n    hoard.append(bytearray(16 << 20))",
                           limit_overrides_context="more-cpu") == ("MemoryError", None)


def test_cpu_loop_gets_sigxcpu(service):
    r = service.post("while True:\n    pass")
    assert r.status_code == 200 and r.json()["emsg"] == FAILED.format(-24)  # not -9: REALTIME is 5


def test_filling_tmp_stops(service):
    stmt = "i = 0\nwhile True:\n    open(f'tmp/f{i}', 'wb').write(b'x' * (1 << 20))\n    i += 1"
    assert service.attempt(stmt) == ("OSError", errno.ENOSPC)


# ---- another execution ------------------------------------------------------

def _with_a_running(svc, stmt):
    """Runs stmt in execution B, once per directory in the service's
    work_dir, while execution A (which wrote a secret in its tmp/) sleeps:
    one of them is A's (the others are warm executions waiting for a
    request, B itself among them).  B gets each directory's name and host path as NAME, HOST_DIR;
    returns the distinct outcomes."""
    out = {}
    code = ("import time\nopen('tmp/secret', 'w').write('a-secret')\n"
            "time.sleep(1.5)\nstill = open('tmp/secret').read()\n")
    a = threading.Thread(target=lambda: out.setdefault("a", svc.run(code)))
    a.start()
    try:
        time.sleep(0.5)  # A has written its secret (an execution starts within ~50 ms)
        dirs = sorted(os.listdir(svc.work_dir))
        body = "\n".join("        " + line for line in stmt.splitlines())
        g = svc.run("import os, errno\noutcomes = []\nfor NAME in NAMES:\n"
                    "    if NAME == os.path.basename(os.getcwd()):\n        continue  # B's own (warm)\n"
                    "    HOST_DIR = os.path.join(WORK_DIR, NAME)\n    try:\n" + body + "\n"
                    "        outcomes.append(['ALLOWED', None])\n    except BaseException as e:\n"
                    "        outcomes.append([type(e).__name__, getattr(e, 'errno', None)])\n",
                    {"NAMES": dirs, "WORK_DIR": svc.work_dir})
    finally:
        a.join(timeout=15)
    assert out["a"]["still"] == "a-secret"  # A finished, untouched
    assert dirs, "A's directory was not found"
    return {tuple(o) for o in g["outcomes"]}


OTHER_EXECUTION = {
    "list /tmp": ("os.listdir('/tmp')", ("PermissionError", errno.EACCES)),
    "glob /tmp/codejail-*": ("import glob\nresult = glob.glob('/tmp/codejail-*')\n"
                             "assert result == [], result", ("ALLOWED", None)),
    "its directory by inner path": ("os.listdir('/tmp/' + NAME)", ("FileNotFoundError", errno.ENOENT)),
    "its secret by inner path": ("open('/tmp/' + NAME + '/tmp/secret').read()", ("FileNotFoundError", errno.ENOENT)),
    "its secret by host path": ("open(HOST_DIR + '/tmp/secret').read()", ("FileNotFoundError", errno.ENOENT)),
    "its code by host path": ("open(HOST_DIR + '/jailed_code').read()", ("FileNotFoundError", errno.ENOENT)),
}


@pytest.mark.parametrize("what", OTHER_EXECUTION)
def test_other_execution_is_invisible(service, what):
    stmt, expected = OTHER_EXECUTION[what]
    assert _with_a_running(service, stmt) == {expected}


SYSV_KEY = 0x0C0DE5C1


def sysv_create(svc):
    """An execution leaves a SysV message queue holding a secret."""
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "q = libc.msgget(KEY, 0o1000 | 0o666)\nerr = ctypes.get_errno()\n"
            "msg = ctypes.create_string_buffer(b'\\1\\0\\0\\0\\0\\0\\0\\0secret', 14)\n"
            "sent = libc.msgsnd(q, msg, 6, 0o4000) if q >= 0 else None\n")
    return svc.run(code, {"KEY": SYSV_KEY})


def sysv_find(svc):
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "q = libc.msgget(KEY, 0)\nerr = ctypes.get_errno()\n")
    g = svc.run(code, {"KEY": SYSV_KEY})
    return g["q"], g["err"]


def sysv_remove_on_host():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    q = libc.msgget(SYSV_KEY, 0)
    if q >= 0:
        libc.msgctl(q, 0, None)  # IPC_RMID


def test_ipc_objects_do_not_reach_the_next_execution(service):
    """SysV IPC is refused outright (seccomp, EPERM); the IPC namespace
    would also keep each execution's objects apart."""
    try:
        g = sysv_create(service)
        assert g["q"] == -1 and g["err"] == errno.EPERM, g
        assert sysv_find(service) == (-1, errno.EPERM)
    finally:
        sysv_remove_on_host()


def test_interpreter_state_does_not_reach_the_next_execution(service):
    """What one execution changes in its interpreter (builtins, a module,
    sys.modules) is gone in the next: on the warm path each is a fresh
    clone of the pristine warm interpreter."""
    service.run("import builtins, json, sys\nbuiltins.LEAK = 'x'\njson.dumps = None\n"
                "sys.modules['planted'] = sys")
    g = service.run("import builtins, json, sys\n"
                    "state = [hasattr(builtins, 'LEAK'), json.dumps is None, 'planted' in sys.modules]")
    assert g["state"] == [False, False, False]


def test_random_state_differs_between_executions(service):
    """Randomised problems must not be predictable from another execution
    (clones of one warm interpreter would share its seeded state)."""
    code = "import random\nr = [random.random(), random.getrandbits(64)]"
    values = [service.run(code)["r"] for _ in range(3)]
    assert len({tuple(v) for v in values}) == 3, values
