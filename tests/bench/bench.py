#!/usr/bin/python3
"""codejail performance benchmark.

    /usr/bin/python3 tests/bench/bench.py --prefix build/stage           # full run, a few minutes
    /usr/bin/python3 tests/bench/bench.py --prefix build/stage --smoke   # ~30 s: runs, numbers sane

Run as root from anywhere (the service switches executions to `nobody`).
It starts the installed service (PREFIX/bin/codejail-init -- codejail-server,
its work_dir on a tmpfs as in the compose and Kubernetes deployments)
twice, "cold" (the default configuration) and "warm" (the same plus
`warm: {enabled: true, preload: [...], pool: 4}` with compose/codejail.yaml's
preload list, read from it; reported as not available when the build refuses
that key), and measures in one run,
interleaved so that machine drift hits every subject alike:

- latency (p50/p90/p99) of a trivial execution over HTTP with keep-alive,
  one request at a time with every other subject's sample between two of
  its own (a learner's click, and the finest interleaving against drift;
  back-to-back load is the throughput part's),
  against whole-command spawns of the bare interpreter
  (`/usr/bin/python3 -I -S -c pass`), unshare, bubblewrap and firejail;
  the same behind an LMS-like prolog (random2, six) and a numpy execution,
  each also against the bare interpreter doing the same work;
- the client's own overhead (GET /health/ on the same keep-alive connection,
  and spawning /bin/true);
- throughput at 1, 2, 8 and 64 concurrent clients (own keep-alive connection
  each), against as many concurrent bare spawns, in rounds too;
- the server's VmRSS idle, under the heaviest load and after it, and after
  the largest growth requests; the PSS of what runs below it (the warm pool);
- how cost grows with the size of globals_dict (1 KB -> 1 MB) and of an
  uploaded python_lib.zip (10 KB -> 5 MB);
- course code (course_workload.py, generated): a plain check, a check
  through a 480 KB course library zip, one through a 32 KB inline library
  and a hint function, each behind an LMS-like prolog, run by the bare
  interpreter (`-I -S -c`, the same code), an emulation of the codejail
  library's per-execution work (labelled as such: the library cannot be
  installed here) and both services, interleaved; p50/p90 per request, the
  mix's sum of p50s against the bare one's, and the mix back to back at a
  few client counts.  Every answer is checked.

(Which modules the warm service should preload is preloads.py's to measure,
beside this file; `--warm-preload` runs this benchmark with another list.)

It prints Markdown tables with ratios to the bare floor and writes
results/latest.md and results/latest.png next to this file (the smoke, and a
run whose numbers are not sane, write to a temporary directory instead and
say where).  Nothing here asserts a performance figure: the targets are
reported as met or not.  The exit status is non-zero only when the run is not
sane (an execution failed, a p50 is 0 or above 5 s, a ratio is not finite, a
service did not start or stop cleanly), never because the machine is slow.
"""

import argparse
import datetime
import http.client
import importlib.util
import io
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, os.pardir, "lib"))  # cjtest, found from this file wherever it is run

import cjtest  # noqa: E402
from cjtest import EXEC_PATH, HEALTH_PATH  # noqa: E402
import course_workload as course  # noqa: E402  (beside this file)

RESULTS = os.path.join(HERE, "results")
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # no shims
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
INSANE_P50_S = 5.0

# Figures of the codejail library (subprocess per execution, AppArmor) from
# the issue: measured earlier on the same kind of machine, not in this run.
LIBRARY_P50_MS = 88.0
LIBRARY_RATE = 24.0

TARGETS = {"cold_trivial": 1.3, "warm_trivial": 0.25, "warm_numpy": 0.1, "warm_rate": 250.0,
           "warm_courselib": 0.15, "warm_mix": 0.15}


def example_preloads():
    """The `warm: preload:` list of compose/codejail.yaml (chosen by
    preloads.py's measurement), read from the file so the two cannot drift;
    a flow list on one line, as the file writes it."""
    with open(os.path.join(REPO, "compose", "codejail.yaml")) as f:
        m = re.search(r"^warm:\n(?:  .*\n)*?  preload: \[([^\]]*)\]", f.read(), re.M)
    if m is None:
        raise SystemExit("bench: compose/codejail.yaml has no `warm: preload: [...]` line")
    return [x.strip() for x in m.group(1).split(",") if x.strip()]


WARM_BLOCK = {"enabled": True, "preload": example_preloads(), "pool": 4}

LMS_CODE = "import random2 as random, six\nr = random.Random(7)\nx = r.randint(1, 10)"
NUMPY_CODE = "import numpy as np\nx = float(np.arange(1000).sum())"

FULL = dict(rounds=100, batch=1, warmup=5, clients=[1, 2, 8, 64], duration=6.0, tp_rounds=2,
            globals_sizes=[1_000, 10_000, 100_000, 1_000_000],
            zip_sizes=[10_000, 100_000, 1_000_000, 5_000_000],
            growth_rounds=5, growth_batch=5, course_rounds=30, course_clients=[1, 2, 8], course_duration=4.0)
SMOKE = dict(rounds=5, batch=1, warmup=2, clients=[1, 8], duration=2.0, tp_rounds=1,
             globals_sizes=[1_000, 10_000], zip_sizes=[10_000, 100_000],
             growth_rounds=1, growth_batch=3, course_rounds=2, course_clients=[2], course_duration=1.0)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- statistics ---------------------------------------------------------------

