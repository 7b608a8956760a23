"""No channel between two executions that run at the same time through a
file both can open: a lock (flock, POSIX, OFD) or an inotify watch on the
interpreter's files, the loader's cache or a device stays within the
execution that made it (each execution sees them through inodes of its own;
Landlock mediates neither).  Every check has its control: the same lock,
tried from a second open file inside the holder, is refused there, and the
holder's watch sees its own opens."""

import threading
import time

PY_FILE = "/usr/lib/python3.11/os.py"
PY_DIR = "/usr/lib/python3.11"
TARGETS = [PY_FILE, PY_DIR, "/etc/ld.so.cache", "/dev/null", "/dev/urandom"]
HOLD_S = 2.5
LATE_S = 0.8  # the other execution starts this much later

COMMON = f"""
import fcntl, os, struct, time
TARGETS = {TARGETS!r}
FLOCK = "hhqqi4x"  # struct flock on x86_64/aarch64: type, whence, start, len, pid

def opened(path):
    # Writable where the sandbox may write (/dev/null): a write lock needs it.
    flags = os.O_RDWR if path == "/dev/null" else os.O_RDONLY
    return os.open(path, flags | (os.O_DIRECTORY if os.path.isdir(path) else 0))

def refused(fn, *args):
    # A lock the sandbox's policy refuses (AppArmor grants locks in tmp/
    # only) cannot carry anything either.
    try:
        return fn(*args)
    except PermissionError:
        return "refused"

def posix_conflict(fd, cmd):
    # F_GETLK / F_OFD_GETLK for a write lock over the whole file: whether a
    # lock would conflict.
    want = struct.pack(FLOCK, fcntl.F_WRLCK, 0, 0, 0, 0)
    return struct.unpack(FLOCK, fcntl.fcntl(fd, cmd, want))[0] != fcntl.F_UNLCK

def flock_free(path):
    fd = opened(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)

def set_lock(fd, cmd, kind, start):
    fcntl.fcntl(fd, cmd, struct.pack(FLOCK, kind, 0, start, 1, 0))
    return "held"
"""

HOLDER = COMMON + f"""
held, state = {{}}, {{}}
start = time.time()
for path in TARGETS:
    fd, ofd = opened(path), opened(path)
    held[path] = (fd, ofd)
    took = refused(fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # The control: from another open file here, a flock taken is seen.
    # (Before the POSIX lock: closing any fd of the file would drop that.)
    flock = "refused" if took == "refused" else "held" if refused(flock_free, path) is False else "not seen"
    posix = ofd_lock = "n/a"
    if not os.path.isdir(path):
        # A POSIX read lock (write, where the fd is writable) on byte 0, an
        # OFD one on byte 1 (a write OFD lock conflicts with our own POSIX
        # one on the same byte).
        kind = fcntl.F_WRLCK if path == "/dev/null" else fcntl.F_RDLCK
        posix = refused(set_lock, fd, fcntl.F_SETLK, kind, 0)
        ofd_lock = refused(set_lock, ofd, fcntl.F_OFD_SETLK, kind, 1)
    state[path] = [flock, posix, ofd_lock]
time.sleep({HOLD_S})
window = [start, time.time()]
"""

PROBE = COMMON + """
seen = {}
for path in TARGETS:
    fd = opened(path)
    posix = ofd = "n/a"
    if not os.path.isdir(path):
        # A POSIX lock of another process, or an OFD lock of another open
        # file, would show here.
        posix = refused(posix_conflict, fd, fcntl.F_GETLK)
        ofd = refused(posix_conflict, fd, fcntl.F_OFD_GETLK)
    os.close(fd)
    free = refused(flock_free, path)
    seen[path] = [free is False, posix is True, ofd is True]
at = time.time()
"""

WATCHER = f"""
import ctypes, os, struct, time
libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN, IN_NONBLOCK = 0x20, 0o4000
fd = libc.inotify_init1(IN_NONBLOCK)
assert fd >= 0, ctypes.get_errno()
for path in ["{PY_DIR}", "/dev/null", "/etc/ld.so.cache"]:
    assert libc.inotify_add_watch(fd, path.encode(), IN_OPEN) >= 0, (path, ctypes.get_errno())
start = time.time()
time.sleep({HOLD_S})

def events():
    names = []
    while True:
        try:
            buf = os.read(fd, 65536)
        except BlockingIOError:
            return names
        off = 0
        while off < len(buf):
            wd, mask, cookie, n = struct.unpack_from("iIII", buf, off)
            names.append(buf[off + 16:off + 16 + n].rstrip(b"\\0").decode() or "(the watched object)")
            off += 16 + n

others = events()
window = [start, time.time()]
# The control: its own open is seen.
os.close(os.open("{PY_DIR}/this.py", os.O_RDONLY))
own = events()
"""

OPENER = f"""
import os, time
for _ in range(5):
    for path in ["{PY_DIR}/this.py", "{PY_DIR}/antigravity.py", "/dev/null", "/etc/ld.so.cache"]:
        os.close(os.open(path, os.O_RDONLY))
    time.sleep(0.05)
at = time.time()
"""


def concurrently(svc, first, second):
    """Runs first, then second LATE_S later while first still runs; both
    answers' globals."""
    out = {}

    def run(name, code):
        out[name] = svc.run(code, timeout=30)

    t = threading.Thread(target=run, args=("first", first))
    t.start()
    time.sleep(LATE_S)
    try:
        run("second", second)
    finally:
        t.join(30)
    return out["first"], out["second"]


def test_no_lock_reaches_another_execution(service):
    holder, probe = concurrently(service, HOLDER, PROBE)
    start, end = holder["window"]
    assert start < probe["at"] < end, (holder["window"], probe["at"])  # while it held them
    # Not one of the holder's locks shows in the other execution.
    assert probe["seen"] == {p: [False, False, False] for p in TARGETS}, (probe["seen"], holder["state"])
    # Each was taken (and a flock seen from the holder's own other open
    # file), or refused by the sandbox's policy: without AppArmor, all taken.
    states = {p: s for p, s in holder["state"].items()}
    assert all(s in ("held", "refused", "n/a") for v in states.values() for s in v), states
    if "apparmor OFF" in service.log():
        assert all(s in ("held", "n/a") for v in states.values() for s in v), states


def test_no_inotify_event_from_another_execution(service):
    watcher, opener = concurrently(service, WATCHER, OPENER)
    start, end = watcher["window"]
    assert start < opener["at"] < end, (watcher["window"], opener["at"])
    assert watcher["others"] == [], watcher["others"]
    assert "this.py" in watcher["own"], watcher["own"]


def test_locks_work_within_an_execution(service):
    """Its own files still lock as they should (sqlite in tmp/, say)."""
    g = service.run("""
import sqlite3, os
db = sqlite3.connect(os.path.join(os.environ["TMPDIR"], "x.db"), timeout=0)
db.execute("create table t (v)")
db.execute("insert into t values (42)")
db.commit()
other = sqlite3.connect(os.path.join(os.environ["TMPDIR"], "x.db"), timeout=0)
other.execute("begin exclusive")
try:
    db.execute("insert into t values (1)")
    db.commit()
    locked = False
except sqlite3.OperationalError as e:
    locked = "locked" in str(e)
other.rollback()
v = db.execute("select v from t").fetchall()
""")
    assert g["locked"] is True and g["v"] == [[42]], g
