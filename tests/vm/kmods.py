#!/usr/bin/python3
"""Puts the modules the VM tier's initramfs needs, with what they depend on,
into a directory in load order, decompressed (busybox's insmod reads plain
.ko files only, and has no depmod to order them).

    kmods.py MODULES_DIR OUT_DIR MODULE...

MODULES_DIR is a kernel package's lib/modules/<release>.  Each MODULE is a
module name; one built into the kernel (modules.builtin) needs nothing.
Dependencies come from each module's own .modinfo "depends=" field, so this
works on every kernel's layout without running depmod.  OUT_DIR gets
NN-<name>.ko files; their names sorted are the order to load them in.
"""
import lzma
import os
import sys


def norm(name):
    return name.replace("-", "_")


def index(moddir):
    """module name -> path of its file, for every module the package ships."""
    found = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            for ext in (".ko", ".ko.xz", ".ko.zst"):
                if f.endswith(ext):
                    found[norm(f[: -len(ext)])] = os.path.join(root, f)
    return found


def builtin(moddir):
    names = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            for line in f:
                names.add(norm(os.path.basename(line.strip()).rsplit(".ko", 1)[0]))
    except FileNotFoundError:
        pass
    return names


def read_module(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".zst"):
        import subprocess
        return subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE).stdout
    return data


def depends(data):
    """The "depends=a,b" string of .modinfo (NUL-separated key=value)."""
    at = data.find(b"\0depends=")
    if at < 0:
        return []
    value = data[at + len(b"\0depends="): data.index(b"\0", at + 1)].decode()
    return [norm(d) for d in value.split(",") if d]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    moddir, out, wanted = sys.argv[1], sys.argv[2], [norm(m) for m in sys.argv[3:]]
    files, inside = index(moddir), builtin(moddir)
    order, seen = [], set()

    def visit(name, chain):
        if name in seen or name in inside:
            return
        if name not in files:
            sys.exit(f"kmods: module {name} (needed by {' <- '.join(chain) or 'the initramfs'}) is neither "
                     f"built in nor in {moddir}")
        seen.add(name)
        data = read_module(files[name])
        for dep in depends(data):
            visit(dep, [name] + chain)
        order.append((name, data))

    for name in wanted:
        visit(name, [])
    os.makedirs(out, exist_ok=True)
    for i, (name, data) in enumerate(order):
        with open(os.path.join(out, f"{i:02d}-{name}.ko"), "wb") as f:
            f.write(data)
    print(" ".join(name for name, _ in order))


if __name__ == "__main__":
    main()
