"""The warm path: executions cloned from an interpreter that imported the
preloads once.  Isolation and answers must equal the cold path's; nothing one
execution does may reach the next.

A warm service always holds confined clones waiting for work (processes of
the sandbox user, prepared execution directories), so it is not registered
with the per-test idle checks of conftest.py: its own fixture checks that
stopping it leaves nothing (no process, no directory, no cgroup).
"""

import os
import re
import shutil
import signal
import time

import pytest

import cjtest
from cjtest import ok_globals
import conftest

WARM = {"warm": {"enabled": True, "pool": 2, "preload": ["numpy", "six", "random2"]}}


def warm_service(prefix, config, name):
    """A warm service with a cgroup parent of its own: stop_warm_service
    checks that nothing of it is left."""
    parent = f"codejail-{name}test-{os.getpid()}"
    svc = cjtest.Service(prefix, dict(config, cgroup_parent=parent), name=name)
    svc.start()
    conftest._STARTED_PIDS.add(svc.proc.pid)  # ours: not a process that escaped a service
    return svc


def stop_warm_service(svc):
    """Stops it: exit 0, and no process, directory or cgroup left."""
    parent = svc.config["cgroup_parent"]
    procs_before = cjtest.descendants(svc.proc.pid)
    svc.stop()
    assert svc.returncode == 0, svc.log()
    assert os.listdir(svc.work_dir) == [], os.listdir(svc.work_dir)
    alive = [p for p in procs_before if os.path.exists(f"/proc/{p}")]
    assert alive == [], [cjtest.describe(p) for p in alive]
    left = cjtest.cgroup_dirs(f"{parent}/*/")
    assert left == [], left
    for d in cjtest.cgroup_dirs(parent):
        os.rmdir(d)
    shutil.rmtree(svc.home, ignore_errors=True)  # kept when a check above failed: it holds the log


@pytest.fixture(scope="module")
def warm(prefix):
    svc = warm_service(prefix, WARM, "warm")
    try:
        yield svc
    finally:
        stop_warm_service(svc)


def warm_runs(svc):
    """Requests' executions on the warm path (not a python_lib.zip's compile run)."""
    return len(re.findall(r'execution slug=(?!"compile-run")\S* .*path=warm', svc.log()))


def test_probe_checks_the_warm_path_too(warm):
    log = warm.log()
    names = re.findall(r"startup check '([^']+)' passed", log)
    warm_names = re.findall(r"startup check '([^']+)' \(warm\) passed", log)
    assert warm_names and sorted(warm_names) == sorted(names), log
    assert "(warm) failed" not in log


def test_executions_run_warm(warm):
    before = warm_runs(warm)
    assert ok_globals(warm.run("x = x + 1", {"x": 16})) == {"x": 17}
    assert warm_runs(warm) == before + 1, warm.log()


def test_preloaded_module_is_usable(warm):
    g = ok_globals(warm.run("import numpy as np\nx = float(np.arange(1000).sum())", {}))
    assert g == {"x": 499500.0}


def test_nothing_carries_over_between_executions(warm):
    patch = ("import six, sys, builtins\n"
             "six.CODEJAIL_PATCHED = 1\n"
             "sys.modules['codejail_marker'] = six\n"
             "builtins.codejail_marker = 1\n"
             "sys.path.insert(0, '/nowhere')\n"
             "done = 1")
    assert ok_globals(warm.run(patch, {})) == {"done": 1}
    look = ("import six, sys, builtins\n"
            "a = hasattr(six, 'CODEJAIL_PATCHED')\n"
            "b = 'codejail_marker' in sys.modules\n"
            "c = hasattr(builtins, 'codejail_marker')\n"
            "d = '/nowhere' in sys.path")
    for _ in range(3):
        assert ok_globals(warm.run(look, {})) == {"a": False, "b": False, "c": False, "d": False}


def test_random_state_is_reseeded(warm):
    code = ("import random, random2, numpy\n"
            "r = random.random()\nr2 = random2.random()\nn = float(numpy.random.random())\n"
            "g = float(numpy.random.standard_normal())\ng2 = float(numpy.random.standard_normal())")
    seen = [ok_globals(warm.run(code, {})) for _ in range(4)]
    for key in ("r", "r2", "n", "g", "g2"):
        values = [g[key] for g in seen]
        assert len(set(values)) == len(values), (key, values)


