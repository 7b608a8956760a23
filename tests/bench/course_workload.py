"""Real-course-code-like workload for the benchmark (issue 16, item 4).

Everything here is generated, deterministically (fixed seeds), in the shape
real Open edX course code has, not copied from any course:

- `course_zip()`: a course library `python_lib.zip` of about 40 modules and
  480 KB of source (a package with submodules, top-level helper modules, some
  importing numpy, scipy.special or pyparsing, and `grader.check(expect, ans)`,
  the one entry a check calls, which touches every module);
- `inline_library()`: a ~32 KB library a problem script carries inline and
  the LMS re-sends with every check;
- `PROLOG`: what the LMS puts before every piece of problem code (random2
  seeded as the problem's `random`, six's xrange, lazily imported numpy, math
  and scipy);
- `cases()`: the request mix, each with the globals it must answer:
  a plain custom-response check, a check through the course library (sent
  multipart with `python_path: ["python_lib.zip"]`, as the LMS sends it), a
  check through the inline library, and a hint function.

And the two spawn peers that run the same code: the bare interpreter
(`bare_script()`, for `python3 -I -S -c`, the zip on sys.path) and an
emulation of what the codejail library does per execution
(`LibraryLike`: a temp dir, the code and zip written there, a full
`python -E -B` start with site, a wrapper reading JSON on stdin and writing
the globals as JSON).  It is labelled as an emulation wherever it is shown:
the library itself cannot be installed here.
"""

import ast
import io
import json
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
import zipfile

SEED = 16  # the number: any fixed seed, so every run measures the same code
LIB_MODULES = 40
LIB_BYTES = 480_000
INLINE_BYTES = 32_000

# What the LMS prepends to problem code, written for this benchmark in the
# LMS's shape: the problem's seeded random from random2 (installed as
# `random`), six's xrange, and lazily imported modules a problem may use
# without importing them.
PROLOG_TEMPLATE = '''\
from __future__ import absolute_import, division

import os
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import sys
import types


class _Lazy(types.ModuleType):
    """A module imported on first use, so naming numpy costs nothing."""

    def __init__(self, modname):
        types.ModuleType.__init__(self, modname)
        self._modname = modname
        self._mod = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._mod is None:
            self._mod = __import__(self._modname, fromlist=["*"])
        return getattr(self._mod, name)


numpy = _Lazy("numpy")
math = _Lazy("math")
scipy = _Lazy("scipy")

import random2 as random_module
from six.moves import xrange

random = random_module.Random(%d)
random.Random = random_module.Random
random.SystemRandom = random_module.SystemRandom
sys.modules["random"] = random
'''
PROLOG = PROLOG_TEMPLATE % 1234


# ---- source generation -----------------------------------------------------------

WORDS = ("answer response tolerance unit vector matrix sample formula ratio margin weight "
         "score rubric partial credit hint feedback symbol token factor scale offset limit "
         "series integral slope intercept energy force mass charge current voltage density "
         "pressure volume rate yield grade attempt label option choice").split()


class _Names:
    """Fresh identifiers from a fixed vocabulary (never twice the same)."""

    def __init__(self, rng):
        self.rng, self.used = rng, set()

    def fn(self):
        while True:
            n = "_".join(self.rng.sample(WORDS, 2)) + "_%d" % self.rng.randrange(100)
            if n not in self.used:
                self.used.add(n)
                return n

    def cls(self):
        return "".join(w.capitalize() for w in self.fn().split("_")[:2]) + str(self.rng.randrange(1000))


def _t_tolerance(rng, names):
    n = names.fn()
    tol, atol = rng.choice((0.01, 0.02, 0.05, 0.001)), rng.choice((1e-9, 1e-6, 1e-3))
    src = f'''
def {n}(student, expected, rel_tol={tol!r}, abs_tol={atol!r}):
    """True when a numeric answer is within {tol * 100:g}% (or {atol!r}) of the expected one.

    Learners type thousands separators and stray spaces: both are ignored.
    """
    try:
        s = float(str(student).strip().replace(",", "").replace(" ", ""))
    except ValueError:
        return False
    e = float(expected)
    return abs(s - e) <= max(rel_tol * abs(e), abs_tol)
'''
    return src, f"{n}(x, x * {1 + tol / 2!r})"


