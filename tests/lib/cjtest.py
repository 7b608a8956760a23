"""Helpers shared by the black-box test tiers of codejail-server.

Everything here talks to an installed tree ($CODEJAIL_PREFIX) the way
operators and the Open edX client do: the service is started under
codejail-init, configured by a YAML file, and reached over HTTP on 127.0.0.1.
Every wait is bounded; nothing here sleeps for a fixed time to "let things
settle" except between polls.

Each tier's entry point (its conftest.py; test_soak.py, bench.py and the
container plugins, which run without one) puts this directory on sys.path
from its own file's path: so pytest and bench.py run from any directory, and
the VM guest, which gets the source tree but sets PYTHONPATH to its own
directory, runs tests/escape unchanged.
"""

import collections
import ctypes
import glob
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import zipfile

import requests

EXEC_PATH = "/api/v0/code-exec"
HEALTH_PATH = "/health/"
START_TIMEOUT = 10.0  # seconds until /health/ must answer
STOP_TIMEOUT = 20.0  # seconds for a SIGTERM'd service to exit
REQUEST_TIMEOUT = 15.0  # default for every HTTP request
IDLE_TIMEOUT = 5.0  # seconds for an execution's processes and directory to go

# The darklaunch comparison's normalisation of the execution directory.
SANDBOX_DIR_RE = re.compile(r"/tmp/codejail-[0-9a-zA-Z_]+")
SANDBOX_DIR_NORMALISED = "/tmp/codejail-<SANDBOX_DIR_NAME>"

PR_SET_CHILD_SUBREAPER = 36

# Put in the default service's environment; must never reach the sandbox.
SECRET_ENV = "CODEJAIL_TEST_SECRET"
SECRET_VALUE = "s3cr3t-do-not-leak"


class Failure(AssertionError):
    pass


def become_subreaper():
    """Make orphans of our services come back to this process, so a process
    that escapes both the server and codejail-init is still found (and not
    silently adopted by the host's init)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


# ---- /proc ------------------------------------------------------------------

# start (clock ticks after boot) tells a pid from its reuse.
ProcStat = collections.namedtuple("ProcStat", "state ppid session start comm")


def proc_stat(pid):
    """ProcStat of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and ')': the fields start after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    return ProcStat(fields[0], int(fields[1]), int(fields[3]), int(fields[19]),
                    data[data.index("(") + 1:data.rindex(")")])


def proc_field(pid, name, file="status"):
    """The first number of the `name:` line of /proc/pid/file (status,
    smaps_rollup), or None when it is gone or has none."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_uid(pid):
    return proc_field(pid, "Uid")


def proc_cwd(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def all_procs():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def descendants(root, procs=None):
    procs = all_procs() if procs is None else procs
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, st in procs.items() if st[1] in frontier} - found
        found |= frontier
    return found


def prepared(pid, server_bin):
    """Whether pid is a sandbox prepared ahead of a request and still
    waiting for one: it still runs the server's binary (a request makes it
    exec python)."""
    try:
        return os.readlink(f"/proc/{pid}/exe") == os.path.realpath(server_bin)
    except OSError:
        return False


def cgroup_dirs(pattern):
    """Directories matching pattern (a cgroup parent, or below one), whatever
    the hierarchy: v2 at the root, v1 once per controller mount."""
    if not pattern.strip("/"):
        return []  # never the roots themselves
    return glob.glob(f"/sys/fs/cgroup/*/{pattern}") + glob.glob(f"/sys/fs/cgroup/{pattern}")


def describe(pid):
    return f"pid {pid} uid {proc_uid(pid)} cwd {proc_cwd(pid)!r} cmd {proc_cmdline(pid)!r}"


def wait_for(pred, timeout, interval=0.02):
    """Polls pred until it returns a true value or timeout passes; returns
    the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def read_text(path):
    """A log file's text so far ("" before it exists)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def under(path, root):
    root = root.rstrip("/")
    p = path[: -len(" (deleted)")] if path.endswith(" (deleted)") else path
    return p == root or p.startswith(root + "/")


# ---- YAML -------------------------------------------------------------------

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(d, indent=0):
    lines = []
    pad = " " * indent
    for k, v in d.items():
        key = json.dumps(str(k))
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(v, indent + 2))
        elif isinstance(v, dict):
            lines.append(f"{pad}{key}: {{}}")
        elif isinstance(v, (list, tuple)):  # a flow sequence of scalars
            lines.append(f"{pad}{key}: [{', '.join(_yaml_scalar(x) for x in v)}]")
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(v)}")
    return "\n".join(lines)


# ---- payloads ---------------------------------------------------------------

def make_zip(files):
    """A real zip file, in memory: {name: text}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def form_body(payload):
    """The urlencoded body the client sends when it uploads no file."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return urllib.parse.urlencode({"payload": text}).encode()


def assert_json_response(r):
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"{r.request.method} {r.url} -> {r.status_code} with Content-Type {ctype!r}: {r.text[:300]!r}")
    try:
        return r.json()
    except ValueError as e:
        raise Failure(f"{r.request.method} {r.url} -> {r.status_code}: body is not JSON ({e}): {r.text[:300]!r}")


def ok_globals(r):
    """The answer to a run that finished: its globals, and nothing else."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"globals_dict"}, body
    return body["globals_dict"]


