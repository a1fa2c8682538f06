"""The servers under test as child processes, and the few HTTP requests this script makes to them itself.

Servers are started in a session of their own, so that Ctrl-C reaches only this script and the client: this
script then stops the servers itself, in order, giving stixgate the time to drain and flush its store.
"""

import base64
import http.client
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

# Requests go straight to 127.0.0.1, never through a proxy named in the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The media type of TAXII 2.1 requests.
TAXII = "application/taxii+json;version=2.1"
# What get() raises when there is no successful answer: no connection, an HTTP error, a garbled answer.
ANSWER_ERRORS = (OSError, http.client.HTTPException)


class RunFailed(Exception):
    """One server's run cannot go on; the message says why. The other runs still go ahead."""


def free_port():
    """A port free on 127.0.0.1 right now, for a server that takes its port on the command line."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url, headers=None, user=None, timeout=30):
    """GETs url and reads the whole answer; raises one of ANSWER_ERRORS unless it is a success."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if user is not None:
        name, password = user
        token = base64.b64encode(f"{name}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with HTTP.open(request, timeout=timeout) as answer:
        return answer.read()


class Server:
    """One server process, its output appended to `work/NAME.log`, where a failed start is read from."""

    def __init__(self, work, name, args, env=None, append=False):
        self.name = name
        self.log = Path(work) / f"{name}.log"
        with open(self.log, "ab" if append else "wb") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def wait_until_up(self, url, headers=None, user=None):
        """Until url answers with a success, or the server has died (then its log's tail is in the error)."""
        for _ in range(300):
            if self.process.poll() is not None:
                tail = "".join(self.log.read_text(errors="replace").splitlines(keepends=True)[-30:])
                raise RunFailed(f"{self.name} exited at start; its log:\n{tail}")
            try:
                get(url, headers, user, timeout=5)
                return
            except ANSWER_ERRORS:
                time.sleep(0.1)
        raise RunFailed(f"{self.name} did not answer {url} within 30 s")

    def rss_kib(self):
        """Resident memory now, as the client reads it too."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RunFailed(f"{self.name}: no VmRSS in /proc/{self.pid}/status")

    def terminate(self):
        """Asks the server to stop; stixgate drains and flushes its store on SIGTERM."""
        if self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self):
        """Gives the server 10 s to stop after terminate(), then insists."""
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_all(servers):
    """Stops the servers together (all nodes of a run get SIGTERM first), and empties the list."""
    for running in servers:
        running.terminate()
    for running in servers:
        running.wait_stopped()
    servers.clear()
