"""Every package of the sandbox's environment (compose/sandbox-packages.txt,
upstream codejail-service's sandbox list) imports inside a real execution.

Run against the host's service (CODEJAIL_PREFIX: the installed tree, whose
python_bin is the system python3 that ./dev gives the Debian packages) or
against the container (CODEJAIL_URL, CODEJAIL_CONTAINER: the image's venv).
The Debian packages must always be there; the three from PyPI only in an
image built with CODEJAIL_SANDBOX_PIP=yes (its label says which), and then
they must be there too.  A package that should be there and is not fails.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
# cjtest (tests/lib) for a service of the installed tree; no conftest.py in
# this directory: the container plugins import tests/escape's by that name.
sys.path.insert(0, os.path.join(HERE, os.pardir, "lib"))
LIST = os.path.join(HERE, "..", "..", "compose", "sandbox-packages.txt")


def packages():
    out = []
    with open(LIST) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, source, module = line.split()
                out.append((name, source, module))
    return out


def pip_included():
    """Whether the image under test was built with the PyPI packages."""
    name = os.environ.get("CODEJAIL_CONTAINER")
    if not name:
        return False  # the host: ./dev installs the Debian part only
    image = subprocess.run(["docker", "inspect", "-f", "{{.Image}}", name],
                           capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    label = subprocess.run(["docker", "image", "inspect", "-f",
                            '{{index .Config.Labels "org.openedx.codejail.sandbox-pip"}}', image],
                           capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert label in ("yes", "no"), f"image label org.openedx.codejail.sandbox-pip is {label!r}"
    return label == "yes"


@pytest.fixture(scope="module")
def base_url():
    url = os.environ.get("CODEJAIL_URL")
    if url:
        yield url.rstrip("/")
        return
    import cjtest
    prefix = os.environ.get("CODEJAIL_PREFIX")
    if not prefix:
        pytest.fail("set CODEJAIL_URL (a running service) or CODEJAIL_PREFIX (the installed tree)",
                    pytrace=False)
    cjtest.become_subreaper()
    svc = cjtest.Service(prefix, name="packages").start()
    try:
        yield svc.base
    finally:
        assert svc.stop() == 0, svc.log()
        shutil.rmtree(svc.home)  # kept when it did not stop cleanly: it holds the log


# `-`: no single module proves the distribution; its metadata does.
CHECK = '''
import importlib, importlib.metadata
try:
    if MODULE == "-":
        importlib.metadata.distribution(NAME)
    else:
        importlib.import_module(MODULE)
    outcome = "ok"
except BaseException as e:
    outcome = f"{type(e).__name__}: {e}"
'''


@pytest.mark.parametrize("name,source,module", packages(), ids=[p[0] for p in packages()])
def test_package_imports_in_the_sandbox(base_url, name, source, module):
    should = source != "pip" or pip_included()
    payload = {"code": CHECK, "globals_dict": {"MODULE": module, "NAME": name.split("[")[0]}}
    r = requests.post(base_url + "/api/v0/code-exec", data={"payload": json.dumps(payload)}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "emsg" not in body, body["emsg"]
    outcome = body["globals_dict"]["outcome"]
    if should:
        assert outcome == "ok", f"{name} ({source}): import {module} in the sandbox: {outcome}"
    else:
        # Left out on purpose (no PyPI at the build): it must really be absent,
        # so the label cannot lie.
        assert outcome.startswith(("ModuleNotFoundError", "PackageNotFoundError")), outcome
