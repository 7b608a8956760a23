"""python_lib.zip compiled once (zip_cache): the first execution of a zip
starts its compile run, later ones get its bytecode, and every answer is the
one the same request gets from a service without the cache (tracebacks into
the library, __file__, errors and warnings of its modules), on the cold and
the warm path.  The bytecode is made only from the zip itself: what a
request's code writes never becomes it."""

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


def wait_compiled(svc, kept):
    assert wait_for(lambda: stat(svc, "codejail_zip_cache_compiles_total", result="kept") >= kept, 30), \
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
    plain = make_service(dict(base, zip_cache={"max_entries": 0}), name=f"nozipcache-{request.param}")
    return request.param, cached, plain


def test_answers_identical_with_and_without_the_cache(pair):
    path, cached, plain = pair
    z = make_zip(LIBRARY)
    first = run(cached, INTROSPECT, z)  # a miss: starts the compile run, answers without the cache
    assert stat(cached, "codejail_zip_cache_lookups_total", result="miss") == 1
    wait_compiled(cached, 1)
    assert stat(cached, "codejail_zip_cache_entries") == 1
    assert stat(cached, "codejail_zip_cache_bytes") > 0
    for name, code in sorted(CASES.items()):
        hits = stat(cached, "codejail_zip_cache_lookups_total", result="hit")
        with_cache, without = run(cached, code, z), run(plain, code, z)
        assert with_cache == without, (path, name)
        assert stat(cached, "codejail_zip_cache_lookups_total", result="hit") == hits + 1, name
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
    assert stat(cached, "codejail_zip_cache_compiles_total", result="kept") == 1
    assert ("codejail_zip_cache_entries", ()) not in scrape(plain)


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
    assert stat(svc, "codejail_zip_cache_entries") == 2


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
    assert stat(svc, "codejail_zip_cache_compiles_total", result="kept") == 1


def test_bounded_least_recently_used(make_service):
    svc = make_service({"zip_cache": {"max_entries": 2}}, name="zipcache-lru")
    zips = [make_zip({"course.py": f"N = {i}\n"}) for i in range(3)]
    code = "import course\nn = course.N\n"
    for i, z in enumerate(zips):
        assert run(svc, code, z)["globals_dict"] == {"n": i}
        wait_compiled(svc, i + 1)
    assert stat(svc, "codejail_zip_cache_entries") == 2
    assert stat(svc, "codejail_zip_cache_evictions_total") == 1
    # The first was evicted: a miss again, compiled again, answers the same.
    misses = stat(svc, "codejail_zip_cache_lookups_total", result="miss")
    assert run(svc, code, zips[0])["globals_dict"] == {"n": 0}
    assert stat(svc, "codejail_zip_cache_lookups_total", result="miss") == misses + 1
    wait_compiled(svc, 4)
    assert run(svc, code, zips[0])["globals_dict"] == {"n": 0}


def test_bytecode_larger_than_the_cache_is_not_kept(make_service):
    svc = make_service({"zip_cache": {"max_bytes": 64}}, name="zipcache-small")
    z = make_zip(LIBRARY)
    assert run(svc, INTROSPECT, z)["globals_dict"]["info"]["check"] == {"ok": True, "value": 8.0}
    assert wait_for(lambda: stat(svc, "codejail_zip_cache_compiles_total", result="unusable") == 1, 30)
    assert run(svc, INTROSPECT, z)["globals_dict"]["info"]["check"] == {"ok": True, "value": 8.0}
    assert stat(svc, "codejail_zip_cache_bytes") == 0
    assert stat(svc, "codejail_zip_cache_compiles_total", result="kept") == 0

