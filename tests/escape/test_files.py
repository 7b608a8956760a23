"""Reaching the host's files from the sandbox: reading, listing, writing,
through symlinks, and what leaks by environment or inherited descriptors.

The sandbox's root is a per-execution tmpfs, root's and closed to the sandbox
user (the interpreter's /usr, the loader cache, /etc/alternatives, a few /dev
nodes and the execution directory, bound read-only), under Landlock.  The
standard host paths (/etc/passwd, /etc/hosts, /proc, /sys, /home, /root...)
are there as empty stand-ins, so touching them is PermissionError (EACCES),
what codejail's AppArmor sandbox answers; anything else of the host is not
there at all (FileNotFoundError).  Writing anywhere but tmp/ is EACCES, except
in the read-only binds (the execution directory itself, /usr): EROFS."""

import errno
import io
import zipfile

import pytest

from conftest import SECRET_ENV, SECRET_VALUE

DENIED = ("PermissionError", errno.EACCES)
ABSENT = ("FileNotFoundError", errno.ENOENT)
READ_ONLY = ("OSError", errno.EROFS)


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/hosts", "/etc/shadow", "/proc/1/cmdline",
                                  "/proc/1/environ", "/home", "/root", "/sys", "/proc"])
def test_read_standard_host_path_is_denied(service, path):
    assert service.attempt(f"open({path!r}, 'rb').read()") == DENIED


@pytest.mark.parametrize("path", ["/root/.bashrc", "/proc/self/environ", "/proc/1/status", "/sys/kernel",
                                  "/etc/os-release", "/home/user", "/var/log/syslog"])
def test_behind_the_stand_ins_is_nothing(service, path):
    """The stand-ins are empty: nothing of the host is under them."""
    assert service.attempt(f"open({path!r}, 'rb').read()") == ABSENT


@pytest.mark.parametrize("path", ["/", "/tmp", "..", "../..", "/dev", "/etc", "/proc", "/proc/1", "/sys",
                                  "/root", "/home", "/var"])
def test_list_outside_own_dir_is_denied(service, path):
    """The contract: listing /, /tmp and .. must be PermissionError (the Django
    service's own probe checks /); so is every standard directory."""
    assert service.attempt(f"os.listdir({path!r})") == DENIED


def test_list_noexec_library_dir(service):
    """/.codejail holds the overlays' empty layer and, on the cold path, the
    preloaded noexec library: closed to listing on both paths."""
    assert service.attempt("os.listdir('/.codejail')") == ("PermissionError", errno.EACCES)


def test_service_files_are_absent(service):
    """The service's own configuration and log, by their host paths."""
    for path in (service.log_path, service.home + "/codejail.yaml"):
        assert service.attempt("open(P).read()", {"P": path}) == ABSENT, path


@pytest.mark.parametrize("path", ["/escape.txt", "/tmp/escape.txt", "../escape.txt", "/etc/hosts",
                                  "/etc/escape.txt", "/proc/1/cmdline", "/root/escape.txt", "/dev/zero",
                                  "/etc/ld.so.cache", "jailed_code"])
def test_write_outside_tmp_is_denied(service, path):
    assert service.attempt(f"open({path!r}, 'ab').write(b'x')") == DENIED


@pytest.mark.parametrize("path", ["escape.txt", "/usr/lib/escape.txt"])
def test_write_in_a_read_only_bind_is_refused(service, path):
    """The execution directory and the interpreter's tree are the host's,
    bound read-only: the mount refuses before anything else is asked."""
    assert service.attempt(f"open({path!r}, 'ab').write(b'x')") == READ_ONLY


def test_mkdir_symlink_and_unlink_outside_tmp_are_denied(service):
    assert service.attempt("os.mkdir('/tmp/newdir')") == DENIED
    assert service.attempt("os.symlink('/etc', '/tmp/link')") == DENIED
    assert service.attempt("os.mkdir('newdir')") == READ_ONLY
    assert service.attempt("os.unlink('jailed_code')") == READ_ONLY


def test_unix_socket_binds_only_in_tmp(service):
    bind = "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.bind({!r})\nresult = s.fileno()"
    assert service.attempt(bind.format("/tmp/cj-sock")) == DENIED
    assert service.attempt(bind.format("../cj-sock")) == DENIED
    assert service.attempt(bind.format("tmp/cj-sock")) == ("ALLOWED", None)
    assert isinstance(service.last["result"], int)