def test_vmem_leaves_the_code_the_room_it_has_cold(warm, service):
    """A clone starts with the warm interpreter's address space (its
    preloads mapped): its code gets VMEM on top of that, as a cold
    interpreter's code does, so what maps within VMEM cold does warm too
    (OpenBLAS, mapping a buffer per calling thread, spun otherwise); and
    VMEM still stops it beyond."""
    fits = "import mmap\nm = mmap.mmap(-1, 480 << 20)\nok = len(m)\n"  # VMEM 512 MiB: about 500 free cold
    for svc in (warm, warm, service):
        assert ok_globals(svc.run(fits, {})) == {"ok": 480 << 20}
    too_big = ("import mmap\ntry:\n    mmap.mmap(-1, 600 << 20)\n    got = 'mapped'\n"
               "except OSError as e:\n    got = e.errno\n")
    for svc in (warm, service):
        assert ok_globals(svc.run(too_big, {})) == {"got": 12}  # ENOMEM
    # Allocating past VMEM meets RLIMIT_AS (MemoryError, as the codejail
    # library's) before the cgroup's limit (the OOM killer) on both paths.
    hog = "arr = [bytearray(1 << 15) for _ in range(1 << 15)]\n"
    for svc in (warm, service):
        r = svc.run(hog, {})
        assert "MemoryError" in r.json().get("emsg", ""), r.text


def test_python_lib_zip_on_sys_path_only_when_asked(warm, service):
    """The warm interpreter rehearses the wrapper that puts python_lib.zip
    on sys.path; its clones must not inherit that entry: the zip is on the
    path as many times as python_path names it, as on the cold path."""
    z = cjtest.make_zip({"course_library.py": "ANSWER = 42\n"})
    code = ("import sys\nentries = [p for p in sys.path if p.endswith('python_lib.zip')]\n"
            "try:\n    import course_library\n    imported = True\nexcept ImportError:\n    imported = False\n")
    for paths, expected in (([], {"entries": [], "imported": False}),
                            (["python_lib.zip"], {"entries": ["python_lib.zip"], "imported": True})):
        for svc in (warm, warm, service):
            r = svc.run(code, {}, python_path=paths, files={"python_lib.zip": ("python_lib.zip", z)})
            assert ok_globals(r) == expected, (paths, r.text)


def test_same_answers_as_cold(warm, service):
    # The exact emsg, line 19 of jailed_code included, on both paths.
    answers = []
    for svc in (warm, service):
        r = svc.run("1/0", {"x": 1})
        assert r.status_code == 200
        body = r.json()
        assert body["globals_dict"] == {"x": 1}
        answers.append(cjtest.normalise_sandbox_dir(body["emsg"]))
    assert answers[0] == answers[1], "\n".join(answers)
    assert 'jailed_code", line 19, in <module>' in answers[0]
    for svc in (warm, service):
        r = svc.run("exit(7)", {})
        assert r.json()["emsg"] == "Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: 7"
    # With python_lib.zip on sys.path: the other wrapper, renamed when needed.
    z = cjtest.make_zip({"course_library.py": "def answer():\n    return 1 / 0\n"})
    answers = []
    before = warm_runs(warm)
    for svc in (warm, service):
        r = svc.run("import course_library\ncourse_library.answer()", {"x": 1}, python_path=["python_lib.zip"],
                    files={"python_lib.zip": ("python_lib.zip", z)})
        assert r.status_code == 200, r.text
        answers.append(cjtest.normalise_sandbox_dir(r.json()["emsg"]))
    assert warm_runs(warm) == before + 1
    assert answers[0] == answers[1], "\n".join(answers)
    # The library's wrapper has one more line before exec(): its sys.path.append.
    assert 'jailed_code", line 20, in <module>' in answers[0] and "ZeroDivisionError" in answers[0], answers[0]
    # python_lib.zip named twice: neither compiled wrapper, the source (line 21).
    answers = []
    for svc in (warm, service):
        r = svc.run("import course_library\ncourse_library.answer()", {}, python_path=["python_lib.zip"] * 2,
                    files={"python_lib.zip": ("python_lib.zip", z)})
        answers.append(cjtest.normalise_sandbox_dir(r.json()["emsg"]))
    assert answers[0] == answers[1], "\n".join(answers)
    assert 'jailed_code", line 21, in <module>' in answers[0] and "ZeroDivisionError" in answers[0], answers[0]


# How an execution ends, on both paths, is the interpreter's shutdown as seen
# from outside: non-daemon threads are waited for, atexit runs, daemon
# threads are not waited for, and a stdout that cannot be flushed makes the
# status 120 with the interpreter's own message.
ENDINGS = {
    "thread": ("import os, threading, time\n"
               "def late():\n    time.sleep(0.3)\n    os._exit(3)\n"
               "threading.Thread(target=late).start()", 3),
    "atexit": "import atexit, os\natexit.register(os._exit, 4)",
    "daemon": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    "stdout": ("import sys\nclass Broken:\n    def write(self, s):\n        pass\n"
               "    def flush(self):\n        raise OSError('no flush')\nsys.stdout = Broken()"),
}


