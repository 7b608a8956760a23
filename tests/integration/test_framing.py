"""Strict HTTP/1 framing (RFC 9112 section 6): a request whose body length
two readers could compute differently is answered 400 with a JSON body and
its connection closed, and whatever was sent after it on that connection is
never answered as a request of its own.  Raw sockets, because an HTTP
library would never send these."""

import json
import socket
import time

import pytest

from cjtest import EXEC_PATH, form_body, response_parts

# What a proxy that frames differently would pass on as the next request.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def exchange(port, data, timeout=10.0):
    """Sends data, then reads until the server closes (bounded); returns all
    bytes read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"connection still open after {timeout}s; read so far: {buf[:600]!r}")
            if not chunk:
                return buf
            buf += chunk
        raise AssertionError(f"connection still open after {timeout}s; read so far: {buf[:600]!r}")
    finally:
        s.close()


def statuses(raw):
    return [int(line.split()[1]) for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def assert_refused(raw, json_body=True):
    assert statuses(raw) == [400], raw[:600]
    headers, body = response_parts(raw)
    assert headers.get("connection", "").lower() == "close", raw[:600]
    if json_body:
        assert headers.get("content-type", "").split(";")[0] == "application/json", raw[:600]
        assert set(json.loads(body)) == {"error"}, body


def post_head(extra_headers):
    return (f"POST {EXEC_PATH} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n").encode() + extra_headers + b"\r\n"


BODY = form_body({"code": "x = 1", "globals_dict": {}})


def test_differing_content_lengths(service):
    # A reader of the first length sees BODY; a reader of the second one
    # sees BODY plus the smuggled request as the body.
    second = len(BODY) + len(SMUGGLED)
    req = post_head(f"Content-Length: {len(BODY)}\r\nContent-Length: {second}\r\n".encode()) + BODY + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_content_length_and_chunked(service):
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    req = post_head(f"Content-Length: {len(chunked) + len(SMUGGLED)}\r\n"
                    "Transfer-Encoding: chunked\r\n".encode()) + chunked + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_chunked_before_content_length(service):
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    req = post_head(b"Transfer-Encoding: chunked\r\n" +
                    f"Content-Length: {len(chunked)}\r\n".encode()) + chunked + SMUGGLED
    assert_refused(exchange(service.port, req))


@pytest.mark.parametrize("te", [b"gzip, chunked", b"chunked, chunked", b"identity", b"chunked "])
def test_transfer_encoding_other_than_chunked(service, te):
    req = post_head(b"Transfer-Encoding: " + te + b"\r\n") + b"0\r\n\r\n" + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_two_transfer_encodings(service):
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    req = post_head(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") + chunked + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_transfer_encoding_in_http_1_0(service):
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    req = post_head(b"Transfer-Encoding: chunked\r\n").replace(b"HTTP/1.1", b"HTTP/1.0", 1) + chunked + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_content_length_list(service):
    req = post_head(f"Content-Length: {len(BODY)}, {len(BODY)}\r\n".encode()) + BODY + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_folded_content_length(service):
    # Unfolded, the length is "<n> 0", not a number; taken line by line it
    # is <n>.  Either way it is not one length every reader agrees on.
    req = post_head(f"Content-Length: {len(BODY)}\r\n 0\r\n".encode()) + BODY + SMUGGLED
    assert_refused(exchange(service.port, req))


def test_folded_header_without_a_body(service):
    # Nothing to frame: h2o's own parse error (its plain 400), still closed.
    req = b"GET /health/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" + SMUGGLED
    assert_refused(exchange(service.port, req), json_body=False)


def test_identical_content_lengths_are_one(service):
    """RFC 9110 8.6 lets a recipient collapse identical repeats; we do, and
    the request is answered like any other (then the connection is closed
    on our request, so the test reads to the end)."""
    req = (post_head(f"Content-Length: {len(BODY)}\r\nContent-Length: {len(BODY)}\r\n"
                     "Connection: close\r\n".encode()) + BODY)
    raw = exchange(service.port, req, timeout=15.0)
    assert statuses(raw) == [200], raw[:600]
    _, body = response_parts(raw)
    assert json.loads(body) == {"globals_dict": {"x": 1}}


def test_refusal_leaves_other_connections_alone(service):
    chunked = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
    bad = post_head(f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n".encode()) + chunked
    for _ in range(20):
        assert_refused(exchange(service.port, bad + SMUGGLED))
    r = service.run("y = 2")
    assert r.status_code == 200 and r.json() == {"globals_dict": {"y": 2}}
    assert service.health()[0] == 200


def test_refusals_are_logged_with_their_reason_in_the_log_format(make_service):
    """Logged by the service's own logger (a warning at every log_level), so
    a JSON log stays JSON line by line."""
    svc = make_service({"log_format": "json", "log_level": "error"}, name="framing-json")
    cases = [
        (post_head(f"Content-Length: {len(BODY)}\r\nTransfer-Encoding: chunked\r\n".encode()) + BODY,
         "both Content-Length and Transfer-Encoding"),
        (post_head(f"Content-Length: {len(BODY)}\r\n 0\r\n".encode()) + BODY, "obsolete line folding"),
        (post_head(f"Content-Length: {len(BODY)}, {len(BODY)}\r\n".encode()) + BODY,
         "a Content-Length that is not a number"),
    ]
    for req, _ in cases:
        assert_refused(exchange(svc.port, req))
    lines = [json.loads(line) for line in svc.log().splitlines() if line.strip()]
    refusals = [r for r in lines if r["msg"].startswith("refused a request: ")]
    assert [r["msg"] for r in refusals] == [
        f"refused a request: {why} (RFC 9112: 400, connection closed)" for _, why in cases], lines
    assert all(r["level"] == "warning" and r["prog"] == "codejail-server" for r in refusals), refusals