def _t_normalise(rng, names):
    n = names.fn()
    pat, repl = rng.choice(((r"[^a-z0-9.+\-*/^() ]", ""), (r"\s*([+\-*/^=])\s*", r"\1"),
                            (r"\b(the|a|an)\b", " "), (r"(\d),(\d{3})", r"\1\2")))
    src = f'''
_{n.upper()}_RE = re.compile(r"{pat}")


def {n}(text):
    """The answer text as it is compared: lower case, one space between words."""
    text = _{n.upper()}_RE.sub(r"{repl}", str(text).strip().lower())
    return " ".join(text.split())
'''
    return src, f'{n}("  The Answer IS  %s  " % x)'


def _t_feedback(rng, names):
    n = names.fn()
    label, cls, prec = rng.choice(WORDS).capitalize(), rng.choice(("ok", "warn", "partial")), rng.randrange(1, 4)
    total = rng.randrange(2, 20)
    src = f'''
def {n}(score, total={total}, label="{label}"):
    """The HTML feedback line a learner sees for this part."""
    frac = score / total if total else 0.0
    if frac >= 1:
        verdict = "Correct"
    elif frac > 0:
        verdict = "Partially correct"
    else:
        verdict = "Incorrect"
    return ("<p class='{cls}'>{{}}: {{:.{prec}f}} of {{}} ({{:.0%}}) &mdash; {{}}</p>"
            .format(label, score, total, frac, verdict))
'''
    return src, f"{n}(x % {total})"


def _t_class(rng, names):
    c = names.cls()
    w, p, prec = rng.choice((0.5, 1.0, 2.0, 0.25)), rng.randrange(1, 10), rng.randrange(1, 5)
    src = f'''
class {c}(object):
    """One graded part: its attempts and how they weigh."""

    weight = {w!r}

    def __init__(self, name, points={p}):
        self.name = name
        self.points = points
        self.attempts = []

    def record(self, value):
        self.attempts.append(value)
        return len(self.attempts)

    def best(self):
        return max(self.attempts) if self.attempts else 0

    def weighted(self):
        return round(self.best() * self.weight * self.points, {prec})

    def summary(self):
        return "%s: best %s of %d attempt(s), %s points" % (
            self.name, self.best(), len(self.attempts), self.weighted())

    def __repr__(self):
        return "{c}(%r, %r)" % (self.name, self.points)

    @classmethod
    def demo(cls, x):
        part = cls("part", {p})
        for k in range(3):
            part.record(x - k)
        return part.weighted()
'''
    return src, f"{c}.demo(x)"


def _t_series(rng, names):
    n = names.fn()
    fn, d, c, k = rng.choice(("sin", "cos", "atan", "sqrt", "log1p")), rng.randrange(2, 9), rng.randrange(1, 5), rng.randrange(8, 24)
    src = f'''
def {n}(x, terms={k}):
    """A partial sum the reference solution uses to bound the answer."""
    total = 0.0
    for j in range(1, terms + 1):
        total += math.{fn}(abs(x) * j / {d}) / (j + {c})
    return total
'''
    return src, f"{n}(x)"


def _t_units(rng, names):
    n = names.fn()
    units = rng.sample(["m", "cm", "mm", "km", "s", "ms", "min", "h", "kg", "g", "N", "J", "W", "Pa", "kPa",
                        "A", "V", "ohm", "C", "K", "mol", "L", "mL", "Hz", "eV", "T"], 12)
    table = ",\n    ".join(f'"{u}": {rng.uniform(1e-3, 1e3):.6g}' for u in units)
    src = f'''
{n.upper()}_UNITS = {{
    {table},
}}


def {n}(value, unit="{units[0]}", to="{units[1]}"):
    """value in `unit` converted to `to` through this course's unit table."""
    if unit not in {n.upper()}_UNITS or to not in {n.upper()}_UNITS:
        raise KeyError("unknown unit: %s or %s" % (unit, to))
    return value * {n.upper()}_UNITS[unit] / {n.upper()}_UNITS[to]
'''
    return src, f"{n}(x)"


