"""Starts the real stixgate binary for the interop tests: 127.0.0.1, a free port, its own data directory."""

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("TEST_STIXGATE_BINARY", ROOT / "target" / "debug" / "stixgate"))
COLLECTION = "6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c"
READ_ONLY = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"


def hash_password(password):
    done = subprocess.run([BINARY, "hash-password"], input=password, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Stixgate:
    """A `stixgate serve` child process; `url` is its base URL."""

    def __init__(self, tmp_path, config=None):
        args = [BINARY, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data")]
        if config is not None:
            path = tmp_path / "stixgate.toml"
            path.write_text(config)
            args += ["--config", str(path)]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = threading.Event()
        self.log = []

        def read():
            for line in self.process.stderr:
                self.log.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    self.url = match.group(1)
                    found.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for _ in range(300):
            if found.wait(0.1) or self.process.poll() is not None:
                break
        if not found.is_set():
            self.stop()
            reader.join(5)
            raise RuntimeError(f"stixgate did not start (exit {self.process.returncode}):\n" + "".join(self.log))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            # Say what the server was doing, instead of leaving it running behind the test.
            self.process.kill()
            self.process.wait(10)
            raise RuntimeError("stixgate did not stop within 30 s of SIGTERM; its log:\n" + "".join(self.log[-40:]))


USERS_CONFIG = """
[[users]]
name = "alice"
password = "{alice}"
[[users]]
name = "bob"
password = "{bob}"

[[api_roots]]
path = "api"
title = "stixgate interop"

[[api_roots.collections]]
id = "{collection}"
alias = "intelmq"
title = "IntelMQ events"
read = ["alice", "bob"]
write = ["alice"]

[[api_roots.collections]]
id = "{read_only}"
title = "Read only"
read = ["alice", "bob"]
"""


@pytest.fixture
def stixgate(tmp_path):
    """A server with two users: alice may read and write, bob may only read."""
    config = USERS_CONFIG.format(
        alice=hash_password("alice-pw"), bob=hash_password("bob-pw"), collection=COLLECTION, read_only=READ_ONLY
    )
    server = Stixgate(tmp_path, config)
    yield server
    server.stop()
