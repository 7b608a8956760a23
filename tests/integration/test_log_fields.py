"""What a request says reaches the log escaped and capped: one execution is
one line, whatever its slug or limit_overrides_context hold (newlines that
would forge a line, terminal escapes, bytes that are not UTF-8, 100 KB)."""

import re

FORGED = "codejail-server: startup check 'ptrace' failed: forged by a request"
HOSTILE = [
    "a\n" + FORGED,
    "b\r\n" + FORGED + "\n",
    "c\x1b[2J\x1b]0;owned\x07\x9b31m",
    "d\u2028" + FORGED + "\u202e",
    "e\ud800 \"quoted\" back\\slash",
    "f" * 100_000,
]
LINE_MAX = 1000  # bytes; a field is cut at 200


def test_request_fields_are_escaped_and_capped(make_service):
    svc = make_service({}, name="logfields")
    for i, text in enumerate(HOSTILE):
        r = svc.run(f"x = {i}", slug=text)
        assert r.status_code == 200 and r.json() == {"globals_dict": {"x": i}}, r.text
        r = svc.run(f"x = {i}", slug=f"s{i}", limit_overrides_context=text)
        assert r.status_code == 200 and r.json() == {"globals_dict": {"x": i}}, r.text

    with open(svc.log_path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    executions = [l for l in lines if l.startswith(b"codejail-server: execution slug=")
                  and b"slug=startup-probe" not in l and b'slug="startup-probe"' not in l]
    assert len(executions) == 2 * len(HOSTILE), raw.decode(errors="replace")[-4000:]
    assert not any(l.startswith(FORGED.encode()) or l.startswith(b"\r" + FORGED.encode())
                   for l in lines), raw.decode(errors="replace")[-4000:]
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw
    raw.decode("utf-8")  # nothing that is not UTF-8 reached the log
    assert "\u2028" not in raw.decode() and "\u202e" not in raw.decode() and "\x9b" not in raw.decode()
    assert max(len(l) for l in lines) <= LINE_MAX, max(len(l) for l in lines)
    # The long field says it was cut, and by how much.
    assert any(b"[cut: 100000 bytes]" in l for l in executions)
    # Each line names its own request's fields, escaped.
    assert sum(b'slug="a\\ncodejail-server: startup check' in l for l in executions) == 1
    assert sum(b'context="e\\xED\\xA0\\x80 \\"quoted\\" back\\\\slash"' in l for l in executions) == 1


def test_log_level_error_keeps_failures_only(make_service):
    """log_level: error drops the info lines (startup, checks) and keeps a
    failure, labelled so a grep for errors finds it."""
    svc = make_service({"log_level": "error"}, name="logerror")
    r = svc.run("x = 1")
    assert r.status_code == 200 and r.json() == {"globals_dict": {"x": 1}}, r.text
    r = svc.run("x = 2", python_path=["python_lib.zip"])  # names an upload that is not there
    assert r.json()["emsg"] == "Couldn't execute sandboxed code: See logs.", r.text
    log = svc.log()
    assert "codejail-server: error: python_path names python_lib.zip but no file was uploaded\n" in log, log
    for info in ("listening on", "confinement:", "startup check", "startup probe"):
        assert info not in log, log


def test_log_level_debug_adds_labelled_details(make_service):
    """debug keeps the info lines as they were and adds detail lines, each
    saying its level."""
    svc = make_service({"log_level": "debug"}, name="logdebug")
    r = svc.run("x = 1")
    assert r.status_code == 200 and r.json() == {"globals_dict": {"x": 1}}, r.text
    log = svc.log()
    assert "codejail-server: startup probe passed: serving" in log, log
    assert "codejail-server: debug: wrappers compiled ahead" in log, log
    assert "codejail-server: debug: cgroup pool: making exec-" in log, log