def test_home_is_in_tmp(service):
    """Code that wants a home (pathlib, matplotlib's config and cache) gets
    tmp/, as codejail's sudo gives the sandbox user one."""
    g = service.run("import os, pathlib\nhome = str(pathlib.Path.home())\ntmp = os.path.join(os.getcwd(), 'tmp')\n"
                    "mpl = os.environ['MPLCONFIGDIR']\n")
    assert g["home"] == g["tmp"] and g["mpl"] == g["tmp"] + "/.matplotlib", g


def test_tmp_is_writable_and_is_tmpdir(service):
    g = service.run("import os, tempfile\n"
                    "tmpdir = os.environ['TMPDIR']\nexpected = os.path.join(os.getcwd(), 'tmp')\n"
                    "with tempfile.NamedTemporaryFile(delete=False) as f:\n    f.write(b'abc')\n"
                    "back = open(f.name, 'rb').read().decode()\nin_tmp = os.path.dirname(f.name) == tmpdir\n")
    assert g["tmpdir"] == g["expected"] and g["back"] == "abc" and g["in_tmp"] is True


def test_file_past_fsize_is_too_large(service):
    assert service.attempt("open('tmp/big', 'wb').write(b'x' * (2 << 20))") == ("OSError", errno.EFBIG)


def test_symlink_to_host_file_leads_nowhere(service):
    assert service.attempt("os.symlink('/etc/passwd', 'tmp/link')\nopen('tmp/link').read()") == DENIED
    assert service.attempt("os.symlink('/etc/os-release', 'tmp/link2')\nopen('tmp/link2').read()") == ABSENT


def _zip_with_symlink():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("course_library.py", "VALUE = 42\n")
        info = zipfile.ZipInfo("evil")
        info.external_attr = (0o120777 << 16)  # a symlink, as `zip --symlinks` stores it
        z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_symlink_inside_python_lib_zip(service):
    """A course library holding a symlink to a host file: extracted into tmp/
    the way a symlink-honouring extractor would, it reads nothing."""
    stmt = """
    import zipfile, stat
    z = zipfile.ZipFile('python_lib.zip')
    for info in z.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            os.symlink(z.read(info).decode(), os.path.join('tmp', info.filename))
        else:
            z.extract(info, 'tmp')
    imported = __import__('course_library').VALUE
    open('tmp/evil').read()
    """
    outcome = service.attempt(stmt, files={"python_lib.zip": ("python_lib.zip", _zip_with_symlink())},
                              python_path=["python_lib.zip"])
    assert outcome == DENIED  # the stand-in /etc/passwd
    assert service.last["imported"] == 42


def test_zipfile_extractall_makes_no_symlink(service):
    """zipfile itself writes the link's target as text, never a link."""
    g = service.run("import zipfile, os\nzipfile.ZipFile('python_lib.zip').extractall('tmp')\n"
                    "islink = os.path.islink('tmp/evil')\ntext = open('tmp/evil').read()\n",
                    files={"python_lib.zip": ("python_lib.zip", _zip_with_symlink())},
                    python_path=["python_lib.zip"])
    assert g["islink"] is False and g["text"] == "/etc/passwd"


def test_library_written_to_tmp_cannot_be_loaded(service):
    """tmp/ is noexec: a shared object dropped there is not mapped."""
    stmt = """
    import glob, shutil
    shutil.copy(glob.glob('/usr/lib/python3*/lib-dynload/_json*.so')[0], 'tmp/x.so')
    try:
        ctypes.CDLL(os.path.abspath('tmp/x.so'))
    except OSError as e:
        result = str(e)
        raise
    """
    assert service.attempt(stmt) == ("OSError", None)  # dlopen's errors carry no errno
    assert service.last["result"].endswith("tmp/x.so: failed to map segment from shared object")


def test_environment_has_nothing_of_the_service(service):
    g = service.run("import os\nenv = dict(os.environ)")
    assert SECRET_ENV not in g["env"] and SECRET_VALUE not in repr(g["env"])
    assert set(g["env"]) <= {"PATH", "TMPDIR", "HOME", "MPLCONFIGDIR", "MATPLOTLIBRC", "OPENBLAS_NUM_THREADS",
                             "LANG", "LD_PRELOAD"}, g["env"]


def test_init_environment_is_unreadable(service):
    assert service.attempt("open('/proc/1/environ', 'rb').read()") == DENIED
    assert service.attempt("open('/proc/1/cmdline', 'rb').read()") == DENIED


def test_only_standard_descriptors_are_inherited(service):
    """0-2 and the result channel (3); nothing of the server's."""
    g = service.run("import os\nfds = []\nfor fd in range(1024):\n    try:\n        os.fstat(fd)\n"
                    "        fds.append(fd)\n    except OSError:\n        pass\n")
    assert g["fds"] == [0, 1, 2, 3]
