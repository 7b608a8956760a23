"""The request checks of the contract, each with its exact status and
message, and their order."""

import json

import pytest
import requests

from cjtest import EXEC_PATH, assert_json_response, make_zip

ZIP = make_zip({"course_library.py": "ANSWER = 42\n"})
GOOD = {"code": "x = x + 1", "globals_dict": {"x": 16}}


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = assert_json_response(r)
    assert list(body) == ["error"], body
    return body["error"]


# ---- 1/2: disabled, probe failed -------------------------------------------

def test_disabled_service(make_service):
    svc = make_service({"enabled": False})
    r = svc.post(GOOD)
    assert error_of(r, 500) == "Codejail service not enabled"


def test_disabled_service_health_still_ok(make_service):
    svc = make_service({"enabled": False})
    assert svc.health() == (200, {"status": "OK"})


def test_disabled_comes_before_missing_payload(make_service):
    svc = make_service({"enabled": False})
    r = requests.post(svc.url(EXEC_PATH), data={"other": "1"}, timeout=10)
    assert error_of(r, 500) == "Codejail service not enabled"


def test_probe_failure_makes_health_503_and_refuses(make_service):
    # An "interpreter" that always fails: the startup probe cannot pass.
    svc = make_service({"python_bin": "/bin/false"}, expect_health=503)
    assert svc.health() == (503, {"status": "UNAVAILABLE"})
    assert "startup check 'functionality' failed" in svc.log()
    r = svc.post(GOOD)
    assert error_of(r, 500) == "Codejail service is not correctly configured"


def test_disabled_comes_before_probe_failure(make_service):
    svc = make_service({"python_bin": "/bin/false", "enabled": False}, expect_health=503)
    r = svc.post(GOOD)
    assert error_of(r, 500) == "Codejail service not enabled"


# ---- 3: payload field -------------------------------------------------------

def test_missing_payload(service):
    r = requests.post(service.url(EXEC_PATH), data={"code": "x = 1"}, timeout=10)
    assert error_of(r, 400) == "Missing 'payload' parameter in POST body"


def test_empty_body_is_missing_payload(service):
    r = requests.post(service.url(EXEC_PATH), timeout=10)
    assert error_of(r, 400) == "Missing 'payload' parameter in POST body"


def test_missing_payload_multipart(service):
    r = requests.post(service.url(EXEC_PATH), data={"other": "1"},
                      files={"python_lib.zip": ("python_lib.zip", ZIP)}, timeout=10)
    assert error_of(r, 400) == "Missing 'payload' parameter in POST body"


# ---- 4: not JSON ------------------------------------------------------------

def test_payload_empty_string(service):
    r = service.post("")
    assert error_of(r, 400) == "Unable to parse payload JSON: Expecting value: line 1 column 1 (char 0)"


@pytest.mark.parametrize("text", [
    "not json",
    "{",
    '{"code": "x = 1", "globals_dict": {}',
    "{'code': 'x = 1', 'globals_dict': {}}",
    '{"code": "x = 1", "globals_dict": {}} extra',
    '{"code": "x = 1",}',
    "nan",
])
def test_payload_not_json(service, text):
    r = service.post(text)
    msg = error_of(r, 400)
    assert msg.startswith("Unable to parse payload JSON: "), msg
    detail = msg[len("Unable to parse payload JSON: "):]
    # Python's json module's wording: "<what>: line L column C (char N)".
    assert " line " in detail and " column " in detail and "(char " in detail, msg
    # ...and the same as json.loads would say.
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        assert detail == str(e)


# ---- 5: schema --------------------------------------------------------------

def test_schema_missing_code(service):
    r = service.post({"globals_dict": {}})
    assert error_of(r, 400) == "Payload JSON did not match schema at path $: 'code' is a required property"


def test_schema_missing_globals(service):
    r = service.post({"code": "x = 1"})
    assert error_of(r, 400) == \
        "Payload JSON did not match schema at path $: 'globals_dict' is a required property"


def test_schema_globals_not_object(service):
    r = service.post({"code": "x = 1", "globals_dict": 5})
    assert error_of(r, 400) == \
        "Payload JSON did not match schema at path $.globals_dict: 5 is not of type 'object'"


def test_schema_globals_list_not_object(service):
    r = service.post({"code": "x = 1", "globals_dict": [1, 2]})
    assert error_of(r, 400) == \
        "Payload JSON did not match schema at path $.globals_dict: [1, 2] is not of type 'object'"


def test_schema_code_not_string(service):
    r = service.post({"code": 5, "globals_dict": {}})
    assert error_of(r, 400) == "Payload JSON did not match schema at path $.code: 5 is not of type 'string'"


def test_schema_payload_not_object(service):
    r = service.post([1])
    assert error_of(r, 400) == "Payload JSON did not match schema at path $: [1] is not of type 'object'"


def test_schema_unsafely_not_boolean(service):
    r = service.post({"code": "x = 1", "globals_dict": {}, "unsafely": "yes"})
    assert error_of(r, 400) == \
        "Payload JSON did not match schema at path $.unsafely: 'yes' is not of type 'boolean'"


def test_unknown_keys_are_ignored(service):
    r = service.post({"code": "x = x + 1", "globals_dict": {"x": 1}, "something_new": [1, 2]})
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"x": 2}}


