"""Stage 1 is an allow-list: a syscall it does not name answers ENOSYS, as on
a kernel without it, and never reaches the kernel; and the sandbox's real
workload (the interpreter and upstream's sandbox package list, doing real
work) still runs, on every path.  A syscall missing from the list makes one
of the workload tests fail here, with its traceback, not in production."""

import errno
import platform
import textwrap

import pytest

# Numbers shared by x86_64 and aarch64 (the common table from 424 on).
STATMOUNT, LISTMOUNT = 457, 458

# Whether the kernel would have seen the call: the sandboxed code stacks its
# own filter (seccomp is allowed: it can only narrow) that hands syscall NR
# to a listener in user space, which answers E2BIG.  Stage 1's ERRNO ranks
# above that USER_NOTIF, so a call stage 1 refuses never gets to the
# listener; one stage 1 lets through is answered E2BIG.  A plain call could
# not tell the two apart: the kernel says ENOSYS for 600 or 1000 too.
REACHES_KERNEL = """
import ctypes, errno, os, select, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
AUDIT_ARCH = {'x86_64': 0xC000003E, 'aarch64': 0xC00000B7}[os.uname().machine]
def insn(code, jt, jf, k):
    return struct.pack('=HBBI', code, jt, jf, k)
prog = b''.join([
    insn(0x20, 0, 0, 4),                    # A = arch
    insn(0x15, 1, 0, AUDIT_ARCH),           # native? on to the number
    insn(0x06, 0, 0, 0x7fff0000),           # ALLOW
    insn(0x20, 0, 0, 0),                    # A = nr
    insn(0x15, 0, 1, NR),                   # the probed call?
    insn(0x06, 0, 0, 0x7fc00000),           # USER_NOTIF
    insn(0x06, 0, 0, 0x7fff0000),           # ALLOW
])
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack('=HxxxxxxQ', len(prog) // 8, ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog)
SYS_SECCOMP = {'x86_64': 317, 'aarch64': 277}[os.uname().machine]
listener = libc.syscall(SYS_SECCOMP, 1, 8, fbuf)  # SET_MODE_FILTER, FLAG_NEW_LISTENER
assert listener >= 0, ('listener', ctypes.get_errno())
notified = []
done_r, done_w = os.pipe()
def answer():
    if listener not in select.select([listener, done_r], [], [], 5)[0]:
        return
    notif = ctypes.create_string_buffer(80)
    if libc.ioctl(listener, ctypes.c_ulong(0xC0502100), notif) != 0:  # NOTIF_RECV
        notified.append(('recv', ctypes.get_errno()))
        return
    (ident,) = struct.unpack_from('=Q', notif.raw)
    resp = ctypes.create_string_buffer(struct.pack('=QqiI', ident, 0, -errno.E2BIG, 0))
    notified.append(libc.ioctl(listener, ctypes.c_ulong(0xC0182101), resp))  # NOTIF_SEND
t = threading.Thread(target=answer)
t.start()
rc = libc.syscall(NR, 0, 0, 0, 0, 0)
err = ctypes.get_errno()
os.write(done_w, b'x')
t.join()
result = [rc, err, notified]
"""


@pytest.mark.parametrize("nr", [STATMOUNT, LISTMOUNT, 600, 1000], ids=["statmount", "listmount", "600", "1000"])
def test_unlisted_syscall_never_reaches_the_kernel(service, nr):
    g = service.run(REACHES_KERNEL, {"NR": nr}, limit_overrides_context="more-cpu")
    assert g["result"] == [-1, errno.ENOSYS, []], g["result"]


def test_listener_sees_an_allowed_call(service):
    """The probe above can fail: getppid is on the list, so the listener
    gets it and answers E2BIG."""
    nr = {"x86_64": 110, "aarch64": 173}[platform.machine()]
    g = service.run(REACHES_KERNEL, {"NR": nr}, limit_overrides_context="more-cpu")
    assert g["result"] == [-1, errno.E2BIG, [0]], g["result"]


