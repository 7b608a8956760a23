# codejail warm start: the interpreter every warm execution is cloned from.
#
# Started by codejail-server as `python -S -E -B warm_zygote.py LIB` with its
# control socket (SOCK_SEQPACKET) on fd 3.  It imports the operator's modules
# once; for each execution the server sends the execution's directory and
# stream fds, and LIB clones this process into fresh namespaces, confines the
# clone completely (see warm_child.c), and returns into it here, where it
# waits for the request on stdin.  No code of a request ever runs in this
# process, and nothing one execution does reaches the next: each is a clone
# of this pristine state, which no clone can write back to.
import sys
import os
import ctypes
import io
import random
import signal
import socket
import struct

RECORD = struct.Struct("=iii52s")  # struct cj_sandbox_record (sandbox.h)
REPLY = struct.Struct("=cxxxIiI")  # kind, slot, value, spare
RECORD_READY = 3


def main():
    """Serve the service's requests for clones; returns only in a clone."""
    # Loading the library installs the exec filter on this process: from
    # here on neither it nor any clone can run a program.
    lib = ctypes.PyDLL(sys.argv[1])
    lib.cj_warm_new.restype = ctypes.c_void_p
    lib.cj_warm_new.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.cj_warm_exit.argtypes = [ctypes.c_int]
    lib.cj_warm_serve.restype = ctypes.c_int
    lib.cj_warm_serve.argtypes = [ctypes.c_void_p, ctypes.c_int]
    # The control socket moves out of the 0..4 a clone's streams will take.
    ctl = socket.socket(fileno=os.dup(3))
    os.close(3)
    msg = ctl.recv(1 << 20)
    settings = [e.decode() for e in msg.split(b"\0") if e]
    handle = lib.cj_warm_new(msg, len(msg))
    if not handle:
        sys.exit("codejail-warm: bad settings")
    for entry in settings:
        key, _, value = entry.partition("=")
        if key == "syspath":
            sys.path.extend(eval(value, {"__builtins__": {}}))  # the server's list literal
    import builtins, _sitebuiltins  # what site would add: exit() and quit()
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    import io, resource, random, types, traceback, atexit  # noqa: F401 (used by the clones)
    wrappers = {}
    for entry in settings:
        key, _, value = entry.partition("=")
        if key == "preload":
            __import__(value)
        elif key in ("wrapper0", "wrapper1"):
            # Compiled once here: a clone only renames it to its directory.
            wrappers[value] = compile(value, "jailed_code", "exec")
    for code in wrappers.values():
        rehearse(code)  # lazy state (the C codec's import, caches) made once, shared by every clone
    reseed_numpy()  # likewise (struct's cached format, numpy's method lookups)
    import gc
    gc.collect()
    gc.freeze()  # the collector must not walk (and so copy) the shared objects in every clone
    ctl.send(REPLY.pack(b"R", 0, os.getpid(), 0))
    # The fork loop is C (cj_warm_serve): after each clone every page this
    # process writes is copied, so between clones it touches as little as
    # it can, and no Python runs.  The import lock stays held in it, as
    # between PyOS_BeforeFork and the fork: each clone's AfterFork resets it.
    ctypes.pythonapi.PyOS_BeforeFork()
    if lib.cj_warm_serve(handle, ctl.fileno()) != 0:
        os._exit(0)  # the service is gone
    ctypes.pythonapi.PyOS_AfterFork_Child()
    ctl.detach()  # its fd number now belongs to the clone's streams
    # Return, so that this frame (the settings, the library) is gone before
    # any request's code runs.
    return wrappers, lib.cj_warm_exit


def renamed(code, path):
    consts = tuple(renamed(c, path) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)


def rehearse(code):
    """Run the wrapper once on an empty request, output to /dev/null.

    A clone shares the warm interpreter's memory copy-on-write: the first
    write to each page (reference counts, caches, the allocator) copies it.
    A rehearsal before the request arrives takes those copies while nobody
    waits, so the request's own run touches pages that are already its own.
    It runs only this wrapper, never code of a request."""
    saved_in, saved_out = sys.stdin, sys.stdout
    try:
        spare = os.dup(3)
    except OSError:
        spare = None  # the warm interpreter itself, before any clone: fd 3 is free
    null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    if null != 3:
        os.dup2(null, 3)  # the wrapper writes its result to fd 3 and closes it
        os.close(null)
    try:
        sys.stdin = io.StringIO('["pass", {"x": [1, 2.5, "s", null, true]}]')
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__, "_codejail_warm": True})
    finally:
        if spare is not None:
            os.dup2(spare, 3)
            os.close(spare)
        else:
            try:
                os.close(3)
            except OSError:
                pass  # closed by the wrapper, as it should be
        sys.stdin, sys.stdout = saved_in, saved_out


