"""Reaching the network: every socket family but AF_UNIX is refused at
creation (seccomp, EACCES), and the execution has its own network namespace
holding only lo."""

import errno
import socket

import pytest

DENIED = ("PermissionError", errno.EACCES)

FAMILIES = {
    "inet-stream": "socket.AF_INET, socket.SOCK_STREAM",
    "inet-dgram": "socket.AF_INET, socket.SOCK_DGRAM",
    "inet6-stream": "socket.AF_INET6, socket.SOCK_STREAM",
    "inet6-dgram": "socket.AF_INET6, socket.SOCK_DGRAM",
    "inet-raw-icmp": "socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP",
    "inet6-raw": "socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW",
    "packet": "socket.AF_PACKET, socket.SOCK_RAW",
    "netlink-route": "socket.AF_NETLINK, socket.SOCK_RAW, 0",
    "netlink-audit": "socket.AF_NETLINK, socket.SOCK_RAW, 9",
    "vsock": "40, socket.SOCK_STREAM",
    "alg": "38, socket.SOCK_SEQPACKET",
    "bluetooth": "31, socket.SOCK_STREAM",
    "tipc": "30, socket.SOCK_RDM",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_socket_family_is_denied(service, family):
    assert service.attempt(f"socket.socket({FAMILIES[family]})") == DENIED


def test_socketpair_of_another_family_is_denied(service):
    assert service.attempt("socket.socketpair(30, socket.SOCK_RDM)") == DENIED  # TIPC


def test_unix_sockets_work(service):
    g = service.run("import socket\na, b = socket.socketpair()\na.sendall(b'ping')\nr = b.recv(4).decode()")
    assert g["r"] == "ping"


def test_dns_fails(service):
    assert service.attempt("socket.getaddrinfo('example.com', 80)") == ("gaierror", socket.EAI_AGAIN)


def test_urlopen_by_name_fails_without_network(service):
    stmt = """
    import urllib.request, urllib.error
    try:
        urllib.request.urlopen('http://example.com', timeout=2)
    except urllib.error.URLError as e:
        result = [type(e.reason).__name__, e.reason.errno]
        raise
    """
    assert service.attempt(stmt) == ("URLError", None)
    assert service.last["result"] == ["gaierror", socket.EAI_AGAIN]


def test_urlopen_by_address_fails_without_network(service):
    stmt = """
    import urllib.request, urllib.error
    try:
        urllib.request.urlopen('http://93.184.215.14/', timeout=2)
    except urllib.error.URLError as e:
        result = [type(e.reason).__name__, e.reason.errno]
        raise
    """
    assert service.attempt(stmt) == ("URLError", None)
    assert service.last["result"] == list(DENIED)


def test_service_port_is_unreachable(service):
    stmt = "socket.create_connection(('127.0.0.1', PORT), timeout=2)"
    assert service.attempt(stmt, {"PORT": service.port}) == DENIED


def test_only_loopback_interface(service):
    """if_nameindex() needs a (non-UNIX) socket, which is refused."""
    assert service.attempt("socket.if_nameindex()") == DENIED


def test_hostname_is_the_sandbox_own(service):
    g = service.run("import socket, os\nh = [socket.gethostname(), os.uname().nodename]")
    assert g["h"] == ["codejail", "codejail"]
