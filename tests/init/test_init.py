"""Black-box tests for codejail-init, in the spirit of tini's scenario tests.

The binary comes from $CODEJAIL_INIT; a missing binary fails every test
rather than skipping it, so CI cannot go green without running them.  Every
wait is bounded (subprocess timeouts, deadlines in wait_for), and a fixture
SIGKILLs whatever a failed test leaves behind.

Started from pytest, init makes a container of its own (namespaces mode) and
CMD sees pids of that pid namespace: tests that look CMD's pids up in our
/proc use --no-namespaces.  The container itself is tested in
test_container.py.
"""

import functools
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import cjtest
from cjtest import all_procs, descendants
from cjtest import proc_stat as stat  # (state, ppid, session, start, comm)

TIMEOUT = 10  # seconds; an upper bound for any single wait, never a sleep

wait_for = functools.partial(cjtest.wait_for, timeout=TIMEOUT)


# ---- /proc helpers ---------------------------------------------------------

def zombie_children(pid):
    return [p for p, st in all_procs().items() if st[1] == pid and st[0] == "Z"]


class Tracked:
    """A process identity that survives pid reuse: pid plus start time."""

    def __init__(self, pid):
        st = stat(pid)
        assert st is not None, f"pid {pid} is already gone"
        self.pid, self.start = pid, st[3]

    def alive(self):
        st = stat(self.pid)
        return st is not None and st[3] == self.start

    def ppid(self):
        st = stat(self.pid)
        return st[1] if st is not None and st[3] == self.start else None


# ---- running init ----------------------------------------------------------

