"""AppArmor alone against the escape suite's attempts that seccomp stops
first in the real sandbox: every socket family, every way of running a
program, every kernel interface (tests/escape: test_network.FAMILIES,
test_programs.ATTEMPTS, test_kernel.SYSCALLS).

With `landlock: off, seccomp: off` the service never serves (its startup
probe demands every denial, by design), so these run outside the service:
the sandbox Python under `aa-exec -p codejail_sandbox`, as nobody with no
capability and no_new_privs (as the interpreter runs), in a directory named
like an execution directory (/tmp/codejail-*).  One Python process; each
attempt in a forked child, so an attempt that works (an exec) cannot end
the run.  What is left of the other layers: uid and capabilities (no
namespaces, no Landlock, no seccomp).

Each attempt's outcome: "denied <Exception> <errno>" or "ALLOWED".
"""
import json
import os
import subprocess
import sys

# What AppArmor (3.0 policy, Linux 6.1) does not mediate at all, so cannot
# stop: regex on the attempt's name -> why.  An ALLOWED attempt listed here
# is an expected failure (seccomp is the layer for it); ALLOWED and not
# listed is a failure of the profile.
NOT_APPARMORS = {
    r"syscall: (unshare|clone)\(CLONE_NEWUSER\)": "AppArmor in Linux 6.1 does not mediate user namespace "
                                                  "creation (userns rules came with 6.7 / AppArmor 4)",
    r"syscall: (keyctl|add_key)": "keyrings are not mediated by AppArmor",
    r"syscall: io_uring_setup": "io_uring is not mediated by AppArmor",
    r"syscall: personality.*": "personality() is not mediated by AppArmor",
    r"syscall: userfaultfd": "userfaultfd is not mediated by AppArmor",
    r"syscall: (kcmp|process_vm_readv)": "kcmp/process_vm_readv on one's own processes pass the ptrace "
                                         "checks AppArmor hooks",
    r"syscall: ptrace\(TRACEME\)": "AppArmor does not mediate PTRACE_TRACEME against an unconfined tracer",
    r"syscall: perf_event_open": "perf events are not mediated by AppArmor (perf_event_paranoid is)",
    r"syscall: bpf": "bpf() is not mediated by AppArmor (unprivileged_bpf_disabled is)",
}

DRIVER = r'''
import ctypes, errno, json, os, socket, sys
attempts = json.loads(os.environ["CJVM_ATTEMPTS"])
out = {}
for name, code in attempts.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        g = {}
        try:
            exec(code, g)
            res = g.get("outcome") or "ALLOWED"
        except BaseException as e:
            res = "denied %s %s" % (type(e).__name__, getattr(e, "errno", None))
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    # An exec that worked replaced the child: it wrote nothing.
    out[name] = data.decode() or ("ALLOWED (the child became another program, status %d)" % status)
print(json.dumps(out))
'''


def attempts(escape_dir):
    sys.path.insert(0, escape_dir)
    import test_kernel
    import test_network
    import test_programs
    a = {}
    for name, args in test_network.FAMILIES.items():
        a[f"socket: {name}"] = f"import socket\nsocket.socket({args})"
    for name, stmt in test_programs.ATTEMPTS.items():
        a[f"program: {name}"] = "import os, sys\n" + stmt
    for name, (nrs, args) in test_kernel.SYSCALLS.items():
        a[f"syscall: {name}"] = (
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"rc = libc.syscall({nrs[0]}, {args})\nerr = ctypes.get_errno()\n"
            f"if rc == 0 and 'clone' in {name!r}:\n    os._exit(0)\n"
            "outcome = 'denied rc=-1 ' + os.strerror(err) if rc == -1 else 'ALLOWED rc=%d' % rc\n")
    return a


def run(python, escape_dir, workdir, timeout=180):
    """Returns {attempt: outcome}."""
    os.makedirs(workdir, mode=0o755, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "CJVM_ATTEMPTS": json.dumps(attempts(escape_dir))}
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--", "aa-exec", "-p", "codejail_sandbox", "--",
            python, "-I", "-S", "-c", DRIVER]
    p = subprocess.run(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"the confined driver exited {p.returncode}: {p.stderr[-1500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])
