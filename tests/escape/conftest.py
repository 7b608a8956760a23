"""Fixtures for the sandbox escape tests.

Each test makes one escape attempt from inside a real execution, posted over
HTTP exactly like the Open edX client, and asserts the exact Python exception
the sandboxed code saw (the code catches it and stores type and errno in a
global).  The installed tree comes from $CODEJAIL_PREFIX; unset or incomplete
FAILS every test (never skips).

- `service`: one service for the session (limits CPU 1, REALTIME 5, its own
  work_dir and cgroup parent, a secret in its environment).
- `make_service(config, expect_health=200)`: a service with a special
  configuration (one confinement layer off, ...), stopped at test end.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

EXEC = "/api/v0/code-exec"
SECRET_ENV, SECRET_VALUE = "CODEJAIL_ESCAPE_SECRET", "esc-s3cr3t-must-not-leak"
DEFAULT_LIMITS = {"CPU": 1, "REALTIME": 5, "VMEM": 536870912, "FSIZE": 1048576, "NPROC": 15}


def _yaml(d, pad=""):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{pad}{json.dumps(k)}:")
            out.append(_yaml(v, pad + "  "))
        else:
            v = ("true" if v else "false") if isinstance(v, bool) else v
            out.append(f"{pad}{json.dumps(k)}: {json.dumps(v) if isinstance(v, str) else v}")
    return "\n".join(out)


def wait_for(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def cgroup_dirs(parent):
    """The service's cgroup parent directories, whatever the hierarchy (v2 at
    the root, v1 one per controller mount)."""
    root = "/sys/fs/cgroup"
    cands = [os.path.join(root, parent)] + [os.path.join(root, d, parent) for d in os.listdir(root)]
    return [p for p in cands if os.path.isdir(p)]


def cgroup_leftovers(parent):
    """Child cgroups under the parent, and processes in it."""
    kids, procs = [], []
    for d in cgroup_dirs(parent):
        kids += [os.path.join(d, e) for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
        with open(os.path.join(d, "cgroup.procs")) as f:
            procs += [int(x) for x in f.read().split()]
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cgroup") as f:
                    if re.search(rf":/(.*/)?{re.escape(parent)}(/|$)", f.read(), re.M):
                        procs.append(int(name))
            except OSError:
                pass
    return kids, sorted(set(procs))


class Service:
    def __init__(self, prefix, config, env, name):
        self.prefix = prefix
        self.home = tempfile.mkdtemp(prefix=f"cj-esc-{name}-")
        os.chmod(self.home, 0o711)
        self.work_dir = os.path.join(self.home, "work")
        os.mkdir(self.work_dir, 0o711)
        self.cgroup_parent = f"codejail-esc-{os.getpid()}-{name}"
        self.config = {"work_dir": self.work_dir, "cgroup_parent": self.cgroup_parent,
                       "max_concurrency": 4, "limits": dict(DEFAULT_LIMITS)}
        self.config.update(config)
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(self.home, "server.log")
        self.proc = None

    def start(self, expect_health):
        cfg = os.path.join(self.home, "codejail.yaml")
        with open(cfg, "w") as f:
            f.write(_yaml(self.config) + "\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.prefix, "bin/codejail-init"), "--",
                 os.path.join(self.prefix, "bin/codejail-server"), "--config", cfg,
                 "--listen", f"127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env)

        def ready():
            if self.proc.poll() is not None:
                return True
            try:
                r = requests.get(self.url("/health/"), timeout=1)
            except requests.RequestException:
                return False
            return r.status_code == expect_health and "startup probe" in self.log()
        wait_for(ready, 15)
        if self.proc.poll() is not None or "startup probe" not in self.log():
            self.stop()
            pytest.fail(f"service did not come up (health {expect_health}); log:\n{self.log()}")
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def health(self):
        r = requests.get(self.url("/health/"), timeout=5)
        return r.status_code, r.json()

    def post(self, code, globals_dict=None, files=None, timeout=20, **fields):
        payload = dict(code=code, globals_dict=globals_dict or {}, **fields)
        return requests.post(self.url(EXEC), data={"payload": json.dumps(payload)}, files=files,
                             timeout=timeout)

    def run(self, code, globals_dict=None, **kw):
        """Runs code that must finish normally; returns the answer's globals."""
        r = self.post(code, globals_dict, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "emsg" not in body, body["emsg"]
        return body["globals_dict"]

    def sandbox_leftovers(self):
        """Execution directories, and processes of the cgroup parent."""
        kids, procs = cgroup_leftovers(self.cgroup_parent)
        return os.listdir(self.work_dir) + kids + [f"pid {p}" for p in procs]

    def assert_idle(self, timeout=5):
        wait_for(lambda: not self.sandbox_leftovers(), timeout)
        left = self.sandbox_leftovers()
        assert not left, f"execution leftovers {timeout}s after the answer: {left}"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"service did not stop on SIGTERM; log:\n{self.log()}")
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        for d in cgroup_dirs(self.cgroup_parent):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def prefix():
    p = os.environ.get("CODEJAIL_PREFIX")
    if not p:
        pytest.fail("CODEJAIL_PREFIX is not set: it must name the installed tree", pytrace=False)
    for rel in ("bin/codejail-server", "bin/codejail-init"):
        if not os.access(os.path.join(p, rel), os.X_OK):
            pytest.fail(f"{p}/{rel} is missing or not executable", pytrace=False)
    return p


def _finish(svc):
    try:
        svc.assert_idle()
        rc = svc.stop()
        assert rc == 0, f"service exited {rc}; log:\n{svc.log()}"
    finally:
        svc.stop()
        svc.cleanup()


@pytest.fixture(scope="session")
def service(prefix):
    svc = Service(prefix, {}, {SECRET_ENV: SECRET_VALUE}, "default").start(200)
    yield svc
    _finish(svc)


@pytest.fixture
def make_service(prefix):
    started = []

    def factory(config, expect_health=200, name="layer"):
        svc = Service(prefix, config, None, name)
        started.append(svc)
        return svc.start(expect_health)

    yield factory
    for svc in started:
        _finish(svc)


@pytest.fixture(autouse=True)
def _idle_after_each_test(request):
    """Nothing of an execution may outlive its answer."""
    yield
    if "service" in request.fixturenames:
        svc = request.getfixturevalue("service")
        if svc.proc.poll() is None:
            svc.assert_idle()