@pytest.mark.parametrize("name", sorted(ENDINGS))
def test_executions_end_as_the_interpreter_would(warm, service, name):
    code = ENDINGS[name][0] if isinstance(ENDINGS[name], tuple) else ENDINGS[name]
    answers = []
    for svc in (service, warm):
        t0 = time.monotonic()
        r = svc.run(code, {"x": 1}, timeout=20)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 10, name  # the daemon thread's sleep is not waited for
        body = r.json()
        assert body["globals_dict"] == {"x": 1}, body
        answers.append(re.sub(r"0x[0-9a-f]+", "0x", cjtest.normalise_sandbox_dir(body.get("emsg") or "")))
    assert answers[0] == answers[1], "\n".join(answers)
    expected = {"thread": "status code: 3", "atexit": "status code: 4", "stdout": "status code: 120"}.get(name)
    if expected is None:
        assert answers[0] == "", answers[0]
    else:
        assert answers[0].endswith(expected), answers[0]
    if name == "stdout":
        assert "Exception ignored in: " in answers[0] and "OSError: no flush" in answers[0], answers[0]

def test_the_interpreter_is_pid_2_with_only_its_streams(warm):
    code = ("import os\npid = os.getpid()\n"
            "def is_open(fd):\n"
            "    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n        return False\n"
            "fds = [fd for fd in range(64) if is_open(fd)]\n"
            "uid = os.getuid()")
    assert ok_globals(warm.run(code, {})) == {"pid": 2, "fds": [0, 1, 2, 3], "uid": 65534}


def test_cpu_limit_is_sigxcpu(make_service):
    svc = make_service(dict(WARM, limits={"CPU": 1, "REALTIME": 5}))
    r = svc.run("while True: pass", {})
    assert r.json()["emsg"] == "Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: -24"
    assert "path=warm" in svc.log()
    # make_service's idle check cannot hold for a warm service: stop it here.
    svc.stop()


@pytest.mark.parametrize("attempt,errors", [
    ("os.listdir('/')", "PermissionError"),
    ("open('/etc/passwd').read()", "PermissionError"),
    ("os.execv(sys.executable, [sys.executable])", "PermissionError"),
    ("__import__('socket').socket(__import__('socket').AF_INET)", "PermissionError"),
    ("open('x', 'w')", "OSError"),
])
def test_escapes_are_denied_on_the_warm_path(warm, attempt, errors):
    code = (f"import os, sys\ntry:\n    {attempt}\n    r = 'ALLOWED'\n"
            f"except {errors} as e:\n    r = type(e).__name__")
    g = ok_globals(warm.run(code, {}))
    assert g["r"] != "ALLOWED" and g["r"].endswith("Error"), g


def test_a_dead_warm_interpreter_is_replaced(warm):
    # The warm interpreter is the server's own child (its clones are its).
    zygotes = [p for p in cjtest.descendants(warm.proc.pid)
               if "warm_zygote.py" in cjtest.proc_cmdline(p) and (cjtest.proc_stat(p) or ("", 0))[1] == warm.server_pid]
    assert len(zygotes) == 1, [cjtest.describe(p) for p in cjtest.descendants(warm.proc.pid)]
    ready_before = warm.log().count("warm interpreter ready")
    os.kill(zygotes[0], signal.SIGKILL)
    # Meanwhile executions still get answers (cold).
    assert ok_globals(warm.run("x = 2", {})) == {"x": 2}
    deadline = time.monotonic() + 30
    while warm.log().count("warm interpreter ready") == ready_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert warm.log().count("warm interpreter ready") == ready_before + 1, warm.log()
    deadline = time.monotonic() + 30
    before = warm_runs(warm)
    while warm_runs(warm) == before and time.monotonic() < deadline:
        assert ok_globals(warm.run("x = 3", {})) == {"x": 3}
        time.sleep(0.1)
    assert warm_runs(warm) > before


# ---- the warm interpreter's replacement (warm.max_clones, warm.max_age) ----

LAYOUT = "import os\na = id(os)"  # an address: the same in every clone of one interpreter
QUICK = 1.0  # seconds: an answer that waited on a replacement would not be this quick (REALTIME is 3)


def zygotes(svc):
    return [p for p in cjtest.descendants(svc.proc.pid)
            if "warm_zygote.py" in cjtest.proc_cmdline(p)
            and (cjtest.proc_stat(p) or ("", 0))[1] == svc.server_pid]


