"""SIGTERM: in-flight executions finish and are answered, new connections
are refused, the service exits 0 within a bound and leaves nothing."""

import os
import socket
import threading
import time

import requests

import cjtest


def connect_refused(port):
    """True when a new TCP connection is refused.  A connection the kernel
    queued just before the listener closed is reset instead: as good."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def test_graceful_sigterm(make_service):
    svc = make_service({"limits": {"REALTIME": 5}})
    result = {}

    def slow():
        try:
            r = svc.run("import time\ntime.sleep(1.5)\ndone = 1", {"a": 1}, timeout=15)
            result["answer"] = (r.status_code, r.json())
        except requests.RequestException as e:
            result["answer"] = ("exception", repr(e))

    t = threading.Thread(target=slow)
    t.start()
    try:
        time.sleep(0.3)
        assert cjtest.wait_for(svc.sandbox_procs, 3.0), "the execution never started\n" + svc.log()
        svc.terminate()
        t0 = time.monotonic()
        refused = cjtest.wait_for(lambda: connect_refused(svc.port), 1.0, interval=0.05)
        assert refused, "new connections still accepted 1 s after SIGTERM"
        assert connect_refused(svc.port)
    finally:
        t.join(15)
    assert result.get("answer") == (200, {"globals_dict": {"a": 1, "done": 1}}), result
    try:
        rc = svc.proc.wait(timeout=10)
    except Exception:
        raise AssertionError("service did not exit within 10 s of SIGTERM\n" + svc.log())
    elapsed = time.monotonic() - t0
    assert rc == 0, svc.log()
    assert elapsed < 5, elapsed


def test_sigterm_idle_exits_quickly(make_service):
    svc = make_service({})
    t0 = time.monotonic()
    svc.terminate()
    rc = svc.proc.wait(timeout=10)
    assert rc == 0, svc.log()
    assert time.monotonic() - t0 < 2


def test_sigint_also_drains(make_service):
    svc = make_service({})
    svc.proc.send_signal(2)
    rc = svc.proc.wait(timeout=10)
    assert rc == 0, svc.log()


def test_drain_timeout_bounds_the_wait(make_service):
    svc = make_service({"drain_timeout": 0.5, "limits": {"REALTIME": 20, "CPU": 20}})
    result = {}

    def slow():
        try:
            r = svc.run("import time\ntime.sleep(15)\ndone = 1", {}, timeout=20)
            result["answer"] = (r.status_code, r.text)
        except requests.RequestException as e:
            result["answer"] = ("exception", type(e).__name__)

    t = threading.Thread(target=slow)
    t.start()
    try:
        assert cjtest.wait_for(svc.sandbox_procs, 5.0), "the execution never started\n" + svc.log()
        t0 = time.monotonic()
        svc.terminate()
        rc = svc.proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        t.join(20)
    assert rc == 0, svc.log()
    assert elapsed < 3, elapsed
    # The execution was cut short: never a successful answer.
    assert result["answer"][0] != 200 or '"done"' not in result["answer"][1], result


def test_queued_requests_are_answered_during_drain(make_service):
    svc = make_service({"max_concurrency": 1, "max_queue": 4, "limits": {"REALTIME": 5}})
    results = [None, None]

    def one(i):
        try:
            r = svc.run("import time\ntime.sleep(0.7)\ndone = %d" % i, {}, timeout=15)
            results[i] = (r.status_code, r.json())
        except requests.RequestException as e:
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
        time.sleep(0.1)
    try:
        assert cjtest.wait_for(svc.sandbox_procs, 3.0)
        time.sleep(0.2)
        svc.terminate()
    finally:
        for th in threads:
            th.join(15)
    assert results == [(200, {"globals_dict": {"done": 0}}), (200, {"globals_dict": {"done": 1}})], results
    assert svc.proc.wait(timeout=10) == 0


def test_config_error_stops_startup(prefix):
    """An unknown key is a startup failure naming the key, never a silent
    default."""
    log = cjtest.refused_start(prefix, {"limits": {"CPUU": 1}}, "badcfg")
    assert "CPUU" in log, log


def test_stop_removes_the_cgroup_parent_it_made(make_service):
    """A service removes at its end the cgroup parent directories it made
    (in every hierarchy, v1 or v2), and leaves one that was there before it."""
    top = f"cj-lifetime-{os.getpid()}-{time.monotonic_ns()}"
    svc = make_service({"cgroup_parent": f"{top}/svc"})
    assert svc.run("x = 1").json() == {"globals_dict": {"x": 1}}
    made = cjtest.cgroup_dirs(top)
    assert made, "the service made no cgroup parent\n" + svc.log()
    assert svc.stop() == 0, svc.log()
    assert cjtest.cgroup_dirs(top) == [], svc.log()

    # Made beforehand (an operator's, or another instance's): left, with
    # what the service made below it removed.
    for d in made:
        os.mkdir(d)
    try:
        svc = make_service({"cgroup_parent": f"{top}/svc"})
        assert svc.run("x = 2").json() == {"globals_dict": {"x": 2}}
        assert cjtest.cgroup_dirs(f"{top}/svc"), svc.log()
        assert svc.stop() == 0, svc.log()
        assert sorted(cjtest.cgroup_dirs(top)) == sorted(made)
        assert cjtest.cgroup_dirs(f"{top}/svc") == []
    finally:
        for d in made:
            os.rmdir(d)
