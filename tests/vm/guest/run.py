#!/usr/bin/python3
"""Guest side of the VM tier: the checks that need a real AppArmor + cgroup v2
kernel, run as the main child of codejail-init (the guest's PID 1).

Prints on the console (the host's serial log), one line each:

    CJVM START <kernel>
    CJVM RESULT <name> PASS|FAIL|XFAIL <detail>
    CJVM LOG <evidence>
    CJVM DONE <n_pass> <n_fail>

then powers the guest off.  Every wait is bounded; a check that cannot
finish reports FAIL (never PASS by default).  Logs go to /opt/cjvm-out (a
host directory): each service's log, the kernel log, the escape suite's
output.

Kernel command line: cjvm.only=GROUP[,GROUP...] runs only those groups
(boot, negative, service, warm, bare-host, apparmor-only, apparmor-alone,
escape-all, escape-no-landlock; the profiles are always loaded), for
debugging by hand; the CTest run runs them all.
"""
import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import urllib.request

import aa_alone
from cjvmlib import (AA_SERVICE, CG, CG_SERVICES, CONFIG_DIR, CONTAINER, HERE, KERNEL, LANDLOCK_ABI, LANDLOCK_MODE,
                     OUT, R, RUN, SANDBOX_PY, SRC, Fail, Service, KernelLog, check, in_background, interpreter_pid,
                     label, oneline, procs, read, sh, wait_for)

# The startup probe's checks that AppArmor alone (landlock: off, seccomp:
# off) is not meant to stop, or not the way the probe demands: check name ->
# why.  Reported as XFAIL, not FAIL.
AA_ONLY_PROBE_XFAIL = {
    "ptrace": "the probe wants seccomp's EPERM for ptrace(PTRACE_TRACEME); AppArmor answers EACCES when the "
              "tracer (the sandbox's init) is confined, and does not mediate TRACEME at all when it is "
              "unconfined; TRACEME gives the tracee nothing",
}
# tests/escape tests that may fail here for reasons outside what this tier
# tests: regex on the test's name (without file and parameters) -> why.  Reported as XFAIL
# when they fail, PASS (with the note) when they pass.
ESCAPE_ALL_XFAIL = {
    r"test_cpu_loop_gets_sigxcpu": "wall-clock bound (4 s) assumes native speed; under emulation the CPU limit "
                                   "is scaled (ESCAPE_LIMITS) and the loop runs that long",
    r"test_fork_bomb": "wall-clock bound (4 s) assumes native speed",
    r"test_memory_bomb_in_steps": "bytearray() zero-fills: touching 512 MiB takes more CPU seconds than the "
                                  "scaled limit under emulation (SIGXCPU instead of MemoryError)",
    r"test_all_layers_off_fails_the_probe": "the guest has no network at all, so the probe's 'reach the "
                                            "network' fails for want of a route even with every layer off",
}
# What the kernel does with a child cloned (clone3, CLONE_INTO_CGROUP) into a
# cgroup that once went through cgroup.kill, asked in a process of its own:
# SIGKILLed at birth on stable kernels that carry the fork-versus-kill fix
# without its CLONE_INTO_CGROUP correction (Debian's 6.1.176).  Evidence for
# the log; what the service must do about it is cgroup.reuse's to check.
KILL_SEQ_PROBE = r"""
import ctypes, os, signal, sys
d = sys.argv[1]
os.mkdir(d)
try:
    if not os.path.exists(d + "/cgroup.kill"):
        print("no cgroup.kill on this kernel (5.14+)")
        sys.exit(0)
    with open(d + "/cgroup.kill", "w") as f:
        f.write("1")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    args = (ctypes.c_uint64 * 11)(0x200000000, 0, 0, 0, signal.SIGCHLD, 0, 0, 0, 0, 0, fd)  # CLONE_INTO_CGROUP
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.syscall(435, args, ctypes.sizeof(args))  # clone3
    if pid == 0:
        libc.usleep(300000)
        libc._exit(0)
    if pid < 0:
        print(f"clone3 failed: errno {ctypes.get_errno()}")
        sys.exit(0)
    st = os.waitpid(pid, 0)[1]
    print("SIGKILLed at birth: the kernel compares the parent's cgroup kill count with the target's"
          if os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGKILL else f"lives (status {st:#x})")
finally:
    os.rmdir(d)
"""

# The service the service.*, execution.* and cgroup.* checks share; cgroup.reuse
# kills executions at this context's REALTIME.
MAIN_CONFIG = {"limit_overrides": {"cjvm-short": {"REALTIME": 3}}}

# Software emulation is 10-20 times slower than the CI machine: importing
# urllib.request alone takes a CPU second in the guest.
ESCAPE_LIMITS = {"CPU": 6, "REALTIME": 15}
ESCAPE_WAIT_SCALE = 4  # the suite's wait_for bounds (15 s for a service's probe, 5 s for teardown)
ESCAPE_TIMEOUT = 600  # both escape phases together, at most


# ---- the checks ---------------------------------------------------------------------

