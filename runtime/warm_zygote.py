# codejail warm start: the interpreter every warm execution is cloned from.
#
# Started by codejail-server as `python -S -E -B warm_zygote.py LIB` with its
# control socket (SOCK_SEQPACKET) on fd 3.  It imports the operator's modules
# once; for each execution the server sends the execution's directory and
# stream fds, and LIB clones this process into fresh namespaces, confines the
# clone completely (see warm_child.c), and returns into it here, where it
# waits for its request (the library's cj_warm_await, as a prepared cold
# sandbox waits).  Every message and setting it exchanges with the service
# is the library's to read and write (wire.h): this side packs nothing.  No code of a request ever runs in this
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



def main():
    """Serve the service's requests for clones; returns only in a clone."""
    # Loading the library installs the exec filter on this process: from
    # here on neither it nor any clone can run a program.
    lib = ctypes.PyDLL(sys.argv[1])
    lib.cj_warm_new.restype = ctypes.c_void_p
    lib.cj_warm_new.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.cj_warm_setting.restype = ctypes.c_char_p
    lib.cj_warm_setting.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.cj_warm_exit.argtypes = [ctypes.c_int]
    lib.cj_warm_serve.restype = ctypes.c_int
    lib.cj_warm_serve.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.cj_warm_environ.restype = ctypes.c_int
    lib.cj_warm_environ.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.cj_warm_await.restype = ctypes.c_int
    lib.cj_warm_await.argtypes = []
    # The control socket moves out of the 0..4 a clone's streams will take.
    ctl = socket.socket(fileno=os.dup(3))
    os.close(3)
    msg = ctl.recv(1 << 20)
    handle = lib.cj_warm_new(msg, len(msg))
    if not handle:
        sys.exit("codejail-warm: bad settings")

    def setting(key):
        values, i = [], 0
        while (v := lib.cj_warm_setting(handle, key.encode(), i)) is not None:
            values.append(v.decode())
            i += 1
        return values

    for value in setting("syspath"):
        sys.path.extend(eval(value, {"__builtins__": {}}))  # the server's list literal
    import builtins, _sitebuiltins  # what site would add: exit() and quit()
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    import io, random, types, traceback, atexit  # noqa: F401 (used by the clones)
    for name in setting("preload"):
        __import__(name)
    # Compiled once here: a clone only renames it to its directory.
    wrappers = {text: compile(text, "jailed_code", "exec") for text in setting("wrapper0") + setting("wrapper1")}
    for code in wrappers.values():
        rehearse(code)  # lazy state (the C codec's import, caches) made once, shared by every clone
    reseed_numpy()  # likewise (struct's cached format, numpy's method lookups)
    import gc
    gc.collect()
    gc.freeze()  # the collector must not walk (and so copy) the shared objects in every clone
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
    return wrappers, lib


def renamed(code, path):
    consts = tuple(renamed(c, path) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)


def rehearse(code):
    """Run the wrapper once on an empty request, output to /dev/null.

    A clone shares the warm interpreter's memory copy-on-write: the first
    write to each page (reference counts, caches, the allocator) copies it.
    A rehearsal before the request arrives takes those copies while nobody
    waits, so the request's own run touches pages that are already its own.
    It runs only this wrapper, never code of a request, and leaves the
    interpreter's sys.path as it found it: the wrapper for python_lib.zip
    appends it, and a clone must have it only when its request asks."""
    saved_in, saved_out, saved_path = sys.stdin, sys.stdout, list(sys.path)
    known = set(sys.path_importer_cache)
    try:
        spare = os.dup(3)
    except OSError:
        spare = None  # the warm interpreter itself, before any clone: fd 3 is free
    null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    if null != 3:
        os.dup2(null, 3)  # the wrapper writes its result to fd 3 and closes it
        os.close(null)
    try:
        sys.stdin = io.TextIOWrapper(io.BytesIO(b'["pass", {"x": [1, 2.5, "s", null, true]}]'), encoding="utf-8")
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
        sys.path[:] = saved_path
        for entry in set(sys.path_importer_cache) - known:
            del sys.path_importer_cache[entry]


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


def run_execution(wrappers, lib):
    """In the clone, confined: get ready, take the request, run it."""
    import types, traceback, atexit
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
        # The cold interpreter's environment (layout.h).  Only what differs
        # is changed: the warm interpreter started with the rest, and every
        # entry changed copies pages.
        buf = ctypes.create_string_buffer(1 << 16)
        n = lib.cj_warm_environ(os.path.join(os.getcwd(), "tmp").encode(), buf, len(buf))
        if n < 0:
            raise OSError("codejail-warm: the environment does not fit")
        env = dict(e.decode().partition("=")[::2] for e in buf.raw.split(b"\0")[:n])
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
        main = types.ModuleType("__main__")
        main.__file__ = path
        main.__builtins__ = __builtins__
        main._codejail_warm = True  # the wrapper leaves the end to run_execution
        sys.modules["__main__"] = main

        # Ready: the service prefers clones that said so.  The request comes
        # as a prepared cold sandbox's does: its stdin at fd 0, its limits
        # set before this returns; the setup stream is closed then.
        lib.cj_warm_await()
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
    lib.cj_warm_exit(code & 0xFF)  # see warm_child.c
    os._exit(code & 0xFF)


if __name__ == "__main__":
    run_execution(*main())
