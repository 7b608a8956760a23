"""GET /metrics: the Prometheus text format (parsed by prometheus_client's
own parser), the families operators alert on, each moving exactly as
executions of each outcome happen, on the cold and the warm path; the CPU
time and peak memory of each execution observed from its cgroup."""

import json
import os
import re
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

FAMILIES = {
    "codejail_executions": "counter",
    "codejail_execution_duration_seconds": "histogram",
    "codejail_execution_cpu_seconds": "histogram",
    "codejail_execution_peak_memory_bytes": "histogram",
    "codejail_executions_in_flight": "gauge",
    "codejail_queue_depth": "gauge",
    "codejail_pool_ready": "gauge",
    "codejail_pool_size": "gauge",
    "codejail_probe_passed": "gauge",
    "codejail_sandbox_setup_failures": "counter",
    "codejail_oom_kills": "counter",
    "codejail_warm_restarts": "counter",
    "codejail_http_requests": "counter",
    "codejail_build_info": "gauge",
}


def scrape(svc):
    r = requests.get(svc.url("/metrics"), timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {}
    for f in families.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def svc(make_service):
    return make_service({"warm": {"enabled": True, "pool": 2},
                         "limits": {"CPU": 1, "REALTIME": 2, "NPROC": 8, "VMEM": 150 * 1024 * 1024}},
                        name="metrics")


def test_families_and_types(svc):
    families, samples = scrape(svc)
    for name, kind in FAMILIES.items():
        assert name in families, (name, sorted(families))
        assert families[name].type == kind, (name, families[name].type)
    assert value(samples, "codejail_probe_passed") == 1
    assert value(samples, "codejail_pool_size", path="cold") == 2
    assert value(samples, "codejail_pool_size", path="warm") == 2
    build = [s for s in families["codejail_build_info"].samples][0]
    assert build.value == 1 and set(build.labels) == {"version", "landlock_abi", "apparmor", "cgroup"}, build
    assert build.labels["cgroup"] in ("v1", "v2") and int(build.labels["landlock_abi"]) >= 1, build


MiB = 1 << 20
# What each outcome's execution used, at least and at most: CPU seconds and
# peak bytes (the limits are CPU 1 s, VMEM 150 MiB).  A loop killed at CPU
# ran 0.8-1 s by the cgroup's precise count: the kernel enforces RLIMIT_CPU
# on tick-sampled time, which a busy host inflates (test_log_json.py).
USED = {
    "ok": ((0, 1), (1 * MiB, 100 * MiB)),
    "error": ((0, 1), (1 * MiB, 100 * MiB)),
    "timeout": ((0, 1), (1 * MiB, 100 * MiB)),
    "killed": ((0.8, 1.4), (1 * MiB, 100 * MiB)),
    "memory": ((0, 1.4), (100 * MiB, 150 * MiB)),
}


@pytest.mark.parametrize("outcome,code", [
    ("ok", "x = 1"),
    ("error", "1 / 0"),
    ("timeout", "import time\ntime.sleep(10)"),
    ("killed", "while True:\n    pass"),
    ("memory", "import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
               "        hoard = b'\\1' * (100 << 20)\n        time.sleep(0.5)\n        os._exit(0)\n"
               "    kids.append(pid)\nfor p in kids:\n    os.waitpid(p, 0)\n"),
])
def test_each_outcome_counts_once(svc, outcome, code):
    before = scrape(svc)[1]
    r = svc.run(code, {}, timeout=20)
    assert r.status_code == 200, r.text
    after = scrape(svc)[1]
    moved = {(p, o): value(after, "codejail_executions_total", path=p, outcome=o)
             - value(before, "codejail_executions_total", path=p, outcome=o)
             for p in ("cold", "warm") for o in ("ok", "error", "timeout", "memory", "killed", "setup_failed",
                                                 "client_gone")}
    assert sum(moved.values()) == 1, moved
    (path, got), = [k for k, v in moved.items() if v == 1]
    assert got == outcome, moved
    count = "codejail_execution_duration_seconds_count"
    assert value(after, count, path=path) - value(before, count, path=path) == 1
    inf = "codejail_execution_duration_seconds_bucket"
    assert value(after, inf, path=path, le="+Inf") == value(after, count, path=path)
    code_exec = value(after, "codejail_http_requests_total", handler="code_exec", code="200") - \
        value(before, "codejail_http_requests_total", handler="code_exec", code="200")
    assert code_exec == 1
    if outcome == "memory":
        assert value(after, "codejail_oom_kills_total") > value(before, "codejail_oom_kills_total")
    # One observation each of the execution's CPU time and peak, in their
    # path's histograms and only there, of what it really used.
    for family, (low, high) in zip(("codejail_execution_cpu_seconds", "codejail_execution_peak_memory_bytes"),
                                   USED[outcome]):
        for p in ("cold", "warm"):
            n = value(after, f"{family}_count", path=p) - value(before, f"{family}_count", path=p)
            assert n == (p == path), (family, p, n)
        used = value(after, f"{family}_sum", path=path) - value(before, f"{family}_sum", path=path)
        assert low <= used <= high, (family, used)
        assert value(after, f"{family}_bucket", path=path, le="+Inf") == value(after, f"{family}_count", path=path)


def test_both_paths_count(svc):
    """The startup probe's checks ran on the cold and on the warm path
    before the service served: each path counted them."""
    _, samples = scrape(svc)
    for path in ("cold", "warm"):
        total = sum(value(samples, "codejail_executions_total", path=path, outcome=o)
                    for o in ("ok", "error", "timeout", "memory", "killed", "setup_failed", "client_gone"))
        assert total >= 10, (path, total)
        assert value(samples, "codejail_execution_duration_seconds_count", path=path) == total
        # Every execution's cgroup gave both figures (none unread).
        assert value(samples, "codejail_execution_cpu_seconds_count", path=path) == total
        assert value(samples, "codejail_execution_peak_memory_bytes_count", path=path) == total


def test_client_gone_and_in_flight(svc):
    """A client that hangs up mid-execution counts as client_gone; while it
    ran, it was in flight."""
    _, before = scrape(svc)

    def hang_up():
        try:
            svc.run("import time\ntime.sleep(3)", {}, timeout=1.0)
        except requests.exceptions.ReadTimeout:
            pass
    client = threading.Thread(target=hang_up)
    client.start()
    # While the client still waits: once it has hung up, the execution is
    # killed and may be gone before a scrape could see it.
    time.sleep(0.5)
    _, during = scrape(svc)
    client.join()
    assert value(during, "codejail_executions_in_flight") >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, after = scrape(svc)
        gone = sum(value(after, "codejail_executions_total", path=p, outcome="client_gone")
                   - value(before, "codejail_executions_total", path=p, outcome="client_gone")
                   for p in ("cold", "warm"))
        if gone:
            break
        time.sleep(0.1)
    assert gone == 1
    assert value(after, "codejail_executions_in_flight") == 0
    cpu = sum(value(after, "codejail_execution_cpu_seconds_count", path=p)
              - value(before, "codejail_execution_cpu_seconds_count", path=p) for p in ("cold", "warm"))
    assert cpu == 1


def test_other_paths_and_methods_count(svc):
    _, before = scrape(svc)
    assert requests.get(svc.url("/nowhere"), timeout=5).status_code == 404
    assert requests.post(svc.url("/metrics"), timeout=5).status_code == 405
    _, after = scrape(svc)
    for handler, code in (("other", "404"), ("metrics", "405")):
        assert value(after, "codejail_http_requests_total", handler=handler, code=code) - \
            value(before, "codejail_http_requests_total", handler=handler, code=code) == 1, (handler, code)


def test_dashboard_queries_name_served_families(svc):
    """compose/grafana-dashboard.json asks only for families a running
    service serves (with the suffixes its histograms really have)."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "compose", "grafana-dashboard.json")
    with open(path) as f:
        dash = json.load(f)
    text = requests.get(svc.url("/metrics"), timeout=5).text
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    served = set(types) | {f"{n}_{s}" for n, t in types.items() if t == "histogram" for s in ("bucket", "sum", "count")}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in re.findall(r"\bcodejail_[a-z_]+", e)}
    assert names and names <= served, sorted(names - served)
    assert {"codejail_execution_cpu_seconds_bucket", "codejail_execution_peak_memory_bytes_bucket"} <= names