def _t_numpy(rng, names):
    n = names.fn()
    a, b, c = (round(rng.uniform(-3, 3), 3) for _ in range(3))
    src = f'''
def {n}(values):
    """Mean of the reference polynomial over the learner's sample points."""
    arr = numpy.asarray(values, dtype=float)
    return float(numpy.round(numpy.polyval([{a}, {b}, {c}], arr).mean(), 6))
'''
    return src, f"{n}([x, x + 1, x + 2])"


def _t_special(rng, names):
    n = names.fn()
    f, g = rng.choice(("erf", "erfc", "expit")), rng.choice(("gamma", "gammaln", "digamma"))
    src = f'''
def {n}(x):
    """The model's prediction, through {f} and {g} as the course notes define it."""
    return float(scipy.special.{f}(x / 10.0) + scipy.special.{g}(1.5 + abs(x) / 10.0))
'''
    return src, f"{n}(x)"


def _t_pyparsing(rng, names):
    n = names.fn()
    sep = rng.choice((",", ";"))
    src = f'''
_{n.upper()}_NUM = pyparsing.Regex(r"[+-]?\\d+(\\.\\d*)?([eE][+-]?\\d+)?")
_{n.upper()}_LIST = pyparsing.delimitedList(_{n.upper()}_NUM, delim="{sep}")


def {n}(text):
    """The numbers of a '{sep}'-separated answer; a ParseException when it is not one."""
    return [float(t) for t in _{n.upper()}_LIST.parseString(text, parseAll=True)]
'''
    return src, f'sum({n}("%s{sep} %s" % (x, x * 2)))'


PLAIN = (_t_tolerance, _t_normalise, _t_feedback, _t_class, _t_series, _t_units)
EXTRA = {"numpy": _t_numpy, "scipy.special": _t_special, "pyparsing": _t_pyparsing}

MODULE_FOOTER = '''

def _fold(acc, value):
    """Folds any result into an integer digest (bools, numbers, text)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        value = sum(ord(ch) for ch in value)
    return (acc * 131 + int(round(float(value) * 1000))) %% 1000000007


def probe(x):
    """What grader.check calls: runs a few of this module's helpers."""
    acc = %d
%s
    return acc
'''


def module_source(rng, title, size, needs=(), relative=()):
    """Python source of one module of about `size` bytes; `needs` lists the
    modules (numpy, scipy.special, pyparsing) it imports and uses."""
    names = _Names(rng)
    head = [f'"""{title}.\n\nGenerated for the codejail benchmark; not course code."""',
            "", "import math", "import re", "import string"]
    head += [f"import {m}" for m in needs]
    head += [f"from . import {m}" for m in relative]
    head.append("")
    body, calls = [], []
    for m in needs:
        src, call = EXTRA[m](rng, names)
        body.append(src)
        calls.append(call)
    while sum(len(b) for b in body) + 1000 < size:  # the head, the footer and the last helper take the rest
        src, call = rng.choice(PLAIN)(rng, names)
        body.append(src)
        calls.append(call)
    # A check runs a handful of a module's helpers, not all of them: the
    # cost that dominates is having the module (reading, compiling), as in
    # real libraries.
    used = calls[:len(needs)] + rng.sample(calls[len(needs):], min(4, len(calls) - len(needs)))
    folded = "\n".join(f"    acc = _fold(acc, {c})" for c in used)
    return "\n".join(head) + "\n".join(body) + MODULE_FOOTER % (rng.randrange(1000), folded)


