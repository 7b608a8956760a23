"""The answer is what the contract says whatever the code writes on the
result channel (fd 3): the code runs in the wrapper's interpreter, so it can
write its own result and leave before the wrapper does.  Then, as the codejail
library reads a result (`globals_dict.update(json.loads(result))`): a repeated
key is one key with its last value, an entry with text that has no UTF-8 form
(a lone surrogate) is dropped (the json_safe rule), and the input globals the
result does not name stay.  Checked on the raw answer text, because a client's
JSON parser would hide repeated keys; on the cold path and the warm path."""

import json
import re
import time

import pytest

import cjtest
from test_warm import warm  # noqa: F401  (the module's warm service)

INPUT = {"x": 16, "s": "keep", "k": [1]}


def own_result(text):
    """Code that writes text as its own result and exits before the wrapper
    writes anything."""
    return f"import os\nos.write(3, {text.encode()!r})\nos._exit(0)"


CASES = [
    # the three: repeats, a lone surrogate, the input globals
    ('{"a": 1, "a": 2}', {**INPUT, "a": 2}),
    ('{"x": "\\ud800", "t": ["\\udc00"], "u": "\\ud83d\\ude00"}', {**INPUT, "u": "\U0001F600"}),
    ('{"y": 1}', {**INPUT, "y": 1}),
    # the same key spelt two ways is one key; the first position, the last value
    ('{"x": 1, "b": 2, "\\u0078": 3}', {"x": 3, "s": "keep", "k": [1], "b": 2}),
    # repeats and lone surrogates inside values, and in keys
    ('{"d": {"q": 1, "q": {"r": 1, "r": 2}}, "\\ud800": 1, "e": {"\\udfff": 1}}', {**INPUT, "d": {"q": {"r": 2}}}),
    ('{"n": NaN, "big": 123456789012345678901234567890}', None),
]


def pairs_everywhere(text):
    """Every object of the answer as its list of (key, value) pairs."""
    found = []

    def hook(pairs):
        found.append([k for k, _ in pairs])
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return found


def check(svc, written, expected):
    r = svc.run(own_result(written), INPUT)
    assert r.status_code == 200, r.text
    for keys in pairs_everywhere(r.text):
        assert len(keys) == len(set(keys)), (keys, r.text)
    body = r.json()
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    assert set(body) == {"globals_dict"}, r.text
    g = body["globals_dict"]
    if expected is None:  # numbers pass exactly
        assert '"n": NaN' in r.text and '"big": 123456789012345678901234567890' in r.text, r.text
        assert {k: g[k] for k in INPUT} == INPUT
    else:
        assert g == expected, r.text
        assert list(g) == list(expected), r.text  # dict.update's order


@pytest.mark.parametrize("written,expected", CASES)
def test_own_result_cold(service, written, expected):
    check(service, written, expected)


@pytest.mark.parametrize("written,expected", CASES)
def test_own_result_warm(warm, written, expected):  # noqa: F811
    # A request that finds no clone ready (the last test's still being
    # refilled) runs cold; its answer is checked all the same, and the
    # request is made again until one ran warm.
    for _ in range(5):
        before = len(re.findall(r"path=warm", warm.log()))
        check(warm, written, expected)
        if len(re.findall(r"path=warm", warm.log())) == before + 1:
            return
        time.sleep(0.2)
    raise AssertionError("no execution ran on the warm path in 5 tries:\n" + warm.log()[-2000:])


@pytest.mark.parametrize("written", ['[1, 2]', '{"a": 1', '{"a": 1}{"b": 2}', '', '"x"'])
def test_not_an_object_is_corrupted_stdout(service, written):
    r = service.run(own_result(written), INPUT)
    assert r.status_code == 200
    assert r.json() == {"globals_dict": INPUT, "emsg": "Sandboxed code produced corrupted stdout."}


def test_well_behaved_answers_are_unchanged(service):
    # The wrapper's own result, byte for byte as before.
    r = service.run("x = x + 1\ny = [i * i for i in range(4)]", {"x": 16})
    assert r.text == '{"globals_dict": {"x": 17, "y": [0, 1, 4, 9]}}', r.text
    r = service.run("1/0", {"a": 1})
    assert r.json()["globals_dict"] == {"a": 1}
