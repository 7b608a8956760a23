"""Soak: hostile load against the cold and the warm path at once, then
nothing may be left but the pools' bounded sets, and the server may not grow.

Two services under codejail-init (cjtest.Service, as every black-box test
starts them): one cold, one warm (with a small warm.max_clones, so warm
interpreters are replaced under the load too).  Each round, 64 client threads
run the same fixed mix, alternating between the two services: exact-answer
executions (one with python_lib.zip on sys.path) interleaved with fork,
memory, output and stderr bombs, busy loops and sleeps past REALTIME, zip
bombs in python_lib.zip, disconnects mid-execution and mid-body, and
malformed bodies (bad JSON, bad form, bad multipart, bodies past
max_body_bytes).  Every request only goes to 127.0.0.1; the count is fixed
(64 x 12 a round, two rounds) and each request has a timeout.

After each round, at idle: /health/ 200; every answer as expected and no 5xx;
the service's processes, execution directories, cgroups and open fds back to
their pool-bounded sets; after the second round the server's anonymous RSS
no larger than after the first plus RSS_MARGIN.  Then both stop with nothing left.
"""

import collections
import io
import json
import os
import random
import re
import sys
import threading
import time
import zipfile

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
# No conftest.py here: `import conftest` below must be the integration tier's.
sys.path[:0] = [os.path.join(HERE, os.pardir, "lib"), os.path.join(HERE, os.pardir, "integration")]

import pytest  # noqa: E402

import cjtest  # noqa: E402
import conftest  # noqa: E402,F401  (the integration tier's: this process becomes the subreaper)
from test_warm import stop_warm_service, warm_service  # noqa: E402  (a service with its own cgroup parent)

CLIENTS = 64
PER_CLIENT = 12  # requests per client per round
ROUNDS = 2
REQUEST_TIMEOUT = 60.0
IDLE_TIMEOUT = 30.0
# What the allocator kept after one round is reused by the next; the
# margin is what the peak held at once may differ by between rounds
# (measured here over 8 pairs of rounds: -1.5 to +1.3 MiB of anonymous
# RSS, with no trend).  A leak of more than 2.7 KiB per request (768 a
# round) exceeds it.
RSS_MARGIN = 2 << 20

GOOD_CONTEXT = "course-v1:soak+exact+answers"
MAX_CONCURRENCY = 4
COLD_POOL = 2
WARM_POOL = 2
COMMON = {
    "max_concurrency": MAX_CONCURRENCY,
    # 64 clients hold at most 64 requests at once, and a disconnected
    # client's queued request is dropped: 256 can never fill, so any 503
    # is a defect, not load.
    "max_queue": 256,
    "max_body_bytes": 1 << 20,
    # Capped output is still the cap's code path; a smaller cap keeps what
    # a round's peak holds at once (answers with stderr) small against
    # RSS_MARGIN.
    "max_output_bytes": 64 << 10,
    "limits": {"CPU": 1, "REALTIME": 1, "VMEM": 256 << 20, "FSIZE": 1 << 20, "NPROC": 15},
    # The bombs run to REALTIME at full CPU, so an execution that must be
    # answered exactly may wait for a CPU far longer than it runs: it gets
    # the room a course's override would give it.
    "limit_overrides": {GOOD_CONTEXT: {"CPU": 5, "REALTIME": 10}},
    "cold": {"pool": COLD_POOL},
}
CONFIGS = {
    "cold": dict(COMMON),
    "warm": dict(COMMON, warm={"enabled": True, "pool": WARM_POOL, "preload": ["random2", "six", "numpy"],
                               "max_clones": 100}),
}


def cgroup_bound(name):
    """Execution cgroups a service may hold: the idle pool's cap
    (main.c: twice max_concurrency plus the pools) and one per waiting
    sandbox."""
    pools = COLD_POOL + (WARM_POOL if name == "warm" else 0)
    return 2 * (MAX_CONCURRENCY + pools) + pools


