"""pytest plugin (-p cjvm_escape): runs tests/escape unchanged in the VM
guest, with every service started the way the container starts it.

tests/escape starts `codejail-init -- codejail-server --config FILE` with
its own work_dir, a config file and a log file in a temporary directory.
Under the codejail_service AppArmor profile none of that is allowed (and
should not be): the profile lets the service read its configuration only in
/etc/codejail, make execution directories only in /tmp (work_dir), and an
inherited log file it may not write is closed at the exec into the profile.
So, for each service the suite starts:

- CJVM_ESC_CONFIG (JSON) is merged under the test's own settings (the
  test's win: a test that turns a layer off for its point keeps that);
- work_dir is /tmp for the service, in a container whose /tmp is the
  guest's CJVM_ESC_WORK_DIR (guest/container --tmp), which the test watches;
- CJVM_ESC_LIMITS (JSON) updates the suite's default limits (CPU seconds
  scaled for software emulation), CJVM_ESC_WAIT_SCALE multiplies the bounds
  of its waits (wait_for) for the same reason;
- a test that turns Landlock or seccomp off (to watch the other layers) gets
  apparmor: off too, unless it says otherwise: it was written for hosts
  without AppArmor;
- the config file is copied into CJVM_ESC_CONFIG_DIR (/etc/codejail);
- CJVM_ESC_WRAP (JSON argv, "{n}" numbered per service) goes in front of
  codejail-init: its own cgroup, then `aa-exec -p codejail_service --`;
- stdout/stderr go through a pipe (as Docker's log driver takes them) that a
  thread copies into the suite's log file.

Each test's outcome is written to CJVM_ESC_RESULTS as
"passed|failed|skipped<TAB>nodeid<TAB>message" for guest/run.py to report.
"""
import json
import os
import re
import shutil
import subprocess
import threading
import types

EXTRA = json.loads(os.environ.get("CJVM_ESC_CONFIG", "{}"))
LIMITS = json.loads(os.environ.get("CJVM_ESC_LIMITS", "{}"))
WAIT_SCALE = float(os.environ.get("CJVM_ESC_WAIT_SCALE", "1"))
WRAP = json.loads(os.environ.get("CJVM_ESC_WRAP", "[]"))
WORK_DIR = os.environ.get("CJVM_ESC_WORK_DIR")
CONFIG_DIR = os.environ.get("CJVM_ESC_CONFIG_DIR")
RESULTS = os.environ.get("CJVM_ESC_RESULTS")

_count = [0]
_outcomes = {}  # nodeid -> (outcome, message), the worst of its phases


def _popen(real):
    def popen(argv, *args, **kw):
        if not (isinstance(argv, list) and argv and str(argv[0]).endswith("codejail-init")):
            return real(argv, *args, **kw)
        _count[0] += 1
        n = _count[0]
        argv = list(argv)
        if CONFIG_DIR and "--config" in argv:
            i = argv.index("--config") + 1
            os.makedirs(CONFIG_DIR, exist_ok=True)
            dst = os.path.join(CONFIG_DIR, f"escape-{n}.yaml")
            shutil.copyfile(argv[i], dst)
            argv[i] = dst
        argv = [a.replace("{n}", str(n)) for a in WRAP] + argv
        log_fd = None
        out = kw.get("stdout")
        if hasattr(out, "fileno"):
            log_fd = os.dup(out.fileno())  # the suite closes its handle right after Popen
            kw["stdout"], kw["stderr"] = subprocess.PIPE, subprocess.STDOUT
        p = real(argv, *args, **kw)
        if log_fd is not None:
            def pump():
                try:
                    while True:
                        chunk = os.read(p.stdout.fileno(), 65536)
                        if not chunk:
                            break
                        os.write(log_fd, chunk)
                finally:
                    os.close(log_fd)
            threading.Thread(target=pump, daemon=True).start()
        return p
    return popen


