# codejail sandbox wrapper, run as `python -S -E -B jailed_code` (or compiled, /.codejail/jailed_code.pyc); #@ marks are filled per execution; the #@BYTECODE_PART@ at the end is run from #@BYTECODE@.
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
sys.stdout = DevNull(); _raw = sys.stdin.buffer.read(); _input = _raw[14 + int.from_bytes(_raw[6:14], "little") if _raw[:5] == b"\0CJZ:" else 0:].decode("utf-8", "surrogateescape"); code, g_dict = _loads(_input)  #@BYTECODE@
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

#@BYTECODE_PART@
# Course code compiled once.  Python never keeps the bytecode of modules
# imported from a zip (and 3.11's zipimport compiles each one twice per
# import, for the spec's file name and to run it), nor of the code exec()
# runs; a course's python_lib.zip and its problem script come again with
# every check.  The service has each compiled once, by a compile run: an
# execution of its own whose wrapper compiles and runs no code (mode C), and
# gives the result to later executions of the same bytes (mode U).  The
# renderer cuts this part out of the wrapper and runs it from the line that
# reads the request (#@BYTECODE@), only when the service put a frame before
# the request on stdin: b"\0CJZ:", the mode, the payload's length (8 bytes,
# little-endian), and the payload, items of a tag (b"Z": the zip's modules,
# b"K": the request's code), a length (8 bytes) and bytes.  So the wrapper's
# line numbers stay the library's.
#
# zipimport itself loads the compiled modules: each is given to it as the
# unchecked-hash .pyc entry it looks for before a module's source, under the
# source's own path, so __file__, the spec, the loader, line numbers and
# tracebacks are what they are without the cache.  The code is the object
# exec() would have compiled from the same text.  Nothing of ours is on the
# stack when something is compiled or run, and what did not compile cleanly
# here (a syntax error, a compile-time warning) is left to compile as before.
def _codejail_bytecode(raw):
    import marshal

    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    items, at, end = {}, 14, 14 + int.from_bytes(raw[6:14], "little")
    while at + 9 <= end:
        size = int.from_bytes(raw[at + 1 : at + 9], "little")
        items[raw[at : at + 1]] = raw[at + 9 : at + 9 + size]
        at += 9 + size
    if raw[5:6] == b"C":
        import warnings

        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # what warns compiling is left to warn as before
            if b"Z" in items:
                table = _codejail_compile_zip(marshal)
                if table is not None:
                    out.append((b"Z", magic + marshal.dumps(table)))
            if b"K" in items:
                try:
                    out.append((b"K", magic + marshal.dumps(compile(code, "<string>", "exec"))))
                except Exception:
                    pass
        payload = b"".join(tag + len(data).to_bytes(8, "little") + data for tag, data in out)
        frame = memoryview(b"\0CJZ:B" + len(payload).to_bytes(8, "little") + payload)
        while frame:
            frame = frame[__import__("posix").write(3, frame) :]
        return ""  # a compile run runs no code
    if items.get(b"Z", b"")[: len(magic)] == magic:
        _codejail_use_zip(marshal.loads(items[b"Z"][len(magic) :]), magic)
    if items.get(b"K", b"")[: len(magic)] == magic:
        return marshal.loads(items[b"K"][len(magic) :])
    return code


def _codejail_compile_zip(marshal):
    import zipimport

    archive, table = zipimport.zipimporter("python_lib.zip"), {}
    for key, entry in archive._files.items():
        try:
            data = zipimport._get_data(archive.archive, entry)
        except Exception:
            return None  # a member it cannot even read would fail through our reader: no bytecode
        if key.endswith(".py"):
            try:
                table[key] = marshal.dumps(zipimport._compile_source(entry[0], data))
            except Exception:
                pass
    return table


def _codejail_use_zip(table, magic):
    import zipimport

    files = zipimport.zipimporter("python_lib.zip")._files  # the directory every importer of it shares
    pycs, header = [], magic + (1).to_bytes(4, "little") + bytes(8)  # flags 1: hash-based, unchecked
    for key, code in table.items():
        if key in files and key[:-3] + ".pyc" not in files:
            files[key[:-3] + ".pyc"] = (files[key][0], -1, 0, 0, len(pycs), 0, 0, 0)
            pycs.append(header + code)
    read = zipimport._get_data
    zipimport._get_data = lambda archive, entry: pycs[entry[4]] if entry[1] == -1 else read(archive, entry)


code = _codejail_bytecode(_raw)
del _codejail_bytecode, _codejail_compile_zip, _codejail_use_zip
