#!/usr/bin/env python3
"""Host side of the VM tier: get the image, boot it, collect the guest's results.

    cjvm.py --prefix P --kernel NAME [--run-dir D] [--src S] [--timeout SECONDS] [--append ARGS]

P is an installed build (cmake --install --prefix P), NAME a kernel of the
list in tests/vm/kernels.  The image (that kernel, its initramfs, the shared
root filesystem) comes from build-image.sh and its cache; the guest runs guest/run.py as its PID 1's child and prints, on the serial
console:

    CJVM START
    CJVM RESULT <name> PASS|FAIL|XFAIL <detail>
    CJVM LOG <text>                 evidence worth reading (labels, DENIED lines, ...)
    CJVM DONE <n_pass> <n_fail>

The serial log goes to D/serial.log and the guest's own logs (service logs,
kernel log, pytest output) to D/out/.  Exit status: 0 when the guest finished
with no FAIL, 1 otherwise.  test_vm.py asserts on the same parse.

Software emulation only (-accel tcg): KVM guests hang on the CI machines.
"""
import argparse
import collections
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
# The installed tree goes where the AppArmor profiles and compose/Dockerfile
# put it (@{CJ_PREFIX} in apparmor/codejail_service).
GUEST_PREFIX = "/opt/codejail"
RESULT_RE = re.compile(r"^CJVM RESULT (\S+) (PASS|FAIL|XFAIL)\b ?(.*)$")
DONE_RE = re.compile(r"^CJVM DONE (\d+) (\d+)")
SERIAL_LOG_MAX = 64 << 20  # bytes of console kept in serial.log


class Kernel:
    """One line of tests/vm/kernels."""

    def __init__(self, name, suite, package, version, landlock):
        self.name, self.suite, self.package, self.version = name, suite, package, version
        self.landlock = int(landlock)

    def append(self):
        """What the guest learns from the kernel command line."""
        return f"cjvm.kernel={self.name} cjvm.landlock={self.landlock}"


def kernels():
    """The list, in its order."""
    out = []
    with open(os.path.join(HERE, "kernels")) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if fields:
                if len(fields) != 5:
                    raise ValueError(f"tests/vm/kernels: want 5 fields, got {line.strip()!r}")
                out.append(Kernel(*fields))
    return out


def kernel(name):
    for k in kernels():
        if k.name == name:
            return k
    raise ValueError(f"no kernel named {name!r} in tests/vm/kernels (there: {[k.name for k in kernels()]})")


class Run:
    """What one boot produced."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.serial_path = os.path.join(run_dir, "serial.log")
        self.lines = collections.deque(maxlen=5000)  # the console's tail (a runaway guest can print GBs)
        self.cjvm_lines = []
        self.results = {}  # name -> (status, detail)
        self.done = None  # (n_pass, n_fail)
        self.fatal = []
        self.timed_out = None  # why, when a bound was hit
        self.returncode = None
        self.seconds = {}

    def parse_line(self, line):
        self.lines.append(line)
        if line.startswith("CJVM "):
            self.cjvm_lines.append(line)
        m = RESULT_RE.match(line)
        if m:
            self.results[m.group(1)] = (m.group(2), m.group(3))
        m = DONE_RE.match(line)
        if m:
            self.done = (int(m.group(1)), int(m.group(2)))
        if line.startswith("CJVM FATAL"):
            self.fatal.append(line)

    def failures(self):
        return {n: d for n, (s, d) in self.results.items() if s == "FAIL"}

    def ok(self):
        return (self.timed_out is None and not self.fatal and self.done is not None and self.done[1] == 0
                and not self.failures())

    def tail(self, n=80):
        return "\n".join(list(self.lines)[-n:])

    def log_lines(self):
        return [line[len("CJVM LOG "):] for line in self.cjvm_lines if line.startswith("CJVM LOG ")]


def build_image(kern, timeout):
    """Runs build-image.sh for a Kernel (cache hit: instant) and returns the
    image dir."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(HERE, "build-image.sh"), kern.name], stdout=subprocess.PIPE, timeout=timeout,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError(f"build-image.sh failed with status {p.returncode} (its messages are above)")
    image = p.stdout.strip().splitlines()[-1]
    for f in ("vmlinuz", "initrd.img", "rootfs"):
        if not os.path.exists(os.path.join(image, f)):
            raise RuntimeError(f"{image}/{f} is missing")
    return image, time.monotonic() - t0


def qemu_argv(image, prefix, src, out_dir, append="", mem_mb=1024, cpus=2):
    def share(path, tag, readonly=True):
        return ["-virtfs", f"local,path={path},mount_tag={tag},security_model=passthrough"
                + (",readonly=on" if readonly else "")]

    cmdline = ("console=ttyS0 panic=-1 apparmor=1 security=apparmor loglevel=4 "
               f"cjvm.prefix={GUEST_PREFIX} {append}").strip()
    return (["qemu-system-x86_64",
             # Software emulation, never KVM: /dev/kvm exists on the CI
             # machines but KVM guests hang there at boot.
             "-accel", "tcg",
             # The plain 64-bit model: emulating AVX2 (-cpu max) made Python
             # and numpy 5-20 % slower here; nothing needs more than SSE3.
             "-cpu", os.environ.get("CJVM_QEMU_CPU", "qemu64"),
             "-m", str(mem_mb), "-smp", str(cpus),
             "-display", "none", "-monitor", "none", "-serial", "stdio",
             "-no-reboot", "-nic", "none",
             "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd.img"),
             "-append", cmdline]
            + share(os.path.join(image, "rootfs"), "root")
            + share(src, "cjsrc")
            + share(prefix, "cjprefix")
            + share(out_dir, "cjout", readonly=False))


