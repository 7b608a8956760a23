"""Concurrency, back-pressure and hostile clients: the service answers
correctly, bounds what it holds, and stays healthy."""

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

import cjtest
from cjtest import EXEC_PATH, HEALTH_PATH, assert_json_response, form_body, raw_request, response_parts


def assert_healthy(svc):
    assert svc.health() == (200, {"status": "OK"})
    r = svc.run("x = x + 1", {"x": 16})
    assert r.status_code == 200 and r.json() == {"globals_dict": {"x": 17}}


def http_post_bytes(svc, body, content_type="application/x-www-form-urlencoded", extra=b""):
    return (f"POST {EXEC_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{svc.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n").encode() + extra + \
        b"\r\n" + body


# ---- concurrency --------------------------------------------------------------

def test_parallel_requests_each_get_their_answer(service):
    def one(i):
        r = service.run("y = x * 2\nname = 'req-%d' % x\nimport time\ntime.sleep(0.05)",
                        {"x": i, "tag": f"t{i}"}, timeout=30)
        return i, r.status_code, r.json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    for i, status, body in results:
        assert status == 200, (i, body)
        assert body == {"globals_dict": {"x": i, "tag": f"t{i}", "y": 2 * i, "name": f"req-{i}"}}, i


def test_queue_full_is_503(make_service):
    svc = make_service({"max_concurrency": 1, "max_queue": 1, "limits": {"REALTIME": 5}})
    barrier = threading.Barrier(3)

    def one(i):
        barrier.wait(timeout=5)
        r = svc.run("import time\ntime.sleep(1.0)\ndone = %d" % i, {}, timeout=15)
        return r.status_code, assert_json_response(r)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(one, range(3)))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 200, 503], results
    for status, body in results:
        if status == 503:
            assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
        else:
            assert set(body) == {"globals_dict"} and set(body["globals_dict"]) == {"done"}, body
    assert_healthy(svc)


def test_output_flood_is_bounded(make_service):
    cap = 65536
    svc = make_service({"max_output_bytes": cap, "limits": {"REALTIME": 10, "CPU": 10}})
    code = ("import sys\n"
            "chunk = 'x' * 65536\n"
            "for i in range(800):\n"  # 50 MiB on each of stdout and stderr
            "    sys.__stdout__.write(chunk)\n"
            "    sys.stderr.write(chunk)\n"
            "sys.__stdout__.flush()\n"
            "sys.stderr.flush()\n"
            "raise SystemExit(1)\n")
    r = svc.run(code, {"a": 1}, timeout=30)
    assert r.status_code == 200
    assert len(r.content) < cap * 5, len(r.content)
    body = r.json()
    assert body["globals_dict"] == {"a": 1}
    emsg = body["emsg"]
    # Both streams were captured (each cut at the cap), and the message is
    # still whole: it ends with the status.
    assert emsg.startswith("Couldn't execute jailed code: stdout: b'xxxxxxxx"), emsg[:100]
    out, sep, err = emsg.partition(", stderr: b")
    assert sep and "x" * 1000 in err, emsg[:200]
    assert re.search(r"""['"] with status code: 1$""", emsg), emsg[-100:]
    assert_healthy(svc)


def test_result_flood_is_bounded(make_service):
    """A global far larger than any answer may be: the service neither
    buffers it all nor dies."""
    svc = make_service({"max_body_bytes": 65536, "max_output_bytes": 65536,
                        "limits": {"REALTIME": 10, "CPU": 10}})
    r = svc.run("big = 'x' * (64 * 1024 * 1024)", {"a": 1}, timeout=30)
    assert r.status_code == 200
    assert len(r.content) < 1024 * 1024, len(r.content)
    body = r.json()
    assert body["globals_dict"] == {"a": 1}
    assert isinstance(body.get("emsg"), str) and body["emsg"], body
    assert_healthy(svc)


def test_client_disconnect_kills_execution(make_service):
    # drain_timeout keeps the teardown short should the execution survive.
    svc = make_service({"limits": {"REALTIME": 60, "CPU": 60}, "drain_timeout": 1})
    body = form_body({"code": "import time\ntime.sleep(30)", "globals_dict": {}})
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    try:
        s.sendall(http_post_bytes(svc, body))
        started = cjtest.wait_for(svc.sandbox_procs, 5.0)
        assert started, "the execution never started\n" + svc.log()
        time.sleep(0.5)
    finally:
        s.close()
    t0 = time.monotonic()
    gone = cjtest.wait_for(svc.idle, 2.0)
    assert gone, (f"execution still alive {time.monotonic() - t0:.1f}s after the client left: "
                  f"{[cjtest.describe(p) for p in svc.sandbox_procs()]}, {svc.work_dir_entries()}")
    assert_healthy(svc)