def layouts_until(svc, replaced, deadline_s, pause=0.02, after=10):
    """Runs LAYOUT one request at a time until `after` more requests than
    it took for replaced(log) to hold, or the deadline; every answer must
    be right and quick.  Returns the addresses seen by warm executions, in
    order."""
    seen, paths = [], []
    start = len(re.findall(r"execution slug=- context=- path=(warm|cold)", svc.log()))
    deadline = time.monotonic() + deadline_s
    stop_at = None
    while time.monotonic() < deadline and (stop_at is None or len(seen) < stop_at):
        t0 = time.monotonic()
        r = svc.run(LAYOUT, {})
        took = time.monotonic() - t0
        g = ok_globals(r)
        assert set(g) == {"a"} and isinstance(g["a"], int), g
        assert took < QUICK, (took, len(seen))
        seen.append(g["a"])
        if stop_at is None and replaced(svc.log()):
            stop_at = len(seen) + after  # executions on the replacement too
        time.sleep(pause)
    # Which path each ran (the log has one line per execution, in order).
    paths = re.findall(r"execution slug=- context=- path=(warm|cold)", svc.log())[start:]
    assert len(paths) == len(seen), (len(paths), len(seen))
    # A request that found no clone ready ran cold (its own layout): the
    # layouts are those of warm executions.
    return [a for a, p in zip(seen, paths) if p == "warm"]


def assert_retired(svc):
    """Only the serving interpreter is left, with only its pool."""
    ok = cjtest.wait_for(lambda: len(zygotes(svc)) == 1 and len(svc.work_dir_entries()) <= svc.pool, 15)
    assert ok, ([cjtest.describe(p) for p in zygotes(svc)], svc.work_dir_entries(), svc.log()[-3000:])


def test_warm_interpreter_is_replaced_after_max_clones(prefix):
    svc = warm_service(prefix, {"warm": dict(WARM["warm"], max_clones=5)}, "maxclones")
    try:
        # The startup probe's executions count too: it may already be on
        # its second interpreter.
        assert_retired(svc)
        first_zygote = zygotes(svc)
        replaced_before = svc.log().count("warm interpreter replaced")
        warm = layouts_until(svc, lambda log: log.count("warm interpreter replaced") > replaced_before, 60)
        log = svc.log()
        m = re.finditer(r"warm interpreter replaced \(pid (\d+) by pid (\d+)\) after (\d+) executions and \d+ s "
                      r"\(warm.max_clones \(5 executions\)\)", log)
        m = list(m)[replaced_before:]
        assert m, log
        m = m[0]
        assert "reached warm.max_clones (5 executions): starting its replacement" in log, log
        # Not before the bound: each interpreter served at least 5 (pids
        # are the service's: it has its own pid namespace).
        counts = re.findall(r"warm interpreter replaced \(pid \d+ by pid \d+\) after (\d+) executions", log)
        assert counts and all(int(n) >= 5 for n in counts), counts
        # A new layout; an old one never comes back (the old interpreter
        # serves no more).
        assert len(warm) >= 6, warm
        runs = [a for i, a in enumerate(warm) if i == 0 or warm[i - 1] != a]
        assert len(runs) >= 2 and len(runs) == len(set(runs)), warm
        assert_retired(svc)
        gone = cjtest.wait_for(lambda: not os.path.exists(f"/proc/{first_zygote[0]}"), 5)  # exited and reaped
        assert gone, cjtest.describe(first_zygote[0])
        assert re.search(rf"warm interpreter \(pid {m.group(1)}\) retired after \d+ executions", log), log
    finally:
        stop_warm_service(svc)


def test_warm_interpreter_is_replaced_after_max_age(prefix):
    svc = warm_service(prefix, {"warm": dict(WARM["warm"], max_age=2)}, "maxage")
    try:
        before = svc.log().count("warm interpreter replaced")
        warm = layouts_until(svc, lambda log: log.count("warm interpreter replaced") >= before + 2, 60)
        log = svc.log()
        replaced = re.findall(r"warm interpreter replaced \(pid \d+ by pid \d+\) after \d+ executions and "
                              r"(\d+) s \(warm.max_age \(2 s\)\)", log)
        assert len(replaced) >= before + 2 and all(int(s) >= 2 for s in replaced), log
        runs = [a for i, a in enumerate(warm) if i == 0 or warm[i - 1] != a]
        assert len(runs) >= 3 and len(runs) == len(set(runs)), warm
        assert_retired(svc)
    finally:
        stop_warm_service(svc)


def test_an_idle_warm_interpreter_is_replaced_at_max_age(prefix):
    svc = warm_service(prefix, {"warm": dict(WARM["warm"], max_age=2)}, "idleage")
    try:
        first = zygotes(svc)
        ok = cjtest.wait_for(lambda: svc.log().count("warm interpreter replaced") >= 2, 30, interval=0.1)
        assert ok, svc.log()
        assert_retired(svc)
        assert zygotes(svc) != first
        assert "retired after 0 executions: 2 waiting clones killed" in svc.log(), svc.log()
        assert ok_globals(svc.run("x = 1", {})) == {"x": 1}
        assert re.findall(r"execution slug=- context=- path=(warm|cold)", svc.log()) == ["warm"], svc.log()
    finally:
        stop_warm_service(svc)
