"""Course code compiled once (bytecode_cache): the first execution of a
python_lib.zip, and the second of a large code text, start its compile run;
later ones get its bytecode, and every answer is the one the same request
gets from a service without the cache (tracebacks into the library and the
code, __file__, errors and warnings), on the cold and the warm path.  The
bytecode is made only from those bytes: what a request's code writes never
becomes it."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cjtest import make_zip, normalise_sandbox_dir, wait_for

ZIP = "python_lib.zip"

LIBRARY = {
    "grader.py": ("import os\n"
                  "from helpers import scale\n"
                  "LIMIT = 10\n\n"
                  "def check(answer):\n"
                  "    value = scale(float(answer))\n"
                  "    return {'ok': value <= LIMIT, 'value': value}\n\n"
                  "def broken(a):\n"
                  "    return 1 / a\n"),
    "helpers.py": "def scale(x):\n    return x * 2\n",
    "pkg/__init__.py": "from . import sub\nNAME = __name__\n",
    "pkg/sub.py": "WHERE = __file__\n",
    "syntax_error.py": "def broken(:\n    pass\n",
    "warns.py": "PATTERN = '\\d+'\n",
}

# What a module looks like from inside, with and without the cache alike.
INTROSPECT = (
    "import grader, pkg, helpers\n"
    "info = {\n"
    "    'file': grader.__file__, 'cached': grader.__cached__, 'origin': grader.__spec__.origin,\n"
    "    'sub': pkg.sub.WHERE, 'pkg_file': pkg.__file__, 'pkg_path': list(pkg.__path__), 'name': pkg.NAME,\n"
    "    'co_filename': grader.check.__code__.co_filename, 'firstlineno': grader.broken.__code__.co_firstlineno,\n"
    "    'loader': type(grader.__loader__).__module__ + '.' + type(grader.__loader__).__qualname__,\n"
    "    'check': grader.check('4'),\n"
    "}\n"
)

CASES = {
    "introspect": INTROSPECT,
    "traceback": "import grader\ngrader.broken(0)\n",
    "syntax_error": "import syntax_error\n",
    "syntax_error_caught": ("try:\n    import syntax_error\nexcept SyntaxError as e:\n"
                            "    err = [str(e), e.filename, e.lineno, e.offset, e.text]\n"),
    "warning": ("import warnings\n"
                "with warnings.catch_warnings(record=True) as w:\n"
                "    warnings.simplefilter('always')\n"
                "    import warns\n"
                "seen = [(str(x.message), x.category.__name__, x.filename, x.lineno) for x in w]\n"
                "pattern = warns.PATTERN\n"),
}


def scrape(svc):
    r = requests.get(svc.url("/metrics"), timeout=5)
    assert r.status_code == 200, r.text
    out = {}
    for f in text_string_to_metric_families(r.text):
        for s in f.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def stat(svc, name, **labels):
    return scrape(svc).get((name, tuple(sorted(labels.items()))), 0.0)


def run(svc, code, z):
    r = svc.run(code, {}, python_path=[ZIP], files={ZIP: (ZIP, z)})
    assert r.status_code == 200, r.text
    body = r.json()
    if "emsg" in body and body["emsg"]:
        body["emsg"] = normalise_sandbox_dir(body["emsg"])
    return body


def wait_compiled(svc, kept, kind="zip"):
    assert wait_for(lambda: stat(svc, "codejail_bytecode_cache_compiles_total", kind=kind, result="kept") >= kept, 30), \
        scrape(svc)


SERVICES = {
    "cold": {"cold": {"pool": 1}},
    "warm": {"warm": {"enabled": True, "pool": 2, "preload": ["six"]}},
}


@pytest.fixture(params=sorted(SERVICES))
def pair(request, make_service):
    """A service with the cache (the default) and one without, on one path."""
    base = SERVICES[request.param]
    cached = make_service(dict(base), name=f"zipcache-{request.param}")
    plain = make_service(dict(base, bytecode_cache={"max_entries": 0}), name=f"nozipcache-{request.param}")
    return request.param, cached, plain


def test_answers_identical_with_and_without_the_cache(pair):
    path, cached, plain = pair
    z = make_zip(LIBRARY)
    first = run(cached, INTROSPECT, z)  # a miss: starts the compile run, answers without the cache
    assert stat(cached, "codejail_bytecode_cache_lookups_total", kind="zip", result="miss") == 1
    wait_compiled(cached, 1)
    assert stat(cached, "codejail_bytecode_cache_entries") == 1
    assert stat(cached, "codejail_bytecode_cache_bytes") > 0
    for name, code in sorted(CASES.items()):
        hits = stat(cached, "codejail_bytecode_cache_lookups_total", kind="zip", result="hit")
        with_cache, without = run(cached, code, z), run(plain, code, z)
        assert with_cache == without, (path, name)
        assert stat(cached, "codejail_bytecode_cache_lookups_total", kind="zip", result="hit") == hits + 1, name
    assert first == run(plain, INTROSPECT, z)
    # What the answers hold is what zipimport itself gives.
    info = run(cached, INTROSPECT, z)["globals_dict"]["info"]
    assert info["file"] == info["origin"] == info["co_filename"] == "python_lib.zip/grader.py", info
    assert info["sub"] == "python_lib.zip/pkg/sub.py" and info["loader"] == "zipimport.zipimporter", info
    assert info["check"] == {"ok": True, "value": 8.0}
    tb = run(cached, CASES["traceback"], z)["emsg"]
    assert 'File "python_lib.zip/grader.py", line 10, in broken' in tb and "ZeroDivisionError" in tb, tb
    # One compile run for the zip, however many executions used it; no
    # service without the cache ever has one.
    assert stat(cached, "codejail_bytecode_cache_compiles_total", kind="zip", result="kept") == 1
    assert ("codejail_bytecode_cache_entries", ()) not in scrape(plain)


def test_bytecode_is_per_zip_content(make_service):
    svc = make_service({"warm": {"enabled": True, "pool": 2}}, name="zipcache-content")
    one = make_zip({"course.py": "def answer():\n    return 'one'\n"})
    two = make_zip({"course.py": "def answer():\n    return 'two'\n"})
    code = "import course\nr = course.answer()\n"
    assert run(svc, code, one)["globals_dict"] == {"r": "one"}
    wait_compiled(svc, 1)
    assert run(svc, code, two)["globals_dict"] == {"r": "two"}
    wait_compiled(svc, 2)
    for _ in range(2):
        assert run(svc, code, one)["globals_dict"] == {"r": "one"}
        assert run(svc, code, two)["globals_dict"] == {"r": "two"}
    assert stat(svc, "codejail_bytecode_cache_entries") == 2


def test_request_code_cannot_make_the_bytecode(make_service):
    """A request's code runs only after its wrapper has read the frame, and
    the service takes bytecode only from compile runs, which run no
    request's code: a forged frame on the result stream is just a bad
    answer, and the zip's later executions still run its own modules."""
    svc = make_service({"warm": {"enabled": True, "pool": 2}}, name="zipcache-forge")
    z = make_zip({"course.py": "def answer():\n    return 'genuine'\n"})
    forge = (
        "import marshal, os, sys\n"
        "magic = sys.modules['_frozen_importlib_external'].MAGIC_NUMBER\n"
        "evil = compile(\"def answer():\\n    return 'forged'\\n\", 'python_lib.zip/course.py', 'exec')\n"
        "blob = magic + marshal.dumps({'course.py': marshal.dumps(evil)})\n"
        "os.write(3, b'\\0CJZ:B' + len(blob).to_bytes(8, 'little') + blob)\n"
    )
    for _ in range(3):
        svc.run(forge, {}, python_path=[ZIP], files={ZIP: (ZIP, z)})
    wait_compiled(svc, 1)
    for _ in range(3):
        assert run(svc, "import course\nr = course.answer()\n", z)["globals_dict"] == {"r": "genuine"}
    assert stat(svc, "codejail_bytecode_cache_compiles_total", kind="zip", result="kept") == 1


