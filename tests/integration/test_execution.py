"""What an execution answers: the globals (the library's json_safe rule),
numbers, text, and the exact emsg formats."""

import json
import math
import os
import re

import pytest

import cjtest
from cjtest import expected_failed_run, failed, make_zip, ok_globals


# ---- globals ------------------------------------------------------------------

def test_increment(service):
    r = service.run("x = x + 1", {"x": 16})
    assert r.status_code == 200
    assert r.json() == {"globals_dict": {"x": 17}}


def test_new_globals_are_added(service):
    g = ok_globals(service.run("b = a * 2\nc = 'hi'\nd = [a, None, True, 1.5]", {"a": 21}))
    assert g == {"a": 21, "b": 42, "c": "hi", "d": [21, None, True, 1.5]}


def test_unserialisable_globals_are_dropped(service):
    code = ("import os\n"
            "def f():\n    pass\n"
            "class C:\n    pass\n"
            "s = {1, 2}\n"
            "fs = frozenset([1])\n"
            "obj = object()\n"
            "cplx = 1j\n"
            "n = None\n"
            "t = True\n")
    g = ok_globals(service.run(code, {"keep": 1}))
    assert g == {"keep": 1, "n": None, "t": True}


def test_builtins_dropped_other_dunders_kept(service):
    g = ok_globals(service.run("__foo__ = 5\n__bar = 'x'\n_private = 1", {}))
    assert g == {"__foo__": 5, "__bar": "x", "_private": 1}
    assert "__builtins__" not in g


def test_bytes_are_decoded(service):
    g = ok_globals(service.run("b = 'café'.encode('utf-8')\nnested = [b'x', {'k': b'y'}]", {}))
    assert g == {"b": "café", "nested": ["x", {"k": "y"}]}


def test_tuples_become_lists(service):
    g = ok_globals(service.run("t = (1, (2, 3), [4, (5,)])\ne = ()", {}))
    assert g == {"t": [1, [2, 3], [4, [5]]], "e": []}


def test_dict_keys_become_strings(service):
    g = ok_globals(service.run("d = {1: 'a', 'b': 2, 2.5: 'c', None: 'n', False: 'f', b'k': 'bytes'}", {}))
    assert g == {"d": {"1": "a", "b": 2, "2.5": "c", "null": "n", "false": "f", "k": "bytes"}}


def test_non_utf8_bytes_drop_only_that_entry(service):
    code = "keep = b'\\xff\\xfe'\nnewbad = b'ok\\x80'\ny = 2"
    g = ok_globals(service.run(code, {"keep": "orig", "x": 1}))
    assert g == {"keep": "orig", "x": 1, "y": 2}


def test_nested_unserialisable_drops_only_that_entry(service):
    code = "bad = [1, {2, 3}]\nbad2 = {'k': object()}\ngood = [1, {'a': (2,)}]"
    g = ok_globals(service.run(code, {"bad": "in"}))
    assert g == {"bad": "in", "good": [1, {"a": [2]}]}


def test_lone_surrogate_drops_its_entry(service):
    code = "s = '\\ud800'\nt = 'a\\udfffb'\nok = 'fine'"
    g = ok_globals(service.run(code, {"s": "input"}))
    assert g == {"s": "input", "ok": "fine"}


def test_deleted_global_keeps_input_value(service):
    g = ok_globals(service.run("del a\nb = 3", {"a": 1, "b": 2, "c": 3}))
    assert g == {"a": 1, "b": 3, "c": 3}


def test_dropped_value_keeps_input_value(service):
    g = ok_globals(service.run("import math as m\nf = lambda: 1", {"m": "module?", "f": 7}))
    assert g == {"m": "module?", "f": 7}


def test_print_never_reaches_the_answer(service):
    r = service.run("print('hello from print')\nimport sys\nsys.stdout.write('direct')\nx = 1", {})
    assert r.json() == {"globals_dict": {"x": 1}}
    assert "hello from print" not in r.text and "direct" not in r.text


def test_input_globals_pass_through_untouched(service):
    g = {"nested": {"a": [1, 2.5, None, True, False, "s"], "b": {}}, "empty": [], "f": -0.5}
    assert ok_globals(service.run("pass", g)) == g


# ---- numbers ------------------------------------------------------------------

def test_big_integers_both_ways(service):
    big = 2 ** 200
    r = service.run("same = big == 2 ** 200\nbig2 = big * 2\nbig3 = 3 ** 150\nneg = -big", {"big": big})
    assert r.status_code == 200
    for n in (big, 2 ** 201, 3 ** 150, -big):
        assert str(n) in r.text
    assert r.json() == {"globals_dict": {"big": big, "same": True, "big2": 2 ** 201, "big3": 3 ** 150,
                                         "neg": -big}}


