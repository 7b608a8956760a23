"""The container codejail-init makes or prepares: namespaces, mounts, cgroups,
capabilities.  Black-box, as root, on this host's kernel: cgroup v1 for
memory, pids and cpu here, so the cgroup v2 paths (delegation, moving into
init/, the cgroup2 remount) are not exercised by these tests.

A test that checks something stays inside looks from the host while CMD is
still running: once init exits its namespaces are gone, and "not visible
outside" would prove nothing.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import uuid

import pytest

from conftest import cgroup_parent_dirs, mounts, remove_cgroup_parent
from test_init import (TIMEOUT, UNSHARE, descendants, init_bin, sh, spawn, stat,  # noqa: F401
                       subreaper, wait_for)

# What codejail-server keeps in its bounding set (init/caps.c says why).
SERVER_CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27,
}


def status_field(text, name):
    return int(re.search(rf"^{name}:\s*([0-9a-f]+)$", text, re.M).group(1), 16)


def own_caps(name):
    with open("/proc/self/status") as f:
        return status_field(f.read(), name)


def mountpoints():
    return {mp for mp, _, _ in mounts()}


@pytest.fixture
def cgroup_parent():
    """A cgroup parent name for one test, removed afterwards."""
    name = f"cj-init-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield name
    remove_cgroup_parent(name)


def run_to_end(init_bin, *args, env=None):
    return subprocess.run([init_bin, *args], capture_output=True, timeout=TIMEOUT,
                          env={**os.environ, **(env or {})})


# ---- namespaces --------------------------------------------------------------

def test_cmd_is_pid_2_of_its_own_namespace(init_bin):
    r = run_to_end(init_bin, *sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '"))
    assert r.returncode == 0, r.stderr
    pid, cmdline = r.stdout.decode().splitlines()
    assert pid == "2"  # init is 1
    assert cmdline.startswith(init_bin + " "), cmdline


def test_proc_shows_only_the_container(init_bin):
    # init, sh, and the pipeline's ls, grep and wc at most.
    r = run_to_end(init_bin, *sh("ls /proc | grep -E '^[0-9]+$' | wc -l"))
    assert r.returncode == 0, r.stderr
    assert 2 <= int(r.stdout) <= 5, r.stdout


def test_hostname_is_the_containers_own(spawn):
    host = socket.gethostname()
    run = spawn(*sh("hostname cj-init-test && hostname && echo ready && exec sleep 100"))
    assert run.readline() == "cj-init-test"
    assert run.readline() == "ready"
    assert socket.gethostname() == host
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


def test_mounts_inside_do_not_reach_the_host(init_bin, tmp_path):
    # This host's mounts are all private, which would hide a missing
    # MS_PRIVATE: init starts in a namespace of unshare's whose mounts are
    # shared, as a container runtime may leave them, and we look there.
    target = tmp_path / "inside"
    target.mkdir()
    p = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "shared", "--fork", init_bin,
         *sh(f"mount -t tmpfs cj-test {target} && grep -c ' {target} ' /proc/self/mountinfo && read x")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"1\n"
        with open(f"/proc/{p.pid}/mountinfo") as f:  # unshare's, the namespace around init
            outside = f.read()
        assert "shared:" in outside
        assert f" {target} " not in outside
        assert str(target) not in mountpoints()
    finally:
        p.stdin.close()
        assert p.wait(timeout=TIMEOUT) == 1  # read's status at EOF
        p.stdout.close()
        p.stderr.close()


def test_ipc_namespace_is_the_containers_own(init_bin):
    r = run_to_end(init_bin, "--", "readlink", "/proc/self/ns/ipc")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() != os.readlink("/proc/self/ns/ipc")


def test_no_namespaces_stays_on_the_host(init_bin):
    r = run_to_end(init_bin, "--no-namespaces", "--", "readlink", "/proc/self/ns/pid", "/proc/self/ns/mnt")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [os.readlink("/proc/self/ns/pid"), os.readlink("/proc/self/ns/mnt")]


def test_cmd_gets_no_fd_of_inits(init_bin):
    # ls's own directory fd is 3; the relay's pipe or a cgroup fd would be 4+.
    r = run_to_end(init_bin, "--", "ls", "/proc/self/fd")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.decode().split()) == ["0", "1", "2", "3"]


# ---- signals and status through the relay ---------------------------------

def test_sigterm_to_the_relay_reaches_cmd(spawn):
    run = spawn(*sh("trap 'echo got TERM; exit 143' TERM; echo ready; while :; do sleep 0.05; done"))
    assert run.readline() == "ready"
    run.kill(signal.SIGTERM)
    assert run.readline() == "got TERM"
    assert run.wait() == 143


def test_leftovers_get_their_grace_through_the_relay(spawn):
    # The main child stops at once and keeps its status; a leftover ignoring
    # SIGTERM is killed by the init inside after its own grace.  Were the
    # relay to run a clock too, it would SIGKILL that init first (137).
    # "ready" once both traps are set.
    run = spawn("--grace", "1", *sh("trap 'exit 9' TERM; (trap '' TERM; echo ready; exec sleep 1000) &"
                                    "while :; do sleep 0.05; done"))
    assert run.readline() == "ready"
    run.kill(signal.SIGTERM)
    assert run.wait() == 9
    assert "SIGKILL" in run.stderr()


def test_container_init_leads_its_own_session(spawn):
    # So a terminal's ^C, sent to the foreground group, reaches it only
    # through the relay, once.
    run = spawn(*sh("echo ready; exec sleep 100"))
    assert run.readline() == "ready"
    inner = [p for p in descendants(run.pid) if stat(p)[1] == run.pid]
    assert len(inner) == 1
    assert stat(inner[0])[2] == inner[0]
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


def test_setup_failure_inside_is_125_and_cmd_never_runs(init_bin, tmp_path):
    marker = tmp_path / "ran"
    r = run_to_end(init_bin, "--work-tmpfs", str(tmp_path / "missing"), "--", "touch", str(marker))
    assert r.returncode == 125
    assert b"work tmpfs: mount on " in r.stderr
    assert not marker.exists()


def running(pid):
    st = stat(pid)
    return st is not None and st[0] != "Z"


def test_killing_the_relay_takes_the_container_with_it(spawn):
    run = spawn(*sh("sleep 1000 & sleep 1001 & echo ready; wait"))
    assert run.readline() == "ready"
    # The container's init, sh and the two sleeps.
    inside = wait_for(lambda: len(descendants(run.pid)) == 4 and descendants(run.pid))
    assert inside
    inner = [p for p in inside if stat(p)[1] == run.pid]
    run.kill(signal.SIGKILL)
    run.wait()
    assert wait_for(lambda: not any(running(p) for p in inside)), "the container outlived its relay"
    # Its init came to us (pytest is a subreaper): reap it.
    assert os.waitpid(inner[0], 0)[1] == signal.SIGKILL


# ---- work tmpfs ------------------------------------------------------------

def work_line(text, path):
    lines = [line for line in text.splitlines() if line.split()[4] == str(path)]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_work_tmpfs_inside_only(spawn, tmp_path, how):
    work = tmp_path / "cj-init-test-work"
    work.mkdir()
    script = "cat /proc/self/mountinfo; stat -f -c 'blocks %b %S' " + str(work) + "; echo ready; exec sleep 100"
    if how == "flag":
        run = spawn("--work-tmpfs", f"{work}:16m", *sh(script))
    else:
        run = spawn(*sh(script), env={"CODEJAIL_WORK_TMPFS": f"{work}:16m"})
    text = []
    while not (line := run.readline()).startswith("blocks "):
        text.append(line)
    _, blocks, bsize = line.split()
    assert int(blocks) * int(bsize) == 16 << 20
    line = work_line("\n".join(text), work)
    options, _, super_part = line.partition(" - ")
    assert {"nosuid", "nodev", "noexec"} <= set(options.split()[5].split(","))
    fstype, _, super_opts = super_part.split()
    assert fstype == "tmpfs"
    assert {"size=16384k", "mode=755"} <= set(super_opts.split(",")), super_opts
    assert run.readline() == "ready"
    assert str(work) not in mountpoints()
    run.kill(signal.SIGTERM)
    assert run.wait() == 143


def test_work_tmpfs_default_size(init_bin, tmp_path):
    r = run_to_end(init_bin, "--work-tmpfs", str(tmp_path), "--", "stat", "-f", "-c", "%b %S", str(tmp_path))
    assert r.returncode == 0, r.stderr
    blocks, bsize = map(int, r.stdout.split())
    assert blocks * bsize == 256 << 20


@pytest.mark.parametrize("env", [False, True])
def test_work_tmpfs_refused_on_the_hosts_mounts(init_bin, tmp_path, env):
    marker = tmp_path / "ran"
    args = ["--no-namespaces", "--", "touch", str(marker)]
    if env:
        r = run_to_end(init_bin, *args, env={"CODEJAIL_WORK_TMPFS": str(tmp_path)})
    else:
        r = run_to_end(init_bin, "--work-tmpfs", str(tmp_path), *args)
    assert r.returncode == 125
    assert b"--work-tmpfs needs a mount namespace of its own" in r.stderr, r.stderr
    assert not marker.exists()
    assert str(tmp_path) not in mountpoints()


@pytest.mark.parametrize("value", ["relative/dir", "/x:0", "/x:16q", "/x:16mb", "/x:", ":16m",
                                   "/x:99999999999g"])
def test_bad_work_tmpfs_is_125(init_bin, value):
    r = run_to_end(init_bin, "--work-tmpfs", value, "true")
    assert r.returncode == 125
    assert b"invalid --work-tmpfs" in r.stderr
    r = run_to_end(init_bin, "true", env={"CODEJAIL_WORK_TMPFS": value})
    assert r.returncode == 125
    assert b"invalid CODEJAIL_WORK_TMPFS" in r.stderr


# ---- cgroups (v1 on this host) ---------------------------------------------

@pytest.mark.parametrize("mode", [[], ["--no-namespaces"], list(UNSHARE)])
def test_cgroup_parent_is_made_for_memory_and_pids(init_bin, cgroup_parent, mode):
    dirs = cgroup_parent_dirs(cgroup_parent)
    assert any("/memory/" in d for d in dirs) and any("/pids/" in d for d in dirs), dirs
    prefix, args = (mode, []) if mode == list(UNSHARE) else ([], mode)
    r = subprocess.run([*prefix, init_bin, *args, "--cgroup-parent", cgroup_parent, "true"],
                       capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    for d in dirs:
        assert os.path.isfile(os.path.join(d, "cgroup.procs")), d


def test_cgroup_parent_from_env_and_nested(init_bin, cgroup_parent):
    nested = f"{cgroup_parent}/sandboxes"
    r = run_to_end(init_bin, "true", env={"CODEJAIL_CGROUP_PARENT": nested})
    assert r.returncode == 0, r.stderr
    for d in cgroup_parent_dirs(nested):
        assert os.path.isdir(d), d


def test_no_cgroups_makes_nothing(init_bin, cgroup_parent):
    r = run_to_end(init_bin, "--no-cgroups", "--cgroup-parent", cgroup_parent, "true")
    assert r.returncode == 0, r.stderr
    assert not any(os.path.exists(d) for d in cgroup_parent_dirs(cgroup_parent))


def test_unwritable_cgroup_is_125(init_bin, cgroup_parent, tmp_path):
    # Read-only cgroup mounts, as a container without a delegated cgroup
    # gets them: made in a mount namespace of unshare's, so the host's stay.
    marker = tmp_path / "ran"
    remount = "; ".join(f"mount -o remount,bind,ro {os.path.dirname(d)}"
                        for d in cgroup_parent_dirs(cgroup_parent))
    r = subprocess.run(["unshare", "--mount", "sh", "-c",
                        f'{remount} && exec "$@"', "sh", init_bin, "--cgroup-parent", cgroup_parent,
                        "touch", str(marker)], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 125, r.stderr
    if cgroup_v1():
        # The read-only mounts show the host's whole hierarchy, not a cgroup
        # of this process's own: not codejail-init's to make writable.
        assert re.search(rb"cgroup: /sys/fs/cgroup/\S+ is read-only and shows the cgroup \S+, not this "
                         rb"process's \(/\): only a container's own cgroup is made writable\.  Run "
                         rb"codejail-init as the container's PID 1", r.stderr), r.stderr
    else:
        assert b"cgroup: /sys/fs/cgroup is not writable [" in r.stderr, r.stderr
        assert b"the container must get a writable cgroup" in r.stderr, r.stderr
        assert b"Read-only file system" in r.stderr
    assert not marker.exists()
    # --no-cgroups runs there all the same.
    r = subprocess.run(["unshare", "--mount", "sh", "-c", f'{remount} && exec "$@"', "sh", init_bin,
                        "--no-cgroups", "true"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


def cgroup_v1():
    return [t for mp, t, _ in mounts() if mp == "/sys/fs/cgroup"][-1:] != ["cgroup2"]


def test_v1_container_cgroup_read_only_is_made_writable(init_bin, cgroup_parent, tmp_path):
    """What Docker and containerd do on a cgroup v1 host: each controller's
    mount shows only the container's own cgroup, bound in read-only.
    codejail-init (its own cgroup namespace rooted there) remounts them
    read-write and makes the parent inside, on the host below that cgroup."""
    if not cgroup_v1():
        pytest.skip("cgroup v2 host: the v1 remount does not apply (test_unwritable_cgroup_is_125 covers v2)")
    box = f"{cgroup_parent}-box"  # the "container's" cgroup, in each hierarchy
    tops = [os.path.dirname(d) for d in cgroup_parent_dirs(cgroup_parent)]
    marker = tmp_path / "ran"
    enter = "; ".join(f"mkdir -p {t}/{box} && echo $$ > {t}/{box}/cgroup.procs" for t in tops)
    bind = "; ".join(f"mount --bind {t}/{box} {t} && mount -o remount,bind,ro {t}" for t in tops)
    try:
        r = subprocess.run(["sh", "-c", f'{enter} && exec unshare --mount sh -c "{bind} && exec \\"\\$@\\"" '
                            f'sh "$@"', "sh", init_bin, "--cgroup-parent", cgroup_parent, "touch", str(marker)],
                           capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert marker.exists()
        for t in tops:  # made inside the container's cgroup, seen from the host
            assert os.path.isfile(os.path.join(t, box, cgroup_parent, "cgroup.procs")), t
    finally:
        for t in tops:
            for d in (os.path.join(t, box, cgroup_parent), os.path.join(t, box)):
                if os.path.isdir(d):
                    os.rmdir(d)


@pytest.mark.parametrize("value", ["", "/abs", "../up", "a/../b", "a//b", "a/", ".", "x" * 256])
def test_bad_cgroup_parent_is_125(init_bin, value):
    r = run_to_end(init_bin, "--cgroup-parent", value, "true")
    assert r.returncode == 125
    assert b"invalid --cgroup-parent" in r.stderr
    r = run_to_end(init_bin, "true", env={"CODEJAIL_CGROUP_PARENT": value})
    assert r.returncode == 125
    assert b"invalid CODEJAIL_CGROUP_PARENT" in r.stderr


# ---- capabilities ------------------------------------------------------------

def cmd_caps(init_bin, *args):
    r = run_to_end(init_bin, *args, "--", "grep", "^Cap", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    return {name: status_field(text, name) for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


@pytest.mark.parametrize("mode", [[], ["--no-namespaces"]])
def test_cmd_keeps_only_the_servers_capabilities(init_bin, mode):
    want = sum(1 << bit for bit in SERVER_CAPS.values()) & own_caps("CapBnd")
    caps = cmd_caps(init_bin, *mode)
    assert caps["CapBnd"] == want, f"{caps['CapBnd']:x} != {want:x}"
    # Root's CMD gets the bounding set, and nothing passes it by.
    assert caps["CapPrm"] == caps["CapEff"] == want
    assert caps["CapInh"] == caps["CapAmb"] == 0


def test_keep_caps_keeps_the_bounding_set(init_bin):
    caps = cmd_caps(init_bin, "--keep-caps")
    assert caps["CapBnd"] == own_caps("CapBnd")


@pytest.mark.parametrize("sets", [["--inh=cap_sys_module"],
                                  ["--inh=cap_sys_module", "--addamb=cap_sys_module"]])
def test_inherited_capabilities_do_not_pass_the_bounding_set(init_bin, sets):
    # Inheritable and ambient capabilities survive exec whatever the
    # bounding set says (P' = P_inh & F_inh | F_perm & bounding | P_amb).
    # Start init with CAP_SYS_MODULE in them (capsh): CMD must not have it.
    capsh = shutil.which("capsh") or pytest.fail("capsh (libcap2-bin) is needed for this test")
    probe = "grep ^Cap /proc/self/status"
    r = subprocess.run([capsh, *sets, "--", "-c", f"{probe}; echo --; exec {init_bin} -- {probe}"],
                       capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    before, after = r.stdout.decode().split("--\n")
    module = 1 << 16  # CAP_SYS_MODULE
    assert status_field(before, "CapInh") & module  # the test's premise
    if len(sets) == 2:
        assert status_field(before, "CapAmb") & module
    for name in ("CapInh", "CapAmb", "CapPrm", "CapEff"):
        assert not status_field(after, name) & module, name


def test_plain_chroot_is_refused_with_the_fix(init_bin, tmp_path):
    """Started in a plain chroot, "/" is no mount point: nothing can be made
    private there, and no sandbox could pivot_root.  It says so, and what
    fixes it, instead of an errno."""
    root = tmp_path / "root"
    libs = re.findall(r"(/\S+\.so[.\d]*)", subprocess.run(["ldd", init_bin], capture_output=True,
                                                            text=True).stdout)
    for path in [init_bin] + libs:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    r = subprocess.run(["chroot", str(root), init_bin, "--", "/none"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 125, r.stderr
    assert b"/ is not a mount point (started in a plain chroot?)" in r.stderr, r.stderr
    assert b"mount --bind DIR DIR" in r.stderr, r.stderr
