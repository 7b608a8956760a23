# codejail sandbox wrapper, run as `python -S -E -B jailed_code` (or compiled, /.codejail/jailed_code.pyc); #@ lines are filled per execution; the zip part at the end is not run here.
import sys; sys.argv[0] = "jailed_code"; sys.path[0] = __import__("posix").getcwd()  # as when the source runs
#@SYS_PATH@
getattr(sys, "set_int_max_str_digits", lambda n: None)(0)  # integers of any size pass through
try:  # JSON through the C codec alone: `import json` costs 4 ms of imports (re, enum) here
    from _json import make_scanner as _make_scanner
    _scan = _make_scanner(type("_Ctx", (), dict(strict=True, object_hook=None, object_pairs_hook=None, parse_float=float, parse_int=int, memo={}, parse_constant={"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__)))
except ImportError:
    _scan = __import__("json").JSONDecoder().scan_once
def _loads(s, ws=" \t\n\r"):
    obj, end = _scan(s, len(s) - len(s.lstrip(ws)))
    if s[end:].strip(ws):
        raise ValueError("Extra data")
    return obj
DevNull = type("DevNull", (object,), {"write": lambda self, *a, **k: None, "flush": lambda self, *a, **k: None})
sys.stdout = DevNull(); _raw = sys.stdin.buffer.read(); _input = _raw[14 + int.from_bytes(_raw[6:14], "little") if _raw[:5] == b"\0CJZ:" else 0:].decode("utf-8", "surrogateescape"); code, g_dict = _loads(_input)
#@EXEC_CHECK@
#@PYTHON_PATH@
exec(code, g_dict)


def _default(o):
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


try:
    from _json import make_encoder as _make_encoder, encode_basestring_ascii as _ascii, encode_basestring as _text

    def _dumps(o, ensure_ascii=True):
        enc = _make_encoder({}, _default, _ascii if ensure_ascii else _text, None, ": ", ", ", False, False, True)
        return "".join(enc(o, 0))

    _dumps(None)
except Exception:  # another interpreter's _json: the pure-Python module then
    import json

    _dumps = json.dumps


# The codejail library's json_safe rule: keep only values that survive a JSON
# round trip, bytes decoded as UTF-8, tuples as lists, keys as strings.  One
# entry that fails is dropped alone.  Unlike the library, text that cannot be
# encoded as UTF-8 (lone surrogates) also drops its entry, as the contract says.
def _decode(obj):
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    if isinstance(obj, (list, tuple)):
        return [_decode(o) for o in obj]
    if isinstance(obj, dict):
        return {_decode(k): _decode(v) for k, v in obj.items()}
    return obj


def _json_safe(d):
    ok_types = (type(None), int, float, bytes, str, list, tuple, dict)
    out = {}
    for k, v in d.items():
        if not isinstance(v, ok_types) or k == "__builtins__":
            continue
        try:
            text = _dumps({_decode(k): _decode(v)}, ensure_ascii=False)
            text.encode("utf-8")
            out.update(_loads(text))
        except Exception:
            continue
    return out


# The answer's globals are the input globals updated with what survived, so a
# deleted or dropped global keeps its input value.
_merged = _loads(_input)[1]
_merged.update(_json_safe(g_dict))
with open(3, "wb") as _result:  # bytes: a text stream would import the ascii codec's module
    _result.write(_dumps(_merged).encode("ascii"))

# The end, as the interpreter's own shutdown looks from outside (threads
# waited for, atexit, the streams flushed), without tearing the interpreter
# down: that took a millisecond.  Python promises no __del__ call for what is
# alive at exit.  A stream that cannot be flushed is left to the real
# shutdown, which says so and exits with 120.  The warm path
# (warm_zygote.py) ends its executions itself, the same way.
if "_codejail_warm" not in globals():
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    __import__("atexit")._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    else:
        __import__("posix")._exit(0)

#@ZIP_BYTECODE@
# Course libraries compiled once.  Python never caches the bytecode of
# modules in a zip, and 3.11's zipimport compiles each one twice per import
# (for the spec's file name, then to run it).  The service compiles a
# python_lib.zip's modules once, in a sandbox of their own that runs no code
# but this (mode C), keeps the result per zip content, and gives it to every
# later execution of that zip (mode U).  The renderer cuts this part out of
# the wrapper and, when python_lib.zip is on sys.path, runs it from the
# PYTHON_PATH line, so the wrapper's line numbers stay the library's.  It
# reads the frame the service put before the request on stdin (_raw, in the
# wrapper's globals): b"\0CJZ:", the mode, the payload's length (8 bytes,
# little-endian), the payload.
#
# zipimport itself loads the compiled modules: each is given to it as the
# unchecked-hash .pyc entry it looks for before a module's source, under the
# source's own path, so __file__, the spec, the loader, line numbers and
# tracebacks are what they are without the cache.  Nothing of ours is on the
# stack when a module is compiled or run: a module that did not compile
# here (a syntax error, a warning) fails or warns at its import exactly as
# it would have.
def _codejail_zip_bytecode(raw):
    import marshal
    import zipimport

    if raw[:5] != b"\0CJZ:":
        return
    mode, payload = raw[5:6], raw[14 : 14 + int.from_bytes(raw[6:14], "little")]
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    if mode == b"C":
        import warnings

        archive, table = zipimport.zipimporter("python_lib.zip"), {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for key, entry in archive._files.items():
                # A member zipimport cannot even read would fail through our
                # reader below: such a zip gets no bytecode at all.
                data = zipimport._get_data(archive.archive, entry)
                if key.endswith(".py"):
                    try:
                        table[key] = marshal.dumps(zipimport._compile_source(entry[0], data))
                    except Exception:
                        pass
        blob = magic + marshal.dumps(table)
        frame = memoryview(b"\0CJZ:B" + len(blob).to_bytes(8, "little") + blob)
        while frame:
            frame = frame[__import__("posix").write(3, frame) :]
        return
    if mode != b"U" or payload[: len(magic)] != magic:
        return
    files = zipimport.zipimporter("python_lib.zip")._files  # the directory every importer of it shares
    pycs, header = [], magic + (1).to_bytes(4, "little") + bytes(8)  # flags 1: hash-based, unchecked
    for key, code in marshal.loads(payload[len(magic) :]).items():
        if key in files and key[:-3] + ".pyc" not in files:
            files[key[:-3] + ".pyc"] = (files[key][0], -1, 0, 0, len(pycs), 0, 0, 0)
            pycs.append(header + code)
    read = zipimport._get_data
    zipimport._get_data = lambda archive, entry: pycs[entry[4]] if entry[1] == -1 else read(archive, entry)


_codejail_zip_bytecode(_raw)
del _codejail_zip_bytecode
