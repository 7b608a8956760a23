"""log_format: json.  Every line of the service's log is one JSON object
(codejail-init's too, with CODEJAIL_INIT_LOG_FORMAT=json), and each
execution is one record holding every field of issue 15 with true values:
the CPU time of a loop killed at its CPU limit is that limit, the peak of a
400 MB allocation is at least 400 MB, the limits are the effective ones
after the overrides.  Text mode's execution line carries the same fields."""

import datetime
import json
import time

import cjtest
import requests

MiB = 1 << 20
FIELDS = {"ts", "level", "prog", "msg", "slug", "context", "path", "status", "outcome", "wall_ms", "cpu_ms",
          "peak_memory_bytes", "oom_killed", "oom_kills", "stdout_bytes", "stderr_bytes", "globals_bytes",
          "limits"}
LIMITS = {"CPU": 1, "REALTIME": 5, "VMEM": 150 * MiB, "FSIZE": 1 << 20, "NPROC": 8}
OVERRIDES = {"big": {"VMEM": 600 * MiB, "REALTIME": 10}, "long": {"CPU": 10, "REALTIME": 1}}


def lines_of(svc):
    with open(svc.log_path, "rb") as f:
        raw = f.read()
    raw.decode("utf-8")  # nothing that is not UTF-8
    lines = [json.loads(l) for l in raw.split(b"\n") if l]
    assert all(isinstance(l, dict) and {"ts", "level", "prog", "msg"} <= set(l) for l in lines), lines
    return lines


def record(svc, slug):
    """The execution record of the request with this slug, once written."""
    deadline = time.monotonic() + 10
    while True:
        found = [l for l in lines_of(svc) if l["msg"] == "execution" and l["slug"] == slug]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1, (slug, found)
    rec = found[0]
    assert set(rec) == FIELDS, sorted(set(rec) ^ FIELDS)
    assert rec["level"] == "info" and rec["prog"] == "codejail-server"
    return rec


