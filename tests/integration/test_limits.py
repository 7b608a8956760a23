"""The library's limits (CPU, REALTIME, VMEM, FSIZE, NPROC) and
limit_overrides."""

import time

from cjtest import expected_failed_run, failed, ok_globals


def test_cpu_limit_sigxcpu(make_service):
    svc = make_service({"limits": {"CPU": 1, "REALTIME": 5}})
    t0 = time.monotonic()
    r = svc.run("while True:\n    pass", {"a": 1}, timeout=10)
    elapsed = time.monotonic() - t0
    assert failed(r, {"a": 1}) == expected_failed_run(b"", b"", -24)
    assert elapsed < 4, elapsed


def test_realtime_limit_kills(make_service):
    svc = make_service({"limits": {"REALTIME": 1}})
    t0 = time.monotonic()
    r = svc.run("import time\ntime.sleep(10)", {"a": 1}, timeout=10)
    elapsed = time.monotonic() - t0
    assert failed(r, {"a": 1}) == expected_failed_run(b"", b"", -9)
    assert 0.9 < elapsed < 3, elapsed


def test_realtime_kills_whole_tree(make_service):
    """Children that hold the output pipes cannot keep the answer waiting."""
    svc = make_service({"limits": {"REALTIME": 1}})
    code = ("import os, time\n"
            "for i in range(3):\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(30)\n"
            "        os._exit(0)\n"
            "time.sleep(30)")
    t0 = time.monotonic()
    r = svc.run(code, {}, timeout=10)
    elapsed = time.monotonic() - t0
    assert failed(r, {}) == expected_failed_run(b"", b"", -9)
    assert elapsed < 3, elapsed


def test_memory_limit(service):
    r = service.run("x = bytearray(1024 ** 3)", {"a": 1}, timeout=10)
    emsg = failed(r, {"a": 1})
    assert emsg.startswith("Couldn't execute jailed code: stdout: b'', stderr: b'Traceback (most recent call last):"), emsg
    assert emsg.endswith("\\nMemoryError\\n' with status code: 1"), emsg


def test_memory_limit_caught(service):
    code = ("try:\n    x = bytearray(1024 ** 3)\n    err = None\n"
            "except MemoryError:\n    err = 'MemoryError'\n"
            "small = len(bytearray(50 * 1024 ** 2))")
    assert ok_globals(service.run(code, {}, timeout=10)) == {"err": "MemoryError", "small": 50 * 1024 ** 2}


def test_file_size_limit(service):
    code = ("import os\n"
            "with open(os.path.join(os.environ['TMPDIR'], 'big'), 'wb') as f:\n"
            "    f.write(b'x' * (2 * 1024 * 1024))\n")
    emsg = failed(service.run(code, {}, timeout=10), {})
    assert emsg.startswith("Couldn't execute jailed code: stdout: b'', stderr: b'Traceback"), emsg
    assert "OSError: [Errno 27] File too large" in emsg, emsg
    assert emsg.endswith(" with status code: 1"), emsg


def test_file_size_limit_caught(service):
    code = ("import os\n"
            "p = os.path.join(os.environ['TMPDIR'], 'big')\n"
            "fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)\n"
            "written = os.write(fd, b'x' * (1024 * 1024))\n"
            "try:\n    os.write(fd, b'y')\n    err = None\n"
            "except OSError as e:\n    err = [type(e).__name__, e.errno, e.strerror]\n"
            "os.close(fd)\n"
            "size = os.path.getsize(p)\n"
            "del fd, p\n")
    g = ok_globals(service.run(code, {}, timeout=10))
    assert g == {"written": 1024 * 1024, "err": ["OSError", 27, "File too large"], "size": 1024 * 1024}


def test_process_limit(service):
    code = ("import os, time\n"
            "n = 0\nerr = None\n"
            "try:\n"
            "    for i in range(200):\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        n += 1\n"
            "except BlockingIOError as e:\n"
            "    err = type(e).__name__\n")
    t0 = time.monotonic()
    g = ok_globals(service.run(code, {}, timeout=10))
    elapsed = time.monotonic() - t0
    assert g["err"] == "BlockingIOError", g
    assert 0 < g["n"] < 15, g  # NPROC 15 counts the main process too
    assert elapsed < 3, elapsed
    # The sleeping children are all killed (checked after every test too).
    service.assert_idle()