def boot(image, prefix, src, run_dir, timeout, boot_timeout, append="", echo=False):
    """Boots once; returns a Run.  Every wait is bounded: a guest that hangs is
    killed and the Run says so (it never counts as a pass)."""
    if shutil.which("qemu-system-x86_64") is None:
        raise RuntimeError("qemu-system-x86_64 is missing (apt-get install qemu-system-x86)")
    run = Run(run_dir)
    out_dir = os.path.join(run_dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):  # the last run's logs would mislead
        p = os.path.join(out_dir, name)
        if os.path.isfile(p):
            os.unlink(p)
    argv = qemu_argv(image, prefix, src, out_dir, append)
    t0 = time.monotonic()
    with open(run.serial_path, "w") as serial:
        serial.write("# " + " ".join(shlex.quote(a) for a in argv) + "\n")
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        buf = b""
        started = False
        try:
            while True:
                now = time.monotonic() - t0
                if not started and now > boot_timeout:
                    run.timed_out = f"no CJVM START within {boot_timeout} s (boot hung?)"
                    break
                if now > timeout:
                    run.timed_out = f"no CJVM DONE within {timeout} s"
                    break
                r, _, _ = select.select([qemu.stdout], [], [], 1.0)
                if not r:
                    if qemu.poll() is not None:
                        break
                    continue
                chunk = os.read(qemu.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace").rstrip("\r")
                    if serial.tell() < SERIAL_LOG_MAX:
                        serial.write(line + "\n")
                    run.parse_line(line)
                    if echo:
                        print(line, flush=True)
                    if line.startswith("CJVM START") and not started:
                        started = True
                        run.seconds["boot"] = round(time.monotonic() - t0, 1)
                serial.flush()
                if run.done is not None:
                    break
            if buf:
                line = buf.decode(errors="replace").rstrip("\r")
                serial.write(line + "\n")
                run.parse_line(line)
        finally:
            # The guest powers itself off after CJVM DONE; give it a moment,
            # then make sure: we started this qemu, we end it.  A guest past
            # its bound gets no moment.
            try:
                run.returncode = qemu.wait(timeout=1 if run.timed_out else 20)
            except subprocess.TimeoutExpired:
                os.killpg(qemu.pid, signal.SIGKILL)
                run.returncode = qemu.wait()
            if run.timed_out:
                serial.write(f"# cjvm: {run.timed_out}; qemu killed\n")
    run.seconds["guest"] = round(time.monotonic() - t0, 1)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", default=os.environ.get("CODEJAIL_PREFIX"), help="installed build")
    ap.add_argument("--kernel", default=os.environ.get("CJVM_KERNEL"), required="CJVM_KERNEL" not in os.environ,
                    help="a name from tests/vm/kernels")
    ap.add_argument("--src", default=SRC, help="source tree (tests/, apparmor/)")
    ap.add_argument("--run-dir", default=os.environ.get("CJVM_RUN_DIR", "/tmp/cjvm-run"))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("CJVM_TIMEOUT", 900)))
    ap.add_argument("--boot-timeout", type=float, default=180)
    ap.add_argument("--image-timeout", type=float, default=900)
    ap.add_argument("--append", default=os.environ.get("CJVM_APPEND", ""),
                    help="extra kernel command line, e.g. cjvm.only=service,cgroup")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not echo the serial console")
    a = ap.parse_args()
    if not a.prefix or not os.access(os.path.join(a.prefix, "bin/codejail-server"), os.X_OK):
        ap.error("--prefix (or CODEJAIL_PREFIX) must name an installed build")
    os.makedirs(a.run_dir, exist_ok=True)
    kern = kernel(a.kernel)
    image, image_s = build_image(kern, a.image_timeout)
    run = boot(image, os.path.abspath(a.prefix), os.path.abspath(a.src), a.run_dir, a.timeout,
               a.boot_timeout, f"{kern.append()} {a.append}", echo=not a.quiet)
    run.seconds["image"] = round(image_s, 1)
    print(f"cjvm: image {image} ({run.seconds['image']} s), guest {run.seconds} ; serial log {run.serial_path}")
    for why in [run.timed_out] + run.fatal:
        if why:
            print(f"cjvm: {why}")
    for n, d in run.failures().items():
        print(f"cjvm: FAIL {n} {d}")
    print(f"cjvm: done={run.done} results={len(run.results)} -> {'OK' if run.ok() else 'FAILED'}")
    return 0 if run.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