def test_client_disconnect_while_queued(make_service):
    """A request still waiting in the queue is dropped when its client
    leaves: it never runs."""
    svc = make_service({"max_concurrency": 1, "max_queue": 4, "limits": {"REALTIME": 5}, "drain_timeout": 1})
    result = {}

    def first():
        r = svc.run("import time\ntime.sleep(1.0)\ndone = 1", {}, timeout=15)
        result["first"] = (r.status_code, r.json())

    t = threading.Thread(target=first)
    t.start()
    try:
        assert cjtest.wait_for(svc.sandbox_procs, 5.0)
        body = form_body({"code": "import time\ntime.sleep(4)", "globals_dict": {}})
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(http_post_bytes(svc, body))
        time.sleep(0.2)
        s.close()
    finally:
        t.join(15)
    assert result["first"] == (200, {"globals_dict": {"done": 1}})
    # Had the abandoned request run, its sandbox would live for 4 s now.
    time.sleep(0.3)
    assert not svc.sandbox_procs(), [cjtest.describe(p) for p in svc.sandbox_procs()]
    assert_healthy(svc)


# ---- malformed and oversized requests ----------------------------------------------

def test_malformed_multipart_is_400(service):
    body = (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n"
            + json.dumps({"code": "x = 1", "globals_dict": {}}).encode() + b"\r\n")
    r = requests.post(service.url(EXEC_PATH), data=body,
                      headers={"Content-Type": "multipart/form-data; boundary=BOUNDARY"}, timeout=10)
    assert r.status_code == 400
    parsed = assert_json_response(r)
    assert set(parsed) == {"detail"}, parsed
    assert parsed["detail"].startswith("Multipart form parse error - "), parsed
    assert_healthy(service)


def test_multipart_without_boundary_is_400(service):
    r = requests.post(service.url(EXEC_PATH), data=b"payload=x",
                      headers={"Content-Type": "multipart/form-data"}, timeout=10)
    assert r.status_code == 400
    parsed = assert_json_response(r)
    assert isinstance(parsed, dict) and parsed, parsed
    assert_healthy(service)


def test_body_over_max_is_413(make_service):
    svc = make_service({"max_body_bytes": 65536})
    body = form_body({"code": "x = 1", "globals_dict": {"pad": "a" * (1024 * 1024)}})
    status, raw = raw_request(svc.port, http_post_bytes(svc, body))
    assert status == 413, raw[:300]
    headers, content = response_parts(raw)
    assert headers.get("content-type") == "application/json", headers
    parsed = json.loads(content)
    assert isinstance(parsed, dict) and parsed, parsed
    assert_healthy(svc)


def test_body_over_max_with_requests(make_service):
    """The same through the client library: an answer (413) or a closed
    connection, never a hang, and the service unharmed."""
    svc = make_service({"max_body_bytes": 65536})
    try:
        r = svc.run("x = 1", {"pad": "a" * (1024 * 1024)}, timeout=10)
    except requests.ConnectionError:
        pass
    else:
        assert r.status_code == 413
    assert_healthy(svc)


def test_body_just_under_max_is_accepted(make_service):
    svc = make_service({"max_body_bytes": 65536})
    pad = "a" * 60000
    r = svc.run("n = len(pad)", {"pad": pad}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"pad": pad, "n": 60000}}


