"""Each confinement layer on its own, so a regression in one cannot hide
behind another.

With seccomp or Landlock off the startup probe fails by design (it demands
every denial the contract lists), so the service never runs user code: what
the remaining layers still stop is read from the probe's per-check log lines
(`startup check '<name>' passed|failed: <why>`).  With `namespaces: false` the
probe passes and the service serves: Landlock, seccomp and the cgroup alone
are tested with real code."""

import errno
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import Service, wait_for
from test_processes import SYSV_KEY, sysv_create, sysv_find, sysv_remove_on_host

NOT_CONFIGURED = {"error": "Codejail service is not correctly configured"}
ALLOWED = 'unexpected result: {"r": "ALLOWED"}'


def allowed(why):
    """The check's attempt worked (other globals, e.g. a warning registry, may come along)."""
    return why.startswith("unexpected result: {") and '"r": "ALLOWED"' in why


def assert_refuses_to_serve(svc):
    assert svc.health() == (503, {"status": "UNAVAILABLE"})
    r = svc.post("x = 1")
    assert (r.status_code, r.json()) == (500, NOT_CONFIGURED)
    assert "startup probe FAILED" in svc.log()


def failed_checks(svc):
    return {name: why for name, (ok, why) in svc.probe_results().items() if not ok}


def test_seccomp_alone_stops_exec_and_sockets(make_service):
    """seccomp off: exec WORKS (Landlock grants EXECUTE on /usr, so only the
    noexec filter stops it): the interpreter is replaced and no result comes
    back.  AF_INET socket creation works, but the network namespace still
    stops the connection; the filesystem layers are unaffected."""
    svc = make_service({"seccomp": "off"}, expect_health=503, name="noseccomp")
    assert "seccomp OFF" in svc.log()
    assert_refuses_to_serve(svc)
    failed = failed_checks(svc)
    assert set(failed) == {"run a program", "AF_INET socket", "ptrace"}, failed
    assert failed["run a program"].startswith("unexpected result: (none) "), failed  # exec'd: no result
    assert allowed(failed["AF_INET socket"]) and allowed(failed["ptrace"]), failed
    passed = {n for n, (ok, _) in svc.probe_results().items() if ok}
    assert {"reach the network", "read /etc/passwd", "list /", "write outside tmp/", "unshare",
            "fork past NPROC"} <= passed


@pytest.mark.parametrize("path", ["cold", "warm"])
def test_without_landlock_the_view_still_holds(make_service, path):
    """Landlock off: the probe passes and the service serves, because the
    root itself holds every filesystem denial: its directories are the
    sandbox user's to pass through, not to list, the stand-ins are root's with
    mode 0, and nothing of the host is in it (the mount namespace).  The
    errors are those Landlock would give."""
    config = {"landlock": "off", "warm": {"enabled": path == "warm", "pool": 1, "preload": []}}
    svc = make_service(config, expect_health=200, name="nolandlock-" + path)
    assert "landlock OFF" in svc.log()
    assert not failed_checks(svc) and {"list /", "read /etc/passwd", "write outside tmp/"} <= set(svc.probe_results())
    denied = ("PermissionError", errno.EACCES)
    for stmt in ("os.listdir('/')", "os.listdir('/tmp')", "os.listdir('..')", "os.listdir('/proc')",
                 "os.listdir('/sys')", "os.listdir('/etc')", "open('/etc/passwd').read()",
                 "open('/etc/hosts').read()", "open('/proc/1/cmdline').read()", "open('/tmp/x', 'w')",
                 "open('../x', 'w')", "open('/x', 'w')", "os.mkdir('/etc/x')",
                 "socket.socket(socket.AF_UNIX).bind('/tmp/s')"):
        assert svc.attempt(stmt) == denied, stmt
    assert svc.attempt("open('/etc/os-release').read()") == ("FileNotFoundError", errno.ENOENT)
    g = svc.run("import os\nown = sorted(os.listdir('.'))\nopen('tmp/f', 'w').write('x')")
    assert g["own"] == ["jailed_code", "tmp"], g


def test_all_layers_off_fails_the_probe(make_service):
    svc = make_service({"seccomp": "off", "landlock": "off", "namespaces": False}, expect_health=503,
                       name="nothing")
    log = svc.log()
    assert "confinement: namespaces OFF, landlock OFF" in log and "seccomp OFF" in log
    assert_refuses_to_serve(svc)
    assert "startup check 'list /' failed: " + ALLOWED + \
        " (layers meant to stop it: landlock, mount namespace)" in log
    failed = failed_checks(svc)
    assert {"list /", "read /etc/passwd", "run a program", "AF_INET socket",
            "reach the network"} <= set(failed), failed
    assert failed["read /etc/passwd"].endswith("(layers meant to stop it: mount namespace, landlock)")


# ---- namespaces: false: Landlock, seccomp and the cgroup alone ---------------