def reseed_numpy():
    """numpy's global RandomState: a whole new MT19937 state from the kernel
    (624 words; its seed() would spread 128 bits), through set_state, which
    takes a list: seed() goes through numpy's array machinery, whose pages
    each clone then copies (0.3 ms a clone)."""
    mod = sys.modules.get("numpy.random")
    if mod is None:
        return
    state = getattr(getattr(mod, "mtrand", None), "_rand", None)
    try:
        # pos 624: the next draw regenerates from the key; no cached gaussian.
        state.set_state(("MT19937", list(struct.unpack("624I", os.urandom(2496))), 624, 0, 0.0))
    except Exception:
        if not hasattr(mod, "seed"):
            raise
        mod.seed(list(struct.unpack("4I", os.urandom(16))))


def run_execution(wrappers, exit_now):
    """In the clone, confined: get ready, read the request, set its limits, run it."""
    import resource, types, traceback, atexit
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Everything up to the read of stdin happens before the request
        # exists: the pool keeps clones ready at this point.
        # Seeded state must not repeat between executions cloned from one
        # interpreter (the hash seed cannot change: it is the interpreter's).
        random.seed()
        random2 = sys.modules.get("random2")
        if random2 is not None and hasattr(random2, "seed"):
            random2.seed()
        reseed_numpy()
        path = os.path.join(os.getcwd(), "jailed_code")
        # Renamed here: the common wrapper (no python_lib.zip); the other
        # only if a request needs it.  Each clone copies the pages a rename
        # touches (0.2 ms a wrapper).
        first = next(iter(wrappers))
        compiled = {first: renamed(wrappers[first], path)}
        # The cold interpreter's environment (sandbox.c): TMPDIR and HOME are tmp/.
        # Only what differs is changed: the warm interpreter started with the
        # rest, and every entry changed copies pages.
        tmp = os.path.join(os.getcwd(), "tmp")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TMPDIR": tmp, "HOME": tmp,
               "MPLCONFIGDIR": os.path.join(tmp, ".matplotlib"), "MATPLOTLIBRC": "/usr/share/matplotlib/mpl-data",
               "OPENBLAS_NUM_THREADS": "1", "LANG": "C.UTF-8"}
        for key in [k for k in os.environ if k not in env]:
            del os.environ[key]
        for key, value in env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            tempfile.tempdir = None  # a preload may have asked it while the interpreter ran as root
        sys.argv = ["jailed_code"]
        sys.path[0] = os.getcwd()  # the script directory, as for the cold interpreter
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                                       line_buffering=True)
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                       errors="backslashreplace", line_buffering=True)
        rehearse(next(iter(compiled.values())))  # the common one (no python_lib.zip): they share most pages
        # Ready: the service prefers clones that said so.  The setup stream
        # is the init's: nothing of the request may write there.
        os.write(4, RECORD.pack(RECORD_READY, 0, 0, b""))
        os.close(4)
        main = types.ModuleType("__main__")
        main.__file__ = path
        main.__builtins__ = __builtins__
        main._codejail_warm = True  # the wrapper leaves the end to run_execution
        sys.modules["__main__"] = main

        # The request.  Its first line carries the limits: CPU VMEM FSIZE NPROC USE_NPROC.
        cpu, vmem, fsize, nproc, use_nproc = (int(v) for v in sys.stdin.readline().split())
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at cpu, as the cold path
        as_limit = vmem if vmem > 0 else resource.RLIM_INFINITY
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if use_nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        with open(path, encoding="utf-8") as f:
            source = f.read()
        wrapper = compiled.get(source)  # what the service wrote: one of the two it sent at start
        if wrapper is None and source in wrappers:
            wrapper = renamed(wrappers[source], path)
        try:
            exec(wrapper if wrapper is not None else compile(source, path, "exec"), main.__dict__)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if e.code is not None and not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
        except BaseException:
            etype, value, tb = sys.exc_info()
            # Start the traceback at jailed_code, as the cold interpreter's
            # (the hook prints the exception's own __traceback__).
            if tb is not None:
                value.__traceback__ = tb.tb_next
            sys.excepthook(etype, value, value.__traceback__)
            code = 1
        # The interpreter's shutdown, as the cold path ends (jailed_code.py).
        try:
            threading = sys.modules.get("threading")
            if threading is not None:
                threading._shutdown()
            atexit._run_exitfuncs()
        except BaseException:
            pass
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        # The interpreter's own shutdown flushes again, says how it failed
        # and exits with 120, as the cold path's would.
        sys.exit(code)
    exit_now(code & 0xFF)  # cj_warm_exit: see warm_child.c
    os._exit(code & 0xFF)


if __name__ == "__main__":
    run_execution(*main())