@pytest.fixture
def prefix():
    return cjtest.installed_prefix()  # a missing installed tree fails, never skips


# ---- the work -----------------------------------------------------------

def zip_bytes(files, level=9):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in files.items():
            if isinstance(data, int):  # that many zero bytes, streamed
                with z.open(name, "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(data >> 20):
                        f.write(chunk)
            else:
                z.writestr(name, data)
    return buf.getvalue()


COURSE = "def f(n):\n    return sum(i * i for i in range(n))\n"
# 320 MiB of zeros in ~320 KB: past VMEM in memory, past FSIZE on disk.
BOMB = zip_bytes({"course.py": COURSE, "bomb.bin": 320 << 20})
assert len(BOMB) < 400 << 10, len(BOMB)
# The server holds a body until its answer (queued jobs too): so that each
# round's peak of bomb bodies held at once is the same (and RSS can be
# compared), at most this many are in flight; 64 clients keep it full.
BOMBS_AT_ONCE = threading.BoundedSemaphore(4)
GOOD_ZIP = zip_bytes({"course.py": COURSE})

KILLED = re.compile(r"with status code: -(9|24)$")


class Outcome(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Outcome(what)


def body_of(r):
    cjtest.assert_json_response(r)
    return r.json()


def run(svc, code, globals_dict, **kw):
    payload = {"code": code, "globals_dict": globals_dict}
    files = kw.pop("files", None)
    payload.update(kw)
    r = requests.post(svc.url(cjtest.EXEC_PATH), data={"payload": json.dumps(payload)}, files=files,
                      timeout=REQUEST_TIMEOUT)
    return r.status_code, body_of(r)


def failed_with(svc, code, pattern, files=None, **kw):
    status, body = run(svc, code, {"k": 1}, files=files, **kw)
    check(status == 200, f"status {status}: {body}")
    check(body.get("globals_dict") == {"k": 1}, body)
    check(re.search(pattern, body.get("emsg", "")), body.get("emsg", "")[-300:])
    return status


def good(svc, rng):
    a, b = rng.randrange(-10 ** 6, 10 ** 6), rng.randrange(1, 10 ** 6)
    s = "".join(rng.choice("abcé😀\"\\\n") for _ in range(rng.randrange(0, 40)))
    n = rng.randrange(100, 400)
    status, body = run(svc, "x = a * b + len(s)\ny = [a, b, s]\nz = 3 ** n", {"a": a, "b": b, "s": s, "n": n},
                       limit_overrides_context=GOOD_CONTEXT)
    check(status == 200, f"status {status}: {body}")
    want = {"a": a, "b": b, "s": s, "n": n, "x": a * b + len(s), "y": [a, b, s], "z": 3 ** n}
    check(body == {"globals_dict": want}, f"wrong answer: {body}")
    return status


def good_zip(svc, rng):
    n = rng.randrange(10, 1000)
    status, body = run(svc, "import course\nr = course.f(n)", {"n": n}, python_path=["python_lib.zip"],
                       files={"python_lib.zip": ("python_lib.zip", GOOD_ZIP)}, limit_overrides_context=GOOD_CONTEXT)
    check(status == 200 and body == {"globals_dict": {"n": n, "r": sum(i * i for i in range(n))}}, body)
    return status


def fork_bomb(svc, rng):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    return failed_with(svc, code, KILLED.pattern)


def memory_bomb(svc, rng):
    return failed_with(svc, "l = []\nwhile True:\n    l.append(bytearray(16 << 20))", r"MemoryError|status code: -9$")


def output_bomb(svc, rng):
    return failed_with(svc, "while True:\n    print('x' * 4096)", KILLED.pattern)


def stderr_bomb(svc, rng):
    status = failed_with(svc, "import sys\nwhile True:\n    sys.stderr.write('e' * 4096)", KILLED.pattern)
    return status


def busy_loop(svc, rng):
    return failed_with(svc, "while True:\n    pass", KILLED.pattern)


def sleeper(svc, rng):
    return failed_with(svc, "import time\ntime.sleep(30)", r"with status code: -9$")


def zip_bomb_memory(svc, rng):
    code = "import zipfile\ndata = zipfile.ZipFile('python_lib.zip').read('bomb.bin')"
    with BOMBS_AT_ONCE:
        return failed_with(svc, code, r"MemoryError|status code: -(9|24)$", python_path=["python_lib.zip"],
                           files={"python_lib.zip": ("python_lib.zip", BOMB)})


def zip_bomb_disk(svc, rng):
    code = "import zipfile\nzipfile.ZipFile('python_lib.zip').extract('bomb.bin', 'tmp')"
    with BOMBS_AT_ONCE:
        return failed_with(svc, code, r"File too large|No space left|status code: -(9|24)$",
                           files={"python_lib.zip": ("python_lib.zip", BOMB)})


def raw_post(svc, body, ctype="application/x-www-form-urlencoded", length=None):
    head = (f"POST {cjtest.EXEC_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n").encode()
    return head + body


def expect_raw(svc, data, status, key, text):
    got, raw = cjtest.raw_request(svc.port, data, timeout=REQUEST_TIMEOUT)
    check(got == status, f"status {got}, expected {status}: {raw[:300]!r}")
    headers, body = cjtest.response_parts(raw)
    check(headers.get("content-type", "").startswith("application/json"), headers)
    check(text in json.loads(body)[key], body)
    return got


def bad_json(svc, rng):
    data = raw_post(svc, b"payload=%7B%22code%22%3A+1%2C")
    return expect_raw(svc, data, 400, "error", "Unable to parse payload JSON")


def bad_form(svc, rng):
    return expect_raw(svc, raw_post(svc, b"payload=%ZZ%%&&=&"), 400, "error", "Unable to parse payload JSON")


def bad_multipart(svc, rng):
    data = raw_post(svc, b"--XYZ\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n{}",
                    "multipart/form-data; boundary=XYZ")
    return expect_raw(svc, data, 400, "detail", "Multipart form parse error")


def huge_body(svc, rng):
    data = raw_post(svc, b"payload=" + b"a" * (2 << 20))
    return expect_raw(svc, data, 413, "error", "Request Entity Too Large")


def disconnect_mid_execution(svc, rng):
    payload = json.dumps({"code": "import time\ntime.sleep(0.5)\nx = 1", "globals_dict": {}})
    body = ("payload=" + requests.utils.quote(payload)).encode()
    s = __import__("socket").create_connection(("127.0.0.1", svc.port), timeout=5)
    try:
        s.sendall(raw_post(svc, body))
        time.sleep(rng.uniform(0.05, 0.3))  # queued or running: either way the client is gone
    finally:
        s.close()
    return "gone"


def disconnect_mid_body(svc, rng):
    s = __import__("socket").create_connection(("127.0.0.1", svc.port), timeout=5)
    try:
        s.sendall(raw_post(svc, b"payload=" + b"b" * 1000, length=100000))
        time.sleep(0.05)
    finally:
        s.close()
    return "gone"


GOOD = [good, good, good, good_zip]
MALFORMED = [bad_json, bad_form, bad_multipart, huge_body]
DISCONNECT = [disconnect_mid_execution, disconnect_mid_body]
QUICK_HOSTILE = [memory_bomb, zip_bomb_memory, zip_bomb_disk]
LONG_HOSTILE = [fork_bomb, output_bomb, stderr_bomb, busy_loop, sleeper]


def schedule(client):
    """The same mix every round: 6 exact answers, 2 malformed bodies, a
    disconnect, 2 quick bombs and one that runs to REALTIME, shuffled."""
    rng = random.Random(client)
    work = GOOD + GOOD[:2] + [rng.choice(MALFORMED), rng.choice(MALFORMED), rng.choice(DISCONNECT),
                              rng.choice(QUICK_HOSTILE), rng.choice(QUICK_HOSTILE),
                              LONG_HOSTILE[client % len(LONG_HOSTILE)]]
    assert len(work) == PER_CLIENT
    rng.shuffle(work)
    return work


def one_round(services, rnd):
    outcomes = collections.Counter()
    failures = []
    lock = threading.Lock()

    def client(i):
        rng = random.Random(f"{rnd}-{i}")
        for k, work in enumerate(schedule(i)):
            name = ("cold", "warm")[(i + k) % 2]
            try:
                status = work(services[name], rng)
            except Exception as e:  # an unexpected answer, or no answer at all
                status = "failed"
                with lock:
                    failures.append(f"{name} {work.__name__}: {type(e).__name__}: {e}"[:600])
            with lock:
                outcomes[(name, work.__name__, status)] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(REQUEST_TIMEOUT * PER_CLIENT)
    assert not any(t.is_alive() for t in threads), "a client did not finish"
    return outcomes, failures


# ---- what a service holds ---------------------------------------------------

def server_fds(svc):
    """(fds not of execution cgroups, {execution cgroup: its fds})."""
    other, cgroups = [], collections.defaultdict(list)
    for fd in os.listdir(f"/proc/{svc.server_pid}/fd"):
        try:
            target = os.readlink(f"/proc/{svc.server_pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # the listing's own fd
        m = re.match(r"/sys/fs/cgroup/(?:[^/]+/)?[^/]+/(exec-[^/]+)", target)
        if m:
            cgroups[m.group(1)].append(target)
        else:
            other.append(re.sub(r"\[\d+\]", "", target))  # the kind: socket, pipe, file
    return sorted(other), dict(cgroups)


def cgroup_dirs(svc):
    return cjtest.cgroup_dirs(svc.config["cgroup_parent"] + "/exec-*/")


def busy_cgroups(svc):
    busy = set()
    for d in cgroup_dirs(svc):
        with open(os.path.join(d, "cgroup.procs")) as f:
            if f.read().strip():
                busy.add(os.path.basename(d.rstrip("/")))
    return busy


def processes(svc):
    """The service's processes, by what they are."""
    kinds = collections.Counter()
    for pid in cjtest.descendants(svc.proc.pid):
        st = cjtest.proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        kinds["uid %s %s" % (cjtest.proc_uid(pid), "zygote" if "warm_zygote.py" in cjtest.proc_cmdline(pid)
                                else os.path.basename(cjtest.proc_cmdline(pid).split(" ")[0]))] += 1
    return kinds


def rss_kib(svc):
    """The server's anonymous RSS (its heap and stacks: where a leak
    grows), and its file-backed RSS (code of the binary and libraries,
    paged in as paths are first taken: shown, not compared)."""
    with open(f"/proc/{svc.server_pid}/status") as f:
        status = f.read()
    return tuple(int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) for k in ("RssAnon", "RssFile"))


def settled(svc, baseline):
    """Idle with full pools: the processes, directories and non-cgroup fds
    of the baseline exactly, cgroups within their bound."""
    other, cgroups = server_fds(svc)
    return (processes(svc) == baseline["procs"] and len(svc.work_dir_entries()) == svc.pool
            and other == baseline["fds"] and len(busy_cgroups(svc)) <= svc.pool)


def snapshot(svc):
    other, cgroups = server_fds(svc)
    return {"procs": processes(svc), "fds": other, "cgroups": cgroups, "rss": rss_kib(svc)}


def wait_idle(name, svc, baseline):
    ok = cjtest.wait_for(lambda: settled(svc, baseline), IDLE_TIMEOUT, interval=0.2)
    now = snapshot(svc)
    assert ok, (f"{name}: not back to its pools within {IDLE_TIMEOUT}s: processes {dict(now['procs'])} "
                f"(baseline {dict(baseline['procs'])}), work_dir {svc.work_dir_entries()}, "
                f"fds {collections.Counter(now['fds'])} (baseline {collections.Counter(baseline['fds'])}), "
                f"busy cgroups {sorted(busy_cgroups(svc))}\n{svc.log()[-4000:]}")
    # Every execution cgroup the server holds exists, with two fds for each
    # hierarchy it is in (v1: memory, pids, cpu and cpuacct where mounted
    # apart, a directory and cgroup.procs each; v2: its directory, and
    # memory.peak kept open for its reset), and no more of them than the
    # pool keeps.
    hierarchies = collections.Counter(os.path.basename(d.rstrip("/")) for d in cgroup_dirs(svc))
    dirs = set(hierarchies)
    assert set(now["cgroups"]) == dirs, (sorted(now["cgroups"]), sorted(dirs))
    assert len(dirs) <= cgroup_bound(name), (name, len(dirs), cgroup_bound(name))
    assert all(len(v) <= 2 * hierarchies[k] for k, v in now["cgroups"].items()), (hierarchies, now["cgroups"])
    status, body = svc.health()
    assert (status, body) == (200, {"status": "OK"}), (name, status, body)
    return now


def test_soak(prefix):
    t0 = time.monotonic()
    services = {}
    try:
        for name, config in CONFIGS.items():
            services[name] = warm_service(prefix, config, f"soak{name}")
        # Pools full, the warm path already warm: the baseline.
        for svc in services.values():
            for _ in range(3):
                assert body_of(requests.post(svc.url(cjtest.EXEC_PATH), data={"payload": json.dumps(
                    {"code": "x = 1", "globals_dict": {}})}, timeout=REQUEST_TIMEOUT))["globals_dict"] == {"x": 1}
        baseline = {}
        for name, svc in services.items():
            cjtest.wait_for(lambda: len(svc.work_dir_entries()) == svc.pool and len(busy_cgroups(svc)) <= svc.pool,
                            IDLE_TIMEOUT)
            time.sleep(0.5)
            baseline[name] = snapshot(svc)
        rss = collections.defaultdict(list)
        totals = collections.Counter()
        for rnd in range(ROUNDS):
            started = time.monotonic()
            outcomes, failures = one_round(services, rnd)
            took = time.monotonic() - started
            totals.update(outcomes)
            statuses = collections.Counter(status for (_, _, status), n in outcomes.items() for _ in range(n))
            print(f"round {rnd + 1}: {sum(outcomes.values())} requests in {took:.1f} s: {dict(statuses)}")
            for key in sorted(outcomes, key=str):
                print(f"  {key}: {outcomes[key]}")
            assert not failures, "\n".join(failures[:20])
            assert sum(outcomes.values()) == CLIENTS * PER_CLIENT
            assert not [s for s in statuses if isinstance(s, int) and s >= 500], statuses
            for name, svc in services.items():
                now = wait_idle(name, svc, baseline[name])
                rss[name].append(now["rss"])
                print(f"  {name}: RSS (anonymous, file) {now['rss']} KiB, fds {len(now['fds'])} + "
                      f"{sum(len(v) for v in now['cgroups'].values())} of {len(now['cgroups'])} cgroups, "
                      f"processes {dict(now['procs'])}")
        for name, svc in services.items():
            print(f"{name}: RSS (anonymous, file) baseline {baseline[name]['rss']} KiB, after rounds {rss[name]} KiB")
            (anon1, _), (anon2, _) = rss[name][-2:]
            assert anon2 <= anon1 + RSS_MARGIN // 1024, (name, rss[name])
            log = svc.log()
            assert "internal error" not in log and "execution failed" not in log, log[-4000:]
        warm_log = services["warm"].log()
        replaced = warm_log.count("warm interpreter replaced")
        print(f"warm interpreter replaced {replaced} times")
        assert replaced >= 2, warm_log[-4000:]
        print(f"soak: {sum(totals.values())} requests, {time.monotonic() - t0:.1f} s")
    finally:
        errors = [e[:4000] for e in cjtest.failures(stop_warm_service, services.values())]
        assert not errors, "\n\n".join(errors)