def test_nan_and_infinity_both_ways(service):
    g = {"n": float("nan"), "i": float("inf"), "m": float("-inf")}
    code = ("import math\n"
            "chk = [math.isnan(n), i == float('inf'), m == float('-inf')]\n"
            "out_n = float('nan')\nout_i = float('inf')\nout_m = -float('inf')")
    r = service.run(code, g)
    assert r.status_code == 200
    assert "NaN" in r.text and "Infinity" in r.text and "-Infinity" in r.text
    out = r.json()["globals_dict"]
    assert out["chk"] == [True, True, True]
    assert math.isnan(out["out_n"]) and math.isnan(out["n"])
    assert out["out_i"] == math.inf and out["i"] == math.inf
    assert out["out_m"] == -math.inf and out["m"] == -math.inf


def test_floats_exact(service):
    vals = [0.1, 1e-300, 1.7976931348623157e308, -2.5e-7, 123456789.123456789]
    g = ok_globals(service.run("ys = [v * 1 for v in xs]\nsame = ys == xs", {"xs": vals}))
    assert g["same"] is True
    assert g["ys"] == vals


# ---- text ---------------------------------------------------------------------

def test_unicode(service):
    s = "héllo wörld ✓ 😀 日本語 \u0000 \t\n\"quoted\" \\back"
    g = ok_globals(service.run("t = s.upper()\nu = '日本語😀'\nn = len(s)\nключ = 'значение'", {"s": s}))
    assert g == {"s": s, "t": s.upper(), "u": "日本語😀", "n": len(s), "ключ": "значение"}


def test_unicode_code(service):
    g = ok_globals(service.run("# коммент ✓\nx = '✓' * 3", {}))
    assert g == {"x": "✓✓✓"}


# ---- failures -----------------------------------------------------------------

def test_exception_emsg_exact(make_service):
    """With work_dir /tmp (the default) the traceback names
    /tmp/codejail-<random>/jailed_code, like the library's."""
    svc = make_service({"work_dir": "/tmp"})
    g = {"x": 16, "nested": {"a": [1, 2.5, None]}}
    r = svc.run("x = 99\n1/0", g)
    emsg = failed(r, g)
    assert json.dumps(g) in r.text  # the input globals exactly as sent
    paths = re.findall(r'File "([^"]*)/jailed_code"', emsg)
    assert len(paths) == 1, emsg
    assert re.fullmatch(r"/tmp/codejail-[0-9a-zA-Z_]+", paths[0]), paths[0]
    expected = expected_failed_run(
        b"",
        b'Traceback (most recent call last):\n'
        b'  File "/tmp/codejail-<SANDBOX_DIR_NAME>/jailed_code", line 19, in <module>\n'
        b'    exec(code, g_dict)\n'
        b'  File "<string>", line 2, in <module>\n'
        b'ZeroDivisionError: division by zero\n',
        1)
    assert cjtest.normalise_sandbox_dir(emsg) == expected
    # The execution's directory is gone once answered.
    assert cjtest.wait_for(lambda: not os.path.exists(paths[0]), 3.0), paths[0]


def test_exception_emsg_contract_example(make_service):
    svc = make_service({"work_dir": "/tmp"})
    r = svc.run("1/0", {"x": 16})
    emsg = failed(r, {"x": 16})
    assert cjtest.normalise_sandbox_dir(emsg) == (
        "Couldn't execute jailed code: stdout: b'', stderr: b'Traceback (most recent call last):\\n"
        "  File \"/tmp/codejail-<SANDBOX_DIR_NAME>/jailed_code\", line 19, in <module>\\n"
        "    exec(code, g_dict)\\n  File \"<string>\", line 1, in <module>\\n"
        "ZeroDivisionError: division by zero\\n' with status code: 1")
    d = re.search(r"/tmp/codejail-[0-9a-zA-Z_]+", emsg).group(0)
    assert cjtest.wait_for(lambda: not os.path.exists(d), 3.0), d


def test_exception_traceback_names_jailed_code_in_its_directory(service):
    r = service.run("import os\nraise ValueError(os.getcwd())", {})
    emsg = failed(r, {})
    m = re.search(r'File "([^"]*)/jailed_code", line 19, in <module>', emsg)
    assert m, emsg
    assert emsg.endswith("ValueError: %s\\n' with status code: 1" % m.group(1)), emsg


def test_sys_exit_status(service):
    emsg = failed(service.run("import sys\nsys.exit(3)", {"a": 1}), {"a": 1})
    assert emsg == expected_failed_run(b"", b"", 3)


def test_os_exit_status(service):
    emsg = failed(service.run("import os\nos._exit(42)", {}), {})
    assert emsg == expected_failed_run(b"", b"", 42)


def test_killed_by_signal_status(service):
    emsg = failed(service.run("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", {}), {})
    assert emsg == expected_failed_run(b"", b"", -15)