def failed(r, globals_dict):
    """The answer to a failed run: the input globals unchanged, and emsg."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"globals_dict", "emsg"}, body
    assert body["globals_dict"] == globals_dict
    return body["emsg"]


def expected_failed_run(stdout, stderr, status):
    """The codejail library's message for a failed run, byte for byte."""
    return (f"Couldn't execute jailed code: stdout: {stdout!r}, stderr: {stderr!r} "
            f"with status code: {status}")


def normalise_sandbox_dir(text):
    return SANDBOX_DIR_RE.sub(SANDBOX_DIR_NORMALISED, text)


# ---- raw HTTP ---------------------------------------------------------------

def raw_request(port, data, read=True, timeout=10.0):
    """Sends bytes, returns (status or None, raw bytes read until close or a
    complete response)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if not read:
            return None, b""
        return read_response(s, timeout)
    finally:
        s.close()


def read_response(s, timeout=10.0):
    """Reads one HTTP/1.1 response (Content-Length or until close); returns
    (status or None, raw bytes)."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            if m and len(body) >= int(m.group(1)):
                break
            if re.search(rb"(?im)^transfer-encoding:\s*chunked", head) and body.endswith(b"0\r\n\r\n"):
                break
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    return (int(m.group(1)) if m else None), buf


def response_parts(raw):
    """(lowercased headers dict, body bytes) of a raw response, de-chunked."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode(errors="replace")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        body = out
    return headers, body


# ---- the service ------------------------------------------------------------

def installed_prefix():
    """$CODEJAIL_PREFIX, the installed tree; unset or incomplete FAILS the
    test (never skips), so CI cannot go green without running it."""
    import pytest  # here: bench.py uses this module without pytest
    prefix = os.environ.get("CODEJAIL_PREFIX")
    if not prefix:
        pytest.fail("CODEJAIL_PREFIX is not set: it must name the installed tree "
                    "(bin/codejail-server, bin/codejail-init, share/codejail/)", pytrace=False)
    for rel in ("bin/codejail-server", "bin/codejail-init"):
        path = os.path.join(prefix, rel)
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing or not executable (CODEJAIL_PREFIX={prefix})", pytrace=False)
    if not os.path.isdir(os.path.join(prefix, "share", "codejail")):
        pytest.fail(f"{prefix}/share/codejail is missing", pytrace=False)
    return prefix


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One codejail-server under codejail-init, as operators start it."""

    def __init__(self, prefix, config=None, env=None, name="svc", home=None, init_args=()):
        """home: an existing directory for its files (default a new one in
        $TMPDIR); init_args: codejail-init's options."""
        self.prefix = prefix
        self.init_bin = os.path.join(prefix, "bin", "codejail-init")
        self.server_bin = os.path.join(prefix, "bin", "codejail-server")
        self.init_args = list(init_args)
        self.home = home or tempfile.mkdtemp(prefix=f"cj-itest-{name}-")
        self.config = dict(config or {})
        # A private work_dir per service (unless the test chooses one), so
        # "nothing left behind" is simply "it is empty".
        if "work_dir" in self.config:
            self.work_dir = self.config["work_dir"]
            self.private_work_dir = False
        else:
            self.work_dir = os.path.join(self.home, "work")
            os.mkdir(self.work_dir)
            # The sandbox user must be able to enter its own directory below.
            os.chmod(self.home, 0o711)
            os.chmod(self.work_dir, 0o711)
            self.config["work_dir"] = self.work_dir
            self.private_work_dir = True
        self.config_path = os.path.join(self.home, "codejail.yaml")
        # Sandboxes the service keeps made ahead of requests (cold.pool,
        # default 2; warm.pool clones when warm is on): each has its
        # directory and waiting processes while the service is idle.
        cold = self.config.get("cold", {}).get("pool", 2) if self.config.get("enabled", True) else 0
        warm = self.config.get("warm", {})
        self.pool = cold + (warm.get("pool", 2) if warm.get("enabled") else 0)
        self.log_path = os.path.join(self.home, "server.log")
        self.extra_env = dict(env or {})
        self.proc = None
        self.port = None
        self.returncode = None
        self.server_pid = None

    # -- lifecycle --

    def environment(self):
        """Ours, without what would override the command line, and the
        test's own."""
        env = {k: v for k, v in os.environ.items() if k not in ("CODEJAIL_CONFIG", "CODEJAIL_LISTEN")}
        env.update(self.extra_env)
        return env

    def start(self, expect_health=200, timeout=START_TIMEOUT):
        with open(self.config_path, "w") as f:
            f.write(to_yaml(self.config) + "\n")
        env = self.environment()
        for attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [self.init_bin, *self.init_args, "--", self.server_bin, "--config", self.config_path,
                 "--listen", f"127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env)
            status = self._wait_healthy(expect_health, timeout)
            if status == expect_health:
                self.server_pid = self._find_server_pid()
                return self
            if self.proc.poll() is not None and "Address already in use" in self.log():
                continue  # lost the port race; try another
            break
        log = self.log()
        self.returncode = self.proc.poll()  # None: it still ran when we gave up
        self.kill()
        raise Failure(f"service did not become healthy ({expect_health}) within {timeout}s; "
                      f"last /health/ status {status}; log:\n{log}")

    def _wait_healthy(self, expect, timeout):
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return status
            try:
                r = requests.get(self.url(HEALTH_PATH), timeout=1)
                status = r.status_code
                if status == expect and (expect == 200 or "startup probe" in self.log()):
                    return status
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return status

    def _find_server_pid(self):
        """The topmost codejail-server below init: the sandboxes it prepares
        ahead of requests are codejail-server processes too (its clones)."""
        found = [pid for pid in descendants(self.proc.pid)
                 if os.path.basename(proc_cmdline(pid).split(" ")[0]) == "codejail-server"]
        tops = [pid for pid in found if (proc_stat(pid) or ("", 0))[1] not in found]
        return tops[0] if tops else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Sends SIGTERM to codejail-init, as a container runtime would."""
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, bounded wait; returns init's exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise Failure(f"service did not exit within {timeout}s of SIGTERM; log:\n{self.log()}")
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # -- access --

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def log(self):
        return read_text(self.log_path)

    def post(self, payload, files=None, timeout=REQUEST_TIMEOUT, **kw):
        """POSTs exactly like the Open edX client and checks the answer is JSON."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        r = requests.post(self.url(EXEC_PATH), data={"payload": text}, files=files,
                          timeout=timeout, **kw)
        assert_json_response(r)
        return r

    def run(self, code, globals_dict=None, timeout=REQUEST_TIMEOUT, files=None, **fields):
        payload = {"code": code, "globals_dict": {} if globals_dict is None else globals_dict}
        payload.update(fields)
        return self.post(payload, files=files, timeout=timeout)

    def health(self):
        r = requests.get(self.url(HEALTH_PATH), timeout=5)
        return r.status_code, assert_json_response(r)

    # -- leaks --

    def waiting(self, pid):
        return prepared(pid, self.server_bin)

    def sandbox_procs(self, waiting_too=False):
        """Live processes an execution of this service left: descendants of
        codejail-init running as anyone but root, or with their working
        directory in this service's work_dir.  Prepared sandboxes still
        waiting for a request are not executions (unless waiting_too)."""
        procs = all_procs()
        found = []
        pids = descendants(self.proc.pid, procs) if self.proc is not None else set()
        for pid in pids:
            if procs[pid][0] in ("Z", "X") or (not waiting_too and self.waiting(pid)):
                continue
            uid = proc_uid(pid)
            if uid is not None and uid != 0:
                found.append(pid)
        if self.private_work_dir:
            for pid, st in procs.items():
                if pid in found or st[0] in ("Z", "X") or (not waiting_too and self.waiting(pid)):
                    continue
                cwd = proc_cwd(pid)
                if cwd is not None and under(cwd, self.work_dir):
                    found.append(pid)
        return found

    def work_dir_entries(self):
        if not self.private_work_dir:
            return []
        try:
            return sorted(os.listdir(self.work_dir))
        except FileNotFoundError:
            return []

    def idle(self):
        """No execution process, and no directory but the prepared sandboxes'."""
        return not self.sandbox_procs() and len(self.work_dir_entries()) <= self.pool

    def assert_idle(self, timeout=IDLE_TIMEOUT):
        """Waits (bounded) until no execution process and no execution
        directory is left."""
        ok = wait_for(self.idle, timeout)
        if not ok:
            procs = [describe(p) for p in self.sandbox_procs()]
            raise Failure(f"execution leftovers {timeout}s after the last answer: processes {procs}, "
                          f"work_dir entries {self.work_dir_entries()}")


def refused_start(prefix, config, name):
    """Starts a service with a configuration it must refuse: it never gets
    healthy and exits non-zero.  Returns its log."""
    svc = Service(prefix, config, name=name)
    try:
        try:
            svc.start()
        except AssertionError:
            pass
        else:
            raise AssertionError(f"the service started with {config}")
        assert svc.proc.wait(timeout=5) != 0
        return svc.log()
    finally:
        svc.kill()
        shutil.rmtree(svc.home, ignore_errors=True)


def failures(check, items):
    """Runs check(item) on every item, also after one failed; returns the
    failed checks' messages."""
    errors = []
    for item in items:
        try:
            check(item)
        except AssertionError as e:
            errors.append(str(e))
    return errors


def foreign_children(known):
    """Processes adopted by this (subreaper) test process that are not ones
    it started: anything here escaped a service.  Zombies are reaped."""
    me = os.getpid()
    live = []
    for pid, st in all_procs().items():
        if st.ppid != me or pid in known:
            continue
        if st.state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            continue
        live.append(pid)
    return live