def test_null_optional_fields_are_accepted(service):
    r = service.post({"code": "x = x + 1", "globals_dict": {"x": 1}, "python_path": None,
                      "limit_overrides_context": None, "slug": None, "unsafely": False})
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"x": 2}}


# ---- 6: python_path ---------------------------------------------------------

@pytest.mark.parametrize("python_path", [["other"], ["python_lib.zip", "other.zip"], ["/usr/lib"], [""]])
def test_python_path_other_entries(service, python_path):
    r = service.post(dict(GOOD, python_path=python_path), files={"python_lib.zip": ("python_lib.zip", ZIP)})
    assert error_of(r, 400) == "Only allowed entry in 'python_path' is 'python_lib.zip'"


def test_python_path_empty_list_is_fine(service):
    r = service.post(dict(GOOD, python_path=[]))
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"x": 17}}


# ---- 7: uploaded file name --------------------------------------------------

def test_upload_other_name(service):
    r = service.post(GOOD, files={"other.zip": ("other.zip", ZIP)})
    assert error_of(r, 400) == "Only allowed name for uploaded file is 'python_lib.zip'"


def test_upload_other_name_besides_zip(service):
    r = service.post(dict(GOOD, python_path=["python_lib.zip"]),
                     files=[("python_lib.zip", ("python_lib.zip", ZIP)), ("other.zip", ("other.zip", ZIP))])
    assert error_of(r, 400) == "Only allowed name for uploaded file is 'python_lib.zip'"


# ---- 8: unsafely ------------------------------------------------------------

def test_unsafely_true_refused(service):
    r = service.post(dict(GOOD, unsafely=True))
    assert error_of(r, 400) == "Refusing codejail execution with unsafely=true"


def test_unsafely_false_runs(service):
    r = service.post(dict(GOOD, unsafely=False))
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"x": 17}}


# ---- python_path names the zip, none uploaded ---------------------------------

def test_python_path_zip_without_upload(service):
    g = {"x": 16, "s": "keep"}
    r = service.post({"code": "x = x + 1", "globals_dict": g, "python_path": ["python_lib.zip"]})
    assert r.status_code == 200
    assert r.json() == {"globals_dict": g, "emsg": "Couldn't execute sandboxed code: See logs."}


# ---- order ------------------------------------------------------------------

def test_order_schema_before_unsafely(service):
    r = service.post({"globals_dict": {}, "unsafely": True})
    assert error_of(r, 400) == "Payload JSON did not match schema at path $: 'code' is a required property"


def test_order_python_path_before_unsafely(service):
    r = service.post(dict(GOOD, python_path=["elsewhere"], unsafely=True))
    assert error_of(r, 400) == "Only allowed entry in 'python_path' is 'python_lib.zip'"


def test_order_python_path_before_upload_name(service):
    r = service.post(dict(GOOD, python_path=["elsewhere"]), files={"other.zip": ("other.zip", ZIP)})
    assert error_of(r, 400) == "Only allowed entry in 'python_path' is 'python_lib.zip'"


def test_order_upload_name_before_unsafely(service):
    r = service.post(dict(GOOD, unsafely=True), files={"other.zip": ("other.zip", ZIP)})
    assert error_of(r, 400) == "Only allowed name for uploaded file is 'python_lib.zip'"


def test_order_not_json_before_schema(service):
    r = service.post('{"unsafely": true')
    assert error_of(r, 400).startswith("Unable to parse payload JSON: ")


def test_order_unsafely_before_missing_zip(service):
    r = service.post(dict(GOOD, python_path=["python_lib.zip"], unsafely=True))
    assert error_of(r, 400) == "Refusing codejail execution with unsafely=true"


# ---- form details -------------------------------------------------------------

def test_duplicate_payload_field_last_wins(service):
    """Django's QueryDict gives the last value of a repeated field."""
    first = json.dumps({"code": "x = 1", "globals_dict": {}})
    last = json.dumps({"code": "x = 2", "globals_dict": {}})
    r = requests.post(service.url(EXEC_PATH), data=[("payload", first), ("payload", last)], timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": 2}}


def test_multipart_payload_without_upload(service):
    """The payload as a multipart field works the same as urlencoded."""
    r = requests.post(service.url(EXEC_PATH), files={"payload": (None, json.dumps(GOOD))}, timeout=10)
    assert r.status_code == 200
    assert assert_json_response(r) == {"globals_dict": {"x": 17}}


def test_field_name_with_nul_is_not_payload(service):
    """Field names compare whole: "payload%00x" is another field."""
    r = requests.post(service.url(EXEC_PATH),
                      data={"payload\x00x": json.dumps({"code": "x = 1", "globals_dict": {}})}, timeout=10)
    assert error_of(r, 400) == "Missing 'payload' parameter in POST body"


def test_invalid_utf8_in_form_is_replaced(service):
    """Django decodes form fields with errors='replace': an invalid byte in
    the payload becomes U+FFFD rather than a parse error."""
    body = b"payload=" + b"%7B%22code%22%3A%22x%3D%27%FF%27%22%2C%22globals_dict%22%3A%7B%7D%7D"
    r = requests.post(service.url(EXEC_PATH), data=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert r.status_code == 200, r.text
    assert assert_json_response(r) == {"globals_dict": {"x": "\ufffd"}}
