"""The deployment artifacts: AppArmor profiles and their install script
(apparmor/), the container image, docker-compose and Kubernetes manifests
(compose/).

No kernel AppArmor, Docker engine or cluster is needed: the profiles are
compiled by apparmor_parser without loading them, the compose file is
validated by docker-compose's own `config`, the manifests and the Dockerfile
are read and cross-checked, and every Debian package the image installs is
looked up with apt-cache.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/artifacts
Needs (Debian 12): apparmor, docker-compose, python3-yaml, python3-pytest,
libseccomp2 and apt with its package lists.  A missing tool fails the test
that needs it, naming the package: nothing here is ever skipped.
"""

import ctypes
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

try:
    import yaml
except ImportError:  # reported by need_yaml(), test by test
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
APPARMOR = ROOT / "apparmor"
COMPOSE = ROOT / "compose"
K8S = COMPOSE / "k8s"
SERVICE_PROFILE = APPARMOR / "codejail_service"
SANDBOX_PROFILE = APPARMOR / "codejail_sandbox"
INSTALL_SH = APPARMOR / "install.sh"
DOCKERFILE = COMPOSE / "Dockerfile"
COMPOSE_FILE = COMPOSE / "docker-compose.yml"
CONTAINER_CONFIG = COMPOSE / "codejail.container.yaml"
EXAMPLE_CONFIG = COMPOSE / "codejail.yaml"

# Kernel feature sets to compile against.  Without a kernel AppArmor the
# parser assumes an old kernel without profile stacking, which the service
# profile needs; so it is told what the target kernels have:
#  - the apparmor package's feature set of an upstream kernel, which is what
#    Debian 12's 6.1 kernel is (no out-of-tree af_unix/dbus mediation);
#  - abi/3.0, the ABI both profiles pin (close to Ubuntu's kernels).
FEATURE_SETS = {
    "debian12-kernel": Path("/usr/share/apparmor-features/features"),
    "abi-3.0": Path("/etc/apparmor.d/abi/3.0"),
}

# The syscalls the service itself needs (beyond the ordinary ones): the
# container's seccomp profile must never deny them.
SERVICE_SYSCALLS = {
    "clone", "clone3", "unshare", "mount", "umount2", "pivot_root", "open_tree", "move_mount",
    "sethostname", "setresuid", "setresgid", "setgroups", "capget", "capset", "prctl", "seccomp",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "memfd_create",
    "pidfd_open", "pidfd_send_signal", "close_range", "socket", "bind", "listen", "accept4",
    "execve", "signalfd4", "epoll_wait", "wait4", "waitid", "kill", "openat", "mkdirat",
    "fchownat", "unlinkat", "setrlimit", "prlimit64", "sendmsg", "recvmsg", "mkdir", "rmdir",
}


# ---- helpers ----------------------------------------------------------------


def need_yaml():
    if yaml is None:
        pytest.fail("python3-yaml is missing: apt-get install -y python3-yaml")
    return yaml


def need_tool(name, package):
    path = shutil.which(name)
    if path is None:
        for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
            if os.access(os.path.join(d, name), os.X_OK):
                path = os.path.join(d, name)
                break
    if path is None:
        pytest.fail(f"{name} not found: apt-get install -y {package}")
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def strip_comments(text):
    """AppArmor/shell-style comments off (a '#' outside quotes to the end of the line)."""
    out = []
    for line in text.splitlines():
        quoted = False
        for i, c in enumerate(line):
            if c == '"':
                quoted = not quoted
            elif c == "#" and not quoted:
                # "#include" is a directive, not a comment
                if not line[i:].startswith("#include"):
                    line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def profile_text(path):
    return strip_comments(path.read_text())


def profile_names(path):
    return re.findall(r"^\s*profile\s+([^\s{]+)", profile_text(path), re.M)


def profile_vars(path):
    return dict(re.findall(r"^\s*@\{(\w+)\}\s*=\s*(\S+)\s*$", profile_text(path), re.M))


def allowed_caps(path):
    return set(re.findall(r"^\s*capability\s+(\w+)\s*,", profile_text(path), re.M))


SERVICE_NAME = "codejail_service"
SANDBOX_NAME = "codejail_sandbox"


