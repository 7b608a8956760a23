"""The container tier: the devstack compose service, built and run for real
on this host's Docker engine, then the HTTP suites against it.

In order (one module, one container): `./dev up` brings the service up
healthy; the contract (tests/integration), the escape attempts
(tests/escape) and the sandbox packages run against it over HTTP; a killed
PID 1 is restarted by the restart policy; `docker stop` drains a running
execution and exits 0; `docker restart` is healthy again; `./dev down`
leaves no container, network or cgroup behind.
"""

import json
import os
import re
import subprocess
import threading
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROJECT = "codejail-dev-test"  # COMPOSE_PROJECT_NAME: never a developer's own
NAME = f"edx.{PROJECT}.codejail"
URL = "http://127.0.0.1:18030"
HEALTHY_WITHIN = 90  # s: the HEALTHCHECK's first probe comes 10 s after a start
# The suites below must run at least this many tests against the container
# (a deselection that grew by accident shows here).
MIN_CONTRACT, MIN_ESCAPE = 110, 100


def has_apparmor():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def env():
    e = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT,
             COMPOSE_FILE="compose/docker-compose.yml:tests/container/docker-compose.test.yml")
    if not has_apparmor():
        # The documented switch, said out loud: this host has no AppArmor.
        e["CODEJAIL_APPARMOR"] = "unconfined"
    return e


def dev(*args, timeout):
    r = subprocess.run([os.path.join(ROOT, "dev"), *args], cwd=ROOT, env=env(),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"./dev {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def inspect(fmt):
    return subprocess.run(["docker", "inspect", "-f", fmt, NAME], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()


def logs():
    r = subprocess.run(["docker", "logs", NAME], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def wait_healthy(timeout=HEALTHY_WITHIN):
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = inspect("{{.State.Status}} {{.State.Health.Status}}")
        if state == "running healthy":
            return
        time.sleep(0.5)
    pytest.fail(f"{NAME} not healthy within {timeout}s ({state}); log:\n{logs()}")


def host_cgroups(cid):
    """The container's cgroup directories on the host, v1 (one per
    controller) or v2."""
    root = "/sys/fs/cgroup"
    out = []
    for d, dirs, _ in os.walk(root):
        if os.path.basename(d) in (cid, f"docker-{cid}.scope"):
            out.append(d)
            dirs[:] = []
    return out


def execute(code, timeout=30):
    r = requests.post(URL + "/api/v0/code-exec",
                      data={"payload": json.dumps({"code": code, "globals_dict": {}})}, timeout=timeout)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "emsg" not in body, body["emsg"]
    return body["globals_dict"]


@pytest.fixture(scope="module")
def up():
    # A previous run cut short (its container would hold the port).
    subprocess.run([os.path.join(ROOT, "dev"), "down"], cwd=ROOT, env=env(), capture_output=True, timeout=120)
    t = time.monotonic()
    try:
        dev("up", timeout=1500)
        cid = inspect("{{.Id}}")
    except BaseException:
        # Nothing may stay behind a failed start either.
        subprocess.run([os.path.join(ROOT, "dev"), "down"], cwd=ROOT, env=env(), capture_output=True, timeout=120)
        raise
    print(f"./dev up: {time.monotonic() - t:.1f}s")
    net = f"{PROJECT}_default"
    yield cid
    dev("down", timeout=120)
    left = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"name={NAME}"],
                          capture_output=True, text=True, timeout=30).stdout.strip()
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"name={net}"],
                          capture_output=True, text=True, timeout=30).stdout.strip()
    cgs = host_cgroups(cid)
    assert not left and not nets and not cgs, \
        f"./dev down left container {left!r}, network {nets!r}, cgroups {cgs}"


def test_up_is_healthy_and_confined(up):
    wait_healthy()
    r = requests.get(URL + "/health/", timeout=5)
    assert r.status_code == 200, r.text
    assert inspect("{{.HostConfig.RestartPolicy.Name}}") == "unless-stopped"
    assert inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert inspect("{{.HostConfig.Privileged}}") == "false"
    assert inspect("{{json .HostConfig.PortBindings}}") == '{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"18030"}]}'
    opts = inspect("{{json .HostConfig.SecurityOpt}}")
    want = "apparmor=unconfined" if not has_apparmor() else "apparmor=codejail_service"
    assert want in opts and "seccomp=" in opts, opts
    log = logs()
    assert "startup probe" in log, log
    # Executions get cgroups under the container's own: codejail-init made
    # `codejail` there (on v1, in each controller it remounted read-write),
    # and the server keeps its pool of execution cgroups below.
    cgs = host_cgroups(up)
    assert cgs, "no cgroup of the container on the host"
    made = [d for d in cgs if os.path.isdir(os.path.join(d, "codejail"))]
    assert made, f"no codejail cgroup under {cgs}; log:\n{log}"
    assert any(os.listdir(os.path.join(d, "codejail")) for d in made)