NONS_DENIED = {
    "read /etc/passwd": ("open('/etc/passwd').read()", ("PermissionError", errno.EACCES)),
    "list /": ("os.listdir('/')", ("PermissionError", errno.EACCES)),
    "list /tmp": ("os.listdir('/tmp')", ("PermissionError", errno.EACCES)),
    "list ..": ("os.listdir('..')", ("PermissionError", errno.EACCES)),
    "read /proc/1/environ": ("open('/proc/1/environ').read()", ("PermissionError", errno.EACCES)),
    "read /proc/self/environ": ("open('/proc/self/environ').read()", ("PermissionError", errno.EACCES)),
    "read the service log": ("open(LOG).read()", ("PermissionError", errno.EACCES)),
    "write in cwd": ("open('x', 'w').write('x')", ("PermissionError", errno.EACCES)),
    "write /tmp": ("open('/tmp/cj-esc-x', 'w').write('x')", ("PermissionError", errno.EACCES)),
    "symlink to /etc/passwd": ("os.symlink('/etc/passwd', 'tmp/l')\nopen('tmp/l').read()",
                               ("PermissionError", errno.EACCES)),
    "exec the interpreter": ("os.execv(sys.executable, [sys.executable, '-c', 'pass'])",
                             ("PermissionError", errno.EACCES)),
    "AF_INET socket": ("socket.socket(socket.AF_INET)", ("PermissionError", errno.EACCES)),
    "AF_NETLINK socket": ("socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)", ("PermissionError", errno.EACCES)),
    "signal init": ("os.kill(1, 0)", ("PermissionError", errno.EPERM)),
    # seccomp refuses connect() before Landlock's abstract-socket scope would.
    "abstract unix socket": ("s = socket.socket(socket.AF_UNIX)\ns.connect('\\0cj-esc-abstract')",
                             ("PermissionError", errno.EACCES)),
}


@pytest.mark.parametrize("what", NONS_DENIED)
def test_without_namespaces_still_denied(nons_service, what):
    stmt, expected = NONS_DENIED[what]
    listener = None
    if "abstract" in what:  # a host abstract socket that is really there
        listener = socket.socket(socket.AF_UNIX)
        listener.bind("\0cj-esc-abstract")
        listener.listen(1)
    try:
        assert nons_service.attempt(stmt, {"LOG": nons_service.log_path}) == expected
    finally:
        if listener:
            listener.close()


def test_without_namespaces_the_sandbox_shares_the_service_namespaces(nons_service):
    """The premise of the tests above: no namespaces of its own (those
    codejail-init may give the whole service are shared by all executions)."""
    g = nons_service.run("import os, socket\npid = os.getpid()\nhost = socket.gethostname()\ncwd = os.getcwd()")
    assert g["pid"] > 2 and g["host"] != "codejail"
    assert g["cwd"].startswith(nons_service.work_dir + "/codejail-")


