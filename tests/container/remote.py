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
# warm start with its pool of clones, and the cold path's default pool of
# prepared sandboxes (for when the warm interpreter is being replaced).
COLD_POOL = 2
WARM_POOL = 2
POOL = COLD_POOL + WARM_POOL

# One docker exec that reports what an idle service may hold: execution
# directories in /tmp and processes not of root.  A prepared sandbox waiting
# for a request is still codejail-server (a request makes it exec python);
# a warm clone waiting for one is the warm interpreter's fork (its command
# line is warm_zygote.py's), one process of the sandbox user each.
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
    try:
        warm = b'warm_zygote.py' in open(f'/proc/{p}/cmdline', 'rb').read()
    except OSError:
        continue
    if uid != 0 and st[st.rindex(')') + 2] not in 'ZX':
        procs.append([int(p), uid, comm, warm])
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
    pools' ones, processes of the sandbox user but the waiting ones.  A
    process a warm execution left behind looks like a waiting clone from
    here, so it shows as one clone too many: the pools refill while we
    wait, and the count is then over."""
    s = state(name)
    prepared = [p for p in s["procs"] if p[2] == "codejail-server"]
    clones = [p for p in s["procs"] if p[3]]
    running = [p for p in s["procs"] if p not in prepared and p not in clones]
    problems = []
    if len(s["dirs"]) > POOL:
        problems.append(f"execution directories {s['dirs']}")
    if running:
        problems.append(f"execution processes {running}")
    if len(prepared) > COLD_POOL:
        problems.append(f"more prepared sandboxes than the cold pool: {prepared}")
    if len(clones) > WARM_POOL:
        problems.append(f"more warm clones than the warm pool: {clones}")
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
