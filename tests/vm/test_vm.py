"""The real-kernel tier (CTest label `vm`, one test per kernel): a stock
Debian kernel of tests/vm/kernels ($CJVM_KERNEL names it) with AppArmor and
cgroup v2, booted under QEMU software emulation, runs guest/run.py as the
child of codejail-init (the guest's PID 1) against the installed build in
$CODEJAIL_PREFIX.

One boot for the whole session; each test below asserts on its result lines
(`CJVM RESULT <name> PASS|FAIL|XFAIL <detail>`, `CJVM DONE <pass> <fail>`).
A boot that hangs is killed at its bound and fails every test; a missing
result line fails its test.  The serial log is $CJVM_RUN_DIR/serial.log, the
guest's own logs (service logs, kernel log, escape suite output) are in
$CJVM_RUN_DIR/out/; a failure message ends with the serial log's tail.
"""
import os

import pytest

import cjvm

KERNEL = cjvm.kernel(os.environ.get("CJVM_KERNEL", ""))

# Every check the guest must report, and pass.  A check that never reported
# (the guest died, a group was skipped) fails here by name.
REQUIRED = [
    "boot.lsm",                 # AppArmor enabled, and Landlock exactly when the kernel list says
    "boot.cgroup2",             # only cgroup2 mounted; codejail-init (PID 1) delegated memory + pids
    "boot.libs",                # the image holds every library the build links
    "landlock.abi",             # the ABI tests/vm/kernels names
    "negative.no-profiles",     # apparmor: required, no profile loaded: never healthy, says why
    "profiles.install",         # apparmor/install.sh, aa-status | grep codejail
    "apparmor.stack-probe",     # the onexec stack works under codejail_service, without a secure exec
    "service.start",            # healthy under codejail_service from codejail-init on
    "service.health",
    "service.label",            # /proc/<pid>/attr/current of codejail-init and codejail-server
    "service.landlock",         # "landlock on (ABI N)" (OFF without), cgroups v2, apparmor codejail_sandbox
    "execution.label",          # the interpreter runs under codejail_sandbox (stacked)
    "execution.cgroup",         # its own cgroup, memory.max and pids.max set
    "execution.numpy",
    "cgroup.oom",               # a memory bomb is OOM-killed by its cgroup
    "cgroup.accounting",        # an execution's CPU time and peak reach /metrics and its log line (v2 files)
    "cgroup.reuse",             # after executions killed at REALTIME, reused cgroups serve (6.1.176's kill counter)
    "cgroup.cleanup",           # no execution cgroup outlives the service
    "warm.start",               # the warm path under the same profiles; its pool clones confined, each with its init in its cgroup
    "bare-host.start",          # codejail-init started on a cgroup v2 host (a systemd unit)
    "apparmor-only.probe",      # landlock and seccomp off: the probe's attempts stopped by AppArmor
    "apparmor.denied-logged",   # ... with apparmor="DENIED" lines for codejail_sandbox
    "apparmor-alone",           # the escape suite's socket/program/syscall attempts vs the profile alone
    "escape.all",               # tests/escape, every layer on, the service confined
] + ([
    "escape.no-landlock",       # tests/escape's file tests with AppArmor as the only file LSM
] if KERNEL.landlock > 0 else [
    "landlock.required",        # no Landlock: `landlock: required` refused in one line naming it and the kernel
])

TAIL = 60


@pytest.fixture(scope="session")
def vm():
    prefix = os.environ.get("CODEJAIL_PREFIX")
    if not prefix or not os.access(os.path.join(prefix, "bin/codejail-server"), os.X_OK):
        pytest.fail("CODEJAIL_PREFIX must name an installed build", pytrace=False)
    run_dir = os.environ.get("CJVM_RUN_DIR") or os.path.join(os.path.dirname(os.path.abspath(prefix)), "vm")
    os.makedirs(run_dir, exist_ok=True)
    try:
        image, image_s = cjvm.build_image(KERNEL, float(os.environ.get("CJVM_IMAGE_TIMEOUT", 900)))
    except Exception as e:  # the message of build-image.sh is on stderr already
        pytest.fail(f"no VM image: {e}", pytrace=False)
    try:
        run = cjvm.boot(image, os.path.abspath(prefix), cjvm.SRC, run_dir,
                        timeout=float(os.environ.get("CJVM_TIMEOUT", 900)),
                        boot_timeout=float(os.environ.get("CJVM_BOOT_TIMEOUT", 180)),
                        append=f"{KERNEL.append()} {os.environ.get('CJVM_APPEND', '')}")
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    run.seconds["image"] = round(image_s, 1)
    print(f"\ncjvm: kernel {KERNEL.name} ({KERNEL.package}={KERNEL.version}); image {image}; seconds {run.seconds}; serial log {run.serial_path}")
    for line in run.log_lines():
        print(f"cjvm: {line}")
    return run


def context(run):
    return (f"\n--- serial log tail ({run.serial_path}; guest logs in {run.run_dir}/out) ---\n"
            f"{run.tail(TAIL)}")


def test_guest_finished(vm):
    """The guest ran to the end and said so; it neither hung nor died."""
    assert vm.timed_out is None, f"{vm.timed_out}{context(vm)}"
    assert not vm.fatal, f"{vm.fatal}{context(vm)}"
    assert vm.done is not None, f"no CJVM DONE line (the guest died?){context(vm)}"
    n_pass = sum(1 for s, _ in vm.results.values() if s == "PASS")
    n_fail = sum(1 for s, _ in vm.results.values() if s == "FAIL")
    assert vm.done == (n_pass, n_fail), f"CJVM DONE {vm.done} but the result lines count {(n_pass, n_fail)}"


@pytest.mark.parametrize("name", REQUIRED)
def test_check(vm, name):
    assert name in vm.results, f"no result line for {name}{context(vm)}"
    status, detail = vm.results[name]
    assert status == "PASS", f"{name}: {status} {detail}"


def test_nothing_else_failed(vm):
    """Per-test lines (escape.all/..., apparmor-alone/...) included."""
    failed = {n: d for n, d in vm.failures().items() if n not in REQUIRED}
    lines = [f"{n}: {d[:300]}" for n, d in sorted(failed.items())]
    more = f"\n... and {len(lines) - 40} more (all in {vm.serial_path})" if len(lines) > 40 else ""
    assert not failed, f"{len(failed)} failed:\n" + "\n".join(lines[:40]) + more