def test_every_line_json_and_every_field_true(make_service):
    svc = make_service({"log_format": "json", "limits": LIMITS, "limit_overrides": OVERRIDES,
                        "warm": {"enabled": True, "pool": 2}},
                       env={"CODEJAIL_INIT_LOG_FORMAT": "json", "CODEJAIL_INIT_LOG_LEVEL": "debug"},
                       name="logjson")
    started = datetime.datetime.now(datetime.timezone.utc)

    # ok, with output on both streams (the wrapper makes print() write
    # nowhere, as the codejail library does: the descriptors themselves), a
    # 5000-character global and a slug that is not UTF-8 (a lone surrogate)
    # and would forge a line.
    slug = "ok\ud800\n\"q\""
    code = "import os\nos.write(1, b'hello\\n')\nos.write(2, b'oops\\n')\nx = 'a' * 5000"
    r = svc.run(code, {}, slug=slug)
    assert r.status_code == 200 and r.json()["globals_dict"]["x"] == "a" * 5000, r.text
    rec = record(svc, "ok\ufffd\ufffd\ufffd\n\"q\"")
    ts = datetime.datetime.fromisoformat(rec["ts"].replace("Z", "+00:00"))
    assert started - datetime.timedelta(seconds=1) <= ts <= datetime.datetime.now(datetime.timezone.utc), rec
    assert rec["context"] is None and rec["path"] in ("cold", "warm"), rec
    assert rec["status"] == 0 and rec["outcome"] == "ok" and rec["oom_killed"] is False and rec["oom_kills"] == 0
    assert rec["stdout_bytes"] == len("hello\n") and rec["stderr_bytes"] == len("oops\n"), rec
    assert 5000 < rec["globals_bytes"] < 5100, rec
    # Whole milliseconds of the event loop's clock: a warm execution can take
    # less than one.
    assert 0 <= rec["wall_ms"] < 5000 and 0 < rec["cpu_ms"] < 1000, rec
    assert 1 * MiB < rec["peak_memory_bytes"] < 150 * MiB, rec
    assert rec["limits"] == LIMITS, rec

    # A busy loop killed at its CPU limit (SIGXCPU) used about that much.
    # Not exactly: the kernel holds RLIMIT_CPU against tick-sampled time (a
    # tick charges a whole tick to whoever it finds running), the cgroup
    # counts the precise run time, and on a busy host preempted tasks are
    # charged more ticks than they ran: 0.83-1.0 s measured at load 10.
    r = svc.run("while True:\n    pass", {}, slug="cpu", timeout=20)
    assert r.status_code == 200, r.text
    rec = record(svc, "cpu")
    assert rec["outcome"] == "killed" and rec["status"] == -24, rec
    assert 800 <= rec["cpu_ms"] <= 1400, rec

    # A busy loop killed at REALTIME (1 s, CPU 10 by its context) used
    # about its wall time: one CPU (the cgroup's quota) while it ran.
    r = svc.run("while True:\n    pass", {}, slug="realtime", limit_overrides_context="long", timeout=20)
    assert r.status_code == 200, r.text
    rec = record(svc, "realtime")
    assert rec["outcome"] == "timeout" and rec["status"] == -9 and rec["context"] == "long", rec
    assert rec["limits"] == dict(LIMITS, CPU=10, REALTIME=1), rec
    assert 500 <= rec["cpu_ms"] <= rec["wall_ms"] + 100, rec

    # 400 MB held at once, under the higher VMEM its context gives.
    code = "x = b'\\1' * (400 << 20)\nn = len(x)\ndel x"
    r = svc.run(code, {}, slug="big", limit_overrides_context="big", timeout=30)
    assert r.status_code == 200 and r.json()["globals_dict"] == {"n": 400 * MiB}, r.text
    rec = record(svc, "big")
    assert rec["outcome"] == "ok" and rec["limits"]["VMEM"] == 600 * MiB, rec
    assert 400 * MiB <= rec["peak_memory_bytes"] <= 600 * MiB, rec

    # The OOM killer: processes together over the execution's memory.
    code = ("import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        hoard = b'\\1' * (100 << 20)\n        time.sleep(0.5)\n        os._exit(0)\n"
            "    kids.append(pid)\nfor p in kids:\n    os.waitpid(p, 0)\n")
    r = svc.run(code, {}, slug="oom", timeout=20)
    assert r.status_code == 200, r.text
    rec = record(svc, "oom")
    assert rec["outcome"] == "memory" and rec["oom_killed"] is True and rec["oom_kills"] >= 1, rec
    assert 100 * MiB <= rec["peak_memory_bytes"] <= 150 * MiB, rec

    # A client that hangs up: its execution is recorded all the same.
    try:
        svc.run("import time\ntime.sleep(1.5)", {}, slug="gone", timeout=0.5)
    except requests.exceptions.ReadTimeout:
        pass
    rec = record(svc, "gone")
    assert rec["outcome"] == "client_gone", rec

    # Every line, init's and the startup's included, parsed above; both
    # programs wrote some, and the records came from both paths.
    lines = lines_of(svc)
    assert {"codejail-init", "codejail-server"} <= {l["prog"] for l in lines}, lines
    assert {l["path"] for l in lines if l["msg"] == "execution"} == {"cold", "warm"}, lines


def test_text_line_has_the_same_fields(make_service):
    svc = make_service({"limits": LIMITS}, name="logtext")
    r = svc.run("import os\nn = os.write(1, b'hi\\n')", {}, slug="t")
    assert r.status_code == 200, r.text
    line = [l for l in svc.log().splitlines() if l.startswith('codejail-server: execution slug="t" ')][-1]
    fields = dict(kv.split("=", 1) for kv in line.split(" ")[2:])
    want = {k for k in FIELDS - {"ts", "level", "prog", "msg", "limits"}} | {f"limits.{k}" for k in LIMITS}
    assert set(fields) == want, sorted(set(fields) ^ want)
    assert fields["outcome"] == "ok" and fields["stdout_bytes"] == "3" and fields["oom_killed"] == "false"
    assert int(fields["cpu_ms"]) > 0 and int(fields["peak_memory_bytes"]) > MiB, line
    assert all(fields[f"limits.{k}"] == str(v) for k, v in LIMITS.items()), line


def test_bad_log_format_is_a_startup_error(prefix):
    log = cjtest.refused_start(prefix, {"log_format": "yaml"}, "logbad")
    assert "log_format: expected one of text, json, got 'yaml'" in log, log