def test_bounded_least_recently_used(make_service):
    svc = make_service({"bytecode_cache": {"max_entries": 2}}, name="zipcache-lru")
    zips = [make_zip({"course.py": f"N = {i}\n"}) for i in range(3)]
    code = "import course\nn = course.N\n"
    for i, z in enumerate(zips):
        assert run(svc, code, z)["globals_dict"] == {"n": i}
        wait_compiled(svc, i + 1)
    assert stat(svc, "codejail_bytecode_cache_entries") == 2
    assert stat(svc, "codejail_bytecode_cache_evictions_total") == 1
    # The first was evicted: a miss again, compiled again, answers the same.
    misses = stat(svc, "codejail_bytecode_cache_lookups_total", kind="zip", result="miss")
    assert run(svc, code, zips[0])["globals_dict"] == {"n": 0}
    assert stat(svc, "codejail_bytecode_cache_lookups_total", kind="zip", result="miss") == misses + 1
    wait_compiled(svc, 4)
    assert run(svc, code, zips[0])["globals_dict"] == {"n": 0}


def test_bytecode_larger_than_the_cache_is_not_kept(make_service):
    svc = make_service({"bytecode_cache": {"max_bytes": 64}}, name="zipcache-small")
    z = make_zip(LIBRARY)
    assert run(svc, INTROSPECT, z)["globals_dict"]["info"]["check"] == {"ok": True, "value": 8.0}
    assert wait_for(lambda: stat(svc, "codejail_bytecode_cache_compiles_total", kind="zip", result="unusable") == 1, 30)
    assert run(svc, INTROSPECT, z)["globals_dict"]["info"]["check"] == {"ok": True, "value": 8.0}
    assert stat(svc, "codejail_bytecode_cache_bytes") == 0
    assert stat(svc, "codejail_bytecode_cache_compiles_total", kind="zip", result="kept") == 0



