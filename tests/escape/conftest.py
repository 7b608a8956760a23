"""Fixtures for the sandbox escape tests.

Each test makes one escape attempt from inside a real execution, posted over
HTTP exactly like the Open edX client, and asserts the exact Python exception
the sandboxed code saw (the code catches it and stores type and errno in a
global).  The installed tree comes from $CODEJAIL_PREFIX; unset or incomplete
FAILS every test (never skips).

- `service`: one service for the session (limits CPU 1, REALTIME 5, its own
  work_dir and cgroup parent, a secret in its environment), once cold and
  once with warm start: every test using it runs on both paths.
- `nons_service`: the same with `namespaces: false` (Landlock, seccomp and
  cgroups alone), for the tests that each layer holds on its own.
- `make_service(config, expect_health=200, installed=None)`: a service with a
  special configuration (one confinement layer off, ...) or run from another
  installed tree, stopped at test end.

With `namespaces: false`, a tree the sandbox user cannot reach (a clone under
/root) is run from a copy in the service's own directory.

`svc.attempt(stmt)` runs stmt in the sandbox and returns what it raised
there: (exception type name, errno), or ("ALLOWED", None).
"""

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
import requests

# cjtest, shared by every tier, from tests/lib (see its docstring).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))

import cjtest  # noqa: E402

EXEC = cjtest.EXEC_PATH
SECRET_ENV, SECRET_VALUE = "CODEJAIL_ESCAPE_SECRET", "esc-s3cr3t-must-not-leak"
DEFAULT_LIMITS = {"CPU": 1, "REALTIME": 5, "VMEM": 536870912, "FSIZE": 1048576, "NPROC": 15}

# A module attribute, so that the VM tier can scale every wait here
# (tests/vm/guest/cjvm_escape.py); the polls walk all of /proc, hence the
# longer interval.
wait_for = functools.partial(cjtest.wait_for, interval=0.05)


def cgroup_procs(parent):
    """{cgroup path relative to the parent ("." for itself): its processes}
    for every cgroup under the parent holding any; empty child cgroups may stay:
    the service keeps a pool of them for reuse."""
    out = {}
    for top in cjtest.cgroup_dirs(parent):  # v1: the same cgroup in each hierarchy
        for d, _, _ in os.walk(top):
            with open(os.path.join(d, "cgroup.procs")) as f:
                here = {int(x) for x in f.read().split()}
            if here:
                rel = os.path.relpath(d, top)
                out[rel] = sorted(set(out.get(rel, ())) | here)
    return out


def sandbox_user_reaches(path):
    """Whether uid/gid 65534 (the services' `user: nobody`) can read path."""
    return subprocess.run(["/usr/bin/test", "-r", path], user=65534, group=65534, extra_groups=[],
                          cwd="/").returncode == 0