def test_listmount_does_not_describe_the_host(service):
    """listmount(LSMT_ROOT) with a valid request: where the kernel has it
    (6.8+) and it were allowed, it would return the mount ids of the host's
    mount namespace view."""
    code = """
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
req = ctypes.create_string_buffer(struct.pack('=IIQQ', 24, 0, 0xFFFFFFFFFFFFFFFF, 0))  # mnt_id_req v0
ids = (ctypes.c_uint64 * 64)()
rc = libc.syscall(458, req, ids, 64, 0)
err = ctypes.get_errno()
st = ctypes.create_string_buffer(4096)
rc2 = libc.syscall(457, req, st, 4096, 0)
err2 = ctypes.get_errno()
"""
    g = service.run(code)
    assert (g["rc"], g["err"], g["rc2"], g["err2"]) == (-1, errno.ENOSYS, -1, errno.ENOSYS), g


# Calls that exist on every kernel we support and that no workload needs:
# not on the list, so ENOSYS (without the filter: EFAULT or EINVAL).
UNLISTED = {
    "mq_open": ((240, 180), "0, 0, 0, 0"),
    "io_setup": ((206, 0), "1, 0"),
    "get_robust_list": ((274, 100), "0, 0, 0"),
    "mbind": ((237, 235), "0, 4096, 0, 0, 0, 0"),
    "sync": ((162, 81), ""),
}


@pytest.mark.parametrize("call", UNLISTED)
def test_unlisted_existing_syscall_is_enosys(service, call):
    nrs, args = UNLISTED[call]
    nr = {"x86_64": nrs[0], "aarch64": nrs[1]}[platform.machine()]
    sep = ", " if args else ""
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"rc = libc.syscall({nr}{sep}{args})\nerr = ctypes.get_errno()\n")
    g = service.run(code)
    assert (g["rc"], g["err"]) == (-1, errno.ENOSYS), g


