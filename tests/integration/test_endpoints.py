"""Endpoints, methods, media types: what operators' health checks and the
client's HTTP layer see."""

import json

import requests

from cjtest import EXEC_PATH, HEALTH_PATH, assert_json_response


def test_startup_is_logged(service):
    log = service.log()
    assert "codejail-server: startup check 'functionality' passed: ok" in log
    assert "codejail-server: startup probe passed: serving" in log


def test_health_with_slash(service):
    r = requests.get(service.url(HEALTH_PATH), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "OK"}


def test_health_without_slash(service):
    r = requests.get(service.url("/health"), timeout=5, allow_redirects=False)
    if r.status_code == 301:
        assert r.headers["Location"] in ("/health/", service.url("/health/"))
        r = requests.get(service.url("/health"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "OK"}


def test_get_code_exec_is_405(service):
    r = requests.get(service.url(EXEC_PATH), timeout=5)
    assert r.status_code == 405
    assert assert_json_response(r) == {"detail": 'Method "GET" not allowed.'}


def test_put_code_exec_is_405(service):
    r = requests.put(service.url(EXEC_PATH), data={"payload": "{}"}, timeout=5)
    assert r.status_code == 405
    assert assert_json_response(r) == {"detail": 'Method "PUT" not allowed.'}


def test_delete_code_exec_is_405(service):
    r = requests.delete(service.url(EXEC_PATH), timeout=5)
    assert r.status_code == 405
    assert assert_json_response(r) == {"detail": 'Method "DELETE" not allowed.'}


def test_json_body_is_415(service):
    r = requests.post(service.url(EXEC_PATH), json={"payload": {"code": "x = 1", "globals_dict": {}}},
                      timeout=5)
    assert r.status_code == 415
    assert assert_json_response(r) == {"detail": 'Unsupported media type "application/json" in request.'}


def test_unknown_path_is_404_json(service):
    for path in ("/", "/api/v0/code-exec/extra", "/api/v1/code-exec", "/health/extra", "/nope"):
        r = requests.get(service.url(path), timeout=5)
        assert r.status_code == 404, path
        body = assert_json_response(r)
        assert isinstance(body, dict) and body, (path, body)


def test_unknown_path_post_is_404_json(service):
    r = requests.post(service.url("/api/v0/code-exe"), data={"payload": "{}"}, timeout=5)
    assert r.status_code == 404
    body = assert_json_response(r)
    assert isinstance(body, dict) and body


def test_authorization_header_is_ignored(service):
    r = requests.post(service.url(EXEC_PATH),
                      data={"payload": json.dumps({"code": "x = x + 1", "globals_dict": {"x": 1}})},
                      headers={"Authorization": "Bearer not-a-real-token"}, timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": 2}}


def test_every_answer_is_json(service):
    """A sample of each kind of answer, all with Content-Type application/json."""
    answers = [
        requests.get(service.url(HEALTH_PATH), timeout=5),
        requests.get(service.url(EXEC_PATH), timeout=5),
        requests.post(service.url(EXEC_PATH), json={}, timeout=5),
        requests.post(service.url(EXEC_PATH), data={}, timeout=5),
        requests.post(service.url(EXEC_PATH), data={"payload": "nope"}, timeout=5),
        requests.post(service.url(EXEC_PATH),
                      data={"payload": json.dumps({"code": "1/0", "globals_dict": {}})}, timeout=10),
        requests.post(service.url(EXEC_PATH),
                      data={"payload": json.dumps({"code": "y = 1", "globals_dict": {}})}, timeout=10),
        requests.get(service.url("/missing"), timeout=5),
    ]
    assert [r.status_code for r in answers] == [200, 405, 415, 400, 400, 200, 200, 404]
    for r in answers:
        assert r.headers.get("Content-Type") == "application/json", (r.url, r.status_code, r.headers)
        json.loads(r.text)