class Tier:
    def __init__(self, prefix, only):
        self.prefix = prefix
        self.only = only
        self.klog = KernelLog()
        self.main = None  # the confined all-layers service
        # How services are confined from here on: codejail_service from
        # codejail-init on, unless service.start found that impossible (then
        # unconfined, so the sandbox-side checks still run; service.start and
        # service.label FAIL and say why).
        self.confine = "init"
        self.exec_cgroup = None

    def wants(self, group):
        return not self.only or group in self.only

    # -- boot ------------------------------------------------------------------------
    def boot_lsm(self):
        lsm = read("/sys/kernel/security/lsm").strip()
        enabled = read("/sys/module/apparmor/parameters/enabled").strip()
        if LANDLOCK_ABI < 0:
            raise Fail(f"no cjvm.landlock= on the kernel command line (cjvm.py sets it from tests/vm/kernels)")
        if "apparmor" not in lsm.split(",") or enabled != "Y" or ("landlock" in lsm.split(",")) != (LANDLOCK_ABI > 0):
            raise Fail(f"LSMs '{lsm}', apparmor enabled '{enabled}'; tests/vm/kernels says Landlock ABI {LANDLOCK_ABI}")
        return f"kernel {KERNEL}: lsm={lsm}; apparmor enabled={enabled}; cmdline: {read('/proc/cmdline').strip()}"

    def boot_cgroup2(self):
        mounts = [line.split() for line in read("/proc/self/mounts").splitlines()]
        v1 = [m[1] for m in mounts if m[2] == "cgroup"]
        v2 = [m[1] for m in mounts if m[2] == "cgroup2"]
        if v1 or v2 != [CG]:
            raise Fail(f"cgroup v1 mounts {v1}, cgroup2 mounts {v2}: want only cgroup2 at {CG}")
        ctl = read(CG + "/cgroup.controllers").split()
        sub = read(CG + "/cgroup.subtree_control").split()
        if not {"memory", "pids"} <= set(ctl):
            raise Fail(f"controllers {ctl}")
        # codejail-init as PID 1 delegates: memory and pids on for the root's
        # children, and the executions' parent made.
        if not {"memory", "pids"} <= set(sub) or not os.path.isdir(CG + "/codejail"):
            raise Fail(f"codejail-init (PID 1) did not delegate: subtree_control '{' '.join(sub)}', "
                       f"{CG}/codejail {'exists' if os.path.isdir(CG + '/codejail') else 'missing'}")
        pid1 = read("/proc/1/cmdline").replace("\0", " ").strip()
        if "codejail-init" not in pid1:
            raise Fail(f"PID 1 is '{pid1}', not codejail-init")
        return f"only cgroup2 at {CG}; controllers '{' '.join(ctl)}'; subtree_control '{' '.join(sub)}'; PID 1: {pid1}"

    def boot_libs(self):
        """The image must hold every library the installed binaries link."""
        missing = []
        for b in ("bin/codejail-server", "bin/codejail-init", "lib/codejail/codejail-noexec.so"):
            out = sh(["ldd", os.path.join(self.prefix, b)]).stdout
            missing += [f"{b}: {line.strip()}" for line in out.splitlines() if "not found" in line]
        if missing:
            raise Fail(f"missing in the image (add the package to tests/vm/build-image.sh): {missing}")
        return "every linked library is in the image"

    def landlock_abi(self):
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
        err = ctypes.get_errno()
        if LANDLOCK_ABI == 0:
            # ENOSYS: not built; EOPNOTSUPP: built but not enabled.
            if abi != -1 or err not in (38, 95):
                raise Fail(f"landlock_create_ruleset answered {abi} (errno {err}); {KERNEL} should have no Landlock")
            return f"no Landlock (errno {err})"
        if abi != LANDLOCK_ABI:
            raise Fail(f"Landlock ABI {abi} (errno {err}); tests/vm/kernels says {KERNEL} has {LANDLOCK_ABI}")
        return f"Landlock ABI {abi}"

    def landlock_required(self):
        """A kernel without Landlock and `landlock: required`: the service
        refuses to start, in one line naming the layer and the kernel."""
        svc = Service(self.prefix, "landlock-required", {"landlock": "required"}, confine=None).start()
        try:
            if wait_for(lambda: svc.proc.poll() is not None, 120, 0.2) is False or svc.proc.poll() is None:
                raise Fail(f"still running after 120 s: {svc.log_tail()}")
        finally:
            svc.stop()
        release = os.uname().release
        lines = [line for line in svc.log().splitlines() if not line.startswith("#") and "landlock" in line.lower()]
        named = [line for line in lines if "required" in line and release in line]
        if svc.proc.returncode == 0 or len(named) != 1:
            raise Fail(f"exit {svc.proc.returncode}; want one line naming landlock and {release}: {lines}")
        return f"exit {svc.proc.returncode}: {named[0].strip()}"

    # -- negative control: apparmor required, profiles not loaded ------------------------
    def negative_no_profiles(self):
        loaded = read("/sys/kernel/security/apparmor/profiles", "")
        if "codejail" in loaded:
            raise Fail(f"the codejail profiles are already loaded: {loaded!r}")
        svc = Service(self.prefix, "negative", {"apparmor": "required"}, confine=None).start()
        try:
            seen = []

            def ended():
                try:
                    seen.append(svc.health()[0])
                except (OSError, ValueError):
                    pass
                return svc.proc.poll() is not None or "startup probe" in svc.log()
            wait_for(ended, 120, 0.3)
            if 200 in seen:
                raise Fail(f"health answered 200 at some point; log: {svc.log_tail()}")
            log = svc.log()
            if svc.proc.poll() is not None:
                if svc.proc.returncode == 0 or "apparmor" not in log.lower():
                    raise Fail(f"exited {svc.proc.returncode} without naming AppArmor: {svc.log_tail()}")
                return f"refused to start (status {svc.proc.returncode}): {svc.log_tail(3)}"
            if "startup probe FAILED" not in log:
                raise Fail(f"neither exited nor failed its probe within 120 s: {svc.log_tail()}")
            status, body = svc.health()
            exec_status, exec_body = svc.post("x = 1")
            why = [line for line in log.splitlines() if "step 'apparmor'" in line]
            why += [line for line in log.splitlines() if "apparmor" in line.lower() or "failed" in line]
            if status != 503 or exec_status != 500:
                raise Fail(f"health {status} {body}, code-exec {exec_status} {exec_body}")
            if not any("apparmor" in line.lower() or "codejail_sandbox" in line for line in why):
                raise Fail(f"unhealthy, but the log does not say AppArmor is why: {why[:5]}")
            R.log("negative control: " + " | ".join(why[:3]))
            return f"health 503, code-exec 500 {exec_body}; log says: {oneline(why[0], 300)}"
        finally:
            svc.stop()

    # -- the profiles, loaded the operator's way -----------------------------------------
    def profiles_install(self):
        r = sh(["sh", os.path.join(SRC, "apparmor/install.sh")], timeout=180)
        with open(os.path.join(OUT, "install.txt"), "w") as f:
            f.write(r.stdout)
        if r.returncode != 0:
            raise Fail(f"apparmor/install.sh exited {r.returncode}: {r.stdout[-1500:]}")
        st = sh(["aa-status"], timeout=60).stdout
        with open(os.path.join(OUT, "aa-status.txt"), "w") as f:
            f.write(st)
        lines = [line.strip() for line in st.splitlines() if "codejail" in line]
        for line in lines:
            R.log(f"aa-status | grep codejail: {line}")
        # aa-status lists each profile under "profiles are in enforce mode".
        enforce = st.split("profiles are in enforce mode", 1)[-1].split("profiles are in complain mode", 1)[0]
        missing = [p for p in ("codejail_service", "codejail_sandbox") if p not in enforce.split()]
        if missing:
            raise Fail(f"not in enforce mode after install.sh: {missing}; aa-status | grep codejail: {lines}")
        return "aa-status | grep codejail: " + "; ".join(lines)

    def stack_probe(self):
        """What the runtime does for each execution, reproduced by hand: a
        process (under codejail_service, or unconfined as on a bare host) with
        no_new_privs, as the interpreter child has, asks for "<cmd>
        codejail_sandbox" at its next exec and execs the sandbox Python with
        an LD_PRELOAD.  From outside: its label; from inside: AT_SECURE (set,
        the loader drops LD_PRELOAD, and with it codejail-noexec.so) and
        whether LD_PRELOAD survived.  Under codejail_service a plain "exec" is
        refused (no new privs); "stack" must give the stacked label."""
        child = ("import ctypes, os, time\n"
                 "print('AT_SECURE=%d LD_PRELOAD=%s' % (ctypes.CDLL(None).getauxval(23), "
                 "os.environ.get('LD_PRELOAD', '(dropped)')), flush=True)\n"
                 "time.sleep(4)\n")
        code = ("import ctypes, os, sys\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "assert libc.prctl(38, 1, 0, 0, 0) == 0\n"  # PR_SET_NO_NEW_PRIVS
                "cmd = os.environ.pop('CJVM_CMD')\n"
                "for attr in ('/proc/self/attr/apparmor/exec', '/proc/self/attr/exec'):\n"
                "    try:\n"
                "        with open(attr, 'w') as f:\n"
                "            f.write(cmd)\n"
                "        break\n"
                "    except FileNotFoundError:\n"
                "        pass\n"
                f"os.execv({SANDBOX_PY!r}, [{SANDBOX_PY!r}, '-I', '-S', '-c', sys.argv[1]])\n")
        def trial(who, cmd):
            prefix = ["aa-exec", "-p", who, "--"] if who != "unconfined" else []
            p = subprocess.Popen(prefix + ["/usr/bin/python3", "-I", "-c", code, child],
                                 env={"CJVM_CMD": cmd, "PATH": "/usr/bin",
                                      "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libm.so.6"},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lab = wait_for(lambda: label(p.pid) if "codejail_sandbox" in label(p.pid) else None, 15, 0.1) \
                or ("(exited)" if p.poll() is not None else label(p.pid))
            try:
                said = p.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                said = p.communicate()[0]
            R.log(f"{who} + no_new_privs, '{cmd}', exec the sandbox Python: label {lab}, status {p.returncode}, "
                  f"says: {oneline(said, 200)}")
            return (who, cmd, lab, p.returncode, oneline(said, 200))

        out = [trial("codejail_service", "stack codejail_sandbox"), trial("codejail_service", "exec codejail_sandbox"),
               trial("unconfined", "stack codejail_sandbox")]
        stack = out[0][2]
        if "codejail_sandbox" not in stack or "codejail_service" not in stack:
            raise Fail(f"stacking did not give the stacked label: {out}")
        secure = [f"{who} '{cmd}'" for who, cmd, _, _, said in out if "AT_SECURE=1" in said]
        if secure:
            raise Fail(f"the exec into codejail_sandbox is a secure exec (AT_SECURE=1: the loader ignores "
                       f"LD_PRELOAD, so codejail-noexec.so never loads) for: {secure}; with the 'unsafe' "
                       f"keyword on codejail_service's change_profile rules: {self.unsafe_trial(trial)}")
        return "; ".join(f"{who} '{cmd}' -> {lab} {said}" for who, cmd, lab, _, said in out)

    def unsafe_trial(self, trial):
        """Diagnosis for the profile's author: a copy of codejail_service, renamed,
        its change_profile rules marked `unsafe` (no environment scrub at
        the exec), loaded next to it for one trial, then removed."""
        text = read(os.path.join(SRC, "apparmor/codejail_service"))
        text = re.sub(r"profile codejail_service\b", "profile cjvm_unsafe_trial", text)
        text = re.sub(r"(?m)^(\s*)change_profile (?!unsafe)", r"\1change_profile unsafe ", text)
        path = os.path.join(RUN, "cjvm_unsafe_trial")
        with open(path, "w") as f:
            f.write(text)
        r = sh(["apparmor_parser", "--replace", path])
        if r.returncode != 0:
            return f"(the trial profile did not load: {oneline(r.stdout, 300)})"
        try:
            who, cmd, lab, rc, said = trial("cjvm_unsafe_trial", "stack codejail_sandbox")
            return f"label {lab}, {said}"
        finally:
            sh(["apparmor_parser", "--remove", path])

    # -- the confined service -------------------------------------------------------------
    def service_start(self):
        """The container's way: codejail-init and the server under
        codejail_service.  Should that fail, the rest of the tier goes on with
        only the server confined, so one profile problem does not hide all the
        others (this check stays FAIL)."""
        svc = Service(self.prefix, "main", MAIN_CONFIG, confine="init").start()
        s = svc.wait_probe(180)
        if s == "passed":
            self.main = svc
            return f"probe passed in {time.monotonic() - svc.t_start:.1f} s under codejail_service from codejail-init on"
        svc.stop()
        errors = [line.strip() for line in svc.log().splitlines()
                  if "failed at step" in line or "startup check" in line and "failed" in line]
        first = (f"under codejail_service from codejail-init on: probe {s}; "
                 f"{' | '.join(dict.fromkeys(errors[:4])) or svc.log_tail(20)}")
        for line in self.klog.denied(0, "codejail_service")[-3:]:
            R.log(f"DENIED (service start): {line}")
        # Unconfined, the sandbox's change to codejail_sandbox is a plain
        # transition: what the sandbox checks below need.
        alt = Service(self.prefix, "main-unconfined", MAIN_CONFIG, confine=None).start()
        s2 = alt.wait_probe(180)
        if s2 == "passed":
            self.main = alt
            self.confine = None
            raise Fail(first + " || the rest of the tier runs the service UNCONFINED (its probe passed so)")
        alt.stop()
        raise Fail(first + f" || unconfined too: probe {s2}; log: {alt.log_tail(20)}")

    def need_main(self):
        if self.main is None:
            raise Fail("no healthy confined service (see service.start)")
        return self.main

    def service_health(self):
        svc = self.need_main()
        status, body = svc.health()
        checks = re.findall(r"startup check '([^']+)' (passed|failed)", svc.log())
        if status != 200 or not checks or any(s != "passed" for _, s in checks):
            raise Fail(f"health {status} {body}; checks {checks}")
        return f"health 200 {body.strip()}; {len(checks)} startup checks passed"

    def service_label(self):
        svc = self.need_main()
        server, init = svc.pid_of("codejail-server"), svc.pid_of("codejail-init")
        if server is None:
            raise Fail("no codejail-server process found")
        labels = {"codejail-init": label(init), "codejail-server": label(server)}
        for what, lab in labels.items():
            R.log(f"label of {what}: {lab}")
        want = "codejail_service (enforce)"
        bad = {k: v for k, v in labels.items() if v != want and not (svc.confine == "server" and k == "codejail-init")}
        if bad:
            raise Fail(f"want {want!r}: {labels}")
        return "; ".join(f"{k} {v}" for k, v in labels.items())

    def service_landlock(self):
        svc = self.need_main()
        line = next((line for line in svc.log().splitlines() if "confinement:" in line), "")
        R.log(line.strip())
        want = f"landlock on (ABI {LANDLOCK_ABI})" if LANDLOCK_ABI > 0 else "landlock OFF (ABI 0)"
        if want not in line:
            raise Fail(f"want '{want}' in the confinement line: {line!r}")
        if "cgroups v2" not in line or "apparmor codejail_sandbox" not in line:
            raise Fail(f"want cgroups v2 and apparmor codejail_sandbox: {line!r}")
        return line.split("codejail-server: ", 1)[-1].strip()

    def execution_label_and_cgroup(self):
        """One execution sleeps; from outside: its interpreter's AppArmor label
        and its cgroup's limits."""
        svc = self.need_main()
        lim = svc.config["limits"]
        t, out = in_background(svc.run, "import time\ntime.sleep(6)\nx = 1")
        try:
            pid = interpreter_pid(svc)
            lab = label(pid)
            sandbox_init = procs().get(pid, (None,))[0]
            init_lab = label(sandbox_init) if sandbox_init else "?"
            cg = read(f"/proc/{pid}/cgroup").strip()
            rel = cg.split("::", 1)[-1]
            cgdir = CG + rel
            mem, pids = read(cgdir + "/memory.max").strip(), read(cgdir + "/pids.max").strip()
            swap = read(cgdir + "/memory.swap.max", "-").strip()
            siblings = sorted(os.listdir(os.path.dirname(cgdir)))
            uid = re.search(r"^Uid:\s+(.*)$", read(f"/proc/{pid}/status"), re.M).group(1).split()
        finally:
            t.join(60)
        R.log(f"execution interpreter pid {pid}: label {lab}; its sandbox init (pid {sandbox_init}): {init_lab}")
        R.log(f"execution cgroup {rel}: memory.max {mem}, pids.max {pids}, memory.swap.max {swap}; "
              f"parent holds {[s for s in siblings if not s.startswith(('cgroup.', 'memory.', 'pids.', 'cpu'))]}")
        self.exec_cgroup = cgdir
        problems = []
        if "codejail_sandbox" not in lab or "(enforce)" not in lab:
            problems.append(f"interpreter label {lab!r}, want codejail_sandbox in enforce mode")
        elif svc.confine == "init" and "codejail_service" not in lab:
            problems.append(f"interpreter label {lab!r}: under a confined service it must be the stack "
                            f"codejail_sandbox//&codejail_service")
        page = os.sysconf("SC_PAGESIZE")
        if mem != str(lim["VMEM"] // page * page):
            problems.append(f"memory.max {mem}, want {lim['VMEM']}")
        # NPROC for the interpreter and what it forks, + 1 for the sandbox's
        # own init (runtime/sandbox.c), which lives in the same cgroup.
        if pids != str(lim["NPROC"] + 1):
            problems.append(f"pids.max {pids}, want NPROC + 1 = {lim['NPROC'] + 1}")
        if os.path.dirname(cgdir) != svc.cgroup_parent():
            problems.append(f"cgroup {cgdir} is not under the service's parent {svc.cgroup_parent()}")
        if set(uid) == {"0"}:
            problems.append("the interpreter runs as root")
        if "error" in out or "value" not in out:
            problems.append(f"the sleeping execution did not answer: {out}")
        self.exec_result = problems
        return lab, init_lab, rel, mem, pids, problems

    def execution_label(self):
        lab, init_lab, *_ = self.cached_exec()
        problems = [p for p in self.exec_result if "label" in p or "answer" in p or "root" in p]
        if problems:
            raise Fail("; ".join(problems))
        return f"interpreter: {lab}; sandbox init: {init_lab}"

    def execution_cgroup(self):
        _, _, rel, mem, pids, _ = self.cached_exec()
        problems = [p for p in self.exec_result if "memory" in p or "pids" in p or "cgroup" in p]
        if problems:
            raise Fail("; ".join(problems))
        return f"{rel}: memory.max {mem}, pids.max {pids}"

    def cached_exec(self):
        """execution.label and execution.cgroup share one sleeping execution
        (each costs seconds under emulation); a failure fails both."""
        if not hasattr(self, "_exec"):
            try:
                self._exec = self.execution_label_and_cgroup()
            except Exception as e:
                self._exec = e
        if isinstance(self._exec, Exception):
            raise self._exec
        return self._exec

    def execution_numpy(self):
        svc = self.need_main()
        g = svc.run("import numpy\nd = float(numpy.linalg.det(numpy.array([[2.0, 1.0], [1.0, 3.0]])))\n"
                    "v = numpy.__version__")
        if abs(g["d"] - 5.0) > 1e-9:
            raise Fail(f"det = {g['d']}")
        return f"numpy {g['v']} (BLAS/LAPACK through /etc/alternatives) under every layer"

    def bytecode_cache(self):
        """A problem script sent again is compiled once, by a compile run
        under the same profiles, and its bytecode runs in the next one."""
        svc = self.need_main()
        script = "".join(f"def f{i}(x):\n    return x * {i} + len('{'.' * 40}')\n\n" for i in range(100))
        code = script + "r = f7(6)\n"

        def counter(result):
            with urllib.request.urlopen(svc.url("/metrics"), timeout=10) as r:
                text = r.read().decode()
            m = re.search(r'^codejail_bytecode_cache_%s ([0-9.e+]+)$' % re.escape(result), text, re.M)
            return float(m.group(1)) if m else 0.0

        kept = 'compiles_total{kind="code",result="kept"}'
        hit = 'lookups_total{kind="code",result="hit"}'
        for _ in range(2):
            if svc.run(code)["r"] != 7 * 6 + 40:
                raise Fail("wrong answer before the cache")
        deadline = time.monotonic() + 120
        while counter(kept) < 1:
            if time.monotonic() > deadline:
                raise Fail(f"no compile run kept the code's bytecode; log: {svc.log_tail()}")
            time.sleep(0.5)
        hits = counter(hit)
        if svc.run(code)["r"] != 7 * 6 + 40 or counter(hit) != hits + 1:
            raise Fail(f"the cached bytecode did not run ({counter(hit)} hits after {hits})")
        return "compiled once by a confined compile run; the next execution ran its bytecode"

    def cgroup_oom(self):
        """A memory bomb spread over processes (each under RLIMIT_AS, together
        over memory.max): only the cgroup can stop it, with the OOM killer.
        The execution's cgroup is gone or recycled afterwards, so we read the
        parent's memory.events, whose oom_kill counts the whole subtree."""
        svc = self.need_main()
        parent = svc.cgroup_parent()

        def oom_kills():
            ev = read(parent + "/memory.events")
            return int(re.search(r"^oom_kill (\d+)$", ev, re.M).group(1))
        before = oom_kills()
        code = ("import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
                "        hoard = b'\\1' * (100 << 20)\n        time.sleep(3)\n        os._exit(0)\n"
                "    kids.append(pid)\nstatuses = [os.waitpid(p, 0)[1] for p in kids]\n")
        status, body = svc.post(code)
        after = oom_kills()
        events = " ".join(read(parent + "/memory.events").split())
        R.log(f"memory bomb: {parent}/memory.events oom_kill {before} -> {after} ({events}); answer {status} "
              f"{oneline(body, 300)}")
        if after - before < 1:
            raise Fail(f"oom_kill {before} -> {after}: the cgroup did not stop the bomb; answer {status} {body}")
        if status != 200:
            raise Fail(f"the service answered {status} {body}")
        return f"oom_kill {before} -> {after}; answer {oneline(body, 200)}"

    def cgroup_accounting(self):
        """Each execution's CPU time and peak memory, from its cgroup (v2
        cpu.stat, memory.peak), reach /metrics and the execution line: a
        loop of half a CPU second that then holds 64 MiB, and after it a
        trivial execution whose peak is its own, not the last one's, where
        the kernel can reset memory.peak (6.12+).  Without that reset
        (README: a lower bound) only that both figures are observed."""
        svc = self.need_main()
        parent = svc.cgroup_parent()
        probe = os.path.join(parent, "peak-probe")
        os.mkdir(probe)
        try:
            fd = os.open(os.path.join(probe, "memory.peak"), os.O_RDWR)
            try:
                resettable = os.write(fd, b"reset") > 0
            except OSError:
                resettable = False
            os.close(fd)
        except FileNotFoundError:
            resettable = None  # no memory.peak before 5.19
        finally:
            os.rmdir(probe)

        def scrape():
            with urllib.request.urlopen(svc.url("/metrics"), timeout=30) as r:
                text = r.read().decode()
            got = {}
            for fam in ("codejail_execution_cpu_seconds", "codejail_execution_peak_memory_bytes"):
                for part in ("sum", "count"):
                    got[(fam, part)] = sum(float(m) for m in re.findall(
                        rf'^{fam}_{part}{{path="(?:cold|warm)"}} (\S+)$', text, re.M))
            return got
        before = scrape()
        svc.run("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass\n"
                "hoard = b'\\1' * (64 << 20)\n")
        mid = scrape()
        line = [l for l in svc.buf if "execution slug=" in l][-1]
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        cpu = mid[("codejail_execution_cpu_seconds", "sum")] - before[("codejail_execution_cpu_seconds", "sum")]
        peak = (mid[("codejail_execution_peak_memory_bytes", "sum")]
                - before[("codejail_execution_peak_memory_bytes", "sum")])
        counts = [mid[(f, "count")] - before[(f, "count")] for f in ("codejail_execution_cpu_seconds",
                                                                      "codejail_execution_peak_memory_bytes")]
        R.log(f"accounting: memory.peak resettable={resettable}; cpu {cpu:.3f} s, peak {peak:.0f} bytes; "
              f"line: {line.strip()}")
        if counts != [1, 1]:
            raise Fail(f"histogram counts moved by {counts}, not one each; line: {line.strip()}")
        if not 0.5 <= cpu <= 5 or fields.get("cpu_ms") in (None, "-") or int(fields["cpu_ms"]) < 500:
            raise Fail(f"cpu {cpu:.3f} s for half a CPU second; line: {line.strip()}")
        if resettable and not 64 << 20 <= peak <= 512 << 20:
            raise Fail(f"peak {peak:.0f} bytes for 64 MiB held; line: {line.strip()}")
        svc.run("x = 1")
        after = scrape()
        small = (after[("codejail_execution_peak_memory_bytes", "sum")]
                 - mid[("codejail_execution_peak_memory_bytes", "sum")])
        if resettable and small >= 32 << 20:
            raise Fail(f"x = 1 reported a peak of {small:.0f} bytes: not reset since the 64 MiB execution")
        return (f"cpu {cpu:.3f} s, peak {peak / (1 << 20):.1f} MiB, then x = 1 {small / (1 << 20):.1f} MiB; "
                f"memory.peak resettable: {resettable}")

    def cgroup_reuse(self):
        """Executions killed at REALTIME, then more, one after another: each
        answers, and the pool hands out cgroups again (fewer cgroups were
        made than executions ran), the killed executions' among them.  Kernels
        with the kill counter bug (see KILL_SEQ_PROBE) SIGKILL every sandbox
        cloned into a cgroup that went through cgroup.kill, so a pool that
        reused one answered status -9 here."""
        svc = self.need_main()
        parent = svc.cgroup_parent()
        behaviour = sh([sys.executable, "-c", KILL_SEQ_PROBE, CG_SERVICES + "/kill-seq-probe"]).stdout.strip()
        R.log(f"kernel {KERNEL}: a clone3 into a cgroup after cgroup.kill: {behaviour}")
        problems = []
        for _ in range(2):
            status, body = svc.post("while True:\n    pass", context="cjvm-short")
            if status != 200 or not body.get("emsg", "").endswith("with status code: -9"):
                problems.append(f"the looping execution answered {status} {oneline(body, 200)}")
        answers = []
        for i in range(8):
            status, body = svc.post(f"x = {i} * 2")
            answers.append(body)
            if status != 200 or body != {"globals_dict": {"x": i * 2}}:
                problems.append(f"execution {i} after the killed ones answered {status} {oneline(body, 300)}")
        seqs = [int(d.rsplit("-", 1)[1]) for d in os.listdir(parent) if re.fullmatch(r"exec-[0-9a-f]+-\d+", d)]
        ran = len(re.findall(r"execution slug=", svc.log()))
        if not seqs or max(seqs) >= ran:
            problems.append(f"{max(seqs, default=0)} cgroups made for {ran} executions: none reused")
        if problems:
            raise Fail("; ".join(problems) + f"; kernel: {behaviour}")
        return f"{ran} executions in {max(seqs)} cgroups, 2 killed at REALTIME then 8 answered; kernel: {behaviour}"

    def cgroup_cleanup(self):
        """No execution's cgroup outlives it: idle ones (kept for reuse by the
        pool) hold no process but the prepared sandboxes' (cold.pool, 2: an
        init and an interpreter process still waiting before its exec, so
        still codejail-server), and none is left once the service stops."""
        svc = self.need_main()
        parent = svc.cgroup_parent()
        server = os.path.realpath(os.path.join(svc.prefix, "bin/codejail-server"))

        def kids():
            return [d for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d))]

        def waiting(d):
            pids = read(os.path.join(parent, d, "cgroup.procs"), "").split()
            try:
                return len(pids) == 2 and all(os.readlink(f"/proc/{p}/exe") == server for p in pids)
            except OSError:
                return False

        def busy():
            return [d for d in kids() if "populated 1" in read(os.path.join(parent, d, "cgroup.events"), "")]

        def executions():
            return [d for d in busy() if not waiting(d)]
        wait_for(lambda: not executions() and len(busy()) <= 2, 10)
        if executions() or len(busy()) > 2:
            raise Fail(f"execution cgroups still hold processes: {executions()} (prepared, waiting: "
                       f"{[d for d in busy() if waiting(d)]})")
        idle = kids()
        rc = svc.stop()
        self.main = None
        left = kids() if os.path.isdir(parent) else []
        if left:
            raise Fail(f"after the service stopped (status {rc}) {parent} still holds {left}")
        if rc != 0:
            raise Fail(f"the service exited {rc} on SIGTERM")
        return f"{len(idle)} idle (pooled, empty) while serving; none left after SIGTERM (status 0)"

    def warm(self):
        """The warm path (an interpreter initialised once, forked per
        execution) under the same profiles: its probe checks both paths."""
        mark = self.klog.mark()
        svc = Service(self.prefix, "warm", {"warm": {"enabled": True, "pool": 2, "preload": ["six"]}},
                      confine=self.confine).start()
        try:
            s = svc.wait_probe(240)
            denied = self.klog.denied(mark)
            for line in denied[:4]:
                R.log(f"DENIED (warm): {line}")
            if s != "passed":
                errors = [line.strip() for line in svc.log().splitlines()
                          if "warm" in line or "failed at step" in line or ("startup check" in line and "failed" in line)]
                why = " | ".join(list(dict.fromkeys(errors))[:5]) or svc.log_tail(8)
                raise Fail(f"probe {s}; {why}; DENIED: {denied[:2]}")
            clones = self.warm_clones_confined(svc)
            g = svc.run("import os\nx = 1\npid = os.getpid()")
            return f"probe passed on both paths; {clones}; an execution answered {g}"
        finally:
            svc.stop()

    def warm_clones_confined(self, svc):
        """The clones waiting in the warm pool are confined before any
        request, seen from outside: each interpreter (PID 2 of its
        namespaces, not root) under codejail_sandbox, in its own cgroup
        under the service's parent with the limits set, and its init (which
        shares the warm interpreter's memory) in that same cgroup."""
        lim = svc.config["limits"]
        page = os.sysconf("SC_PAGESIZE")

        def find():
            found = []
            for pid, (ppid, argv) in svc.descendants().items():
                if not any(a.endswith("warm_zygote.py") for a in argv):
                    continue
                try:
                    ns = re.search(r"^NSpid:\s+(.*)$", read(f"/proc/{pid}/status"), re.M).group(1).split()
                    if ns[-1] != "2":
                        continue
                    uid = re.search(r"^Uid:\s+(.*)$", read(f"/proc/{pid}/status"), re.M).group(1).split()
                    cg = read(f"/proc/{pid}/cgroup").strip().split("::", 1)[-1]
                    init_cg = read(f"/proc/{ppid}/cgroup").strip().split("::", 1)[-1]
                    found.append((pid, label(pid), uid, cg, init_cg, read(CG + cg + "/memory.max").strip(),
                                  read(CG + cg + "/pids.max").strip()))
                except (OSError, AttributeError):
                    continue  # a clone that ended meanwhile
            return found if len(found) >= 2 else None  # pool 2
        clones = wait_for(find, 30, 0.2)
        if clones is None:
            raise Fail(f"fewer than 2 warm clones found: {find()}")
        problems = []
        for pid, lab, uid, cg, init_cg, mem, pids in clones:
            R.log(f"warm clone {pid}: label {lab}, uid {uid[0]}, cgroup {cg} (its init's {init_cg}), "
                  f"memory.max {mem}, pids.max {pids}")
            if "codejail_sandbox" not in lab or "(enforce)" not in lab:
                problems.append(f"clone {pid} label {lab!r}")
            if set(uid) == {"0"}:
                problems.append(f"clone {pid} runs as root")
            if os.path.dirname(CG + cg) != svc.cgroup_parent() or init_cg != cg:
                problems.append(f"clone {pid} in {cg}, its init in {init_cg}, parent {svc.cgroup_parent()}")
            if mem != str(lim["VMEM"] // page * page) or pids != str(lim["NPROC"] + 1):
                problems.append(f"clone {pid}: memory.max {mem}, pids.max {pids}")
        if problems:
            raise Fail("; ".join(problems))
        return f"{len(clones)} pool clones confined (codejail_sandbox, own cgroups, limits set)"

    def bare_host(self):
        """codejail-init started on the host (a systemd unit, the test
        suites): it makes the container itself, on a cgroup v2 host."""
        svc = Service(self.prefix, "bare-host", {}, confine="init", how="bare").start()
        try:
            s = svc.wait_probe(180)
            if s != "passed":
                raise Fail(f"probe {s}; log: {svc.log_tail(12)}")
            cg = svc.cgroup_parent()
            return f"probe passed; executions under {cg}: {os.path.isdir(cg)}"
        finally:
            svc.stop()

    # -- AppArmor alone --------------------------------------------------------------------
    def apparmor_only(self):
        """landlock: off, seccomp: off: the probe's escape attempts (list /,
        read /etc/passwd and /proc/1/environ, write outside tmp/, run a
        program, AF_INET socket, reach the network, unshare, ptrace, fork
        past NPROC) now reach AppArmor (with namespaces, caps, cgroup and
        rlimits still on), which must stop each one it is meant to, and log
        apparmor="DENIED".  One result line per probe check.  (The service
        itself stays at 503 whenever any check fails: by design, the probe
        demands every denial the contract lists.)"""
        mark = self.klog.mark()
        svc = Service(self.prefix, "apparmor-only", {"landlock": "off", "seccomp": "off"},
                      confine=self.confine).start()
        try:
            s = svc.wait_probe(180)
            health = svc.health()[0] if svc.proc.poll() is None else None
        finally:
            svc.stop()
        checks = re.findall(r"startup check '([^']+)' (passed|failed): (.*)", svc.log())
        # The sandbox's own denials (its escape attempts), not the service's:
        # profile="codejail_sandbox" or the stack "codejail_sandbox//&codejail_service".
        denied = self.klog.denied(mark, 'profile="codejail_sandbox')
        for line in self.klog.denied(mark, 'profile="codejail_service"')[:3]:
            R.log(f"DENIED (service): {line}")
        for line in denied[:12]:
            R.log(f"DENIED: {line}")
        R.log(f"{len(denied)} apparmor=\"DENIED\" lines of codejail_sandbox during the AppArmor-only probe")
        self.aa_only_denied = denied
        unexpected = []
        for name, st, why in checks:
            if st == "passed":
                R.result(f"apparmor-only.probe/{name}", "PASS", "stopped")
            elif name in AA_ONLY_PROBE_XFAIL:
                R.result(f"apparmor-only.probe/{name}", "XFAIL", f"{AA_ONLY_PROBE_XFAIL[name]} -- {why}")
            else:
                R.result(f"apparmor-only.probe/{name}", "FAIL", why)
                unexpected.append(f"{name}: {why}")
        if len(checks) < 2:
            raise Fail(f"probe {s}, {len(checks)} checks logged: {svc.log_tail()}")
        if unexpected:
            raise Fail(f"not stopped with AppArmor alone: {unexpected}")
        return (f"{sum(st == 'passed' for _, st, _ in checks)} of {len(checks)} probe attempts stopped; probe {s}, "
                f"health {health}")

    def apparmor_denied(self):
        denied = getattr(self, "aa_only_denied", None)
        if denied is None:
            raise Fail("the AppArmor-only service did not run")
        if not denied:
            raise Fail("no apparmor=\"DENIED\" line of codejail_sandbox in the kernel log")
        profiles = sorted(set(re.findall(r'profile="([^"]+)"', " ".join(denied))))
        ops = sorted(set(re.findall(r'operation="([^"]+)"', " ".join(denied))))
        return f"{len(denied)} DENIED lines; profiles {profiles}; operations {ops}"

    def apparmor_alone(self):
        """The escape suite's socket, program and kernel attempts (seccomp's
        in the real sandbox) against codejail_sandbox alone: see aa_alone.py."""
        outcomes = aa_alone.run(SANDBOX_PY, os.path.join(SRC, "tests/escape"), "/tmp/codejail-aa-alone")
        cannot = []
        bad = []
        for name, outcome in outcomes.items():
            why = next((w for pat, w in aa_alone.NOT_APPARMORS.items() if re.fullmatch(pat, name)), None)
            if outcome.startswith("denied"):
                R.result(f"apparmor-alone/{name}", "PASS", outcome)
            elif why:
                R.result(f"apparmor-alone/{name}", "XFAIL", f"{why} -- {outcome}")
                cannot.append(name)
            else:
                R.result(f"apparmor-alone/{name}", "FAIL", f"{outcome}: codejail_sandbox should stop this")
                bad.append(name)
        R.log(f"AppArmor alone cannot stop: {cannot}")
        if bad:
            raise Fail(f"codejail_sandbox alone let through: {bad}")
        return (f"{len(outcomes) - len(cannot)} of {len(outcomes)} attempts stopped; not AppArmor's to stop: "
                f"{len(cannot)}")

    # -- the escape suite -----------------------------------------------------------------
    def escape_start(self, phase, config, files, xfail):
        """Starts tests/escape in the guest: every service confined by
        codejail_service from codejail-init on (as in the container), its
        sandbox under codejail_sandbox; config (merged under each test's own)
        picks the layers.  Phases run at once, two vCPUs being two; each has
        its own container /tmp, so neither sees the other's executions."""
        results = os.path.join(RUN, f"escape-{phase}.tsv")
        out_path = os.path.join(OUT, f"escape-{phase}.txt")
        tmp = os.path.join(RUN, f"esc-{phase}")
        work = os.path.join(RUN, f"work-{phase}")
        os.makedirs(tmp, exist_ok=True)
        os.makedirs(work, mode=0o755, exist_ok=True)
        env = dict(os.environ, CODEJAIL_PREFIX=self.prefix, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1",
                   TMPDIR=tmp, CJVM_ESC_RESULTS=results, CJVM_ESC_CONFIG=json.dumps(config),
                   CJVM_ESC_LIMITS=json.dumps(ESCAPE_LIMITS), CJVM_ESC_WAIT_SCALE=str(ESCAPE_WAIT_SCALE),
                   CJVM_ESC_WRAP=json.dumps([CONTAINER, "--tmp", work, CG_SERVICES + f"/esc-{phase}-{{n}}"]
                                            + (AA_SERVICE if self.confine else [])),
                   CJVM_ESC_WORK_DIR=work, CJVM_ESC_CONFIG_DIR=CONFIG_DIR)
        # The cold path only: under emulation the whole suite twice does not
        # fit the tier's bound.  The warm path's confinement under AppArmor
        # is the warm.start check's (the startup probe's escape attempts on
        # warm clones); the host tier runs the suite on both paths.  Nor
        # test_layers.py: its "one layer off, the probe must fail" cases
        # assume no AppArmor, while here AppArmor confines every service and
        # still stops what the switched-off layer would (AppArmor alone is the
        # apparmor-alone check's, below); the host tier runs them.  Nor the
        # sandbox package workload (test_syscalls.py): the image holds numpy,
        # six and random2 only, and the filter it exercises is the same code
        # on every kernel; the host and container tiers run it.
        argv = [sys.executable, "-m", "pytest", "-p", "cjvm_escape", "-p", "no:cacheprovider", "-q", "-rfE",
                "--tb=short", "--durations=10", "-k",
                "not warm and not direct and not test_layers and not test_workload_runs"] + [
                    os.path.join(SRC, "tests/escape", f) for f in files]
        out = open(out_path, "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=RUN, start_new_session=True)
        out.close()
        return dict(phase=phase, p=p, t0=time.monotonic(), results=results, out_path=out_path, xfail=xfail,
                    layers=config)

    def escape_finish(self, h, deadline):
        phase, p, xfail = h["phase"], h["p"], h["xfail"]
        timed_out = False
        try:
            p.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        rows = []
        if os.path.exists(h["results"]):
            with open(h["results"]) as f:
                rows = [line.rstrip("\n").split("\t", 2) for line in f if line.strip()]
        counts = {"PASS": 0, "FAIL": 0, "XFAIL": 0}
        for outcome, nodeid, msg in rows:
            short = nodeid.split("::", 1)[-1]
            name = f"escape.{phase}/{nodeid.replace('.py::', '::')}"
            # The pattern names the test; any parameters ([cold], [warm-/etc]) match.
            why = next((w for pat, w in xfail.items() if re.fullmatch(pat + r"(\[.*\])?", short)), None)
            if outcome == "passed":
                status, detail = "PASS", f"(listed as expected to fail: {why})" if why else ""
            elif outcome == "skipped":
                status, detail = "PASS", f"skipped: {msg}"
            elif why:
                status, detail = "XFAIL", f"{why} -- {msg}"
            else:
                status, detail = "FAIL", msg
            counts[status] += 1
            R.result(name, status, detail)
        service = "codejail_service" if self.confine else "UNCONFINED (see service.start)"
        summary = (f"layers {json.dumps(h['layers'])}, {service} service: {len(rows)} tests, {counts['PASS']} "
                   f"passed, {counts['XFAIL']} expected failures, {counts['FAIL']} failed; pytest status "
                   f"{p.returncode}, {time.monotonic() - h['t0']:.0f} s; output in {h['out_path']}")
        if timed_out:
            raise Fail(f"pytest killed at the tier's deadline; {summary}")
        if not rows:
            raise Fail(f"no test ran: {read(h['out_path'], '')[-1500:]}")
        if counts["FAIL"] or p.returncode not in (0, 1):
            raise Fail(summary)
        return summary

    def run(self):
        if self.wants("boot"):
            check("boot.lsm", self.boot_lsm)
            check("boot.cgroup2", self.boot_cgroup2)
            check("boot.libs", self.boot_libs)
            check("landlock.abi", self.landlock_abi)
            if LANDLOCK_ABI == 0:
                check("landlock.required", self.landlock_required)
        if self.wants("negative"):
            check("negative.no-profiles", self.negative_no_profiles)
        check("profiles.install", self.profiles_install)
        if self.wants("service"):
            check("apparmor.stack-probe", self.stack_probe)
        if self.wants("service"):
            check("service.start", self.service_start)
            check("service.health", self.service_health)
            check("service.label", self.service_label)
            check("service.landlock", self.service_landlock)
            check("execution.label", self.execution_label)
            check("execution.cgroup", self.execution_cgroup)
            check("execution.numpy", self.execution_numpy)
            check("bytecode.cache", self.bytecode_cache)
            check("cgroup.oom", self.cgroup_oom)
            check("cgroup.accounting", self.cgroup_accounting)
            check("cgroup.reuse", self.cgroup_reuse)
            check("cgroup.cleanup", self.cgroup_cleanup)
        if self.main is not None:
            self.main.stop()
        if self.wants("warm"):
            check("warm.start", self.warm)
        if self.wants("bare-host"):
            check("bare-host.start", self.bare_host)
        if self.wants("apparmor-only"):
            check("apparmor-only.probe", self.apparmor_only)
            check("apparmor.denied-logged", self.apparmor_denied)
        if self.wants("apparmor-alone"):
            check("apparmor-alone", self.apparmor_alone)
        phases = []
        if self.wants("escape-all"):
            phases.append(("escape.all", self.escape_start(
                "all", {"python_bin": SANDBOX_PY, "apparmor": "required", "landlock": LANDLOCK_MODE}, [""],
                ESCAPE_ALL_XFAIL)))
        # Without Landlock in the kernel, "all" is that phase already.
        if self.wants("escape-no-landlock") and LANDLOCK_ABI > 0:
            phases.append(("escape.no-landlock", self.escape_start(
                "no-landlock", {"python_bin": SANDBOX_PY, "apparmor": "required", "landlock": "off"},
                ["test_files.py"], {})))
        deadline = time.monotonic() + ESCAPE_TIMEOUT
        for name, h in phases:
            check(name, self.escape_finish, h, deadline)


def setup_cgroups():
    """A parent for the services' own cgroups, passing memory and pids on, so
    each service's codejail-init can delegate inside its own (as under
    systemd or a container runtime)."""
    os.makedirs(CG_SERVICES, exist_ok=True)
    with open(CG_SERVICES + "/cgroup.subtree_control", "w") as f:
        f.write("+memory +pids")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", default="/opt/codejail")
    a = ap.parse_args()
    only = set()
    for arg in read("/proc/cmdline").split():
        if arg.startswith("cjvm.only="):
            only = set(arg.split("=", 1)[1].split(","))
    os.makedirs(RUN, exist_ok=True)
    os.environ["TMPDIR"] = RUN  # /tmp stays for execution directories only
    R.emit(f"CJVM START {KERNEL} {os.uname().release} {os.uname().version}")
    t0 = time.monotonic()
    tier = None
    try:
        setup_cgroups()
        tier = Tier(a.prefix, only)
        tier.run()
    except BaseException as e:  # the summary below must still be printed
        R.result("runner", "FAIL", f"{type(e).__name__}: {e}")
        R.log(traceback.format_exc())
    finally:
        if tier is not None:
            tier.klog.save(os.path.join(OUT, "kmsg.txt"))
        R.log(f"guest tier ran {time.monotonic() - t0:.0f} s; {R.n_xfail} expected failures")
        R.emit(f"CJVM DONE {R.n_pass} {R.n_fail}")
        os.sync()
        # Power off now: codejail-init (PID 1) would otherwise stop our
        # leftovers and exit, i.e. a kernel panic (panic=-1 then ends qemu
        # as well, but less cleanly).
        with open("/proc/sysrq-trigger", "w") as f:
            f.write("o")
        time.sleep(30)


if __name__ == "__main__":
    main()