def test_chunked_body_over_max_is_refused(make_service):
    svc = make_service({"max_body_bytes": 65536})
    body = form_body({"code": "x = 1", "globals_dict": {"pad": "a" * (256 * 1024)}})
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                      for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    req = (f"POST {EXEC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           f"Transfer-Encoding: chunked\r\n\r\n").encode() + chunks
    status, raw = raw_request(svc.port, req)
    assert status in (413, None), raw[:300]
    if status == 413:
        headers, _ = response_parts(raw)
        assert headers.get("content-type") == "application/json", headers
    assert_healthy(svc)


def test_chunked_body_is_accepted(service):
    body = form_body({"code": "x = x + 1", "globals_dict": {"x": 1}})
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    req = (f"POST {EXEC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + chunks
    status, raw = raw_request(service.port, req)
    assert status == 200, raw[:300]
    _, content = response_parts(raw)
    assert json.loads(content) == {"globals_dict": {"x": 2}}


def test_garbage_on_the_socket(service):
    for junk in (b"\x00\xff\xfe garbage \x01\x02\r\n\r\n", b"GET\r\n\r\n", b"HELLO / HTTP/9.9\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)):
        status, raw = raw_request(service.port, junk, timeout=5)
        assert status in (None, 400), (junk, raw[:200])
        if status is None:
            assert raw == b"", (junk, raw[:200])
    assert_healthy(service)


def test_huge_header(service):
    try:
        r = requests.get(service.url(HEALTH_PATH), headers={"X-Big": "a" * (1024 * 1024)}, timeout=10)
    except requests.ConnectionError:
        pass
    else:
        assert r.status_code in (400, 413, 431), r.status_code
    assert_healthy(service)


def test_many_headers(service):
    headers = {f"X-H{i}": "v" for i in range(500)}
    try:
        r = requests.get(service.url(HEALTH_PATH), headers=headers, timeout=10)
    except requests.ConnectionError:
        pass
    else:
        assert r.status_code in (200, 400, 413, 431), r.status_code
    assert_healthy(service)


def test_moderate_header_is_fine(service):
    r = requests.post(service.url(EXEC_PATH),
                      data={"payload": json.dumps({"code": "x = 1", "globals_dict": {}})},
                      headers={"X-Trace": "t" * 4000}, timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": 1}}


def test_slow_client_body(service):
    """A body trickling in is read in full, then executed."""
    body = form_body({"code": "x = x + 1", "globals_dict": {"x": 41}})
    s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    try:
        req = http_post_bytes(service, body, extra=b"Connection: close\r\n")
        head_len = len(req) - len(body)
        s.sendall(req[:head_len])
        for i in range(0, len(body), 16):
            s.sendall(body[i:i + 16])
            time.sleep(0.01)
        status, raw = cjtest.read_response(s)
    finally:
        s.close()
    assert status == 200, raw[:300]
    _, content = response_parts(raw)
    assert json.loads(content) == {"globals_dict": {"x": 42}}


def test_keep_alive_reuse(service):
    with requests.Session() as sess:
        for i in range(20):
            if i % 2:
                r = sess.get(service.url(HEALTH_PATH), timeout=5)
                assert r.status_code == 200 and r.json() == {"status": "OK"}
            else:
                r = sess.post(service.url(EXEC_PATH),
                              data={"payload": json.dumps({"code": "y = x + 1", "globals_dict": {"x": i}})},
                              timeout=10)
                assert r.status_code == 200 and r.json() == {"globals_dict": {"x": i, "y": i + 1}}
        pool = sess.get_adapter(service.base).poolmanager.connection_from_url(service.base)
        assert pool.num_connections == 1, pool.num_connections


def test_keep_alive_after_error_answers(service):
    with requests.Session() as sess:
        statuses = []
        for _ in range(3):
            statuses.append(sess.get(service.url(EXEC_PATH), timeout=5).status_code)
            statuses.append(sess.post(service.url(EXEC_PATH), data={"payload": "{"}, timeout=5).status_code)
            statuses.append(sess.get(service.url("/nope"), timeout=5).status_code)
        assert statuses == [405, 400, 404] * 3
        r = sess.post(service.url(EXEC_PATH),
                      data={"payload": json.dumps({"code": "y = 1", "globals_dict": {}})}, timeout=10)
        assert r.status_code == 200 and r.json() == {"globals_dict": {"y": 1}}


# ---- HTTP variants real clients use ---------------------------------------------

def test_http10_request(service):
    body = form_body({"code": "x = x + 1", "globals_dict": {"x": 1}})
    req = (f"POST {EXEC_PATH} HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    status, raw = raw_request(service.port, req)
    assert status == 200, raw[:300]
    _, content = response_parts(raw)
    assert json.loads(content) == {"globals_dict": {"x": 2}}


def test_expect_100_continue(service):
    """curl sends larger bodies only after "100 Continue"."""
    body = form_body({"code": "x = x + 1", "globals_dict": {"x": 1, "pad": "p" * 4096}})
    s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    try:
        s.sendall(http_post_bytes(service, b"", extra=b"Expect: 100-continue\r\nConnection: close\r\n")
                  .replace(b"Content-Length: 0", b"Content-Length: %d" % len(body)))
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100"), first[:200]
        s.sendall(body)
        status, raw = cjtest.read_response(s)
    finally:
        s.close()
    assert status == 200, raw[:300]
    _, content = response_parts(raw)
    assert json.loads(content) == {"globals_dict": {"x": 2, "pad": "p" * 4096}}


def test_query_string_is_ignored(service):
    r = requests.post(service.url(EXEC_PATH + "?foo=bar"),
                      data={"payload": json.dumps({"code": "x = 1", "globals_dict": {}})}, timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": 1}}


def test_form_content_type_with_charset(service):
    r = requests.post(service.url(EXEC_PATH), data=form_body({"code": "x = 'é'", "globals_dict": {}}),
                      headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": "é"}}