# A problem script's size: its own library inline, then the check.  Padding
# keeps it past the size below which code is not worth a compile run.
SCRIPT = ("import math\n"
          + "".join(f"def helper_{i}(x):\n    '''{'doc ' * 8}'''\n    return math.floor(x * {i}) + {i}\n\n"
                    for i in range(80))
          + "def check(expect, ans):\n    return helper_3(float(ans)) == helper_3(float(expect))\n")
CODE_CASES = {
    "ok": SCRIPT + "ok = check('2', answer)\n",
    "error": SCRIPT + "helper_1(None)\n",
    "syntax_error": SCRIPT + "def (:\n",
    "warning": SCRIPT + "import sys\nwarned = 1 is 1\n",
    "names": SCRIPT + "where = [check.__code__.co_filename, check.__code__.co_firstlineno, __name__]\n",
}


def run_code(svc, code):
    r = svc.run(code, {"answer": "2"})
    assert r.status_code == 200, r.text
    body = r.json()
    if body.get("emsg"):
        body["emsg"] = normalise_sandbox_dir(body["emsg"])
    return body


def test_code_sent_again_is_compiled_once(pair):
    path, cached, plain = pair
    assert len(SCRIPT) > 4096  # bytecode_compile.c's CODE_MIN_BYTES
    code = CODE_CASES["ok"]
    # Seen once: nothing; seen again: its compile run; then hits.
    assert run_code(cached, code) == {"globals_dict": {"answer": "2", "ok": True}}
    assert stat(cached, "codejail_bytecode_cache_compiles_total", kind="code", result="kept") == 0
    assert run_code(cached, code)["globals_dict"]["ok"] is True
    wait_compiled(cached, 1, kind="code")
    for name, code in sorted(CODE_CASES.items()):
        for _ in range(2):
            run_code(cached, code)  # the second sight of each starts its run
        if name in ("syntax_error", "warning"):
            continue  # not compiled cleanly: never kept (below)
        hits = stat(cached, "codejail_bytecode_cache_lookups_total", kind="code", result="hit")
        assert wait_for(lambda: (run_code(cached, code),
                                 stat(cached, "codejail_bytecode_cache_lookups_total", kind="code",
                                      result="hit") > hits)[1], 30), name
    # Their compile runs kept nothing (they ran beside the executions above).
    assert wait_for(lambda: stat(cached, "codejail_bytecode_cache_compiles_total", kind="code",
                                 result="unusable") == 2, 30), scrape(cached)
    for name, code in sorted(CODE_CASES.items()):
        assert run_code(cached, code) == run_code(plain, code), (path, name)
    tb = run_code(cached, CODE_CASES["error"])["emsg"]
    assert 'jailed_code", line 19, in <module>' in tb and "in helper_1" in tb and "TypeError" in tb, tb
    # Short code is never worth a run.
    for _ in range(3):
        run_code(cached, "x = 1\n")
    assert stat(cached, "codejail_bytecode_cache_compiles_total", kind="code", result="kept") == 3


def test_request_code_cannot_make_the_code_bytecode(make_service):
    """A code text's bytecode comes from its compile run, which compiles it
    and runs none of it; what executions of it write is never read as
    bytecode.  Here the code forges a frame of bytecode on the result stream
    whenever it runs with forge set: later executions still run the code
    itself."""
    svc = make_service({"warm": {"enabled": True, "pool": 2}}, name="bccache-code")
    code = SCRIPT + (
        "import os, marshal, sys\n"
        "ran = 'genuine'\n"
        "if forge:\n"
        "    magic = sys.modules['_frozen_importlib_external'].MAGIC_NUMBER\n"
        "    evil = magic + marshal.dumps(compile('ran = \"forged\"', '<string>', 'exec'))\n"
        "    item = b'K' + len(evil).to_bytes(8, 'little') + evil\n"
        "    os.write(3, b'\\0CJZ:B' + len(item).to_bytes(8, 'little') + item)\n"
    )
    for _ in range(3):
        svc.run(code, {"forge": True})
    wait_compiled(svc, 1, kind="code")
    for _ in range(3):
        hits = stat(svc, "codejail_bytecode_cache_lookups_total", kind="code", result="hit")
        r = svc.run(code, {"forge": False})
        assert r.status_code == 200 and r.json()["globals_dict"]["ran"] == "genuine", r.text
        assert stat(svc, "codejail_bytecode_cache_lookups_total", kind="code", result="hit") == hits + 1
