"""The running container as the service of the HTTP suites.

tests/integration and tests/escape start their own services; their fixtures
live in their conftest.py.  The container tier runs their test files
unchanged with `--noconftest -p remote_integration` (or remote_escape): those
plugins give the same fixture names, backed by the compose service at
$CODEJAIL_URL (container $CODEJAIL_CONTAINER).  What a test can check only on
a service it started itself (its log file, its processes seen from the host,
its own configuration) is named in RESTRICTED; such tests are deselected,
each listed with the reason, never skipped silently.
"""

import inspect
import json
import os
import re
import subprocess
import urllib.parse

import pytest

# Attributes of a locally started service that a container does not have:
# a test whose source uses one is deselected.
RESTRICTED = {
    "make_service": "starts a service of its own configuration",
    "nons_service": "needs a service with namespaces: false",
    "warm": "needs a service with warm start on",
    "prefix": "needs the installed tree on this host",
    ".proc": "signals or waits for the service's own process",
    ".log(": "reads the service's log file",
    ".log_path": "reads the service's log file",
    ".home": "uses the service's private directory on this host",
    ".config": "reads the service's configuration",
    ".sandbox_procs": "inspects the service's processes from this host",
    ".work_dir": "inspects the service's work_dir from this host",
    ".probe_results": "reads the startup probe from the log",
    ".terminate": "signals the service's own process",
    ".cgroup_parent": "inspects the service's cgroups from this host",
}

# Tests that depend on a service of their own in a way their source does not
# show by the names above (a helper's, or the suite's own limits).
BY_NAME = {
    "test_other_execution_is_invisible": "lists the service's work_dir from this host (in a helper)",
    "test_cpu_loop_gets_sigxcpu": "assumes the escape suite's limits (CPU 1 s, REALTIME 5 s), where "
                                  "the container runs devstack's (3 s, 3 s)",
}

# What the container runs by its config (compose/codejail.container.yaml):
# the cold path with its default pool of prepared sandboxes.
POOL = 2

# One docker exec that reports what an idle service may hold: execution
# directories in /tmp and processes not of root.  A prepared sandbox waiting
# for a request is still codejail-server (a request makes it exec python).
_STATE = r"""
import json, os
procs = []
for p in filter(str.isdigit, os.listdir('/proc')):
    try:
        st = open(f'/proc/{p}/stat').read()
        uid = int([l for l in open(f'/proc/{p}/status') if l.startswith('Uid:')][0].split()[1])
    except (OSError, IndexError):
        continue
    # The name, not /proc/<pid>/exe: that is another user's, and docker exec
    # has no CAP_SYS_PTRACE to read it.
    comm = st[st.index('(') + 1:st.rindex(')')]
    if uid != 0 and st[st.rindex(')') + 2] not in 'ZX':
        procs.append([int(p), uid, comm])
print(json.dumps({'dirs': sorted(os.listdir('/tmp')), 'procs': procs}))
"""


def url():
    u = os.environ.get("CODEJAIL_URL")
    if not u:
        pytest.fail("CODEJAIL_URL is not set: the container tier names the running service", pytrace=False)
    return u.rstrip("/")


def port_of(u):
    return urllib.parse.urlsplit(u).port


def container():
    c = os.environ.get("CODEJAIL_CONTAINER")
    if not c:
        pytest.fail("CODEJAIL_CONTAINER is not set", pytrace=False)
    return c


def state(name):
    out = subprocess.run(["docker", "exec", name, "/usr/bin/python3", "-I", "-c", _STATE],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def leftovers(name):
    """What an idle container must not hold: execution directories beyond the
    prepared ones, processes of the sandbox user but the prepared ones."""
    s = state(name)
    running = [p for p in s["procs"] if p[2] != "codejail-server"]
    problems = []
    if len(s["dirs"]) > POOL:
        problems.append(f"execution directories {s['dirs']}")
    if running:
        problems.append(f"execution processes {running}")
    if len(s["procs"]) - len(running) > POOL:
        problems.append(f"more waiting sandboxes than the pool: {s['procs']}")
    return problems


def logs(name):
    out = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def service_fixture(cls):
    """A plugin's session `service`: a cls on the running container."""
    return pytest.fixture(scope="session", name="service")(lambda: cls(url(), container()))


# A plugin imports these two into its own namespace, where pytest finds them.
@pytest.fixture(autouse=True)
def _idle_after_each_test(service):
    yield
    service.assert_idle()


def pytest_collection_modifyitems(config, items):
    deselect(config, items)


def deselect(config, items):
    """Leaves out the tests that need a service of their own, and says which."""
    keep, drop = [], []
    for item in items:
        reason = None
        for key, why in RESTRICTED.items():  # the most telling reason first
            if reason is None and key in item.fixturenames:
                reason = why
        if reason is None:
            reason = BY_NAME.get(getattr(item, "originalname", item.name))
        if reason is None and getattr(item, "function", None) is not None:
            src = inspect.getsource(item.function)
            for key, why in RESTRICTED.items():
                if key.startswith(".") and re.search(r"\b(service|svc)" + re.escape(key), src):
                    reason = why
                    break
        (drop if reason else keep).append((item, reason))
    if drop:
        config.hook.pytest_deselected(items=[i for i, _ in drop])
        report = "\n".join(f"  {i.nodeid}: {r}" for i, r in drop)
        path = os.environ.get("CODEJAIL_DESELECTED")
        if path:
            with open(path, "a") as f:
                f.write(report + "\n")
    items[:] = [i for i, _ in keep]