class Service:
    def __init__(self, prefix, config, env, name, reachable_copy=True):
        self.home = tempfile.mkdtemp(prefix=f"cj-esc-{name}-")
        os.chmod(self.home, 0o711)
        self.prefix = prefix
        noexec = os.path.join(prefix, "lib/codejail/codejail-noexec.so")
        if reachable_copy and config.get("namespaces", True) is False and not sandbox_user_reaches(noexec):
            # Without a mount namespace the sandbox user opens the installed
            # files by their host paths, and the tree may be where it cannot
            # (a clone in /root/project, /root being 0700): run a copy.
            self.prefix = shutil.copytree(prefix, os.path.join(self.home, "prefix"), symlinks=True)
        self.work_dir = os.path.join(self.home, "work")
        os.mkdir(self.work_dir, 0o711)
        self.cgroup_parent = f"codejail-esc-{os.getpid()}-{name}"
        self.config = {"work_dir": self.work_dir, "cgroup_parent": self.cgroup_parent,
                       "max_concurrency": 4, "limits": dict(DEFAULT_LIMITS),
                       "limit_overrides": {"more-cpu": {"CPU": 4}}}
        self.config.update(config)
        self.cgroup_parent = self.config["cgroup_parent"]
        warm = self.config.get("warm", {})
        # Sandboxes made ahead of requests: warm clones, and the cold path's
        # prepared sandboxes (cold.pool, 2 by default).
        self.pool = (warm.get("pool", 2) if warm.get("enabled") else 0) + self.config.get("cold", {}).get("pool", 2)
        self.env = {k: v for k, v in os.environ.items() if k not in ("CODEJAIL_CONFIG", "CODEJAIL_LISTEN")}
        self.env.update(env or {})
        self.log_path = os.path.join(self.home, "server.log")
        self.proc = None

    def start(self, expect_health):
        cfg = os.path.join(self.home, "codejail.yaml")
        with open(cfg, "w") as f:
            f.write(cjtest.to_yaml(self.config) + "\n")
        self.port = cjtest.free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(self.prefix, "bin/codejail-init"), "--",
                 os.path.join(self.prefix, "bin/codejail-server"), "--config", cfg,
                 "--listen", f"127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env)

        def health():
            if self.proc.poll() is not None:
                return "exited"
            if "startup probe" not in self.log():  # the probe's verdict is logged last
                return None
            try:
                return requests.get(self.url(cjtest.HEALTH_PATH), timeout=1).status_code
            except requests.RequestException:
                return None
        status = wait_for(health, 15)
        if status != expect_health:
            self.stop()
            pytest.fail(f"service did not come up with health {expect_health} (got {status}); "
                        f"log:\n{self.log()}")
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        return cjtest.read_text(self.log_path)

    def health(self):
        r = requests.get(self.url(cjtest.HEALTH_PATH), timeout=5)
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

    def attempt(self, stmt, globals_dict=None, **kw):
        """Runs stmt inside the sandbox; (type name, errno) of what it raised
        there, ("ALLOWED", None) when it did not raise.  `result` may be set
        by stmt for the caller."""
        body = textwrap.indent(textwrap.dedent(stmt).strip(), "    ")
        code = (f"import os, sys, socket, errno, ctypes\n"
                f"try:\n{body}\n    outcome = ['ALLOWED', None]\n"
                f"except BaseException as e:\n    outcome = [type(e).__name__, getattr(e, 'errno', None)]\n")
        g = self.run(code, globals_dict, **kw)
        self.last = g
        return tuple(g["outcome"])

    def probe_results(self):
        """{check name: (passed, detail)} from the startup probe's log lines."""
        out = {}
        for m in re.finditer(r"startup check '([^']+)' (passed|failed): (.*)", self.log()):
            out[m.group(1)] = (m.group(2) == "passed", m.group(3))
        return out

    def sandbox_procs(self):
        """Processes of the sandbox user under this service's codejail-init
        (orphans come back to it: it is a subreaper), or anywhere with their
        working directory in its work_dir."""
        procs = {p: st for p, st in cjtest.all_procs().items() if st.state not in ("Z", "X")}
        server = os.path.join(self.prefix, "bin", "codejail-server")
        found = {p for p in cjtest.descendants(self.proc.pid, procs)
                 if cjtest.proc_uid(p) not in (0, None) and not cjtest.prepared(p, server)}
        for p in procs:
            cwd = cjtest.proc_cwd(p)
            if cwd is not None and cwd.startswith(self.work_dir + "/") and not cjtest.prepared(p, server):
                found.add(p)
        return sorted(found)

    def sandbox_leftovers(self):
        """What executions left: execution directories, cgroups holding
        processes, processes of the sandbox user.  A warm service keeps
        `pool` executions waiting (a directory, a cgroup holding the clone's
        init and interpreter): up to that many are not leftovers."""
        dirs = sorted(os.listdir(self.work_dir))
        busy = cgroup_procs(self.cgroup_parent)
        users = self.sandbox_procs()
        problems = []
        if len(dirs) > self.pool:
            problems.append(f"execution directories {dirs}")
        if len(busy) > self.pool or any(len(p) > 2 or d == "." for d, p in busy.items()):
            problems.append(f"cgroups holding processes {busy}")
        if len(users) > self.pool:
            problems.append(f"sandbox user processes {users}")
        return problems

    def assert_idle(self, timeout=5):
        # Idle at some moment within the bound: right after an answer the
        # pool is refilled while the used sandbox is still being torn down,
        # so a moment later one more may show for a while.
        if wait_for(lambda: not self.sandbox_leftovers(), timeout):
            return
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
        for d in cjtest.cgroup_dirs(self.cgroup_parent):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def prefix():
    return cjtest.installed_prefix()


def _finish(svc):
    try:
        svc.assert_idle()
        rc = svc.stop()
        assert rc == 0, f"service exited {rc}; log:\n{svc.log()}"
        svc.pool = 0  # stopped: not even a warm execution may stay
        svc.assert_idle()
    finally:
        svc.stop()
        svc.cleanup()


@pytest.fixture(scope="session", params=["cold", "direct", "warm"])
def service(prefix, request):
    """Every attempt runs on every path: a fresh interpreter per execution in
    a sandbox prepared ahead of the request (cold, the default) or made for
    it (direct: cold.pool 0, what runs when the prepared ones are all in
    use), and a clone of the warm interpreter (warm: its own confinement
    code, warm_child.c)."""
    config = {"warm": {"enabled": request.param == "warm", "pool": 2}}
    if request.param == "direct":
        config["cold"] = {"pool": 0}
    svc = Service(prefix, config, {SECRET_ENV: SECRET_VALUE}, request.param).start(200)
    if request.param == "warm":
        assert "startup check 'functionality' (warm) passed" in svc.log(), svc.log()
    yield svc
    _finish(svc)


@pytest.fixture(scope="session")
def nons_service(prefix):
    svc = Service(prefix, {"namespaces": False}, {SECRET_ENV: SECRET_VALUE}, "nons").start(200)
    yield svc
    _finish(svc)


@pytest.fixture
def make_service(prefix):
    started = []

    def factory(config, expect_health=200, name="layer", installed=None):
        svc = Service(installed or prefix, config, None, name, reachable_copy=installed is None)
        started.append(svc)
        return svc.start(expect_health)

    yield factory
    errors = cjtest.failures(_finish, started)
    assert not errors, "\n\n".join(errors)


@pytest.fixture(autouse=True)
def _idle_after_each_test(request):
    """Nothing of an execution may outlive its answer."""
    yield
    for name in ("service", "nons_service"):
        if name in request.fixturenames:
            svc = request.getfixturevalue(name)
            if svc.proc.poll() is None:
                svc.assert_idle()