def pct(values, p):
    """Linear-interpolated percentile of a list (p in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ratio(a, b):
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def fmt_ms(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "n/a"
    ms = s * 1000.0
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def fmt_x(r):
    return "n/a" if r is None or math.isnan(r) else f"{r:.2f}×"


def fmt_size(n):
    for unit, div in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= div:
            v = n / div
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def fmt_kib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"


# ---- /proc --------------------------------------------------------------------

def vm_rss_kb(pid):
    return cjtest.proc_field(pid, "VmRSS")


def pss_kb(pid):
    """Proportional set size: shared pages (a zygote's, after fork) divided
    among the processes that share them, so a sum over processes is fair."""
    return cjtest.proc_field(pid, "Pss", "smaps_rollup")


def live_procs():
    """all_procs() without zombies: what holds memory."""
    return {p: st for p, st in cjtest.all_procs().items() if st.state not in ("Z", "X")}


# ---- payloads -----------------------------------------------------------------

def urlencoded(payload):
    return cjtest.form_body(payload), "application/x-www-form-urlencoded"


def multipart(payload, zip_bytes):
    """The body the Open edX client sends with a course library."""
    boundary = "cjbench" + os.urandom(16).hex()
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n".encode(),
        json.dumps(payload).encode(), b"\r\n",
        (f"--{boundary}\r\nContent-Disposition: form-data; name=\"python_lib.zip\"; "
         f"filename=\"python_lib.zip\"\r\nContent-Type: application/zip\r\n\r\n").encode(),
        zip_bytes, f"\r\n--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def padded_globals(size):
    """{"x": 1, "s000000": "<letters>", ...} whose JSON is `size` bytes."""
    rng = random.Random(size)
    g = {"x": 1}
    base = len(json.dumps(g))
    entries, cur, i = [], base, 0  # the size is tracked, not re-measured: json.dumps per entry is slow
    while cur < size:
        key = f"s{i:06d}"
        overhead = len(f', "{key}": ""')
        room = size - cur - overhead
        if room <= 0:
            break
        val = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(min(90, room)))
        entries.append((key, val))
        cur += overhead + len(val)
        i += 1
    g.update(entries)
    return g


def lib_zip(size):
    """A course library of about `size` bytes: a tiny module and incompressible
    filler, stored (not deflated), like a library shipping data files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("course_lib.py", "def answer():\n    return 42\n")
        overhead = len(buf.getvalue()) + 200  # local header + central directory of the filler
        z.writestr("course_lib_data.bin", os.urandom(max(0, size - overhead)))
    return buf.getvalue()


def answer_globals(data):
    """(the answer's globals_dict, None), or (None, why it is not a good answer)."""
    try:
        ans = json.loads(data)
    except ValueError as e:
        return None, f"answer is not JSON ({e}): {data[:200]!r}"
    if "emsg" in ans or "error" in ans:
        # The end of the message: a traceback's last line says what failed.
        return None, f"execution failed: ...{str(ans.get('emsg') or ans.get('error'))[-300:]}"
    return ans.get("globals_dict", {}), None


def check_x(expect):
    def check(data):
        g, why = answer_globals(data)
        if why:
            return why
        got = g.get("x")
        if callable(expect):
            return None if expect(got) else f"unexpected x={got!r}"
        return None if got == expect else f"x={got!r}, expected {expect!r}"
    return check


# ---- clients ------------------------------------------------------------------

SPAWN_FA = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
SPAWN_ENV = {"PATH": SYS_PATH, "LANG": "C.UTF-8", "HOME": "/root"}


def spawn_once(argv):
    """(ns, error) of one whole command, posix_spawn (vfork) to reaped."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, SPAWN_ENV, file_actions=SPAWN_FA)
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter_ns() - t0
    rc = os.waitstatus_to_exitcode(status)
    return dt, (None if rc == 0 else f"exit status {rc}")


def spawn_diagnose(argv):
    """Why a command fails: its status and first lines of stderr."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=SPAWN_ENV, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    if p.returncode == 0:
        return None
    err = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()
    return f"exit status {p.returncode}: " + (" / ".join(err[:2])[:200] if err else "no output")


class Client:
    """One keep-alive HTTP/1.1 connection (http.client: the least client work)."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.reconnects = 0

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        self.conn.connect()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, ctype=None):
        """(ns, status, body bytes, error); connecting is not timed.  A kept
        connection the server closed while idle (h2o drops idle ones after
        10 s) is reopened and the request sent again, as HTTP clients do."""
        fresh = self.conn is None
        if fresh:
            self._connect()
        headers = {"Content-Type": ctype} if ctype else {}
        t0 = time.perf_counter_ns()
        try:
            self.conn.request(method, path, body, headers)
            r = self.conn.getresponse()
            data = r.read()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected) as e:
            self.close()
            if fresh:
                return time.perf_counter_ns() - t0, None, b"", f"{type(e).__name__}: {e}"
            self.reconnects += 1
            return self.request(method, path, body, ctype)
        except (OSError, http.client.HTTPException) as e:
            dt = time.perf_counter_ns() - t0
            self.close()
            return dt, None, b"", f"{type(e).__name__}: {e}"
        dt = time.perf_counter_ns() - t0
        if r.will_close:
            self.close()
        return dt, r.status, data, None


# ---- the service --------------------------------------------------------------

class Service(cjtest.Service):
    def __init__(self, name, prefix, scratch, config):
        home = os.path.join(scratch, name)
        os.mkdir(home)
        # Execution directories on a tmpfs, as the compose file and the
        # Kubernetes manifests give the service /tmp.
        super().__init__(prefix, config, name=name, home=home,
                         init_args=["--work-tmpfs", f"{os.path.join(home, 'work')}:256m"])
        self.name = name
        self.unavailable = None  # why this variant does not exist in this build
        self.error = None  # why it failed (insane)
        self.exit_status = None
        self.client = None

    def environment(self):
        # What is measured is the configuration file's alone.
        return {k: v for k, v in os.environ.items() if not k.startswith("CODEJAIL_")}

    def paths(self):
        """How many executions (not the startup probe's) the server logged
        per path (`path=warm|cold`, when the build logs it)."""
        counts = {}
        for line in self.log().splitlines():
            if "execution slug=" in line and 'slug="startup-probe"' not in line and " path=" in line:
                p = line.split(" path=", 1)[1].split()[0]
                counts[p] = counts.get(p, 0) + 1
        return counts

    def confinement(self):
        for line in self.log().splitlines():
            if "confinement:" in line:
                return line.split("confinement:", 1)[1].strip()
        return None

    def start(self):
        try:
            super().start(timeout=START_TIMEOUT)
        except cjtest.Failure:
            text = self.log()
            if "unknown key 'warm'" in text:
                self.unavailable = "not available in this build (the server refuses the config key 'warm')"
            else:
                tail = " / ".join(text.strip().splitlines()[-3:])
                why = (f"exited with status {self.returncode}" if self.returncode is not None
                       else f"did not become healthy within {START_TIMEOUT:.0f} s")
                self.error = f"{why}: {tail[:400]}"
            return False
        self.client = Client(self.port)
        return True

    def rss(self):
        """(server VmRSS kB, [(pid, comm, PSS kB)] of the processes below it).
        Idle, those are helpers (the warm pool's python zygote and
        pre-started interpreters) and the cold path's prepared sandboxes."""
        if self.server_pid is None:
            return None, []
        procs = live_procs()
        kids = [(p, procs[p].comm, pss_kb(p)) for p in sorted(cjtest.descendants(self.server_pid, procs))]
        return vm_rss_kb(self.server_pid), [k for k in kids if k[2] is not None]

    def tree_pss(self):
        """PSS of the server and everything below it (executions, pool)."""
        if self.server_pid is None:
            return None
        total = pss_kb(self.server_pid) or 0
        for p in cjtest.descendants(self.server_pid, live_procs()):
            total += pss_kb(p) or 0
        return total

    def stop(self):
        if self.client is not None:
            self.client.close()
        try:
            self.exit_status = super().stop(timeout=STOP_TIMEOUT)
        except cjtest.Failure:
            self.exit_status = "killed (no exit within %.0f s of SIGTERM)" % STOP_TIMEOUT


# ---- subjects -----------------------------------------------------------------

class Subject:
    """Something whose latency is sampled: a command spawn or an HTTP request."""

    def __init__(self, key, label, workload, group, run, unavailable=None):
        self.key, self.label, self.workload, self.group = key, label, workload, group
        self.run = run  # () -> (ns, error)
        self.unavailable = unavailable
        self.samples = []  # seconds
        self.errors = []

    def sample(self, keep=True):
        ns, err = self.run()
        if err:
            self.errors.append(err)
        elif keep:
            self.samples.append(ns / 1e9)

    def p(self, q):
        return pct(self.samples, q) if self.unavailable is None else float("nan")


def spawn_subject(key, label, workload, group, argv, unavailable=None):
    return Subject(key, label, workload, group, lambda: spawn_once(argv), unavailable)


def http_subject(key, label, workload, group, svc, method, path, body=None, ctype=None, check=None):
    def run():
        ns, status, data, err = svc.client.request(method, path, body, ctype)
        if err:
            return ns, err
        if status != 200:
            return ns, f"HTTP {status}: {data[:200]!r}"
        if check is not None:
            why = check(data)
            if why:
                return ns, why
        return ns, None
    return Subject(key, label, workload, group, run, svc.unavailable or svc.error)


def interleave(subjects, rounds, batch, warmup, what):
    """Warm-up samples (discarded), then `rounds` rounds; in each, every
    subject takes a batch, the order rotating from round to round."""
    live = [s for s in subjects if s.unavailable is None]
    for s in live:
        for _ in range(warmup):
            s.sample(keep=False)
    for r in range(rounds):
        t0 = time.monotonic()
        k = r % len(live) if live else 0
        for s in live[k:] + live[:k]:
            for _ in range(batch):
                s.sample()
        if rounds <= 10 or (r + 1) % 10 == 0:
            log(f"  {what}: round {r + 1}/{rounds} ({time.monotonic() - t0:.1f} s)")


# ---- throughput ---------------------------------------------------------------

def throughput(job, clients, duration, make_worker_state, sampler=None):
    """`clients` threads call job(state) back to back for `duration` seconds.
    Returns rate, ok, errors, latency percentiles, client CPU share."""
    ok = [0] * clients
    errors = [[] for _ in range(clients)]
    lat = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i):
        state = make_worker_state()
        barrier.wait()
        try:
            while time.monotonic() < stop_at[0]:
                ns, err = job(state)
                if err:
                    errors[i].append(err)
                else:
                    ok[i] += 1
                    lat[i].append(ns / 1e9)
        finally:
            close = getattr(state, "close", None)
            if close:
                close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_sampling = threading.Event()
    st = None
    if sampler is not None:
        st = threading.Thread(target=sampler, args=(stop_sampling,), daemon=True)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime
    t0 = time.monotonic()
    stop_at[0] = t0 + duration
    barrier.wait()
    if st is not None:
        st.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    stop_sampling.set()
    if st is not None:
        st.join()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (ru1.ru_utime + ru1.ru_stime) - cpu0
    all_lat = [x for l in lat for x in l]
    errs = [e for l in errors for e in l]
    ncpu = len(os.sched_getaffinity(0))
    return {"clients": clients, "rate": sum(ok) / elapsed, "ok": sum(ok), "errors": len(errs),
            "first_error": errs[0] if errs else None, "elapsed": elapsed, "lat": all_lat,
            "client_cpu": client_cpu, "ncpu": ncpu}


def merge_throughput(results):
    """One point from its rounds: executions over the time they took."""
    ok = sum(r["ok"] for r in results)
    elapsed = sum(r["elapsed"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    errors = sum(r["errors"] for r in results)
    first = next((r["first_error"] for r in results if r["first_error"]), None)
    return {"clients": results[0]["clients"], "rate": ok / elapsed, "ok": ok, "errors": errors,
            "first_error": first, "elapsed": elapsed, "p50": pct(lat, 50), "p99": pct(lat, 99),
            "rounds": [r["ok"] / r["elapsed"] for r in results],
            "client_cpu_share": sum(r["client_cpu"] for r in results) / (elapsed * results[0]["ncpu"])}


# ---- the run ------------------------------------------------------------------

def machine(python):
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "kernel": platform.release(),
            "cpu": model or platform.machine(), "mem_mib": mem,
            "python": subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                     capture_output=True, text=True).stdout.strip()}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def commit():
    def git(*a):
        try:
            p = subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True, timeout=10,
                               env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
            return p.stdout.strip() if p.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    head = git("rev-parse", "--short", "HEAD")
    if head is None:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + (" (with uncommitted changes)" if dirty else "")


def peers(python):
    """The spawn subjects: (key, label, argv, tool)."""
    py = [python, "-I", "-S", "-c", "pass"]
    bwrap = ["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
             "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
             "--symlink", "usr/bin", "/bin", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    firejail = ["--quiet", "--noprofile", "--net=none", "--private", "--caps.drop=all", "--seccomp"]
    return [
        ("bare", f"bare `{os.path.basename(python)} -I -S -c pass`", py, None),
        ("unshare", "unshare -n -m -p -i -u -f + python", ["unshare", "-n", "-m", "-p", "-i", "-u", "-f"] + py, "unshare"),
        ("bwrap", "bubblewrap --unshare-all + python", ["bwrap"] + bwrap + py, "bwrap"),
        ("firejail", "firejail --noprofile --net=none --private + python", ["firejail"] + firejail + py, "firejail"),
    ]


COURSE_PEERS = (("bare", "bare `python3 -I -S -c <the same code>`"), ("library", course.LIBRARY_LABEL),
                ("cold", "service cold"), ("warm", "service warm"))


def course_bench(python, services, scratch, plan):
    """The generated course-code mix (course_workload.py), each request run by
    the bare interpreter, the codejail-library-like peer and both services,
    interleaved; then the mix back to back at a few client counts."""
    mix = course.cases()
    zip_path, dirs = course.resolve_expectations(python, mix, scratch)
    lib = course.LibraryLike(python)

    def http_check(case):
        def check(data):
            g, why = answer_globals(data)
            return why or case.check(g)
        return check

    bodies = {c.key: (multipart(c.payload(), c.zip_bytes) if c.zip_bytes is not None else urlencoded(c.payload()))
              for c in mix}
    argvs = {c.key: [python, "-I", "-S", "-c", course.bare_script(c, zip_path, dirs)] for c in mix}
    subjects = []
    for c in mix:
        subjects.append(spawn_subject(f"course_bare_{c.key}", COURSE_PEERS[0][1], c.key, "bare", argvs[c.key]))
        subjects.append(Subject(f"course_library_{c.key}", course.LIBRARY_LABEL, c.key, "library",
                                lambda c=c: lib.run(c)))
        for n, svc in services.items():
            subjects.append(http_subject(f"course_{n}_{c.key}", f"service {n}", c.key, n, svc, "POST", EXEC_PATH,
                                         *bodies[c.key], http_check(c)))
    interleave(subjects, plan["course_rounds"], 1, 1, "course code")

    class Mix:
        """A client's turn through the mix, each client starting elsewhere in it."""
        turn = 0

        def __init__(self, port=None):
            self.client = Client(port) if port else None
            self.i, Mix.turn = Mix.turn, Mix.turn + 1

        def next(self):
            self.i += 1
            return mix[self.i % len(mix)]

        def close(self):
            if self.client is not None:
                self.client.close()

    checks = {c.key: http_check(c) for c in mix}

    def http_job(st):
        c = st.next()
        ns, status, data, err = st.client.request("POST", EXEC_PATH, *bodies[c.key])
        return ns, err or (f"HTTP {status}: {data[:120]!r}" if status != 200 else checks[c.key](data))

    jobs = {"bare": (lambda st: spawn_once(argvs[st.next().key]), Mix),
            "library": (lambda st: lib.run(st.next()), Mix)}
    for n, svc in services.items():
        if svc.client is not None:
            jobs[n] = (http_job, lambda port=svc.port: Mix(port))
    tp = {}
    for c in plan["course_clients"]:
        order = list(jobs)
        for n in order[c % len(order):] + order[:c % len(order)]:
            job, state = jobs[n]
            tp[(n, c)] = merge_throughput([throughput(job, c, plan["course_duration"], state)])
            log(f"  course mix: {n:7} {c:3} clients: {tp[(n, c)]['rate']:7.1f} /s, {tp[(n, c)]['errors']} errors")
    os.unlink(zip_path)
    return {"mix": mix, "subjects": subjects, "tp": tp}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", default=os.path.join(REPO, "build", "stage"),
                    help="the installed tree (bin/codejail-init, bin/codejail-server); default build/stage")
    ap.add_argument("--smoke", action="store_true",
                    help="a ~30 s run (few samples, clients 1 and 8 for 2 s, small growth points) "
                         "that checks the benchmark runs and its numbers are sane; writes to a temp dir")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="interpreter of the sandbox and of the peers (default /usr/bin/python3)")
    ap.add_argument("--out", help="where to write latest.md and latest.png "
                                  "(default tests/bench/results, a temp dir with --smoke)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--batch", type=int, help="samples per subject per round")
    ap.add_argument("--duration", type=float, help="seconds per throughput point")
    ap.add_argument("--clients", help="comma-separated client counts, e.g. 1,2,8,64")
    ap.add_argument("--warm-preload", help="comma-separated modules the warm service preloads instead of "
                                           "compose/codejail.yaml's list (to compare lists in one sitting)")
    args = ap.parse_args()
    plan = dict(SMOKE if args.smoke else FULL)
    for k in ("rounds", "batch", "duration"):
        if getattr(args, k) is not None:
            plan[k] = getattr(args, k)
    if args.clients:
        plan["clients"] = [int(c) for c in args.clients.split(",")]

    prefix = os.path.abspath(args.prefix)
    for rel in ("bin/codejail-init", "bin/codejail-server"):
        if not os.access(os.path.join(prefix, rel), os.X_OK):
            log(f"bench: {prefix}/{rel} is missing: build and install first "
                f"(cmake --install BUILD --prefix {args.prefix})")
            return 2
    if os.geteuid() != 0:
        log("bench: run as root (the service switches executions to an unprivileged user)")
        return 2
    if not os.access(args.python, os.X_OK):
        log(f"bench: {args.python} is not executable")
        return 2
    if importlib.util.find_spec("matplotlib") is None:  # checked now, not after minutes of measuring
        log("bench: matplotlib is missing (apt-get install python3-matplotlib)")
        return 2

    scratch = tempfile.mkdtemp(prefix="cj-bench-smoke-" if args.smoke else "cj-bench-")
    os.chmod(scratch, 0o711)
    out_dir = args.out or (scratch if args.smoke else RESULTS)
    log(f"bench: {'smoke' if args.smoke else 'full'} run; scratch {scratch}")

    started = datetime.datetime.now(datetime.timezone.utc)
    info = {"machine": machine(args.python), "commit": commit(), "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "plan": plan, "prefix": prefix, "python": args.python, "smoke": args.smoke,
            "load_start": loadavg(), "warm_preload": args.warm_preload}
    problems = []

    # -- peers: available at all here? --
    spawn_subjects = []
    for key, label, argv, tool in peers(args.python):
        why = None
        if tool is not None:
            path = shutil.which(tool, path=SYS_PATH)
            if path is None:
                why = f"`{tool}` is not installed"
            else:
                argv = [path] + argv[1:]
        if why is None:
            why = spawn_diagnose(argv)
            if why is not None:
                why = f"cannot run here: {why}"
        if why is not None and key == "bare":
            log(f"bench: the bare interpreter does not run: {why}")
            return 2
        spawn_subjects.append(spawn_subject(key, label, "trivial", "spawn", argv, why))
        if why:
            log(f"  peer {key}: unavailable ({why})")
    lms_argv = [args.python, "-I", "-c", LMS_CODE]
    numpy_argv = [args.python, "-I", "-c", "import numpy"]
    for key, argv in (("bare_lms", lms_argv), ("bare_numpy", numpy_argv)):
        why = spawn_diagnose(argv)
        if why:
            problems.append(f"{key}: the bare interpreter cannot run the workload: {why}")
    spawn_subjects.append(spawn_subject("bare_lms", "bare `python3 -I -c <LMS prolog>`", "lms", "spawn", lms_argv))
    spawn_subjects.append(spawn_subject("bare_numpy", "bare `python3 -I -c \"import numpy\"`", "numpy", "spawn", numpy_argv))
    spawn_subjects.append(spawn_subject("true", "spawn `/bin/true` (client overhead, spawns)", "overhead", "overhead",
                                        [shutil.which("true", path=SYS_PATH)]))

    # -- services --
    warm_block = dict(WARM_BLOCK)
    if args.warm_preload is not None:
        warm_block["preload"] = [m for m in args.warm_preload.split(",") if m]
    base = {"python_bin": args.python, "apparmor": "if-available", "max_queue": 256}
    services = {"cold": Service("cold", prefix, scratch, base),
                "warm": Service("warm", prefix, scratch, dict(base, warm=warm_block))}
    info["configs"] = {n: s.config for n, s in services.items()}
    try:
        for name, svc in services.items():
            log(f"bench: starting the {name} service")
            if not svc.start():
                msg = svc.unavailable or svc.error
                log(f"  {name}: {msg}")
                if svc.error:
                    problems.append(f"{name} service: {svc.error}")
        if services["cold"].error:
            raise SystemExit(f"bench: the cold (default) service did not start: {services['cold'].error}\n"
                             f"bench: NOT SANE (logs in {scratch})")
        rss = {n: {} for n in services}
        time.sleep(1.0)  # let a warm pool fill
        for n, svc in services.items():
            if svc.server_pid:
                srv, kids = svc.rss()
                rss[n]["idle"] = srv
                rss[n]["helpers_idle"] = sum(k[2] for k in kids)
                rss[n]["helpers_n"] = len(kids)
                rss[n]["helpers"] = sorted({k[1] for k in kids})

        lms_x = None
        try:
            import random2
            lms_x = random2.Random(7).randint(1, 10)
        except ImportError:
            pass
        workloads = {
            "trivial": (urlencoded({"code": "x = x + 1", "globals_dict": {"x": 1}}), check_x(2)),
            "lms": (urlencoded({"code": LMS_CODE, "globals_dict": {"x": 0}}),
                    check_x(lms_x if lms_x is not None else (lambda v: isinstance(v, int) and 1 <= v <= 10))),
            "numpy": (urlencoded({"code": NUMPY_CODE, "globals_dict": {"x": 0}}), check_x(499500.0)),
        }
        http_subjects = []
        for n, svc in services.items():
            for w, ((body, ctype), check) in workloads.items():
                http_subjects.append(http_subject(f"{n}_{w}", f"service {n}", w, n, svc,
                                                  "POST", EXEC_PATH, body, ctype, check))
            http_subjects.append(http_subject(f"{n}_health", f"GET /health/ on {n} (client overhead, HTTP)",
                                              "overhead", "overhead", svc, "GET", HEALTH_PATH))
        subjects = spawn_subjects + http_subjects
        log("bench: latency")
        interleave(subjects, plan["rounds"], plan["batch"], plan["warmup"], "latency")

        # -- throughput --
        # Rounds too: each point gets duration / tp_rounds per round, the
        # client counts ascending in one round and descending in the next,
        # so drift does not land on the last (largest) point alone.
        log("bench: throughput")
        raw = {}  # (subject, clients) -> [result per round]
        trivial_body, trivial_check = workloads["trivial"]
        top = max(plan["clients"])
        bare_argv = [args.python, "-I", "-S", "-c", "pass"]

        def job(cl, body=trivial_body[0], ctype=trivial_body[1]):
            ns, status, data, err = cl.request("POST", EXEC_PATH, body, ctype)
            if err:
                return ns, err
            if status != 200:
                return ns, f"HTTP {status}: {data[:120]!r}"
            return ns, trivial_check(data)

        def rss_sampler(svc, load, tree):
            def sample(stop):
                i = 0
                while not stop.wait(0.1):
                    v = vm_rss_kb(svc.server_pid)
                    if v:
                        load.append(v)
                    if i % 5 == 0:
                        t = svc.tree_pss()
                        if t:
                            tree.append(t)
                    i += 1
            return sample

        per_round = plan["duration"] / plan["tp_rounds"]
        for rnd in range(plan["tp_rounds"]):
            levels = plan["clients"] if rnd % 2 == 0 else list(reversed(plan["clients"]))
            for c in levels:
                order = ["bare", "cold", "warm"]
                k = (c + rnd) % 3
                for n in order[k:] + order[:k]:
                    if n == "bare":
                        r = throughput(lambda st: spawn_once(bare_argv), c, per_round, lambda: None)
                    else:
                        svc = services[n]
                        if svc.client is None:
                            continue
                        sampler = None
                        if c == top:
                            sampler = rss_sampler(svc, rss[n].setdefault("load", []), rss[n].setdefault("tree", []))
                        r = throughput(job, c, per_round, lambda svc=svc: Client(svc.port), sampler)
                    raw.setdefault((n, c), []).append(r)
                    log(f"  round {rnd + 1}: {n:4} {c:3} clients: {r['rate']:7.1f} /s, {r['errors']} errors")
        tp = {key: merge_throughput(rs) for key, rs in raw.items()}
        time.sleep(1.0)
        for n, svc in services.items():
            if svc.server_pid:
                rss[n]["after"] = svc.rss()[0]

        # -- growth --
        log("bench: growth")
        growth = []
        for size in plan["globals_sizes"]:
            g = padded_globals(size)
            body = urlencoded({"code": "x = x + 1", "globals_dict": g})
            for n, svc in services.items():
                s = http_subject(f"{n}_globals_{size}", f"service {n}", "globals", n, svc, "POST", EXEC_PATH,
                                 *body, check_x(2))
                s.size, s.nominal, s.kind = len(json.dumps(g)), size, "globals"
                growth.append(s)
        for size in plan["zip_sizes"]:
            z = lib_zip(size)
            body = multipart({"code": "import course_lib\nx = course_lib.answer()", "globals_dict": {},
                              "python_path": ["python_lib.zip"]}, z)
            for n, svc in services.items():
                s = http_subject(f"{n}_zip_{size}", f"service {n}", "zip", n, svc, "POST", EXEC_PATH,
                                 *body, check_x(42))
                s.size, s.nominal, s.kind = len(z), size, "zip"
                growth.append(s)
        interleave(growth, plan["growth_rounds"], plan["growth_batch"], 1, "growth")
        log("bench: course code")
        courses = course_bench(args.python, services, scratch, plan)
        time.sleep(1.0)
        for n, svc in services.items():
            if svc.server_pid:
                rss[n]["after_growth"] = svc.rss()[0]
                rss[n]["confinement"] = svc.confinement()
                rss[n]["paths"] = svc.paths()
    finally:
        for n, svc in services.items():
            svc.stop()
    for n, svc in services.items():
        if svc.proc is not None and svc.unavailable is None and svc.error is None and svc.exit_status != 0:
            problems.append(f"{n} service: exit status {svc.exit_status} after SIGTERM (expected 0); "
                            f"log {svc.log_path}")

    # -- sanity --
    by = {s.key: s for s in subjects}
    floor = by["bare"].p(50)
    for s in subjects + growth + courses["subjects"]:
        if s.unavailable is not None:
            continue
        if s.errors:
            problems.append(f"{s.key}: {len(s.errors)} failed samples, first: {s.errors[0]}")
        p50 = s.p(50)
        if not (p50 > 0) or p50 > INSANE_P50_S:
            problems.append(f"{s.key}: p50 {p50!r} s is not sane (0 < p50 <= {INSANE_P50_S} s)")
        if s.workload != "overhead" and not math.isfinite(ratio(p50, floor)):
            problems.append(f"{s.key}: ratio to the bare floor is not finite")
    for (n, c), r in list(tp.items()) + [((f"course mix {n}", c), r) for (n, c), r in courses["tp"].items()]:
        if r["errors"]:
            problems.append(f"throughput {n} at {c} clients: {r['errors']} errors, first: {r['first_error']}")
        if not r["ok"] or not math.isfinite(r["rate"]):
            problems.append(f"throughput {n} at {c} clients: no execution completed")
    for n, svc in services.items():
        if svc.client is None:
            continue
        if svc.server_pid is None:
            problems.append(f"{n}: no codejail-server process found below codejail-init (pid {svc.proc.pid})")
        elif not rss[n].get("idle"):
            problems.append(f"{n}: no server RSS")

    info["load_end"] = loadavg()
    info["elapsed"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    report = render(info, subjects, growth, tp, rss, services, plan, problems, courses)
    print(report)
    if problems and not args.smoke and not args.out:
        out_dir = scratch  # never commit a broken run by accident
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(report)
    plot(os.path.join(out_dir, "latest.png"), info, subjects, growth, tp, rss, services, plan)
    log(f"bench: wrote {out_dir}/latest.md and {out_dir}/latest.png"
        + (f" (server logs in {scratch})" if problems or out_dir == scratch else ""))
    for n, svc in services.items():
        shutil.rmtree(svc.work_dir, ignore_errors=True)
    if problems:
        log("bench: NOT SANE:\n  " + "\n  ".join(problems))
        return 1
    if out_dir != scratch:  # a sane run whose results went elsewhere: its logs are not needed
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ---- reporting ----------------------------------------------------------------

def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(head, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    return "\n".join([row(head), row(align)] + [row(r) for r in rows])


def course_p50s(courses):
    """{(peer, case key): p50} and {peer: sum of its p50s over the mix (NaN if one is missing)}."""
    p50 = {(s.group, s.workload): s.p(50) for s in courses["subjects"]}
    sums = {n: sum(p50.get((n, c.key), float("nan")) for c in courses["mix"]) for n, _ in COURSE_PEERS}
    return p50, sums


def target_rows(by, tp, services, courses):
    floor = by["bare"].p(50)
    out = []

    def add(name, value, goal, shown, why_na=None):
        if value is None or math.isnan(value):
            out.append((name, why_na or "n/a", goal, "n/a"))
        else:
            met = value <= TARGETS[shown] if shown != "warm_rate" else value >= TARGETS[shown]
            shown_value = (f"{value:.0f} /s" if shown == "warm_rate"
                           else f"{value:.3f}×" if value < 1 else f"{value:.2f}×")
            out.append((name, shown_value, goal,
                        "yes" if met else "**no**"))
    warm_na = services["warm"].unavailable or services["warm"].error
    add("cold: trivial p50 / bare spawn p50", ratio(by["cold_trivial"].p(50), floor),
        f"≤ {TARGETS['cold_trivial']}×", "cold_trivial")
    add("warm: trivial p50 / bare spawn p50", ratio(by["warm_trivial"].p(50), floor),
        f"≤ {TARGETS['warm_trivial']}×", "warm_trivial", warm_na)
    add("warm: numpy p50 / bare `import numpy` p50", ratio(by["warm_numpy"].p(50), by["bare_numpy"].p(50)),
        f"≤ {TARGETS['warm_numpy']}×", "warm_numpy", warm_na)
    rates = [r["rate"] for (n, c), r in tp.items() if n == "warm" and not r["errors"]]
    add("warm: executions/s (best client count)", max(rates) if rates else None,
        f"≥ {TARGETS['warm_rate']:.0f} /s on 2 cores", "warm_rate", warm_na)
    p50, sums = course_p50s(courses)
    add("warm: course-library check p50 / bare, same code", ratio(p50.get(("warm", "courselib")),
        p50.get(("bare", "courselib"))), f"≤ {TARGETS['warm_courselib']}×", "warm_courselib", warm_na)
    add("warm: course-code mix, sum of p50s / bare's", ratio(sums["warm"], sums["bare"]),
        f"≤ {TARGETS['warm_mix']}×", "warm_mix", warm_na)
    return out


def render_course(courses, plan):
    """The course-code section: latency per request and for the mix, then the
    mix's throughput."""
    L = ["## Course code (generated workload, `course_workload.py`)", ""]
    p50, sums = course_p50s(courses)
    by = {(s.group, s.workload): s for s in courses["subjects"]}
    rows = []
    for c in courses["mix"]:
        cells = [c.title]
        for n, _ in COURSE_PEERS:
            s = by[(n, c.key)]
            if s.unavailable is not None:
                cells.append("—")
                continue
            bad = f", {len(s.errors)} failed" if s.errors else ""
            cells.append(f"{fmt_ms(s.p(50))} / {fmt_ms(s.p(90))}{bad}"
                         + ("" if n == "bare" else f" ({fmt_x(ratio(s.p(50), p50[('bare', c.key)]))})"))
        rows.append(cells)
    rows.append(["**the mix: sum of the p50s**"] + [
        fmt_ms(sums[n]) + ("" if n == "bare" else f" (**{fmt_x(ratio(sums[n], sums['bare']))}**)")
        for n, _ in COURSE_PEERS])
    L.append(table(["request (p50 / p90 ms, × bare same code)"] + [label for _, label in COURSE_PEERS], rows))
    L.append("")
    L.append(f"{plan['course_rounds']} interleaved rounds, one request at a time. Every request starts with "
             "an LMS-like prolog (random2 seeded as `random`, six's xrange, numpy, math and scipy imported "
             "lazily); the course-library check is sent multipart with `python_path: [\"python_lib.zip\"]`, "
             "as the LMS sends it, its `grader.check` running helpers of every module (some import numpy, "
             "scipy.special, pyparsing). Every subject's answer is checked against one reference run of the "
             "bare interpreter. The bare interpreter runs the same code with the zip on its sys.path; the "
             "library-like peer writes the code and the zip to a new temp dir and starts `python -E -B` "
             "with site per execution, as the codejail library does, without sudo or AppArmor: a floor "
             "for the library, not the library.")
    L.append("")
    rows = []
    for c in plan["course_clients"]:
        cells = [c]
        for n, _ in COURSE_PEERS:
            r = courses["tp"].get((n, c))
            cells.append("—" if r is None else f"{r['rate']:.1f}" + (f", {r['errors']} errors" if r["errors"] else ""))
        rows.append(cells)
    L.append(f"Course-code mix back to back (executions/s, {plan['course_duration']:g} s per point; each "
             "client goes round the mix):")
    L.append("")
    L.append(table(["clients"] + [label for _, label in COURSE_PEERS], rows))
    L.append("")
    return L


def render(info, subjects, growth, tp, rss, services, plan, problems, courses):
    by = {s.key: s for s in subjects}
    floor = by["bare"].p(50)
    m = info["machine"]
    L = []
    L.append("# codejail benchmark" + (" (smoke)" if info["smoke"] else ""))
    L.append("")
    L.append(f"- date: {info['date']}")
    L.append(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_mib']} MiB, kernel {m['kernel']}, "
             f"Python {m['python']} (`{info['python']}`)")
    L.append(f"- commit: {info['commit']}")
    L.append(f"- load average (1/5/15 min) at start: {info['load_start']}, at end: {info['load_end']} "
             f"(other work on the machine shows here); run took {info['elapsed']:.0f} s")
    conf = rss["cold"].get("confinement") if rss.get("cold") else None
    if conf:
        L.append(f"- service confinement: {conf}")
    preload = info["configs"]["warm"]["warm"]["preload"]
    L.append(f"- command: `/usr/bin/python3 tests/bench/bench.py --prefix <installed tree>"
             f"{' --smoke' if info['smoke'] else ''}"
             f"{'' if info['warm_preload'] is None else ' --warm-preload ' + info['warm_preload']}`; "
             f"warm preloads: {', '.join(preload) or 'none'}")
    L.append(f"- latency: {plan['rounds']} interleaved rounds × {plan['batch']} sample(s) per subject "
             f"(after {plan['warmup']} warm-up samples, discarded): one request at a time, every other "
             f"subject's samples between two of a subject's own (back-to-back load is the throughput "
             f"table's); HTTP over one keep-alive connection (http.client); spawns timed from posix_spawn "
             f"to reaped")
    L.append("")
    if problems:
        L.append("**This run is not sane:**")
        L.append("")
        L.extend(f"- {p}" for p in problems)
        L.append("")

    L.append("## Targets (same run)")
    L.append("")
    L.append(table(["target", "this run", "goal", "met"], target_rows(by, tp, services, courses),
                   ["---", "---:", "---", "---"]))
    L.append("")

    L.append("## Latency (ms)")
    L.append("")
    rows = []
    same = {"lms": by["bare_lms"].p(50), "numpy": by["bare_numpy"].p(50)}
    order = ["bare", "unshare", "bwrap", "firejail", "cold_trivial", "warm_trivial",
             "bare_lms", "cold_lms", "warm_lms", "bare_numpy", "cold_numpy", "warm_numpy",
             "true", "cold_health", "warm_health"]
    for k in order:
        s = by[k]
        if s.unavailable is not None:
            rows.append((s.label, s.workload, "—", "—", "—", "—", "—", s.unavailable))
            continue
        p50 = s.p(50)
        same_x = fmt_x(ratio(p50, same[s.workload])) if s.workload in same else ""
        n = f"{len(s.samples)}" + (f" ({len(s.errors)} failed)" if s.errors else "")
        rows.append((s.label, s.workload, fmt_ms(p50), fmt_ms(s.p(90)), fmt_ms(s.p(99)),
                     fmt_x(ratio(p50, floor)) if s.workload != "overhead" else "", same_x, n))
    L.append(table(["subject", "workload", "p50", "p90", "p99", "× bare spawn (p50)",
                    "× bare, same work (p50)", "samples"], rows,
                   ["---", "---", "---:", "---:", "---:", "---:", "---:", "---"]))
    L.append("")
    L.append("Workloads: trivial `x = x + 1` with `{\"x\": 1}` (peers: `-c pass`); lms "
             "`import random2 as random, six; r = random.Random(7); x = r.randint(1, 10)`; numpy "
             "`import numpy as np; x = float(np.arange(1000).sum())` (bare: `import numpy`). "
             "The overhead rows are what the client itself adds to every HTTP sample (a keep-alive "
             "GET of /health/, served by the event loop alone) and to every spawn sample.")
    L.append("")

    L.extend(render_course(courses, plan))

    L.append(f"## Throughput (trivial executions/s, {plan['duration']:g} s per point"
             + (f" in {plan['tp_rounds']} interleaved rounds, range of the rounds in brackets)"
                if plan["tp_rounds"] > 1 else ")"))
    L.append("")
    rows = []
    for c in plan["clients"]:
        cells = [c]
        for n in ("bare", "cold", "warm"):
            r = tp.get((n, c))
            if r is None:
                cells.append("—")
                continue
            e = f", {r['errors']} errors" if r["errors"] else ""
            spread = (f" ({min(r['rounds']):.0f}–{max(r['rounds']):.0f})" if len(r["rounds"]) > 1 else "")
            cells.append(f"{r['rate']:.0f}{spread}{e}")
        for n in ("cold", "warm"):
            r = tp.get((n, c))
            cells.append("—" if r is None else f"{fmt_ms(r['p50'])} / {fmt_ms(r['p99'])}")
        shares = [f"{tp[(n, c)]['client_cpu_share'] * 100:.0f}%" for n in ("bare", "cold", "warm") if (n, c) in tp]
        cells.append(" / ".join(shares))
        rows.append(cells)
    L.append(table(["clients", "bare spawns/s", "cold /s", "warm /s", "cold p50 / p99 ms",
                    "warm p50 / p99 ms", "client CPU (bare / cold / warm)"], rows))
    L.append("")
    L.append(f"Errors count every failed request or execution (max_queue 256, max_concurrency = "
             f"CPUs). Client CPU is this benchmark's own share of the machine's {m['nproc']} CPUs "
             f"while it loads the service: the clients compete with what they measure.")
    L.append("")

    L.append("## Memory")
    L.append("")
    rows = []
    for n in ("cold", "warm"):
        r = rss.get(n) or {}
        svc = services[n]
        if not r.get("idle"):
            rows.append((n, "—", "—", "—", "—", "—", "—", svc.unavailable or svc.error or "not measured"))
            continue
        load = r.get("load") or []
        tree = r.get("tree") or []
        helpers = (f"{fmt_kib(r.get('helpers_idle'))} ({r['helpers_n']} × {', '.join(r['helpers'])})"
                   if r.get("helpers_n") else "none")
        rows.append((n, fmt_kib(r["idle"]), fmt_kib(max(load)) if load else "n/a",
                     fmt_kib(r.get("after")), fmt_kib(r.get("after_growth")), helpers,
                     fmt_kib(max(tree)) if tree else "n/a", ""))
    big = f"{fmt_size(max(plan['globals_sizes']))} globals, {fmt_size(max(plan['zip_sizes']))} zips"
    L.append(table(["service", "server VmRSS idle", f"server VmRSS, {max(plan['clients'])} clients (max)",
                    "server VmRSS idle after load", f"server VmRSS after growth ({big})",
                    "below the server, idle (PSS)", "server and all below it under load (PSS, max)", "note"],
                   rows, ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---"]))
    L.append("")
    L.append("VmRSS of codejail-server from /proc (sampled every 0.1 s under load). Below the server "
             "idle are the sandboxes made ahead of requests: the cold path's prepared ones (cold.pool, an init and "
             "a process waiting to exec the interpreter each) and, warm, the warm pool (zygote and its clones); "
             "PSS counts "
             "pages shared after fork once, divided among their sharers.")
    L.append("")

    L.append("## Growth (p50 ms)")
    L.append("")
    for kind, title in (("globals", "globals_dict size (JSON bytes, dict of strings; returned whole)"),
                        ("zip", "python_lib.zip size (stored, incompressible filler + a tiny module it imports)")):
        rows = []
        sizes = sorted({s.nominal for s in growth if s.kind == kind})
        first = {}
        for size in sizes:
            cells = [fmt_size(size)]
            for n in ("cold", "warm"):
                s = next((g for g in growth if g.kind == kind and g.nominal == size and g.group == n), None)
                if s is None or s.unavailable is not None:
                    cells += ["—", "—"]
                    continue
                p50 = s.p(50)
                first.setdefault(n, p50)
                cells += [fmt_ms(p50), fmt_x(ratio(p50, first[n]))]
            rows.append(cells)
        L.append(f"{title}:")
        L.append("")
        L.append(table([kind, "cold p50", "cold × smallest", "warm p50", "warm × smallest"], rows))
        L.append("")

    L.append("## Notes")
    L.append("")
    L.append(f"- The codejail library itself (subprocess per execution, AppArmor) cannot be installed "
             f"here; it was measured earlier at {LIBRARY_P50_MS:.0f} ms p50 per trivial execution and "
             f"{LIBRARY_RATE:.0f} executions/s on 2 cores — not in this run, quoted for scale only.")
    warm = services["warm"]
    if warm.unavailable:
        L.append(f"- warm: {warm.unavailable}.")
    paths = (rss.get("warm") or {}).get("paths")
    if warm.server_pid and paths:
        total = sum(paths.values())
        L.append(f"- warm: the server logged {paths.get('warm', 0)} of {total} executions on the warm path"
                 + (f" ({', '.join(f'{v} {k}' for k, v in sorted(paths.items()) if k != 'warm')})"
                    if len(paths) > 1 or 'warm' not in paths else "") + ".")
    if warm.server_pid and not (rss.get("warm") or {}).get("helpers_n"):
        L.append("- warm: the build accepts the `warm` key, but no python helper process of the server "
                 "was seen below the server at idle (no pre-started pool?): its rows may measure the cold path.")
    for s in subjects:
        if s.unavailable and s.group == "spawn":
            L.append(f"- {s.key}: unavailable — {s.unavailable}.")
    L.append("- Peers are whole command spawns measured from this process; the service is measured "
             "over HTTP, so its rows include the client overhead shown above.")
    loads = []
    for k in ("load_start", "load_end"):
        try:
            loads.append(float(info[k].split()[0]))
        except (ValueError, IndexError, KeyError):
            pass
    if loads and max(loads) > 0.5 * m["nproc"]:
        L.append(f"- The machine was busy (1-min load up to {max(loads):.1f} on {m['nproc']} CPUs): "
                 "every figure is inflated, the service's more than a bare spawn's (an execution is "
                 "several processes handing off to each other, each hand-off waits for a CPU). "
                 "Compare ratios from a quiet machine.")
    L.append("")
    return "\n".join(L)


def plot(path, info, subjects, growth, tp, rss, services, plan):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {s.key: s for s in subjects}
    floor = by["bare"].p(50)
    colors = {"spawn": "#8c8c8c", "cold": "#1f77b4", "warm": "#d62728", "overhead": "#bbbbbb"}
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    m = info["machine"]
    fig.suptitle(f"codejail benchmark{' (smoke)' if info['smoke'] else ''} — {info['date']}, "
                 f"{m['nproc']} CPUs, kernel {m['kernel']}, commit {info['commit']}, "
                 f"load {info['load_start'].split()[0]} → {info['load_end'].split()[0]}", fontsize=11)

    def bars(ax, keys, names, ref, title, ref_label):
        xs, h, lo, hi, cols = [], [], [], [], []
        for i, k in enumerate(keys):
            s = by[k]
            xs.append(i)
            if s.unavailable is not None:
                h.append(0)
                lo.append(0)
                hi.append(0)
                cols.append("white")
                continue
            p50 = s.p(50) * 1000
            h.append(p50)
            lo.append(0)
            hi.append(s.p(90) * 1000 - p50)
            cols.append(colors.get(s.group, "#8c8c8c"))
        ax.bar(xs, h, color=cols, edgecolor="black", linewidth=0.5,
               yerr=[lo, hi], capsize=3, error_kw={"elinewidth": 0.8})
        p99 = [0 if by[k].unavailable is not None else by[k].p(99) * 1000 for k in keys]
        top = max(p99 + [1])
        for i, k in enumerate(keys):
            s = by[k]
            if s.unavailable is not None:
                ax.text(i, top * 0.03, "n/a", ha="center", va="bottom", fontsize=8, rotation=90)
                continue
            ax.plot([i], [p99[i]], marker="_", color="black", markersize=10)
            if ref is not None:
                ax.text(i, p99[i] + top * 0.02, fmt_x(ratio(s.p(50), ref)), ha="center", va="bottom",
                        fontsize=8, fontweight="bold")
        ax.set_xticks(xs)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("ms (bar p50, whisker p90, tick p99)")
        ax.set_title(title + f"\nratios: p50 × {ref_label}", fontsize=10)
        ax.set_ylim(0, top * 1.12)

    bars(axes[0][0], ["bare", "unshare", "bwrap", "firejail", "cold_trivial", "warm_trivial"],
         ["bare", "unshare", "bwrap", "firejail", "service cold", "service warm"],
         floor, "Trivial execution", "bare spawn")
    ax = axes[0][1]
    keys = ["bare_lms", "cold_lms", "warm_lms", "bare_numpy", "cold_numpy", "warm_numpy"]
    # two reference floors: draw each half against its own bare
    bars(ax, keys, ["bare LMS", "cold LMS", "warm LMS", "bare numpy", "cold numpy", "warm numpy"],
         None, "LMS prolog and numpy", "bare, same work")
    top = max([0 if by[k].unavailable else by[k].p(99) * 1000 for k in keys] + [1])
    for i, k in enumerate(keys):
        s = by[k]
        if s.unavailable is None:
            ref = by["bare_lms"].p(50) if i < 3 else by["bare_numpy"].p(50)
            ax.text(i, s.p(99) * 1000 + top * 0.02, fmt_x(ratio(s.p(50), ref)), ha="center", va="bottom",
                    fontsize=8, fontweight="bold")

    ax = axes[0][2]
    offsets = {"bare": (-9, 5), "cold": (0, -11), "warm": (9, 5)}
    for n, label in (("bare", "bare spawns"), ("cold", "service cold"), ("warm", "service warm")):
        pts = [(c, tp[(n, c)]["rate"]) for c in plan["clients"] if (n, c) in tp]
        if pts:
            color = colors.get(n, colors["spawn"])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, label=label)
            for c, r in pts:
                ax.annotate(f"{r:.0f}", (c, r), textcoords="offset points", xytext=offsets[n],
                            ha="center", fontsize=7, color=color)
    ax.axhline(TARGETS["warm_rate"], color=colors["warm"], linestyle="--", linewidth=0.8,
               label=f"warm target {TARGETS['warm_rate']:.0f}/s")
    ax.axhline(LIBRARY_RATE, color="black", linestyle=":", linewidth=0.8,
               label=f"codejail library {LIBRARY_RATE:.0f}/s (earlier, not this run)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(plan["clients"])
    ax.set_xticklabels([str(c) for c in plan["clients"]])
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("executions/s")
    ax.set_ylim(0, max([r["rate"] for r in tp.values()] + [TARGETS["warm_rate"]]) * 1.4)
    rounds = f", {plan['tp_rounds']} rounds" if plan["tp_rounds"] > 1 else ""
    ax.set_title(f"Throughput (trivial, {plan['duration']:g} s per point{rounds})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=2)

    for ax, kind, title in ((axes[1][0], "globals", "globals_dict size"),
                            (axes[1][1], "zip", "python_lib.zip size")):
        for n in ("cold", "warm"):
            pts = sorted((g.size, g.p(50) * 1000) for g in growth
                         if g.kind == kind and g.group == n and g.unavailable is None)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[n],
                        label=f"service {n}")
                for sz, v in pts:
                    ax.annotate(f"{v:.1f}", (sz, v), textcoords="offset points", xytext=(0, 5),
                                ha="center", fontsize=7)
        ax.axhline(floor * 1000, color=colors["spawn"], linestyle="--", linewidth=0.8, label="bare spawn p50")
        ax.set_xscale("log")
        ax.set_xlabel("bytes")
        ax.set_ylabel("p50 ms")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Growth with {title}", fontsize=10)
        ax.legend(fontsize=7)

    ax = axes[1][2]
    labels = ["server idle", f"server, {max(plan['clients'])} clients (max)", "server idle after load",
              "server after growth", "below the server idle (PSS)"]
    width = 0.38
    for j, n in enumerate(("cold", "warm")):
        r = rss.get(n) or {}
        if not r.get("idle"):
            why = (services[n].unavailable or services[n].error or "n/a").split(" (")[0]
            ax.text(0.5, 0.9 - 0.1 * j, f"{n}: {why}"[:70],
                    transform=ax.transAxes, ha="center", fontsize=7)
            continue
        vals = [r.get("idle"), max(r["load"]) if r.get("load") else None, r.get("after"), r.get("after_growth"),
                r.get("helpers_idle")]
        xs = [i + (j - 0.5) * width for i in range(len(labels))]
        ax.bar(xs, [(v or 0) / 1024 for v in vals], width, color=colors[n], label=f"service {n}")
        for x, v in zip(xs, vals):
            ax.text(x, (v or 0) / 1024, "none" if not v else f"{v / 1024:.1f}", ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=15, fontsize=8)
    ax.set_ylabel("MiB (server: VmRSS; below it: PSS)")
    ax.set_title("Memory", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)

    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