def _lib_files():
    """{path: source} of the course library."""
    rng = random.Random(SEED)
    # Modules of uneven sizes (half to one and a half times the mean) that
    # add up to LIB_BYTES; grader.py and the package's __init__.py are small.
    weights = [rng.uniform(0.5, 1.5) for _ in range(LIB_MODULES - 2)]
    sizes = [int(LIB_BYTES * w / sum(weights)) for w in weights]
    files = {}
    # A package with submodules, as graders are often organised ...
    pkg = ["units", "parsing", "feedback", "numeric", "rubric", "symbols", "tables", "matrices"]
    pkg_needs = {"parsing": ("pyparsing",), "numeric": ("numpy",), "matrices": ("numpy",), "tables": ("scipy.special",)}
    for name in pkg:
        files[f"coursegrader/{name}.py"] = module_source(rng, f"coursegrader.{name}: {name} helpers",
                                                         sizes.pop(), pkg_needs.get(name, ()))
    files["coursegrader/__init__.py"] = (
        '"""coursegrader: the course\'s grading helpers (generated for the codejail benchmark)."""\n\n'
        + "".join(f"from . import {name}\n" for name in pkg)
        + '\n__version__ = "2.%d"\nPARTS = (%s)\n' % (rng.randrange(10), ", ".join(pkg))
        + "\n\ndef probe(x):\n    acc = 0\n    for part in PARTS:\n        acc = (acc * 7 + part.probe(x)) % 1000000007\n"
          "    return acc\n")
    # ... and flat modules beside it, some of them pulling in the heavy ones.
    flat = []
    for i in range(LIB_MODULES - len(pkg) - 2):
        needs = ()
        if i % 6 == 1:
            needs = ("numpy",)
        elif i % 9 == 4:
            needs = ("scipy.special",)
        elif i % 11 == 7:
            needs = ("pyparsing",)
        name = f"{rng.choice(WORDS)}_{i:02d}"
        flat.append(name)
        files[f"{name}.py"] = module_source(rng, f"{name}: problem-set helpers", sizes.pop(), needs)
    files["grader.py"] = GRADER % (", ".join(["coursegrader"] + flat), ", ".join(["coursegrader"] + flat))
    return files


GRADER = '''"""grader: the entry point a check calls (generated for the codejail benchmark)."""

import re

import %s

_MODULES = (%s)
_NUMBER = re.compile(r"^\\s*([+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?)\\s*$")


def check(expect, ans, rel_tol=0.01):
    """The custom response's answer: ok, a message, and a digest of every
    helper the check ran (so the benchmark knows each was run)."""
    m = _NUMBER.match(str(ans))
    if not m:
        return {"ok": False, "msg": "Enter a number, like 3.5 or 2e-3.", "digest": 0}
    x = float(m.group(1))
    e = float(expect)
    ok = abs(x - e) <= rel_tol * abs(e)
    digest = 0
    for mod in _MODULES:
        digest = (digest * 31 + mod.probe(x)) %% 1000000007
    return {"ok": ok, "msg": "Correct!" if ok else "Not quite: check your units.", "digest": digest}
'''


def course_zip():
    """(zip bytes, number of modules, bytes of source): deflated, as a course
    team's zip tool makes it, with fixed timestamps so the bytes repeat."""
    files = _lib_files()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[path])
    return buf.getvalue(), len(files), sum(len(s) for s in files.values())


def inline_library():
    """A ~32 KB library of the problem script's own (plain Python), ending in
    its own `probe` as the modules do."""
    return module_source(random.Random(SEED + 1), "Problem script library", INLINE_BYTES)


# ---- the request mix ----------------------------------------------------------------

PLAIN_CHECK = '''
def check(expect, ans):
    """Custom response: a number within 2%, thousands separators allowed."""
    try:
        value = float(str(ans).replace(",", "").strip())
    except ValueError:
        return {"ok": False, "msg": "Please enter a number."}
    ok = abs(value - expect) <= 0.02 * abs(expect)
    msg = "Correct: %.3g is within 2%% of %.3g." % (value, expect) if ok else "Try again."
    return {"ok": ok, "msg": msg}

cfn_return = check(expect, ans)
'''