def strict_loader():
    """A SafeLoader that refuses duplicate keys (plain YAML keeps the last one
    silently, which hides a pasted-twice setting)."""
    y = need_yaml()

    class Strict(y.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = set()
        for k, _ in node.value:
            key = loader.construct_object(k, deep=deep)
            if key in keys:
                raise y.constructor.ConstructorError(None, None, f"duplicate key {key!r}", k.start_mark)
            keys.add(key)
        return loader.construct_mapping(node, deep)

    Strict.add_constructor(y.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Strict


def load_yaml(path):
    return need_yaml().load(path.read_text(), Loader=strict_loader())


def load_all_yaml(path):
    return [d for d in need_yaml().load_all(path.read_text(), Loader=strict_loader()) if d is not None]


def k8s_docs():
    files = sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml"))
    assert files, f"no Kubernetes manifests in {K8S}"
    return [(f, d) for f in files for d in load_all_yaml(f)]


@functools.lru_cache(maxsize=None)
def compose_config_text(cwd=COMPOSE, apparmor=None):
    """apparmor: the CODEJAIL_APPARMOR switch's value, None for unset."""
    exe = need_tool("docker-compose", "docker-compose")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COMPOSE_") and k not in ("CODEJAIL_IMAGE", "CODEJAIL_APPARMOR")}
    if apparmor is not None:
        env["CODEJAIL_APPARMOR"] = apparmor
    r = run([exe, "-f", str(COMPOSE_FILE.relative_to(cwd)), "config"], cwd=cwd, env=env)
    assert r.returncode == 0, f"docker-compose config failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def compose_config():
    """docker-compose's own validation and normalisation of the compose file.

    From compose/ (the legacy v1 reads the seccomp file relative to the
    working directory: test_compose_works_from_root_and_compose_dir covers
    the repository root)."""
    return need_yaml().safe_load(compose_config_text())


def codejail_service_config():
    return compose_config()["services"]["codejail"]


# ---- Dockerfile parsing -----------------------------------------------------------


def dockerfile_stages():
    """[{"image", "name", "ins": [(INSTRUCTION, arguments)]}] per FROM, continuation
    lines joined, comments dropped."""
    lines, cur = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    stages = []
    for line in lines:
        word, _, args = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            stages.append({"image": m.group(1), "name": m.group(2) or str(len(stages)), "ins": []})
        else:
            assert stages, f"instruction before FROM: {line}"
            stages[-1]["ins"].append((word, args.strip()))
    return stages


SANDBOX_LIST = COMPOSE / "sandbox-packages.txt"
# How compose/Dockerfile and ./dev read its Debian column.
SANDBOX_AWK = re.compile(r"\$\(awk '!/\^#/ && \$2 ~ /\^python3-/ \{ print \$2 \}' [^)]*sandbox-packages\.txt\)")


def sandbox_list():
    """[(requirement, source, module)] of compose/sandbox-packages.txt."""
    return [tuple(l.split()) for l in SANDBOX_LIST.read_text().splitlines() if l.strip() and not l.startswith("#")]


def sandbox_debian():
    return [src for _, src, _ in sandbox_list() if src.startswith("python3-")]


def apt_packages(stage):
    """Every package named by an `apt-get install` in the stage's RUN lines
    (the sandbox list's Debian column where the line reads it)."""
    pkgs = []
    for word, args in stage["ins"]:
        if word != "RUN":
            continue
        args = SANDBOX_AWK.sub(" ".join(sandbox_debian()), args)
        for m in re.finditer(r"apt-get\s+install\b(.*?)(?:&&|\|\||;|$)", args):
            for tok in m.group(1).split():
                if not tok.startswith("-"):
                    pkgs.append(tok.split("=")[0])  # a version pin is not part of the name
    return pkgs


def instruction(stage, word):
    return [args for w, args in stage["ins"] if w == word]


def apt_cache():
    exe = need_tool("apt-cache", "apt")
    r = run([exe, "show", "--no-all-versions", "apt"])
    if r.returncode != 0:
        pytest.fail("apt-cache knows no packages: run apt-get update first")
    return exe


def dev_packages(which="RUN"):
    """./dev's RUN_PACKAGES (build and run), TEST_PACKAGES or UP_PACKAGES."""
    text = SANDBOX_AWK.sub(" ".join(sandbox_debian()), (ROOT / "dev").read_text())
    m = re.search(r"^%s_PACKAGES=\((.*?)\)" % which, text, re.S | re.M)
    assert m, f"no {which}_PACKAGES=( ... ) list in ./dev"
    return strip_comments(m.group(1)).split()


# ---- AppArmor profiles -------------------------------------------------------------


@pytest.mark.parametrize("features", sorted(FEATURE_SETS))
@pytest.mark.parametrize("profile", [SERVICE_PROFILE, SANDBOX_PROFILE], ids=lambda p: p.name)
def test_profile_compiles(profile, features):
    parser = need_tool("apparmor_parser", "apparmor")
    feat = FEATURE_SETS[features]
    if not feat.exists():
        pytest.fail(f"{feat} is missing: apt-get install -y apparmor")
    r = run([parser, "-Q", "-K", "-T", "--kernel-features", str(feat), str(profile)])
    assert r.returncode == 0, f"apparmor_parser rejected {profile.name}:\n{r.stderr}"
    bad = [l for l in r.stderr.splitlines() if re.search(r"error|warning", l, re.I)]
    assert not bad, f"apparmor_parser complained about {profile.name}:\n{r.stderr}"


@pytest.mark.parametrize("profile", [SERVICE_PROFILE, SANDBOX_PROFILE], ids=lambda p: p.name)
def test_profile_preprocesses(profile):
    parser = need_tool("apparmor_parser", "apparmor")
    r = run([parser, "-p", str(profile)])
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^\s*profile {profile.name}\b", r.stdout, re.M)


def test_sandbox_profile_compiles_without_kernel_features():
    # Nothing in the sandbox profile depends on kernel features (the service
    # profile's stacking rule does; see FEATURE_SETS).
    parser = need_tool("apparmor_parser", "apparmor")
    r = run([parser, "-Q", "-K", "-T", str(SANDBOX_PROFILE)])
    assert r.returncode == 0, r.stderr


def test_profile_headers():
    for p in (SERVICE_PROFILE, SANDBOX_PROFILE):
        text = profile_text(p)
        assert re.search(r"^\s*abi\s+<abi/3\.0>\s*,", text, re.M), f"{p.name}: no `abi <abi/3.0>,`"
        assert re.search(r"^\s*include\s+<tunables/global>", text, re.M), f"{p.name}: no tunables/global"


def test_profile_names():
    assert profile_names(SERVICE_PROFILE) == [SERVICE_NAME]
    assert profile_names(SANDBOX_PROFILE) == [SANDBOX_NAME]


def test_sandbox_name_is_the_services_default():
    # http/config.c's default, the example configuration, the image's.
    src = (ROOT / "http" / "config.c").read_text()
    m = re.search(r'\{"apparmor_profile",[^}]*"([^"]+)"\s*\}', src)
    assert m, "no apparmor_profile default in http/config.c"
    assert m.group(1) == SANDBOX_NAME
    assert load_yaml(EXAMPLE_CONFIG).get("apparmor_profile", SANDBOX_NAME) == SANDBOX_NAME
    assert load_yaml(CONTAINER_CONFIG).get("apparmor_profile", SANDBOX_NAME) == SANDBOX_NAME


def test_service_may_change_only_to_the_sandbox():
    text = profile_text(SERVICE_PROFILE)
    rules = re.findall(r"^\s*change_profile\b([^,]*),", text, re.M)
    assert rules, "codejail_service has no change_profile rule"
    targets = set()
    for rule in rules:
        m = re.search(r"->\s*(&?)(\S+)\s*$", rule)
        assert m, f"change_profile without an explicit target: {rule}"
        targets.add((m.group(1), m.group(2)))
        exec_cond = rule.split("->")[0].strip()
        # Without an exec condition only a stack is acceptable: stacking can
        # only narrow what the task may do (the warm path stacks at once).
        assert exec_cond or m.group(1) == "&", \
            f"change_profile to a plain (unstacked) profile without an exec condition: {rule}"
    assert {t for _, t in targets} == {SANDBOX_NAME}
    # The stacked form is what works under no_new_privs inside the container.
    assert ("&", SANDBOX_NAME) in targets


def test_service_profile_essentials():
    text = profile_text(SERVICE_PROFILE)
    assert re.search(r"profile codejail_service\s+flags=\([^)]*attach_disconnected", text)
    for rule in ("network inet stream", "network inet6 stream", "network netlink raw", "network unix"):
        assert re.search(rf"^\s*{rule}\s*,", text, re.M), rule
    assert re.search(r"^\s*pivot_root\b", text, re.M)
    assert re.search(r"^\s*umount\s+/\s*,", text, re.M)
    assert re.search(r"^\s*signal\s+\(send\)\s+peer=codejail_sandbox\s*,", text, re.M)
    # runtime/apparmor.c writes the thread's exec (and current) attribute
    assert re.search(r"^\s*@\{PROC\}/\S*attr/\S*exec\S*\s+r?w\s*,", text, re.M)
    # No blanket grants.
    for blanket in (r"mount\s*,", r"capability\s*,", r"network\s*,", r"file\s*,", r"/\*\*\s+\w*w\w*\s*,",
                    r"ptrace\s*,", r"change_profile\s*,", r"change_profile\s+->\s*\*\*?\s*,"):
        assert not re.search(rf"^\s*{blanket}", text, re.M), f"blanket rule {blanket!r} in codejail_service"
    # Every mount target is an execution directory, the namespace root, or
    # one of codejail-init's set-up points (work tmpfs, cgroup2, its /proc,
    # the v1 controllers' bind remount).
    for target in re.findall(r"^\s*mount\b[^\n]*->\s*(\S+?)\s*,\s*$", text, re.M):
        assert target in ("/", "/proc/", "/sys/fs/cgroup/", "/sys/fs/cgroup/*/") or target.startswith("@{CJ_WORK}/"), target
    # and there only a remount of what is mounted (no new mount, no bind in)
    for rule in re.findall(r"^\s*mount\b[^\n]*->\s*/sys/fs/cgroup/\*/\s*,", text, re.M):
        assert "remount" in rule and "fstype" not in rule and re.search(r"options in \([^)]*\)\s*->", rule), rule
    # a proc mount only in codejail-init's own pid namespace, at /proc
    assert re.findall(r"^\s*mount\s+fstype=proc\b[^\n]*", text, re.M) == [
        "  mount fstype=proc options=(rw, nosuid, nodev, noexec) proc -> /proc/,"]


def test_sandbox_profile_denies():
    text = profile_text(SANDBOX_PROFILE)
    # Nothing may be executed: no allow rule carries an exec mode.
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("audit deny", "deny", "#", "profile", "abi", "include", "@{", "}",
                                  "signal", "network", "unix")):
            continue
        m = re.match(r"^(?:owner\s+)?(\S+)\s+([a-zA-Z]+)\s*,", s)
        if m:
            assert "x" not in m.group(2).lower(), f"exec permission in codejail_sandbox: {s}"
    for must in (r"audit deny /\*\* x", r"audit deny network inet", r"audit deny network inet6",
                 r"audit deny capability", r"audit deny mount", r"audit deny umount",
                 r"audit deny pivot_root", r"audit deny ptrace \(read, trace, tracedby\)"):
        assert re.search(rf"^\s*{must}\s*,", text, re.M), f"codejail_sandbox lacks `{must}`"
    assert not re.search(r"^\s*ptrace\s*\((?![^)]*readby\))", text, re.M), "the sandbox may not ptrace"
    # writes only under the execution's tmp/ (and /dev/null)
    for path, perms in re.findall(r"^\s*(?:owner\s+)?(/\S*|@\{\w+\}\S*)\s+([a-zA-Z]+)\s*,", text, re.M):
        if "w" in perms:
            assert path in ("/dev/null",) or "/codejail-*/tmp/" in path, f"sandbox may write {path}"
    assert re.search(r"^\s*signal\s+\(receive\)\s+peer=codejail_service\s*,", text, re.M)
    assert re.search(r"^\s*/\.codejail/noexec\.so\s+mr\s*,", text, re.M)


def test_profiles_agree_with_image_paths():
    sv, sb = profile_vars(SERVICE_PROFILE), profile_vars(SANDBOX_PROFILE)
    assert sv["CJ_SANDBOX_PY"] == sb["CJ_SANDBOX_PY"]
    stages = dockerfile_stages()
    build, runtime = stages[0], stages[-1]
    m = re.search(r"-DCMAKE_INSTALL_PREFIX=(\S+)", " ".join(instruction(build, "RUN")))
    assert m and m.group(1) == sv["CJ_PREFIX"]
    venv = re.search(r"python3 -m venv\b[^&;]*?\s(/\S+)", " ".join(instruction(runtime, "RUN")))
    assert venv and venv.group(1) == sv["CJ_SANDBOX_PY"]
    cfg = load_yaml(CONTAINER_CONFIG)
    assert cfg["python_bin"].startswith(sv["CJ_SANDBOX_PY"] + "/bin/python")
    assert cfg["work_dir"] == sv["CJ_WORK"]
    entry = json.loads(instruction(runtime, "ENTRYPOINT")[-1])
    cmd = json.loads(instruction(runtime, "CMD")[-1])
    assert entry[0] == sv["CJ_PREFIX"] + "/bin/codejail-init"
    assert cmd[0] == sv["CJ_PREFIX"] + "/bin/codejail-server"
    assert os.path.dirname(cmd[cmd.index("--config") + 1]) == sv["CJ_CONFIG"]
    # the sandbox sees its directory at /tmp/codejail-XXXXXX (runtime/sandbox.c)
    assert sb["CJ_INNER"] == "/tmp"


# ---- install.sh ------------------------------------------------------------------------


def test_install_script_is_posix_sh():
    for sh in ("/bin/sh", shutil.which("dash")):
        if sh:
            r = run([sh, "-n", str(INSTALL_SH)])
            assert r.returncode == 0, r.stderr
    assert INSTALL_SH.read_text().startswith("#!/bin/sh\n")
    assert os.access(INSTALL_SH, os.X_OK), "install.sh is not executable"
    text = strip_comments(INSTALL_SH.read_text())
    for bashism in (r"\[\[", r"\bfunction\b", r"\blocal\b", r"\$\{[^}]*//", r"<<<", r"\bsource\b"):
        assert not re.search(bashism, text), f"bashism {bashism!r} in install.sh"
    assert "--replace -W" in text and "--remove" in text and "aa-status" in text


def test_install_script_usage():
    r = run(["sh", str(INSTALL_SH), "--help"])
    assert r.returncode == 0 and "--remove" in r.stdout
    r = run(["sh", str(INSTALL_SH), "--bogus"])
    assert r.returncode == 2 and "unknown argument" in r.stderr


def test_install_script_without_apparmor_parser():
    # A PATH with the script's tools but no apparmor_parser.
    with tempfile.TemporaryDirectory() as d:
        for tool in ("dirname", "id", "cat", "grep", "cmp", "rm", "cp"):
            src = shutil.which(tool)
            assert src, tool
            os.symlink(src, os.path.join(d, tool))
        r = run([shutil.which("dash") or "/bin/sh", str(INSTALL_SH)], env={"PATH": d})
    assert r.returncode == 1
    assert "apparmor_parser not found" in r.stderr and "apt install apparmor" in r.stderr


def test_install_script_refuses_non_root():
    parser = need_tool("apparmor_parser", "apparmor")
    env = {"PATH": f"{os.path.dirname(parser)}:/usr/bin:/bin"}
    with tempfile.TemporaryDirectory() as d:
        # A copy the other user can read: the clone may sit where only root
        # may look (/root/project, /root being 0700).
        os.chmod(d, 0o755)
        script = shutil.copytree(APPARMOR, os.path.join(d, "apparmor")) + "/install.sh"
        cmd = ["sh", script]
        if os.geteuid() == 0:
            setpriv = need_tool("setpriv", "util-linux")
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        r = run(cmd, env=env, cwd=d)
    assert r.returncode == 1
    assert "must run as root" in r.stderr, r.stderr
    # The real loading path is not run here: it would change the host kernel's policy.


# ---- container configuration ----------------------------------------------------------


def check_config(cfg, where):
    known = set(load_yaml(EXAMPLE_CONFIG)) | {"CODE_JAIL"}
    assert isinstance(cfg, dict), where
    unknown = set(cfg) - known
    assert not unknown, f"{where}: keys the service does not know: {sorted(unknown)}"
    for layer in ("apparmor", "landlock", "seccomp"):
        assert cfg.get(layer) == "required", f"{where}: {layer} must be required in production"
    assert cfg.get("apparmor_profile", SANDBOX_NAME) == SANDBOX_NAME
    assert cfg.get("namespaces", True) is True
    assert cfg["python_bin"] == "/opt/sandbox-venv/bin/python"
    assert cfg["user"] != "root"


def test_container_config():
    cfg = load_yaml(CONTAINER_CONFIG)
    check_config(cfg, CONTAINER_CONFIG.name)
    assert cfg["listen"] == "0.0.0.0:8080"
    assert cfg["work_dir"] == "/tmp"


# ---- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_stages():
    stages = dockerfile_stages()
    assert len(stages) == 2, [s["name"] for s in stages]
    assert all(s["image"] == "debian:bookworm-slim" for s in stages)
    build, runtime = stages
    assert build["name"] == "build"
    runs = " ".join(instruction(build, "RUN"))
    assert "cmake -S . -B" in runs and "cmake --build" in runs and "cmake --install" in runs
    assert any(a.startswith("--from=build /opt/codejail ") for a in instruction(runtime, "COPY"))
    assert "compose/codejail.container.yaml /etc/codejail/codejail.yaml" in instruction(runtime, "COPY")
    # COPY sources (outside --from) exist in the build context (the repo root).
    for stage in stages:
        for args in instruction(stage, "COPY"):
            if args.startswith("--from"):
                continue
            for src in shlex.split(args)[:-1]:
                assert (ROOT / src).exists(), f"COPY source {src} missing"
    # ... and hold every directory the CMake files take sources from.
    copied = {shlex.split(a)[0].rstrip("/") for a in instruction(build, "COPY") if not a.startswith("--")}
    for cm in (ROOT / "CMakeLists.txt", ROOT / "tests" / "CMakeLists.txt"):
        for src in re.findall(r"([\w.-]+(?:/[\w.-]+)+\.(?:c|h|py|yaml))\b", strip_comments(cm.read_text())):
            rel = (cm.parent / src).relative_to(ROOT)
            assert any(str(rel) == c or str(rel).startswith(c + "/") for c in copied), (
                f"{cm.name} builds from {rel}, which the build stage does not COPY")
    assert json.loads(instruction(runtime, "ENTRYPOINT")[-1]) == ["/opt/codejail/bin/codejail-init", "--"]
    assert json.loads(instruction(runtime, "CMD")[-1]) == [
        "/opt/codejail/bin/codejail-server", "--config", "/etc/codejail/codejail.yaml"]
    assert instruction(runtime, "EXPOSE") == ["8080"]
    hc = instruction(runtime, "HEALTHCHECK")
    assert hc and "http://127.0.0.1:8080/health/" in hc[0]
    venv = " ".join(instruction(runtime, "RUN"))
    assert re.search(r"python3 -m venv --copies --system-site-packages\b", venv)
    assert "compileall" in venv


def test_dockerfile_packages_exist():
    exe = apt_cache()
    for stage in dockerfile_stages():
        pkgs = apt_packages(stage)
        assert pkgs, f"stage {stage['name']} installs nothing"
        r = run([exe, "show", "--no-all-versions"] + pkgs)
        found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
        missing = sorted(set(pkgs) - found)
        assert not missing, f"stage {stage['name']}: not Debian 12 packages: {missing}"


def test_dockerfile_runtime_packages():
    stages = dockerfile_stages()
    build, runtime = set(apt_packages(stages[0])), set(apt_packages(stages[-1]))
    for p in ["python3", "python3-venv"] + sandbox_debian():
        assert p in runtime, p
    # The build has every library ./dev builds with...
    dev_libs = {p for p in dev_packages() if p.endswith("-dev")}
    assert dev_libs <= build, f"build stage lacks {sorted(dev_libs - build)} from ./dev"
    # ... and the runtime the shared libraries behind each of them.
    exe = apt_cache()
    devs = sorted(p for p in build if p.endswith("-dev"))
    r = run([exe, "depends"] + devs)
    assert r.returncode == 0, r.stderr
    lacking, pkg, seen = [], None, set()
    for line in r.stdout.splitlines():
        if not line.startswith((" ", "|")):
            pkg = line.strip()
            seen.add(pkg)
            continue
        m = re.match(r"^\s+Depends:\s+(\S+)", line)
        if not m:
            continue
        dep = m.group(1)
        if dep.startswith("<") or dep.endswith(("-dev", "-common")) or dep == "libc6":
            continue  # virtual, headers, data; libc6 is in every Debian image
        if dep not in runtime:
            lacking.append(f"{pkg} -> {dep}")
    assert seen >= set(devs), f"apt-cache depends did not answer for {sorted(set(devs) - seen)}"
    assert not lacking, f"runtime stage lacks shared libraries: {lacking}"


# ---- seccomp ------------------------------------------------------------------------------


def seccomp_profile_path():
    svc = codejail_service_config()
    for opt in svc["security_opt"]:
        m = re.match(r"seccomp[=:](.*)$", opt)
        if m:
            return m.group(1)
    pytest.fail("no seccomp option in docker-compose.yml's security_opt")


def test_seccomp_profile():
    path = seccomp_profile_path()
    if path == "unconfined":
        return
    prof = json.loads((COMPOSE / path).read_text())
    assert prof["defaultAction"] == "SCMP_ACT_ALLOW"
    assert {a["architecture"] for a in prof["archMap"]} >= {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}
    denied = set()
    for rule in prof["syscalls"]:
        assert rule["action"] == "SCMP_ACT_ERRNO", rule
        assert rule.get("errnoRet") == 1
        assert not rule.get("args") and not rule.get("includes") and not rule.get("excludes")
        denied |= set(rule["names"])
    needed = set(SERVICE_SYSCALLS)
    # and every raw syscall the service's sources make (the sandbox's own
    # filter and the noexec preload list syscalls to refuse: not those)
    for src in list((ROOT / "runtime").glob("*.c")) + list((ROOT / "http").glob("*.c")) + \
            list((ROOT / "init").glob("*.c")):
        if src.name in ("seccomp.c", "noexec.c"):
            continue
        needed |= set(re.findall(r"\bSYS_(\w+)", src.read_text()))
    assert not (denied & needed), f"the container's seccomp profile denies {sorted(denied & needed)}"
    # every name is one libseccomp knows (runc silently ignores unknown ones)
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.fail("libseccomp.so.2 missing: apt-get install -y libseccomp2")
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    unknown = [n for n in sorted(denied) if lib.seccomp_syscall_resolve_name(n.encode()) == -1]
    assert not unknown, f"syscall names libseccomp does not know: {unknown}"


# ---- docker-compose ---------------------------------------------------------------------------


def test_compose_config_validates():
    load_yaml(COMPOSE_FILE)  # no duplicate keys
    svc = codejail_service_config()
    assert svc["container_name"] == "edx.devstack.codejail"
    ports = svc["ports"]
    # The host's loopback only (devstack's LMS uses the compose network).
    assert any(re.fullmatch(r"127\.0\.0\.1:18030:8080(/tcp)?", p) if isinstance(p, str) else
               (p.get("host_ip") == "127.0.0.1" and p.get("published") in (18030, "18030") and p.get("target") == 8080)
               for p in ports), ports
    assert svc.get("restart") == "unless-stopped"
    assert "edx.devstack.codejail" in svc["networks"]["default"]["aliases"]
    assert not svc.get("privileged", False)
    assert svc.get("init") is False
    assert svc.get("read_only") is True
    assert any(t.split(":")[0] == "/tmp" for t in svc["tmpfs"])
    build = svc["build"]
    assert Path(build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    test = " ".join(svc["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/health/" in test


# What the service needs, each for a reason written in apparmor/codejail_service.
SERVICE_CAPS = {"sys_admin", "net_admin", "setuid", "setgid", "setpcap", "chown", "dac_override", "fowner",
                "kill", "mknod"}


def test_capabilities_agree():
    profile = allowed_caps(SERVICE_PROFILE)
    assert profile == SERVICE_CAPS
    # and codejail-init keeps exactly these for the server (init/caps.c), when
    # it limits the server's bounding set
    caps_c = ROOT / "init" / "caps.c"
    if caps_c.exists():
        m = re.search(r"server_caps\[\]\s*=\s*\{(.*?)\};", caps_c.read_text(), re.S)
        assert m, "no server_caps[] in init/caps.c"
        kept = {c.lower() for c in re.findall(r"\bCAP_(\w+)", re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S))}
        assert kept == profile, "codejail_service's capabilities differ from init/caps.c's server_caps"


def test_compose_apparmor_and_capabilities():
    svc = codejail_service_config()
    assert f"apparmor={SERVICE_NAME}" in svc["security_opt"]
    assert svc["cap_drop"] == ["ALL"]
    caps = {c.lower() for c in svc["cap_add"]}
    assert caps == allowed_caps(SERVICE_PROFILE), (
        "docker-compose cap_add and codejail_service's capability rules differ")


# ---- Kubernetes -------------------------------------------------------------------------------

API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
}
POD_SC_KEYS = {"appArmorProfile", "seccompProfile", "runAsUser", "runAsGroup", "runAsNonRoot",
               "fsGroup", "fsGroupChangePolicy", "supplementalGroups", "sysctls", "seLinuxOptions",
               "windowsOptions"}
CONTAINER_SC_KEYS = {"appArmorProfile", "seccompProfile", "runAsUser", "runAsGroup", "runAsNonRoot",
                     "privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities",
                     "procMount", "seLinuxOptions", "windowsOptions"}
PROBE_KEYS = {"httpGet", "exec", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds",
              "timeoutSeconds", "failureThreshold", "successThreshold", "terminationGracePeriodSeconds"}


def deployments():
    return [(f, d) for f, d in k8s_docs() if d["kind"] == "Deployment"]


def codejail_container(dep):
    cs = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "codejail"]
    assert len(cs) == 1, "one container named codejail"
    return cs[0]


def test_k8s_manifests_parse():
    kinds = set()
    for f, d in k8s_docs():
        assert isinstance(d, dict) and "kind" in d and "apiVersion" in d, f"{f.name}: {d!r:.80}"
        assert d["kind"] in API_VERSIONS, f"{f.name}: unexpected kind {d['kind']}"
        assert d["apiVersion"] == API_VERSIONS[d["kind"]], f"{f.name}: {d['kind']} {d['apiVersion']}"
        assert d["metadata"]["name"]
        kinds.add(d["kind"])
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy"} <= kinds
    assert {f.name for f in K8S.glob("*.yaml")} >= {"sidecar.yaml", "standalone.yaml"}


def probe_hits_health(probe, container):
    assert set(probe) <= PROBE_KEYS, set(probe) - PROBE_KEYS
    if "httpGet" in probe:
        port = probe["httpGet"]["port"]
        if isinstance(port, str):
            port = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}[port]
        return probe["httpGet"]["path"] == "/health/" and port == 8080
    if "exec" in probe:
        return "http://127.0.0.1:8080/health/" in " ".join(probe["exec"]["command"])
    return False


