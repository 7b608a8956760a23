# codejail sandbox wrapper, run as `python -E -B jailed_code`; the #@ lines are filled per execution.
import sys
import json
# Integers of any size pass through, as the contract says (3.11 caps at 4300 digits).
getattr(sys, "set_int_max_str_digits", lambda n: None)(0)  # exec() below must stay on line 19
class DevNull(object):
    def write(self, *args, **kwargs):
        pass

    def flush(self, *args, **kwargs):
        pass


sys.stdout = DevNull()
_input = sys.stdin.read()
code, g_dict = json.loads(_input)
#@EXEC_CHECK@
#@PYTHON_PATH@
exec(code, g_dict)


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
            text = json.dumps({_decode(k): _decode(v)}, ensure_ascii=False)
            text.encode("utf-8")
            out.update(json.loads(text))
        except Exception:
            continue
    return out


# The answer's globals are the input globals updated with what survived, so a
# deleted or dropped global keeps its input value.
_merged = json.loads(_input)[1]
_merged.update(_json_safe(g_dict))
with open(3, "w", encoding="ascii", closefd=True) as _result:
    _result.write(json.dumps(_merged))
