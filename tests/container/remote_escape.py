"""pytest plugin: tests/escape's `service` is the running container
(remote.py says how and what is left out)."""

import conftest  # tests/escape/conftest.py as a module: its Service class only
import remote
from remote import _idle_after_each_test, pytest_collection_modifyitems  # noqa: F401  (this plugin's)


class ContainerService(conftest.Service):
    """The escape suite's Service (attempt, run, post, health), on the
    container's published port."""

    def __init__(self, url, name):
        self._url, self.name = url, name
        self.proc = None
        self.pool = remote.POOL
        self.port = 8080  # where the service listens, as its network sees it (not the host's 18030)

    def url(self, path):
        return self._url + path

    def assert_idle(self, timeout=5):
        if not conftest.wait_for(lambda: not remote.leftovers(self.name), timeout, interval=0.2):
            left = remote.leftovers(self.name)
            assert not left, f"execution leftovers {timeout}s after the answer: {left}"


service = remote.service_fixture(ContainerService)
