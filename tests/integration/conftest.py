"""Fixtures for the black-box HTTP tests.

The installed tree comes from $CODEJAIL_PREFIX (bin/codejail-server,
bin/codejail-init, share/codejail/).  A missing prefix or binary FAILS every
test rather than skipping it, so CI cannot go green without running them.

- `service`: one default service for the whole session (devstack limits, a
  private work_dir, a secret in its environment that must not reach the
  sandbox).
- `make_service(config, env=None, expect_health=200)`: a service with a
  special configuration, stopped and checked at the end of the test.

Every service is stopped with SIGTERM and must exit 0 within a bound, and
must leave nothing behind: no execution directory, no process of the sandbox
user, nothing adopted by this (subreaper) process.
"""

import os
import shutil
import sys

import pytest

# cjtest, shared by every tier, from tests/lib (see its docstring).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))

import cjtest  # noqa: E402
from cjtest import SECRET_ENV, SECRET_VALUE  # noqa: E402

# Services currently running, so every test can be checked for leftovers.
_LIVE = []
_STARTED_PIDS = set()

cjtest.become_subreaper()


@pytest.fixture(scope="session")
def prefix():
    return cjtest.installed_prefix()


def _start(prefix, config, env, name, expect_health):
    svc = cjtest.Service(prefix, config, env=env, name=name)
    try:
        svc.start(expect_health=expect_health)
    except BaseException:
        shutil.rmtree(svc.home, ignore_errors=True)  # the failure message holds the log
        raise
    _STARTED_PIDS.add(svc.proc.pid)
    _LIVE.append(svc)
    return svc


def _stop_and_check(svc):
    """SIGTERM, exit 0, and nothing left behind."""
    problems = []
    try:
        rc = svc.stop()
    finally:
        if svc in _LIVE:
            _LIVE.remove(svc)
    if rc != 0:
        problems.append(f"exit status {rc} (expected 0)")
    # Whatever escaped both the server and codejail-init comes back to us.
    escaped = cjtest.wait_for(lambda: not cjtest.foreign_children(_STARTED_PIDS), 2.0)
    if not escaped:
        problems.append("processes escaped the service: " +
                        ", ".join(cjtest.describe(p) for p in cjtest.foreign_children(_STARTED_PIDS)))
    left = svc.work_dir_entries()
    if left:
        problems.append(f"work_dir {svc.work_dir} not empty: {left}")
    if svc.private_work_dir:
        stray = [cjtest.describe(p) for p in svc.sandbox_procs(waiting_too=True)]
        if stray:
            problems.append(f"processes still in work_dir: {stray}")
    log = svc.log()
    shutil.rmtree(svc.home, ignore_errors=True)
    if problems:
        raise cjtest.Failure("service teardown: " + "; ".join(problems) + "\nlog:\n" + log)


@pytest.fixture(scope="session")
def service(prefix):
    """The default service: devstack limits (the built-in defaults)."""
    svc = _start(prefix, {}, {SECRET_ENV: SECRET_VALUE}, "default", 200)
    yield svc
    _stop_and_check(svc)


@pytest.fixture
def make_service(prefix):
    started = []

    def factory(config=None, env=None, expect_health=200, name="special"):
        svc = _start(prefix, config or {}, env, name, expect_health)
        started.append(svc)
        return svc

    yield factory
    errors = cjtest.failures(_stop_and_check, started)
    if errors:
        raise cjtest.Failure("\n\n".join(errors))


@pytest.fixture(autouse=True)
def _no_leftovers_after_each_test():
    """After every test, each service still running must be idle: no
    execution process, no execution directory."""
    yield
    for svc in list(_LIVE):
        if svc.running():
            svc.assert_idle()
