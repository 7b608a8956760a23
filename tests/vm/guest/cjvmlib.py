"""The guest tier's tools: result lines, bounded waits, the kernel log,
and a codejail service started the way production starts it (guest/run.py
has the checks)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))  # /opt/codejail-src
OUT = "/opt/cjvm-out"
RUN = "/run/cjvm"
CG = "/sys/fs/cgroup"
CG_SERVICES = CG + "/cjvm"  # each service in a cgroup of its own, like a systemd unit
CONFIG_DIR = "/etc/codejail"  # codejail_service may read its configuration only there
SANDBOX_PY = "/opt/sandbox-venv/bin/python"  # as compose/Dockerfile and the profiles have it
IN_CGROUP = os.path.join(HERE, "in-cgroup")
CONTAINER = os.path.join(HERE, "container")
AA_SERVICE = ["aa-exec", "-p", "codejail_service", "--"]


def cmdline_param(key, default=None):
    """cjvm.KEY=VALUE from the kernel command line (cjvm.py sets them)."""
    with open("/proc/cmdline") as f:
        for arg in f.read().split():
            if arg.startswith(f"cjvm.{key}="):
                return arg.split("=", 1)[1]
    return default


# Which kernel of tests/vm/kernels this is, and the Landlock ABI it must
# report.  Without Landlock, `landlock: required` must stop the service
# (landlock.required checks that), so everything else runs `if-available`.
KERNEL = cmdline_param("kernel", "?")
LANDLOCK_ABI = int(cmdline_param("landlock", "-1"))
LANDLOCK_MODE = "required" if LANDLOCK_ABI > 0 else "if-available"


def oneline(s, limit=600):
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[:limit] + "..."


class Report:
    def __init__(self):
        self.n_pass = self.n_fail = self.n_xfail = 0
        self.lock = threading.Lock()

    def emit(self, line):
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def result(self, name, status, detail=""):
        name = re.sub(r"\s+", "_", name)
        if status == "PASS":
            self.n_pass += 1
        elif status == "XFAIL":
            self.n_xfail += 1
        else:
            status = "FAIL"
            self.n_fail += 1
        self.emit(f"CJVM RESULT {name} {status} {oneline(detail)}")

    def log(self, text):
        for line in str(text).splitlines() or [""]:
            self.emit(f"CJVM LOG {line.rstrip()}")


R = Report()


class Fail(Exception):
    pass


def check(name, fn, *args):
    """Runs one check: its return value is the PASS detail; Fail or any
    exception is a FAIL with the reason."""
    t0 = time.monotonic()
    try:
        detail = fn(*args)
        R.result(name, "PASS", f"{detail} ({time.monotonic() - t0:.1f} s)")
        return True
    except Fail as e:
        R.result(name, "FAIL", str(e))
    except Exception as e:  # a bug in the check is a failure too, never a pass
        R.result(name, "FAIL", f"{type(e).__name__}: {e}")
        R.log(traceback.format_exc())
    return False


def wait_for(pred, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        if default is None:
            raise
        return default


def sh(argv, timeout=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          **kw)


# ---- the kernel log ---------------------------------------------------------------

class KernelLog:
    """Every kernel log record since boot, read from /dev/kmsg by a thread
    (dmesg's ring may wrap under many DENIED lines; this never misses one)."""

    def __init__(self):
        self.lines = []
        self.fd = os.open("/dev/kmsg", os.O_RDONLY)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                rec = os.read(self.fd, 8192).decode(errors="replace")
            except BrokenPipeError:  # overwritten before we read it: go on
                continue
            except OSError:
                return
            # "prio,seq,usec,flags;message\n continuation..."
            head, _, msg = rec.partition(";")
            self.lines.append(msg.split("\n")[0])

    def mark(self):
        time.sleep(0.5)  # records still in flight from what just happened
        return len(self.lines)

    def since(self, mark):
        return self.lines[mark:]

    def denied(self, mark=0, profile="codejail"):
        return [line for line in self.since(mark) if 'apparmor="DENIED"' in line and profile in line]

    def save(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


# ---- the service ------------------------------------------------------------------

def yaml(d, pad=""):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{pad}{json.dumps(k)}:")
            out.append(yaml(v, pad + "  "))
        elif isinstance(v, bool):
            out.append(f"{pad}{json.dumps(k)}: {'true' if v else 'false'}")
        else:
            out.append(f"{pad}{json.dumps(k)}: {json.dumps(v) if isinstance(v, (str, list)) else v}")
    return "\n".join(out)


def procs():
    """{pid: (ppid, argv)} of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            st = read(f"/proc/{name}/stat")
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        out[int(name)] = (int(st[st.rindex(")") + 2:].split()[1]), argv)
    return out


def label(pid):
    for p in (f"/proc/{pid}/attr/apparmor/current", f"/proc/{pid}/attr/current"):
        try:
            return read(p).strip("\0\n ")
        except OSError:
            pass
    return "?"


class Service:
    """codejail-init -- codejail-server, started as the container runs it:
    how="container": codejail-init is PID 1 of a container (guest/container:
    own cgroup, new namespaces, fresh cgroup2 and /proc mounts, as Docker
    with --cgroupns=private); how="bare": started on the host in a cgroup of
    its own (a systemd unit), codejail-init makes the container itself.
    confine="init": codejail_service from codejail-init on (Docker's
    security_opt apparmor=codejail_service confines the container's PID 1);
    "server": only codejail-server; None: unconfined.  Output through a pipe
    (as Docker's log driver takes it), configuration in /etc/codejail."""

    port = 8100

    def __init__(self, prefix, name, config, confine="init", how="container"):
        self.prefix, self.name, self.confine, self.how = prefix, name, confine, how
        Service.port += 1
        self.port = Service.port
        self.config = {"python_bin": SANDBOX_PY, "listen": f"127.0.0.1:{self.port}", "work_dir": "/tmp",
                       "cgroup_parent": "codejail", "max_concurrency": 2, "user": "nobody",
                       "apparmor": "required", "landlock": LANDLOCK_MODE, "seccomp": "required",
                       # Under emulation on a busy host `import numpy` alone
                       # took 5 s of guest CPU time (the guest counts the time
                       # its vCPU is descheduled on the host) and over 20 s
                       # of wall time: these checks are about confinement,
                       # not speed.
                       "limits": {"CPU": 30, "REALTIME": 60, "VMEM": 192 << 20, "FSIZE": 1 << 20, "NPROC": 15}}
        for k, v in config.items():
            if isinstance(v, dict):
                self.config[k] = dict(self.config.get(k, {}), **v)
            else:
                self.config[k] = v
        self.cfg_path = os.path.join(CONFIG_DIR, f"{name}.yaml")
        self.log_path = os.path.join(OUT, f"service-{name}.log")
        self.cgroup = os.path.join(CG_SERVICES, name)
        self.buf = []
        self.proc = None

    def argv(self):
        init, server = os.path.join(self.prefix, "bin/codejail-init"), os.path.join(self.prefix, "bin/codejail-server")
        tail = [server, "--config", self.cfg_path]
        head = [CONTAINER if self.how == "container" else IN_CGROUP, self.cgroup]
        if self.confine == "init":
            return head + AA_SERVICE + [init, "--"] + tail
        if self.confine == "server":
            return head + [init, "--"] + AA_SERVICE + tail
        return head + [init, "--"] + tail

    def start(self):
        os.makedirs(CONFIG_DIR, exist_ok=True)
        with open(self.cfg_path, "w") as f:
            f.write(yaml(self.config) + "\n")
        argv = self.argv()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.t_start = time.monotonic()
        log = open(self.log_path, "ab")
        log.write(("# " + " ".join(argv) + "\n# " + json.dumps(self.config) + "\n").encode())

        def pump():
            for line in iter(self.proc.stdout.readline, b""):
                log.write(line)
                log.flush()
                self.buf.append(line.decode(errors="replace"))
            log.close()
        threading.Thread(target=pump, daemon=True).start()
        return self

    def log(self):
        return "".join(self.buf)

    def log_tail(self, n=15):
        return " | ".join(line.strip() for line in self.buf[-n:])

    def wait_probe(self, timeout):
        """Waits until the startup probe ended or the process exited; returns
        'passed', 'FAILED' or 'exited'."""
        def state():
            log = self.log()
            if "startup probe passed" in log:
                return "passed"
            if "startup probe FAILED" in log:
                return "FAILED"
            if self.proc.poll() is not None:
                return "exited"
            return None
        s = wait_for(state, timeout)
        if s is None:
            raise Fail(f"service {self.name}: no startup probe result within {timeout} s; log: {self.log_tail()}")
        if s == "exited":
            time.sleep(0.5)  # the last lines
        return s

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def health(self):
        try:
            with urllib.request.urlopen(self.url("/health/"), timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, code, globals_dict=None, timeout=120, context=None):
        payload = {"code": code, "globals_dict": globals_dict or {}}
        if context is not None:
            payload["limit_overrides_context"] = context
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        req = urllib.request.Request(self.url("/api/v0/code-exec"), data=body.encode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def run(self, code, globals_dict=None, timeout=120):
        status, body = self.post(code, globals_dict, timeout)
        if status != 200 or "emsg" in body:
            raise Fail(f"execution failed: {status} {body}; log: {self.log_tail()}")
        return body["globals_dict"]

    def descendants(self):
        ps = procs()
        mine, frontier = set(), {self.proc.pid}
        while frontier:
            mine |= frontier
            frontier = {p for p, (pp, _) in ps.items() if pp in frontier} - mine
        return {p: ps[p] for p in mine if p in ps}

    def pid_of(self, binary):
        for pid, (_, argv) in sorted(self.descendants().items()):
            if argv and argv[0].endswith(binary):
                return pid
        return None

    def stop(self, timeout=40):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise Fail(f"service {self.name} did not stop within {timeout} s of SIGTERM (killed)")

    def cgroup_parent(self):
        """The `codejail` parent as the guest's root sees it: under the
        service's own cgroup (its cgroup namespace's root)."""
        return os.path.join(self.cgroup, self.config["cgroup_parent"])


def interpreter_pid(svc, timeout=30):
    """The sandboxed interpreter of a running execution: the process whose
    command line runs jailed_code (the sandbox has no /proc of its own; we
    look from outside)."""
    def find():
        for pid, (_, argv) in svc.descendants().items():
            # `jailed_code`, or the compiled /.codejail/jailed_code.pyc
            if any("jailed_code" in a for a in argv[1:]):
                return pid
        return None
    pid = wait_for(find, timeout, 0.1)
    if pid is None:
        raise Fail(f"no process running jailed_code appeared within {timeout} s")
    return pid


def in_background(fn, *args):
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except Exception as e:
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out