def inner_pid(pid):
    """pid as the service's processes see it (codejail-init may give the
    service a pid namespace of its own)."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^NSpid:\s+(.*)$", f.read(), re.M).group(1).split()[-1])


def _with_a_running(svc, stmt):
    """stmt in execution B while A sleeps holding a secret; B gets A's host
    directory and its pid (as HOST_DIR, A_PID)."""
    out = {}
    code = "import time\nopen('tmp/secret', 'w').write('a-secret')\ntime.sleep(1.5)\nstill = open('tmp/secret').read()"
    a = threading.Thread(target=lambda: out.setdefault("a", svc.run(code)))
    a.start()
    try:
        assert wait_for(svc.sandbox_procs, 3), "A did not start"
        a_pid = svc.sandbox_procs()[0]
        # A's own directory (the service also keeps prepared ones there).
        host_dir = os.readlink(f"/proc/{a_pid}/cwd")
        wait_for(lambda: os.path.exists(host_dir + "/tmp/secret"), 2)
        outcome = svc.attempt(stmt, {"HOST_DIR": host_dir, "A_PID": inner_pid(a_pid)})
    finally:
        a.join(timeout=15)
    assert out["a"]["still"] == "a-secret"
    return outcome


NONS_OTHER_EXECUTION = {
    "read its secret": ("open(HOST_DIR + '/tmp/secret').read()", errno.EACCES),
    "list its directory": ("os.listdir(HOST_DIR)", errno.EACCES),
    "kill it": ("os.kill(A_PID, 9)", errno.EPERM),  # Landlock's signal scope
}


@pytest.mark.parametrize("what", NONS_OTHER_EXECUTION)
def test_without_namespaces_other_execution_is_out_of_reach(nons_service, what):
    stmt, err = NONS_OTHER_EXECUTION[what]
    assert _with_a_running(nons_service, stmt) == ("PermissionError", err)


def test_without_namespaces_host_unix_socket_is_unreachable(nons_service):
    """A host daemon's pathname UNIX socket that the sandbox user may
    connect to by its permissions (like /dev/log, a D-Bus or nscd socket).
    With namespaces it does not exist in the sandbox (see the next test)."""
    d = os.path.join(nons_service.home, "public")
    os.mkdir(d)
    os.chmod(nons_service.home, 0o711)
    os.chmod(d, 0o755)
    path = os.path.join(d, "daemon.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        os.chmod(path, 0o777)
        listener.listen(1)
        outcome = nons_service.attempt("s = socket.socket(socket.AF_UNIX)\ns.connect(P)\ns.sendall(b'hi')",
                                       {"P": path})
        listener.settimeout(0)
        try:
            conn, _ = listener.accept()
            got = conn.recv(10)
            conn.close()
        except BlockingIOError:
            got = None
    assert (outcome, got) == (("PermissionError", errno.EACCES), None), \
        "the sandbox reached a host UNIX socket with namespaces off"


def test_host_unix_socket_is_unreachable_with_namespaces(service):
    """Two layers stop it: seccomp refuses connect() (EACCES) before the
    mount namespace, which does not show the path at all, is consulted."""
    d = os.path.join(service.home, "public")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    path = os.path.join(d, "daemon.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        os.chmod(path, 0o777)
        listener.listen(1)
        outcome = service.attempt("s = socket.socket(socket.AF_UNIX)\ns.connect(P)", {"P": path})
        seen = service.attempt("os.stat(P)", {"P": path})
    os.unlink(path)
    assert outcome == ("PermissionError", errno.EACCES)
    assert seen == ("FileNotFoundError", errno.ENOENT)


def test_without_namespaces_ipc_objects_do_not_reach_the_next_execution(nons_service):
    """An execution's SysV message queue must not be found (and read) by a
    later execution: without an IPC namespace both share the host's, and the
    queue outlives the execution that made it."""
    try:
        g = sysv_create(nons_service)
        made = g["q"] >= 0
        found = sysv_find(nons_service)
    finally:
        sysv_remove_on_host()
    assert not made or found == (-1, errno.ENOENT), \
        f"execution 2 found execution 1's SysV queue (key {SYSV_KEY:#x}): msgget -> {found}"


def test_without_namespaces_a_cgroup_is_required(prefix, tmp_path):
    """namespaces off leaves only the process group to hold an execution
    together, and setsid() leaves it: the service refuses to run with
    neither namespaces nor a cgroup, naming the keys."""
    cfg = tmp_path / "codejail.yaml"
    cfg.write_text('namespaces: false\ncgroup_parent: ""\napparmor: "off"\n')
    r = subprocess.run([os.path.join(prefix, "bin", "codejail-server"), "--config", str(cfg),
                        "--listen", "127.0.0.1:1"], capture_output=True, timeout=60)
    assert r.returncode != 0
    assert b"namespaces: false needs a cgroup_parent" in r.stderr, r.stderr


def test_without_namespaces_the_cgroup_kills_what_left_the_group(make_service):
    """namespaces off, cgroups on: a daemonised grandchild (setsid) must
    still die with its execution.  NPROC is raised so other users of the
    sandbox uid on this host cannot disturb the test."""
    svc = make_service({"namespaces": False, "limits": {"CPU": 1, "REALTIME": 5, "NPROC": 200}},
                       name="nonscg")
    assert "cgroups v" in svc.log()
    code = ("import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(30)\n    os._exit(0)\nos.waitpid(pid, 0)\n")
    svc.run(code)
    try:
        wait_for(lambda: not svc.sandbox_procs(), 3)
        left = svc.sandbox_procs()
        assert not left, f"processes outlived their execution by 3 s: {left}"
    finally:
        svc.stop()


# ---- an installed tree the sandbox user cannot reach (a clone under /root) ----

@pytest.fixture
def private_install(prefix):
    """The installed tree copied under a directory only root may enter, as a
    clone in /root/project is (/root is 0700)."""
    top = tempfile.mkdtemp(prefix="cj-esc-private-")
    os.chmod(top, 0o700)
    try:
        yield shutil.copytree(prefix, os.path.join(top, "stage"), symlinks=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_with_namespaces_an_install_under_a_private_directory_serves(make_service, private_install):
    """The sandbox sees the installed files through its own binds: where they
    sit on the host does not matter."""
    svc = make_service({}, installed=private_install, name="private-ns")
    assert svc.run("x = 6 * 7") == {"x": 42}


def test_without_namespaces_an_unreachable_install_stops_startup(prefix, private_install):
    """Without a mount namespace every execution would fail at a set-up step:
    the service refuses to start, in one line naming the path."""
    svc = Service(private_install, {"namespaces": False}, None, "private-nons", reachable_copy=False)
    try:
        svc.start("exited")
        assert svc.proc.returncode == 1, svc.log()
        noexec = os.path.join(private_install, "bin/../lib/codejail/codejail-noexec.so")
        lines = [line for line in svc.log().splitlines() if "cannot reach" in line]
        assert lines == [f"codejail-server: error: the sandbox user (uid 65534) cannot reach {noexec}, the installed noexec "
                         "library (without namespaces every directory above it must be searchable by that user): "
                         "Permission denied"], svc.log()
        assert "listening" not in svc.log()
    finally:
        svc.stop()
        svc.cleanup()