# The workload: each snippet sets `got`, compared exactly.  Imports happen
# in the execution (the warm path has numpy, random2 and six preloaded).
WORKLOAD = {
    "numpy linalg in threads": ("""
import threading
import numpy as np
a = np.array([[3.0, 1.0], [1.0, 2.0]])
b = np.array([9.0, 8.0])
out = [None] * 4
def solve(i):
    m = np.random.default_rng(i).random((120, 120)) + 120 * np.eye(120)
    ok = bool(np.allclose(m @ np.linalg.solve(m, np.ones(120)), np.ones(120)))
    out[i] = [np.linalg.solve(a * (i + 1), b * (i + 1)).round(12).tolist(), ok]
ts = [threading.Thread(target=solve, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
got = out
""", [[[2.0, 3.0], True]] * 4),
    "scipy optimize special integrate": ("""
from scipy import integrate, optimize, special
root = optimize.brentq(lambda x: x * x - 2, 0, 2)
best = optimize.minimize(lambda v: (v[0] - 1) ** 2 + (v[1] + 2) ** 2, [0.0, 0.0]).x
area, _ = integrate.quad(lambda x: x * x, 0, 3)
got = [round(root, 9), [round(float(v), 4) for v in best], round(area, 9), float(special.gamma(5)),
       round(float(special.erf(0.5)), 9)]
""", [1.414213562, [1.0, -2.0], 9.0, 24.0, 0.520499878]),
    "sympy solve": ("""
import sympy
x = sympy.symbols('x')
got = [sorted(int(r) for r in sympy.solve(x ** 2 - 4, x)), str(sympy.integrate(sympy.sin(x), x)),
       str(sympy.expand((x + 1) ** 3))]
""", [[-2, 2], "-cos(x)", "x**3 + 3*x**2 + 3*x + 1"]),
    "matplotlib agg savefig": ("""
import os
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [1, 4, 9])
ax.set_title('squares')
fig.savefig('tmp/plot.png')
with open('tmp/plot.png', 'rb') as f:
    head = f.read(8)
got = [head == b'\\x89PNG\\r\\n\\x1a\\n', os.path.getsize('tmp/plot.png') > 1000, matplotlib.get_backend()]
""", [True, True, "agg"]),
    "lxml parse": ("""
from lxml import etree, html
root = etree.fromstring('<a><b x="1">t</b><b x="2"/></a>')
page = html.fromstring('<html><body><p class="c">hi</p></body></html>')
got = [[b.get('x') for b in root.iter('b')], root.findtext('b'), page.xpath('//p[@class="c"]/text()')]
""", [["1", "2"], "t", ["hi"]]),
    "cryptography hash fernet": ("""
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
h = hashes.Hash(hashes.SHA256())
h.update(b'abc')
f = Fernet(Fernet.generate_key())
got = [h.finalize().hex(), f.decrypt(f.encrypt(b'secret')).decode()]
""", ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "secret"]),
    "networkx shortest path": ("""
import networkx as nx
g = nx.Graph()
g.add_weighted_edges_from([(1, 2, 1), (2, 3, 1), (1, 3, 5), (3, 4, 2)])
got = [nx.shortest_path(g, 1, 4, weight='weight'), nx.shortest_path_length(g, 1, 4, weight='weight')]
""", [[1, 2, 3, 4], 4]),
    "nltk pyparsing random2 six": ("""
import nltk
from nltk.tokenize import wordpunct_tokenize
import pyparsing as pp
import random2
import six
got = [wordpunct_tokenize('Hello, world!'), pp.Word(pp.nums)[1, ...].parse_string('1 22 333').as_list(),
       random2.Random(12345).random(), six.PY3, list(six.moves.range(3))]
""", [["Hello", ",", "world", "!"], ["1", "22", "333"], 0.41661987254534116, True, [0, 1, 2]]),
    "threads sleep alarm timers": ("""
import signal, threading, time
lock, hits = threading.Lock(), []
def work(i):
    time.sleep(0.01)
    with lock:
        hits.append(i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
fired = []
signal.signal(signal.SIGALRM, lambda s, f: fired.append(s))
signal.alarm(1)
t0 = time.monotonic()
while not fired and time.monotonic() - t0 < 3:
    signal.pause()
signal.setitimer(signal.ITIMER_REAL, 0.02)
time.sleep(0.2)
ev = threading.Event()
threading.Timer(0.01, ev.set).start()
got = [sorted(hits), fired, ev.wait(2), time.process_time() >= 0]
""", [[0, 1, 2, 3, 4, 5], [14, 14], True, True]),
    "fork within nproc": ("""
import os
kids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        os._exit(10 + i)
    kids.append(pid)
got = sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids)
""", [10, 11, 12]),
    "tempfile sqlite and the stdlib": ("""
import asyncio, hashlib, mmap, os, selectors, socket, sqlite3, tempfile, zlib
with tempfile.NamedTemporaryFile('w+', suffix='.txt') as f:
    f.write('hello')
    f.flush()
    f.seek(0)
    text = [f.read(), os.path.dirname(f.name) == os.path.join(os.getcwd(), 'tmp')]
d = tempfile.mkdtemp()
os.rename(d, d + '.moved')
os.rmdir(d + '.moved')
db = sqlite3.connect(':memory:')
db.execute('create table t (v integer)')
db.executemany('insert into t values (?)', [(1,), (2,), (39,)])
total = db.execute('select sum(v) from t').fetchone()[0]
m = mmap.mmap(-1, 4096)
m[:3] = b'abc'
a, b = socket.socketpair()
sel = selectors.DefaultSelector()
sel.register(b, selectors.EVENT_READ)
a.send(b'x')
ready = len(sel.select(1))
async def main():
    await asyncio.sleep(0.01)
    return 5
got = [text, total, m[:3].decode(), ready, asyncio.run(main()), hashlib.sha256(b'').hexdigest()[:8],
       len(zlib.compress(b'a' * 1000)) < 100, os.statvfs('tmp').f_bsize > 0, os.cpu_count() >= 1,
       len(os.urandom(8))]
""", [["hello", True], 42, "abc", 1, 5, "e3b0c442", True, True, True, 8]),
}


@pytest.mark.parametrize("name", WORKLOAD)
def test_workload_runs(service, name):
    code, want = WORKLOAD[name]
    g = service.run(textwrap.dedent(code), limit_overrides_context="more-cpu", timeout=60)
    assert g["got"] == want