@pytest.fixture(scope="session")
def init_bin():
    path = os.environ.get("CODEJAIL_INIT")
    if not path:
        pytest.fail("CODEJAIL_INIT is not set (path to the codejail-init binary)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"CODEJAIL_INIT={path} is not an executable file")
    return path


class Run:
    def __init__(self, popen):
        self.p = popen
        self.pid = popen.pid
        self.t0 = time.monotonic()

    def readline(self, timeout=TIMEOUT):
        """One line of the child's stdout, bounded in time."""
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, "child printed nothing in time"
        line = self.p.stdout.readline()
        assert line, "child closed stdout"
        return line.decode().rstrip("\n")

    def kill(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=TIMEOUT):
        return self.p.wait(timeout=timeout)

    def stderr(self):
        return self.p.stderr.read().decode()


@pytest.fixture(scope="session")
def subreaper():
    """Make this pytest process a subreaper, so anything a broken init leaves
    behind comes back to us and can be cleaned up instead of escaping."""
    cjtest.become_subreaper()


def sweep_strays():
    """SIGKILL and reap every descendant of ours (none should be left)."""
    strays = descendants(os.getpid())
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
    return strays


@pytest.fixture
def spawn(init_bin, subreaper):
    runs = []

    def start(*args, env=None, preexec_fn=None, prefix=()):
        full_env = dict(os.environ)
        full_env.pop("CODEJAIL_INIT_GRACE", None)
        full_env.update(env or {})
        p = subprocess.Popen(
            [*prefix, init_bin, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            preexec_fn=preexec_fn,
            bufsize=0,
        )
        run = Run(p)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.p.poll() is None:
            leftovers = descendants(run.pid)
            run.p.kill()
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run.p.wait(timeout=TIMEOUT)
        run.p.stdout.close()
        run.p.stderr.close()
    # After every Popen is waited for, so waitpid(-1) cannot steal a status.
    strays = sweep_strays()
    assert not strays, f"processes outlived codejail-init: {sorted(strays)}"


def sh(script):
    return ["--", "sh", "-c", script]


# ---- command line ----------------------------------------------------------

def test_version(init_bin):
    r = subprocess.run([init_bin, "--version"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0
    assert re.fullmatch(rb"codejail-init \S+\n", r.stdout), r.stdout


def test_help(init_bin):
    r = subprocess.run([init_bin, "--help"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0
    assert b"Usage: codejail-init" in r.stdout
    assert b"--grace" in r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["--"],
    ["--bogus", "true"],
    ["--grace"],
    ["--grace", "x", "true"],
    ["--grace", "-1", "true"],
    ["--grace", " 5", "true"],
    ["--grace", "99999999999999999999", "true"],
])
def test_usage_error_is_125(init_bin, args):
    r = subprocess.run([init_bin, *args], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 125, r
    assert r.stderr.startswith(b"codejail-init: "), r.stderr


@pytest.mark.parametrize("value", ["", "verbose", "warn", "info "])
def test_bad_log_level_is_125(init_bin, value):
    r = subprocess.run([init_bin, "--log-level", value, "true"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 125
    assert r.stderr.startswith(f"codejail-init: error: invalid --log-level '{value}' (".encode()), r.stderr
    if value:  # "" in the environment means the default
        r = subprocess.run([init_bin, "true"], capture_output=True, timeout=TIMEOUT,
                           env={**os.environ, "CODEJAIL_INIT_LOG_LEVEL": value})
        assert r.returncode == 125
        assert b"codejail-init: error: invalid CODEJAIL_INIT_LOG_LEVEL" in r.stderr, r.stderr


def test_log_level_filters_and_labels(init_bin):
    """info (the default) says nothing on a clean run; debug adds lines that
    say their level; error still reports a failure."""
    args = ["--no-namespaces", "--no-cgroups"]
    r = subprocess.run([init_bin, *args, "true"], capture_output=True, timeout=TIMEOUT)
    assert (r.returncode, r.stderr) == (0, b"")
    r = subprocess.run([init_bin, *args, "true"], capture_output=True, timeout=TIMEOUT,
                       env={**os.environ, "CODEJAIL_INIT_LOG_LEVEL": "DEBUG"})
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 0 and lines, r.stderr
    assert all(l.startswith("codejail-init: debug: ") for l in lines), lines
    assert any("main child" in l for l in lines), lines
    # The flag wins over the environment.
    r = subprocess.run([init_bin, "--log-level", "error", *args, "/nonexistent/cmd"], capture_output=True,
                       timeout=TIMEOUT, env={**os.environ, "CODEJAIL_INIT_LOG_LEVEL": "debug"})
    assert r.returncode == 127
    assert r.stderr == b"codejail-init: error: exec /nonexistent/cmd: No such file or directory\n"


def test_bad_grace_env_is_125(init_bin):
    r = subprocess.run([init_bin, "true"], capture_output=True, timeout=TIMEOUT,
                       env={**os.environ, "CODEJAIL_INIT_GRACE": "soon"})
    assert r.returncode == 125
    assert b"CODEJAIL_INIT_GRACE" in r.stderr


def test_options_after_command_belong_to_command(init_bin):
    # Without "--", parsing stops at CMD: this "--grace" is sh's $1, not ours.
    r = subprocess.run([init_bin, "sh", "-c", 'echo "$1"', "sh", "--grace"],
                       capture_output=True, timeout=TIMEOUT)
    assert (r.returncode, r.stdout) == (0, b"--grace\n")


def test_exec_not_found_is_127(init_bin):
    r = subprocess.run([init_bin, "--", "/nonexistent/cmd"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 127
    assert r.stderr == b"codejail-init: error: exec /nonexistent/cmd: No such file or directory\n"


def test_exec_not_executable_is_127(init_bin, tmp_path):
    script = tmp_path / "script"
    script.write_text("exit 0\n")
    script.chmod(0o644)
    r = subprocess.run([init_bin, "--", str(script)], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 127
    assert r.stderr == f"codejail-init: error: exec {script}: Permission denied\n".encode()


# ---- exit status -----------------------------------------------------------

@pytest.mark.parametrize("code", [0, 3, 255])
@pytest.mark.parametrize("mode", [[], ["--no-namespaces"]])
def test_exit_status_passes_through(spawn, code, mode):
    run = spawn(*mode, *sh(f"exit {code}"))
    assert run.wait() == code


def test_killed_child_gives_128_plus_signal(spawn):
    run = spawn(*sh("kill -USR1 $$"))
    assert run.wait() == 128 + signal.SIGUSR1


def test_status_survives_inherited_sigchld_ignore(spawn):
    # SIGCHLD ignored by our parent would make the kernel auto-reap the child
    # and lose its status; init must reset it.
    run = spawn(*sh("exit 3"),
                preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    assert run.wait() == 3


# ---- signals ---------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT])
def test_forwarded_stop_signal_kills_child(spawn, sig):
    run = spawn(*sh("echo ready; exec sleep 100"))
    assert run.readline() == "ready"
    run.kill(sig)
    assert run.wait() == 128 + sig  # 143 for SIGTERM, 130 for SIGINT


HANDLER = """
import os, signal, sys
signal.signal(getattr(signal, sys.argv[1]), lambda *_: os._exit(42))
print("ready", flush=True)
while True:
    signal.pause()
"""


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGHUP"])
def test_signal_forwarded_to_child(spawn, name):
    run = spawn("--", sys.executable, "-c", HANDLER, name)
    assert run.readline() == "ready"
    run.kill(getattr(signal, name))
    assert run.wait() == 42


def test_child_gets_default_dispositions_and_original_mask(spawn):
    # Our parent ignores SIGHUP and SIGTERM (SIG_IGN survives exec) and
    # blocks SIGUSR2: the child gets the mask back but not the SIG_IGNs.
    def preexec():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGUSR2})

    run = spawn("--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", preexec_fn=preexec)
    out = run.p.communicate(timeout=TIMEOUT)[0].decode()
    assert run.p.returncode == 0
    assert f"SigBlk:\t{1 << (signal.SIGUSR2 - 1):016x}\n" in out
    assert "SigIgn:\t0000000000000000\n" in out


@pytest.mark.parametrize("mode", [[], ["--no-namespaces"]])
def test_child_inherits_no_init_fds(spawn, mode):
    run = spawn(*mode, "--", "ls", "-l", "/proc/self/fd/")
    out = run.p.communicate(timeout=TIMEOUT)[0].decode()
    assert run.p.returncode == 0
    assert "anon_inode" not in out, out  # signalfd, pidfds


def test_child_has_own_session(spawn):
    run = spawn("--no-namespaces", *sh("echo $$; exec sleep 100"))
    pid = int(run.readline())
    st = stat(pid)
    assert st[2] == pid  # session id == its pid: setsid() ran
    assert st[1] == run.pid
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


# ---- grace escalation ------------------------------------------------------

IGNORE_TERM = "trap '' TERM; echo ready; exec sleep 100"


@pytest.mark.parametrize("how", ["flag", "env", "flag-overrides-env"])
def test_child_ignoring_sigterm_is_killed_after_grace(spawn, how):
    if how == "flag":
        run = spawn("--grace", "1", *sh(IGNORE_TERM))
    elif how == "env":
        run = spawn(*sh(IGNORE_TERM), env={"CODEJAIL_INIT_GRACE": "1"})
    else:
        run = spawn("--grace", "1", *sh(IGNORE_TERM), env={"CODEJAIL_INIT_GRACE": "60"})
    assert run.readline() == "ready"
    t0 = time.monotonic()
    run.kill(signal.SIGTERM)
    assert run.wait() == 137
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 5, elapsed
    assert "SIGKILL" in run.stderr()


def test_repeated_sigterm_does_not_postpone_sigkill(spawn):
    run = spawn("--grace", "2", *sh(IGNORE_TERM))
    assert run.readline() == "ready"
    t0 = time.monotonic()
    while run.p.poll() is None and time.monotonic() - t0 < 6:
        run.kill(signal.SIGTERM)
        time.sleep(0.2)
    assert run.wait() == 137
    assert time.monotonic() - t0 < 4


def test_child_that_stops_in_time_keeps_its_status(spawn):
    run = spawn("--grace", "5", *sh("trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done"))
    assert run.readline() == "ready"
    run.kill(signal.SIGTERM)
    assert run.wait() == 9


# ---- reaping ---------------------------------------------------------------

def test_orphaned_grandchild_is_reaped(spawn):
    # The subshell starts a short sleep and exits: the sleep is orphaned,
    # comes to init (subreaper), and must not stay a zombie when it ends.
    run = spawn("--no-namespaces", *sh("(sleep 0.5 >/dev/null & echo $!); echo ready; exec sleep 100"))
    grandchild = Tracked(int(run.readline()))
    assert run.readline() == "ready"
    assert wait_for(lambda: grandchild.ppid() in (run.pid, None)), "orphan not re-parented to init"
    assert grandchild.ppid() == run.pid, "grandchild ended before the check could run"
    assert wait_for(lambda: not grandchild.alive()), "orphan left as a zombie"
    assert zombie_children(run.pid) == []
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


def test_many_orphans_are_reaped(spawn):
    run = spawn("--no-namespaces", *sh("for i in $(seq 50); do (sleep 0.1 &); done; echo ready; exec sleep 100"))
    assert run.readline() == "ready"
    time.sleep(0.5)
    # Each sample must be clean once the orphans have ended.
    assert wait_for(lambda: zombie_children(run.pid) == [] and len(descendants(run.pid)) == 1)
    for _ in range(5):
        assert zombie_children(run.pid) == []
        time.sleep(0.05)
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


# ---- leftovers when the main child exits ----------------------------------

def test_leftover_descendants_are_terminated(spawn):
    # --grace 30: finishing in time proves SIGTERM did it, not the SIGKILL.
    # The inner sh waits for its sleep: a grandchild whose parent is alive.
    # The main child exits on SIGUSR1, once we have read every pid.
    run = spawn("--no-namespaces", "--grace", "30", *sh(
        "trap 'exit 4' USR1;"
        "sleep 1000 & echo $!;"
        "sh -c 'sleep 1001 & echo $!; wait' & echo $!;"
        "while :; do sleep 0.05; done"))
    procs = [Tracked(int(run.readline())) for _ in range(3)]
    t0 = time.monotonic()
    run.kill(signal.SIGUSR1)
    assert run.wait() == 4
    assert time.monotonic() - t0 < 5
    assert [p.pid for p in procs if p.alive()] == []


def test_leftover_ignoring_sigterm_is_killed_after_grace(spawn):
    run = spawn("--no-namespaces", "--grace", "1",
                *sh("(trap '' TERM; exec sleep 1000) & echo $!; sleep 0.2; exit 6"))
    leftover = Tracked(int(run.readline()))
    assert run.wait() == 6
    assert 1.0 <= time.monotonic() - run.t0 < 6
    assert not leftover.alive()


# ---- as PID 1 of a new pid namespace ---------------------------------------

UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc")


def init_in_namespace(run):
    """Host pid of init, the child of unshare."""
    found = wait_for(lambda: [p for p, st in all_procs().items() if st[1] == run.pid])
    assert len(found) == 1, found
    return found[0]


def test_pid1_exit_status_and_reaping(spawn):
    script = (
        "test $$ = 2 || exit 90;"  # init is 1, its child 2
        "gp=$( (sleep 0.3 >/dev/null & echo $!) );"
        "sleep 0.1; ppid=$(cut -d' ' -f4 /proc/$gp/stat);"
        "sleep 0.7;"
        "z=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l);"
        "echo ppid=$ppid zombies=$z; exit 7")
    run = spawn(*sh(script), prefix=UNSHARE)
    out, err = run.p.communicate(timeout=TIMEOUT)
    assert run.p.returncode == 7, err
    assert out.decode() == "ppid=1 zombies=0\n"


def test_pid1_forwards_sigterm_from_parent_namespace(spawn):
    # Signals from an ancestor namespace reach a namespace's init only if it
    # handles them (blocked + signalfd counts); SIG_DFL ones are dropped.
    run = spawn(*sh("echo ready; exec sleep 100"), prefix=UNSHARE)
    assert run.readline() == "ready"
    os.kill(init_in_namespace(run), signal.SIGTERM)
    assert run.wait() == 143


def test_pid1_terminates_leftovers(spawn):
    run = spawn("--grace", "30", *sh("sleep 1000 & sleep 1001 & exit 5"), prefix=UNSHARE)
    assert run.wait() == 5
    assert time.monotonic() - run.t0 < 5


def test_pid1_kills_leftover_ignoring_sigterm(spawn):
    run = spawn("--grace", "1", *sh("(trap '' TERM; exec sleep 1000) & sleep 0.2; exit 6"),
                prefix=UNSHARE)
    assert run.wait() == 6
    assert 1.0 <= time.monotonic() - run.t0 < 6
    assert "SIGKILL" in run.stderr()
