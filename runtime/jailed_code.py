# codejail sandbox wrapper, run as `python -S -E -B jailed_code` (or compiled, /.codejail/jailed_code.pyc); #@ lines are filled per execution.
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
sys.stdout = DevNull(); _input = sys.stdin.read(); code, g_dict = _loads(_input)
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
