"""The sandbox as the code sees it: its directory, TMPDIR, environment and
identity."""

import os
import re

from cjtest import SECRET_ENV, SECRET_VALUE, ok_globals


def test_cwd_holds_jailed_code_and_tmp(service):
    code = ("import os\ncwd = os.getcwd()\n"
            "has = [os.path.isfile('jailed_code'), os.path.isdir('tmp'), os.path.exists('python_lib.zip')]\n"
            "src = open('jailed_code').read()\n"
            "wrapper = 'exec(code, g_dict)' in src\n"
            "del src\n")
    g = ok_globals(service.run(code, {}))
    assert g["has"] == [True, True, False]
    assert g["wrapper"] is True
    assert re.fullmatch(r"codejail-[0-9a-zA-Z_]+", os.path.basename(g["cwd"])), g["cwd"]


def test_cwd_can_be_listed(service):
    """Its own directory is readable, like the library's (made 0775, and
    AppArmor's `/tmp/codejail-*/ r`): only what is outside is denied."""
    g = ok_globals(service.run("import os\nlisting = sorted(os.listdir('.'))", {}))
    assert g["listing"] == ["jailed_code", "tmp"]


def test_each_execution_gets_a_fresh_directory(service):
    code = "import os\ncwd = os.getcwd()\nlisting = sorted(os.listdir(os.environ['TMPDIR']))\n" \
           "open(os.path.join(os.environ['TMPDIR'], 'mark'), 'w').write('x')"
    a = ok_globals(service.run(code, {}))
    b = ok_globals(service.run(code, {}))
    assert a["cwd"] != b["cwd"]
    assert a["listing"] == [] and b["listing"] == []


def test_tmpdir_points_to_writable_tmp(service):
    code = ("import os, tempfile\n"
            "tmpdir = os.environ.get('TMPDIR')\n"
            "expected = os.path.join(os.getcwd(), 'tmp')\n"
            "p = os.path.join(tmpdir, 'f.txt')\n"
            "with open(p, 'w') as f:\n    f.write('hello')\n"
            "back = open(p).read()\n"
            "fd, name = tempfile.mkstemp()\n"
            "os.write(fd, b'abc')\nos.close(fd)\n"
            "in_tmp = os.path.dirname(name) == tmpdir\n"
            "d = tempfile.mkdtemp()\n"
            "dir_in_tmp = os.path.dirname(d) == tmpdir\n")
    g = ok_globals(service.run(code, {}))
    assert g["tmpdir"] == g["expected"]
    assert g["back"] == "hello"
    assert g["in_tmp"] is True and g["dir_in_tmp"] is True


def test_cwd_itself_is_not_writable(service):
    code = ("import os, errno\n"
            "results = []\n"
            "for action in ('create', 'jailed', 'mkdir', 'unlink'):\n"
            "    try:\n"
            "        if action == 'create':\n            open('new.txt', 'w').write('x')\n"
            "        elif action == 'jailed':\n            open('jailed_code', 'a').write('x')\n"
            "        elif action == 'mkdir':\n            os.mkdir('newdir')\n"
            "        else:\n            os.unlink('jailed_code')\n"
            "        results.append([action, 'ALLOWED', 0])\n"
            "    except OSError as e:\n"
            "        results.append([action, type(e).__name__, e.errno])\n")
    g = ok_globals(service.run(code, {}))
    for action, name, err in g["results"]:
        assert (name == "PermissionError" or err == 30), (action, name, err)  # EACCES/EPERM or EROFS


def test_environment_is_minimal(service):
    g = ok_globals(service.run("import os\nenv = dict(os.environ)", {}))
    env = g["env"]
    assert SECRET_ENV not in env
    assert SECRET_VALUE not in repr(env)
    assert "PATH" in env and env["PATH"]
    assert "TMPDIR" in env
    # Nothing of the service's own environment (that of the test process,
    # plus the secret) except what any process needs.
    allowed = {"PATH", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "OPENBLAS_NUM_THREADS", "MPLCONFIGDIR",
               "MATPLOTLIBRC"}
    leaked = sorted(k for k in os.environ if k in env and k not in allowed)
    assert leaked == [], leaked


def test_matplotlib_draws_with_its_home_in_tmp(service):
    """matplotlib needs a home for its configuration and font cache (without
    one it stops at import): the execution's tmp/ is its home."""
    code = ("import os\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots()\nax.plot([1, 2, 3], [3, 1, 2])\nfig.savefig('tmp/plot.png')\n"
            "head = open('tmp/plot.png', 'rb').read(4).decode('latin-1')\n"
            "home = os.path.expanduser('~') == os.path.join(os.getcwd(), 'tmp')\ndel fig, ax\n")
    g = ok_globals(service.run(code, {}))
    assert (g["head"], g["home"]) == ("\x89PNG", True), g


def test_runs_unprivileged(service):
    g = ok_globals(service.run("import os\nids = [os.getuid(), os.geteuid(), os.getgid(), os.getegid()]\n"
                               "groups = os.getgroups()", {}))
    assert all(i != 0 for i in g["ids"]), g
    assert 0 not in g["groups"], g


def test_stdin_is_consumed(service):
    """The wrapper reads the input; nothing is left for the code."""
    g = ok_globals(service.run("import sys\nrest = sys.stdin.read()", {"secret_input": "abc"}))
    assert g == {"secret_input": "abc", "rest": ""}