def test_thread_limit(service):
    code = ("import threading, time\n"
            "ev = threading.Event()\n"
            "ts = []\nerr = None\n"
            "try:\n"
            "    for i in range(100):\n"
            "        t = threading.Thread(target=ev.wait)\n"
            "        t.start()\n"
            "        ts.append(t)\n"
            "except RuntimeError as e:\n"
            "    err = str(e)\n"
            "n = len(ts)\n"
            "ev.set()\n"
            "for t in ts:\n    t.join()\n"
            "del ts, ev, t\n")
    g = ok_globals(service.run(code, {}, timeout=10))
    assert g["err"] == "can't start new thread", g
    assert 0 < g["n"] < 15, g


def test_limit_override_applies_to_its_context(make_service):
    svc = make_service({"limits": {"CPU": 1, "REALTIME": 1},
                        "limit_overrides": {"course-v1:a+b+c": {"REALTIME": 4, "CPU": 4}}})
    code = "import time\ntime.sleep(1.5)\ndone = True"
    r = svc.run(code, {}, timeout=10, limit_overrides_context="course-v1:a+b+c")
    assert ok_globals(r) == {"done": True}


def test_limit_override_other_context_gets_defaults(make_service):
    svc = make_service({"limits": {"CPU": 1, "REALTIME": 1},
                        "limit_overrides": {"course-v1:a+b+c": {"REALTIME": 4, "CPU": 4}}})
    code = "import time\ntime.sleep(1.5)\ndone = True"
    for ctx in ("course-v1:a+b+d", "course-v1:a+b+c ", "COURSE-V1:A+B+C", None):
        r = svc.run(code, {}, timeout=10, limit_overrides_context=ctx)
        assert failed(r, {}) == expected_failed_run(b"", b"", -9), ctx
    r = svc.run(code, {}, timeout=10)  # no context at all
    assert failed(r, {}) == expected_failed_run(b"", b"", -9)


def test_limit_override_partial_keeps_other_limits(make_service):
    """An override naming only REALTIME keeps the default CPU limit."""
    svc = make_service({"limits": {"CPU": 1, "REALTIME": 1},
                        "limit_overrides": {"course-v1:a+b+c": {"REALTIME": 5}}})
    r = svc.run("while True:\n    pass", {}, timeout=10, limit_overrides_context="course-v1:a+b+c")
    assert failed(r, {}) == expected_failed_run(b"", b"", -24)


def test_library_layout_config(make_service):
    """The CODE_JAIL setting pasted as is."""
    svc = make_service({"CODE_JAIL": {"python_bin": "/usr/bin/python3", "user": "nobody",
                                      "limits": {"CPU": 1, "REALTIME": 1},
                                      "limit_overrides": {"course-v1:x+y+z": {"REALTIME": 4}}}})
    code = "import time\ntime.sleep(1.5)\ndone = True"
    assert failed(svc.run(code, {}, timeout=10), {}) == expected_failed_run(b"", b"", -9)
    assert ok_globals(svc.run(code, {}, timeout=10, limit_overrides_context="course-v1:x+y+z")) == \
        {"done": True}


def test_memory_bomb_over_processes_is_logged(make_service):
    """Processes each under RLIMIT_AS, together over the execution's memory
    cgroup: the kernel's OOM killer stops them, and the execution's log line
    says so (its own answer only shows children killed by SIGKILL)."""
    svc = make_service({"limits": {"VMEM": 150 * 1024 * 1024, "NPROC": 8, "REALTIME": 20}})
    code = ("import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        hoard = b'\\1' * (100 << 20)\n        time.sleep(2)\n        os._exit(0)\n"
            "    kids.append(pid)\nstatuses = [os.waitpid(p, 0)[1] & 0x7f for p in kids]\n")
    r = svc.run(code, {}, timeout=30)
    statuses = ok_globals(r)["statuses"]
    assert 9 in statuses, statuses
    lines = [l for l in svc.log().splitlines() if "execution slug=" in l]
    assert lines and " oom_killed=true oom_kills=" in lines[-1], lines[-1:]
    kills = int(lines[-1].split("oom_kills=")[1].split()[0])
    assert kills == statuses.count(9), (kills, statuses)
    # An execution the OOM killer did not touch says so: none, on this
    # reused cgroup too (the count is the execution's, not the cgroup's).
    assert ok_globals(svc.run("x = 1", {}))["x"] == 1
    last = [l for l in svc.log().splitlines() if "execution slug=" in l][-1]
    assert " oom_killed=false oom_kills=0 " in last, last