def test_k8s_probes():
    for f, dep in deployments():
        c = codejail_container(dep)
        for kind in ("readinessProbe", "livenessProbe"):
            assert kind in c, f"{f.name}: no {kind}"
            assert probe_hits_health(c[kind], c), f"{f.name}: {kind} does not GET /health/ on 8080"
        if "startupProbe" in c:
            assert probe_hits_health(c["startupProbe"], c)


def test_k8s_confinement():
    compose_caps = {c.upper() for c in allowed_caps(SERVICE_PROFILE)}
    for f, dep in deployments():
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        c = codejail_container(dep)
        psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
        assert set(psc) <= POD_SC_KEYS, f"{f.name}: {set(psc) - POD_SC_KEYS}"
        assert set(csc) <= CONTAINER_SC_KEYS, f"{f.name}: {set(csc) - CONTAINER_SC_KEYS}"
        aa = csc.get("appArmorProfile") or psc.get("appArmorProfile")
        assert aa == {"type": "Localhost", "localhostProfile": SERVICE_NAME}, f"{f.name}: {aa}"
        ann = pod["metadata"].get("annotations", {})
        assert ann.get("container.apparmor.security.beta.kubernetes.io/codejail") == f"localhost/{SERVICE_NAME}"
        sc = csc.get("seccompProfile") or psc.get("seccompProfile")
        assert sc and sc["type"] in ("Localhost", "Unconfined"), f"{f.name}: seccomp {sc}"
        if sc["type"] == "Localhost":
            assert Path(sc["localhostProfile"]).name == Path(seccomp_profile_path()).name
        assert csc.get("privileged", False) is False
        assert csc.get("runAsUser") == 0
        assert csc["capabilities"]["drop"] == ["ALL"]
        assert set(csc["capabilities"]["add"]) == compose_caps, f"{f.name}: capabilities differ"
        res = c["resources"]
        assert res["requests"] and res["limits"]["memory"] and res["limits"]["cpu"]
        # the configuration it runs with
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts
        if "/etc/codejail" in mounts:
            vol = [v for v in spec["volumes"] if v["name"] == mounts["/etc/codejail"]][0]
            cm_name = vol["configMap"]["name"]
            cms = [d for _, d in k8s_docs() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm_name]
            assert len(cms) == 1, f"{f.name}: ConfigMap {cm_name} not defined"
            cfg = need_yaml().load(cms[0]["data"]["codejail.yaml"], Loader=strict_loader())
            check_config(cfg, f"{f.name}: ConfigMap {cm_name}")