def _describe_pids(text):
    out = []
    for pid in re.findall(r"pid (\d+)", text):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{pid}/cgroup") as f:
                cg = f.read().strip()
            fields = st[st.rindex(")") + 2:].split()
            out.append(f"pid {pid} state {fields[0]} ppid {fields[1]} cgroup {cg} argv {argv!r} "
                       f"label {_read(f'/proc/{pid}/attr/current')} cwd {_readlink(f'/proc/{pid}/cwd')}")
        except OSError:
            out.append(f"pid {pid} gone")
    return "; ".join(out)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return f"({e.strerror})"


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError as e:
        return f"({e.strerror})"


def _patch(conftest):
    Service = conftest.Service
    if getattr(Service, "_cjvm_patched", False):
        return
    # Software emulation runs Python 10-20 times slower than the CI machine:
    # CPU seconds are scaled, or imports alone hit RLIMIT_CPU.
    conftest.DEFAULT_LIMITS.update(LIMITS)
    # ... and the suite's waits (service start-up: 11 probe executions; the
    # teardown of an execution) are bounds for the CI machine's speed.  The
    # test modules import wait_for from conftest after this runs.
    orig_wait_for = conftest.wait_for

    def wait_for(pred, timeout, *a, **kw):
        return orig_wait_for(pred, timeout * WAIT_SCALE, *a, **kw)
    conftest.wait_for = wait_for
    orig_init = Service.__init__

    def __init__(self, prefix, config, env, name, *a, **kw):
        config = dict(config or {})
        # A test that turns Landlock or seccomp off to watch the other layers
        # alone was written for hosts without AppArmor (the CI machine):
        # there, AppArmor is off too.  Here it would stop the attempts the
        # test expects through.
        if any(config.get(k) == "off" for k in ("landlock", "seccomp")) and "apparmor" not in config:
            config["apparmor"] = "off"
        orig_init(self, prefix, {**EXTRA, **config}, env, name, *a, **kw)
        if WORK_DIR:
            # The service's /tmp (its container's) is WORK_DIR here.
            self.work_dir = WORK_DIR
            self.config["work_dir"] = "/tmp"
    Service.__init__ = __init__

    orig_assert_idle = Service.assert_idle

    def assert_idle(self, *a, **kw):
        """The same check; on failure, what the leftover processes are."""
        try:
            return orig_assert_idle(self, *a, **kw)
        except AssertionError as e:
            raise AssertionError(f"{e} -- {_describe_pids(str(e))}") from None
    Service.assert_idle = assert_idle
    Service._cjvm_patched = True
    # Only the suite's own module sees the wrapped Popen.
    sub = types.SimpleNamespace(**{k: getattr(subprocess, k) for k in dir(subprocess) if not k.startswith("__")})
    sub.Popen = _popen(subprocess.Popen)
    conftest.subprocess = sub


def pytest_plugin_registered(plugin, manager):
    f = getattr(plugin, "__file__", None) or ""
    if f.endswith(os.path.join("escape", "conftest.py")) and hasattr(plugin, "Service"):
        _patch(plugin)


def pytest_runtest_logreport(report):
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    prev = _outcomes.get(report.nodeid)
    if report.when != "call" and report.outcome == "passed":
        if prev is None and report.when == "setup":
            _outcomes[report.nodeid] = ("passed", "")
        return
    msg = ""
    if report.outcome != "passed":
        text = getattr(report, "longreprtext", "") or str(report.longrepr or "")
        lines = [line for line in text.splitlines() if line.strip()]
        # the assertion (E lines) says most; else the last line
        e_lines = [line[1:].strip() for line in lines if line.startswith("E ")]
        msg = f"[{report.when}] " + " ".join((e_lines or lines[-1:])[:4])
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            msg = str(report.longrepr[2])
    if prev is None or rank[report.outcome] >= rank[prev[0]]:
        _outcomes[report.nodeid] = (report.outcome, " ".join(msg.split())[:700])


def pytest_sessionfinish(session, exitstatus):
    if not RESULTS:
        return
    with open(RESULTS, "w") as f:
        for nodeid, (outcome, msg) in _outcomes.items():
            f.write(f"{outcome}\t{nodeid}\t{msg}\n")