@pytest.mark.parametrize("data", [
    b"quote' dq\" back\\ nl\n tab\t cr\r nul\x00 del\x7f hi\x80\xff utf8 \xc3\xa9 end",
    b"only single ' quote",
    b'only double " quote',
    b"",
    bytes(range(256)),
], ids=["mixed", "single-quote", "double-quote", "empty", "all-bytes"])
def test_stderr_repr_exact(service, data):
    code = f"import sys\nsys.stderr.buffer.write({data!r})\nsys.stderr.flush()\nraise SystemExit(2)"
    emsg = failed(service.run(code, {"k": "v"}), {"k": "v"})
    assert emsg == expected_failed_run(b"", data, 2)


def test_stdout_repr_when_written_to_fd1(service):
    code = "import os\nos.write(1, b'out\\'put\\n')\nos._exit(1)"
    emsg = failed(service.run(code, {}), {})
    assert emsg == expected_failed_run(b"out'put\n", b"", 1)


def test_corrupted_result_channel(service):
    g = {"x": 1}
    r = service.run("import os\nos.write(3, b'garbage')\nos._exit(0)", g)
    assert failed(r, g) == "Sandboxed code produced corrupted stdout."


def test_empty_result_channel(service):
    g = {"x": 1}
    r = service.run("import os\nos._exit(0)", g)
    assert failed(r, g) == "Sandboxed code produced corrupted stdout."


def test_truncated_result_channel(service):
    g = {"x": 1}
    r = service.run("import os\nos.write(3, b'{\"x\": ')\nos._exit(0)", g)
    assert failed(r, g) == "Sandboxed code produced corrupted stdout."


# ---- python_lib.zip -------------------------------------------------------------

def test_import_from_python_lib_zip(service):
    z = make_zip({"course_library.py": "def answer():\n    return 42\n",
                  "pkg/__init__.py": "", "pkg/mod.py": "NAME = 'pkg.mod'\n"})
    r = service.run("import course_library\nfrom pkg import mod\nr = course_library.answer()\nn = mod.NAME",
                    {}, python_path=["python_lib.zip"], files={"python_lib.zip": ("python_lib.zip", z)})
    assert r.status_code == 200, r.text
    assert r.json() == {"globals_dict": {"r": 42, "n": "pkg.mod"}}


def test_zip_present_but_not_on_path_without_python_path(service):
    z = make_zip({"course_library.py": "ANSWER = 42\n"})
    code = ("import os, sys\n"
            "exists = os.path.exists('python_lib.zip')\n"
            "size = os.path.getsize('python_lib.zip')\n"
            "inpath = any(p.endswith('python_lib.zip') for p in sys.path)\n"
            "try:\n    import course_library\n    imported = True\n"
            "except ImportError:\n    imported = False\n")
    r = service.run(code, {}, files={"python_lib.zip": ("python_lib.zip", z)})
    assert ok_globals(r) == {"exists": True, "size": len(z), "inpath": False, "imported": False}


def test_zip_absent_when_not_uploaded(service):
    g = ok_globals(service.run("import os\nexists = os.path.exists('python_lib.zip')", {}))
    assert g == {"exists": False}


@pytest.mark.parametrize("entries", [1, 2, 3])
def test_zip_exception_traceback_line_as_the_library(service, entries):
    """The codejail library's wrapper adds a sys.path.append line for each
    python_path entry before exec(): with python_lib.zip once, exec() is on
    line 20; named again, one line further each time."""
    z = make_zip({"course_library.py": "ANSWER = 42\n"})
    r = service.run("import course_library\n1/0", {}, python_path=["python_lib.zip"] * entries,
                    files={"python_lib.zip": ("python_lib.zip", z)})
    emsg = failed(r, {})
    line = 19 + entries
    assert f"/jailed_code\", line {line}, in <module>\\n    exec(code, g_dict)\\n" in emsg, emsg
    assert emsg.endswith("ZeroDivisionError: division by zero\\n' with status code: 1"), emsg


# ---- the interpreter runs with -S: site's work is done once at startup ----

def test_site_packages_import(service):
    # Debian's dist-packages (six, random2: the LMS prolog's imports) come
    # from the directories the service asked site for at startup.
    r = service.run("import six, random2\nok = six.PY3 and random2.Random(7).random() < 1", {})
    assert ok_globals(r) == {"ok": True}


def test_exit_and_quit_builtins(service):
    for name, status in (("exit", 3), ("quit", 4)):
        r = service.run(f"{name}({status})", {"x": 1})
        assert failed(r, {"x": 1}) == (
            f"Couldn't execute jailed code: stdout: b'', stderr: b'' with status code: {status}")


def test_cwd_first_on_sys_path_site_dirs_after(service):
    r = service.run("import sys, os\nfirst = sys.path[0] == os.getcwd()\nsite = any(p.endswith('-packages') for p in sys.path)", {})
    assert ok_globals(r) == {"first": True, "site": True}
