"""The startup probe on a host too slow for it: a check whose execution does
not finish within its budget is tried again, not failed.

The slow host is made real from outside: every process of the sandbox user
under the service is stopped (SIGSTOP) until the service logs that a check
of the probe did not finish, as a node busy starting many pods
starves its first executions; then they are let go.  The service must
become healthy with no restart, having said what happened.
"""

import os
import re
import signal
import threading
import time

import cjtest
import conftest

SANDBOX_UID = 65534


def test_a_check_that_did_not_finish_is_tried_again(prefix):
    svc = cjtest.Service(prefix, {}, name="slowprobe")
    starved = set()
    done = threading.Event()

    def starve_until_retried():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set() and "did not finish" not in svc.log():
            if svc.proc is not None:
                for pid in cjtest.descendants(svc.proc.pid):
                    if cjtest.proc_uid(pid) == SANDBOX_UID and pid not in starved:
                        try:
                            os.kill(pid, signal.SIGSTOP)
                            starved.add(pid)
                        except ProcessLookupError:
                            pass
            time.sleep(0.01)
        for pid in starved:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    t = threading.Thread(target=starve_until_retried, daemon=True)
    t.start()
    try:
        svc.start(timeout=60)
        conftest._STARTED_PIDS.add(svc.proc.pid)
        t.join(10)
        log = svc.log()
        assert starved, "no sandbox process was ever seen to stop"
        # Whichever check's sandbox was caught first (usually the first).
        m = re.search(r"startup check '([^']+)' did not finish \(REALTIME limit, try 1 of 4\): "
                      r"trying again in 1 s", log)
        assert m, log
        assert f"startup check '{m.group(1)}' passed: ok" in log, log
        assert "startup probe passed: serving" in log, log
        assert " failed" not in log, log
        r = svc.run("x = 6 * 7")
        assert r.status_code == 200 and r.json() == {"globals_dict": {"x": 42}}, r.text
    finally:
        done.set()
        t.join(10)
        conftest._stop_and_check(svc)
