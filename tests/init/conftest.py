"""Shared by the init scenarios.

Every codejail-init these tests start (directly, through the spawn fixture or
under unshare) prepares cgroups, by default under "codejail", the server's
own parent.  This session gives them a name of its own instead, through
$CODEJAIL_CGROUP_PARENT, and removes what they made at the end, so the suite
leaves nothing in the host's hierarchies and never touches a running
server's cgroups.
"""

import os
import sys

import pytest

# cjtest, shared by every tier, from tests/lib (see its docstring).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))

CGROUP_ROOT = "/sys/fs/cgroup"


def mounts():
    """(mount point, fstype, super options) of every mount, in mount order."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, opts = right.split()[:3]
            yield left.split()[4], fstype, opts.split(",")


def cgroup_parent_dirs(parent):
    """Where codejail-init makes `parent`: under the v2 root, or in each v1
    hierarchy of memory, pids and cpu."""
    if [t for mp, t, _ in mounts() if mp == CGROUP_ROOT][-1:] == ["cgroup2"]:
        return [os.path.join(CGROUP_ROOT, parent)]
    v1 = {}
    for mp, fstype, opts in mounts():
        for ctl in opts if fstype == "cgroup" else ():
            v1.setdefault(ctl, mp)
    return [os.path.join(v1[c], parent) for c in ("memory", "pids", "cpu") if c in v1]


def remove_cgroup_parent(parent):
    """Removes every level of `parent`, which must be unique to the tests:
    its first component goes with everything below it."""
    top = parent.split("/")[0]
    for path in cgroup_parent_dirs(top):
        for dirpath, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
            os.rmdir(dirpath)


@pytest.fixture(scope="session", autouse=True)
def session_cgroup_parent():
    name = f"cj-init-test-{os.getpid()}"
    old = os.environ.get("CODEJAIL_CGROUP_PARENT")
    os.environ["CODEJAIL_CGROUP_PARENT"] = name
    yield name
    if old is None:
        del os.environ["CODEJAIL_CGROUP_PARENT"]
    else:
        os.environ["CODEJAIL_CGROUP_PARENT"] = old
    remove_cgroup_parent(name)