def python_cgroups(cid):
    """The cgroups below the container's `codejail` holding an interpreter."""
    found = set()
    for top in host_cgroups(cid):
        for d, _, files in os.walk(os.path.join(top, "codejail")):
            if "cgroup.procs" not in files:
                continue
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "python":
                            found.add(d)
                except OSError:
                    pass
    return found


def test_an_execution_runs_in_its_cgroup(up):
    """Seen from the host: a running execution's interpreter is in a cgroup
    below the container's `codejail`, with its memory and pids limits."""
    t = threading.Thread(target=lambda: execute("import time\ntime.sleep(2)"))
    t.start()
    deadline = time.monotonic() + 5
    found = set()
    while time.monotonic() < deadline and not found:
        found = python_cgroups(up)
        time.sleep(0.05)
    t.join(30)
    assert found, f"no execution found in any cgroup under {host_cgroups(up)}"
    limits = {}
    for d in found:
        for name in ("memory.limit_in_bytes", "memory.max", "pids.max"):
            if os.path.exists(os.path.join(d, name)):
                with open(os.path.join(d, name)) as f:
                    limits[name] = f.read().strip()
    assert "pids.max" in limits and ("memory.limit_in_bytes" in limits or "memory.max" in limits), limits
    for name, value in limits.items():
        assert value != "max" and int(value) < 2**62, f"{name} is unlimited: {limits}"


def suite(tmp_path, plugin, paths, extra_path):
    deselected = tmp_path / "deselected.txt"
    e = dict(env(), CODEJAIL_URL=URL, CODEJAIL_CONTAINER=NAME, CODEJAIL_DESELECTED=str(deselected),
             PYTHONPATH=os.pathsep.join([HERE, os.path.join(ROOT, "tests", extra_path)]))
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
                        "-p", plugin, "-o", "console_output_style=classic", *paths],
                       cwd=ROOT, env=e, capture_output=True, text=True, timeout=900)
    print(r.stdout[-3000:])
    if deselected.exists():
        print("deselected (they need a service of their own):\n" + deselected.read_text())
    assert r.returncode == 0, r.stdout[-20000:] + r.stderr[-5000:]
    m = re.search(r"(\d+) passed", r.stdout)
    return int(m.group(1)) if m else 0


def test_contract_over_http(up, tmp_path):
    n = suite(tmp_path, "remote_integration", ["tests/integration"], "integration")
    assert n >= MIN_CONTRACT, f"only {n} contract tests ran against the container"


def test_escape_attempts_over_http(up, tmp_path):
    n = suite(tmp_path, "remote_escape", ["tests/escape"], "escape")
    assert n >= MIN_ESCAPE, f"only {n} escape tests ran against the container"


def test_sandbox_packages_in_the_image(up, tmp_path):
    n = suite(tmp_path, "remote_integration", ["tests/container/test_sandbox_packages.py"], "integration")
    assert n >= 14


def test_a_dead_init_is_restarted(up):
    wait_healthy()
    before = int(inspect("{{.RestartCount}}"))
    pid = int(inspect("{{.State.Pid}}"))
    os.kill(pid, 9)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and int(inspect("{{.RestartCount}}")) == before:
        time.sleep(0.2)
    assert int(inspect("{{.RestartCount}}")) == before + 1, "the restart policy did not restart it"
    wait_healthy()
    assert execute("x = 6 * 7")["x"] == 42


def test_stop_drains_and_exits_0(up):
    wait_healthy()
    answer = {}

    def slow():
        answer["g"] = execute("import time\ntime.sleep(2)\ndone = 1", timeout=30)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.7)  # the execution has started
    r = subprocess.run(["docker", "stop", NAME], capture_output=True, text=True, timeout=60)
    t.join(30)
    assert r.returncode == 0, r.stderr
    assert answer.get("g", {}).get("done") == 1, f"the running execution was not drained: {answer}"
    assert inspect("{{.State.Status}} {{.State.ExitCode}}") == "exited 0", logs()
    # Stopped stays stopped: the policy is unless-stopped.
    time.sleep(2)
    assert inspect("{{.State.Status}}") == "exited"


def test_restart_is_healthy_again(up):
    r = subprocess.run(["docker", "restart", NAME], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_healthy()
    assert execute("x = 6 * 7")["x"] == 42
