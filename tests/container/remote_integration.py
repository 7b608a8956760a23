"""pytest plugin: tests/integration's `service` is the running container
(remote.py says how and what is left out)."""

import os
import sys

# cjtest from tests/lib: under --noconftest nothing else puts it on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))

import cjtest  # noqa: E402
import remote  # noqa: E402
from remote import _idle_after_each_test, pytest_collection_modifyitems  # noqa: E402,F401  (this plugin's)


class ContainerService(cjtest.Service):
    """cjtest.Service's HTTP half, on the container's published port."""

    def __init__(self, url, name):
        self._url, self.name = url, name
        self.port = remote.port_of(url)
        self.proc = None
        self.pool = remote.POOL

    @property
    def base(self):
        return self._url

    def running(self):
        return True

    def log(self):
        return remote.logs(self.name)

    def idle(self):
        return not remote.leftovers(self.name)

    def assert_idle(self, timeout=cjtest.IDLE_TIMEOUT):
        if not cjtest.wait_for(self.idle, timeout, interval=0.2):
            raise cjtest.Failure(f"execution leftovers {timeout}s after the answer: "
                                 f"{remote.leftovers(self.name)}")


service = remote.service_fixture(ContainerService)