HINT = '''
def hint_fn(answer_ids, student_answers, new_cmap, old_cmap):
    """A hint for the common mistakes: a sign error, a factor of ten."""
    aid = answer_ids[0]
    ans = str(student_answers[aid]).strip()
    try:
        value = float(ans)
    except ValueError:
        new_cmap[aid]["msg"] = "That is not a number."
        return
    expected = 9.81 * random.randint(2, 2)
    if abs(value + expected) < 0.01 * expected:
        hint = "Check the sign: which way does the block move?"
    elif abs(value - 10 * expected) < 0.1 * expected or abs(value - expected / 10) < 0.001 * expected:
        hint = "Off by a factor of ten: check the units of g."
    else:
        hint = "Draw the forces first."
    new_cmap[aid]["msg"] = new_cmap[aid].get("msg", "") + "<div class='hint'>" + hint + "</div>"

hint_fn(answer_ids, student_answers, new_cmap, old_cmap)
'''


class Case:
    """One request of the mix: the code as the LMS sends it (prolog first),
    its globals, the zip (or None) and the globals its answer must hold."""

    def __init__(self, key, title, code, globals_dict, zip_bytes=None, expect=None):
        self.key, self.title, self.code, self.globals_dict = key, title, code, globals_dict
        self.zip_bytes, self.expect = zip_bytes, expect or {}

    def payload(self):
        p = {"code": self.code, "globals_dict": self.globals_dict}
        if self.zip_bytes is not None:
            p["python_path"] = ["python_lib.zip"]
        return p

    def check(self, globals_dict):
        """None when the answer's globals hold what they must, else why not."""
        for k, v in self.expect.items():
            if globals_dict.get(k) != v:
                return f"{self.key}: {k}={str(globals_dict.get(k))[:120]!r}, expected {str(v)[:120]!r}"
        return None


def cases():
    """The mix, without the values only a run can tell (digests): see
    resolve_expectations()."""
    zip_bytes, n_modules, n_source = course_zip()
    inline = inline_library()
    mix = [
        Case("plain", "plain custom-response check", PROLOG + PLAIN_CHECK,
             {"expect": 42.0, "ans": "41.5"}, expect={"cfn_return": {"ok": True, "msg": "Correct: 41.5 is within 2% of 42."}}),
        Case("courselib", f"check through python_lib.zip ({n_modules} modules, {n_source // 1000} KB of source)",
             PROLOG + "import grader\ncfn_return = grader.check(expect, ans)\n",
             {"expect": 3.5, "ans": "3.51"}, zip_bytes),
        Case("inline", f"check through a {len(inline) // 1000} KB inline library",
             PROLOG + inline + "\n\ncfn_return = {'ok': _fold(0, float(ans)) == _fold(0, expect), 'digest': probe(float(ans))}\n",
             {"expect": 2.25, "ans": "2.25"}),
        Case("hint", "hint function", PROLOG + HINT,
             {"answer_ids": ["p1_2_1"], "student_answers": {"p1_2_1": "-19.62"},
              "new_cmap": {"p1_2_1": {"correctness": "incorrect"}}, "old_cmap": {}},
             expect={"new_cmap": {"p1_2_1": {"correctness": "incorrect",
                                             "msg": "<div class='hint'>Check the sign: which way does the block move?</div>"}}}),
    ]
    return mix


# ---- the peers that run the same code ------------------------------------------------

def site_dirs(python):
    """The directories `site` adds for `python` (what the service gives its
    -S interpreter too), so a bare -I -S run finds numpy as executions do."""
    out = subprocess.run([python, "-I", "-c", "import sys; print(repr(sys.path))"], capture_output=True,
                         text=True, check=True).stdout
    bare = subprocess.run([python, "-I", "-S", "-c", "import sys; print(repr(sys.path))"], capture_output=True,
                          text=True, check=True).stdout
    bare_set = set(ast.literal_eval(bare))
    return [d for d in ast.literal_eval(out) if d not in bare_set]