def test_k8s_sidecar_listens_on_loopback():
    docs = load_all_yaml(K8S / "sidecar.yaml")
    dep = [d for d in docs if d["kind"] == "Deployment"][0]
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert "codejail" in names and len(names) >= 2, names
    env = {e["name"]: e.get("value") for e in codejail_container(dep).get("env", [])}
    assert env.get("CODEJAIL_LISTEN") == "127.0.0.1:8080"


def test_k8s_standalone_wiring():
    docs = {d["kind"]: d for d in load_all_yaml(K8S / "standalone.yaml")}
    dep = docs["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]

    def selects(sel):
        return sel and all(labels.get(k) == v for k, v in sel.items())

    assert selects(dep["spec"]["selector"]["matchLabels"])
    svc = docs["Service"]
    assert selects(svc["spec"]["selector"])
    assert any(p["port"] == 8080 and p["targetPort"] in (8080, "http") for p in svc["spec"]["ports"])
    hpa = docs["HorizontalPodAutoscaler"]
    ref = hpa["spec"]["scaleTargetRef"]
    assert ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    pdb = docs["PodDisruptionBudget"]
    assert selects(pdb["spec"]["selector"]["matchLabels"])
    sc = dep["spec"]["template"]["spec"]["securityContext"]
    assert sc["appArmorProfile"] == {"type": "Localhost", "localhostProfile": SERVICE_NAME}


def test_k8s_network_policy():
    docs = {d["kind"]: d for d in load_all_yaml(K8S / "standalone.yaml")}
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    np = docs["NetworkPolicy"]["spec"]
    assert all(labels.get(k) == v for k, v in np["podSelector"]["matchLabels"].items())
    assert set(np["policyTypes"]) == {"Ingress", "Egress"}
    assert not np.get("egress"), "the NetworkPolicy must deny all egress"
    rule, scraper = np["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8080]
    # Prometheus, from its own namespace, and nothing else of it.
    assert [p["port"] for p in scraper["ports"]] == [8080]
    assert scraper["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    sources = set()
    for peer in rule["from"]:
        assert set(peer) == {"podSelector"}, "ingress only from pods of this namespace"
        sel = peer["podSelector"]
        sources |= {v for k, v in sel.get("matchLabels", {}).items() if k == "app"}
        for e in sel.get("matchExpressions", []):
            assert e["key"] == "app" and e["operator"] == "In"
            sources |= set(e["values"])
    assert sources == {"lms", "cms"}


# ---- the devstack service and ./dev (issue 12) --------------------------------------


def test_compose_works_from_root_and_compose_dir():
    """The legacy docker-compose v1 reads the seccomp file relative to the
    working directory: the file must be found from the root and compose/."""
    for cwd in (ROOT, COMPOSE):
        svc = need_yaml().safe_load(compose_config_text(cwd=cwd))["services"]["codejail"]
        assert any(o.startswith("seccomp") and "seccomp-codejail.json" in o for o in svc["security_opt"]), svc


def test_apparmor_switch_is_one_variable():
    """CODEJAIL_APPARMOR=unconfined turns off both Docker's profile and the
    service's requirement; unset, both stay on."""
    for value, opt, config in ((None, "apparmor=codejail_service", "/etc/codejail/codejail_service.yaml"),
                               ("unconfined", "apparmor=unconfined", "/etc/codejail/unconfined.yaml")):
        text = compose_config_text(apparmor=value)
        svc = need_yaml().safe_load(text)["services"]["codejail"]
        assert [o for o in svc["security_opt"] if o.startswith("apparmor")] == [opt], svc["security_opt"]
        assert svc["command"][-2:] == ["--config", config], svc["command"]
    docker = DOCKERFILE.read_text()
    assert "ln -s codejail.yaml /etc/codejail/codejail_service.yaml" in docker
    assert "s/^apparmor: required$/apparmor: off/' /etc/codejail/codejail.yaml > /etc/codejail/unconfined.yaml" in docker
    assert re.search(r"^apparmor: required$", (COMPOSE / "codejail.container.yaml").read_text(), re.M)


# Upstream codejail-service's sandbox list (requirements/sandbox/base.in) by
# requirement name; compose/sandbox-packages.txt must hold each, and six.
UPSTREAM_SANDBOX = {"chem", "cryptography", "lxml[html_clean]", "matplotlib", "networkx", "nltk", "openedx-calc",
                    "pyparsing", "random2", "scipy", "sympy", "codejail-includes", "numpy"}


def test_sandbox_list_is_upstreams():
    names = {name for name, _, _ in sandbox_list()}
    assert names == UPSTREAM_SANDBOX | {"six"}, names ^ (UPSTREAM_SANDBOX | {"six"})
    pip = {name for name, src, _ in sandbox_list() if src == "pip"}
    assert pip == {"openedx-calc", "chem", "codejail-includes"}, pip
    docker = DOCKERFILE.read_text()
    assert docker.count("sandbox-packages.txt)") >= 3  # apt, the venv's import check, pip
    assert "ARG CODEJAIL_SANDBOX_PIP=yes" in docker


def test_dev_run_installs_only_build_and_run():
    run_pkgs, test_pkgs = set(dev_packages("RUN")), set(dev_packages("TEST"))
    tools = {"qemu-system-x86", "debootstrap", "bubblewrap", "firejail", "docker.io", "docker-compose",
             "python3-pytest", "python3-requests", "apparmor"}
    assert not run_pkgs & tools, run_pkgs & tools
    assert tools <= test_pkgs, tools - test_pkgs
    assert set(sandbox_debian()) <= run_pkgs
    assert {"docker.io", "docker-compose", "debootstrap"} <= set(dev_packages("UP"))


def test_grafana_dashboard_uses_only_exposed_families():
    """compose/grafana-dashboard.json is a Grafana dashboard whose every
    query names a family the service exposes (http/metrics.c), with the
    suffixes Prometheus gives histograms."""
    dash = json.loads((ROOT / "compose" / "grafana-dashboard.json").read_text())
    exposed = set(re.findall(r'"(codejail_[a-z_]+)', (ROOT / "http" / "metrics.c").read_text()))
    exposed = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exposed} - {""}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert dash["panels"] and exprs
    used = set()
    for e in exprs:
        for name in re.findall(r"\bcodejail_[a-z_]+", e):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in exposed, (name, sorted(exposed))
            used.add(base)
    # Every family the README names for operators has a panel.
    assert {"codejail_executions_total", "codejail_execution_duration_seconds", "codejail_queue_depth",
            "codejail_pool_ready", "codejail_probe_passed", "codejail_oom_kills_total",
            "codejail_sandbox_setup_failures_total", "codejail_execution_cpu_seconds",
            "codejail_execution_peak_memory_bytes"} <= used, used


def test_k8s_service_monitor_scrapes_the_service():
    """servicemonitor.yaml selects standalone.yaml's Service by its labels
    and scrapes its named port at /metrics, the path the pods' annotations
    give."""
    (mon,) = [d for f, d in k8s_docs() if d["kind"] == "ServiceMonitor"]
    docs = {d["kind"]: d for d in load_all_yaml(K8S / "standalone.yaml")}
    svc = docs["Service"]
    sel = mon["spec"]["selector"]["matchLabels"]
    assert sel and all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items())
    (ep,) = mon["spec"]["endpoints"]
    assert ep["port"] in [p["name"] for p in svc["spec"]["ports"]] and ep["path"] == "/metrics"
    notes = docs["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/path"] == ep["path"] and notes["prometheus.io/scrape"] == "true"