def bare_script(case, zip_path, dirs, checked=True):
    """`python3 -I -S -c SCRIPT`: the case's code with its globals, the zip
    appended to sys.path as executions have it, the answer asserted (a wrong
    one exits non-zero) unless `checked` is false (then the globals are
    printed as JSON, for resolve_expectations)."""
    lines = ["import sys", f"sys.path.extend({dirs!r})"]
    if case.zip_bytes is not None:
        lines.append(f"sys.path.append({zip_path!r})")
    lines.append(f"g = {case.globals_dict!r}")
    lines.append(f"exec(compile({case.code!r}, 'jailed_code', 'exec'), g)")
    if checked:
        lines.append(f"want = {case.expect!r}")
        lines.append("got = {k: g.get(k) for k in want}")
        lines.append("assert got == want, (got, want)")
    else:
        lines.append("import json; print(json.dumps({k: v for k, v in g.items() if k != '__builtins__'}, default=repr))")
    return "\n".join(lines)


def resolve_expectations(python, mix, scratch):
    """Fills in what only a run can tell (the digests of the library checks)
    from one unconfined run of the bare interpreter, after checking the part
    known beforehand (the answers are graded correct): every subject must
    then answer the same, sandboxed or not."""
    path = os.path.join(scratch, "python_lib.zip")
    dirs = site_dirs(python)
    for case in mix:
        if case.zip_bytes is not None:
            with open(path, "wb") as f:
                f.write(case.zip_bytes)
        if case.expect:
            continue
        p = subprocess.run([python, "-I", "-S", "-c", bare_script(case, path, dirs, checked=False)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{case.key}: the bare interpreter cannot run it: {p.stderr.strip()[-400:]}")
        got = json.loads(p.stdout)["cfn_return"]
        if got.get("ok") is not True:
            raise RuntimeError(f"{case.key}: the reference run graded the answer wrong: {got}")
        case.expect = {"cfn_return": got}
    return path, dirs


# A wrapper in the codejail library's manner (written for this benchmark):
# the code and globals arrive as JSON on stdin, the globals that survive JSON
# leave as JSON on stdout.
LIBRARY_WRAPPER = '''\
import sys
import json
code, g_dict = json.load(sys.stdin)
sys.path.extend(%r)


class DevNull(object):
    def write(self, *args, **kwargs):
        pass

    def flush(self, *args, **kwargs):
        pass


sys.stdout = DevNull()
exec(code, g_dict)
sys.stdout = sys.__stdout__


def jsonable(v):
    try:
        json.dumps(v)
    except Exception:
        return False
    return True


print(json.dumps({k: v for k, v in g_dict.items() if k != "__builtins__" and jsonable(v)}))
'''

LIBRARY_LABEL = "codejail-library-like (temp dir + `python -E -B` + JSON wrapper; emulated)"


class LibraryLike:
    """What the codejail library does per execution, emulated: a temporary
    directory, the code and the zip written into it, a full `python -E -B`
    start (site enabled) of a wrapper as its own, rlimits set in the child
    (CPU, file size) as the library's preexec does, the output parsed and the
    directory removed.  It lacks what cannot run here (the library itself,
    sudo to a sandbox user, its AppArmor profile), so it is a floor for the
    library, not the library."""

    def __init__(self, python):
        self.python = python

    @staticmethod
    def _limits():
        resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    def run(self, case):
        """(ns, error) of one execution, directory made to directory removed."""
        t0 = time.perf_counter_ns()
        tmp = tempfile.mkdtemp(prefix="codejail-")
        try:
            paths = []
            if case.zip_bytes is not None:
                with open(os.path.join(tmp, "python_lib.zip"), "wb") as f:
                    f.write(case.zip_bytes)
                paths.append("python_lib.zip")
            with open(os.path.join(tmp, "jailed_code"), "w") as f:
                f.write(LIBRARY_WRAPPER % (paths,))
            p = subprocess.Popen([self.python, "-E", "-B", "jailed_code"], cwd=tmp, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=self._limits,
                                 env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1"})
            out, err = p.communicate(json.dumps([case.code, case.globals_dict]).encode(), timeout=60)
            if p.returncode != 0:
                why = f"exit status {p.returncode}: {err.decode(errors='replace').strip()[-300:]}"
            else:
                why = case.check(json.loads(out))
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            why = f"{type(e).__name__}: {e}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return time.perf_counter_ns() - t0, why
