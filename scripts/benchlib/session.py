"""What lives for one call of scripts/bench: the temporary directory, the servers and cluster running in it, the
client's executable and the results collected so far.

Leaving the `with` block stops everything and removes the directory, whether the benchmark finished, failed or
was interrupted, so that no server is left running and no data is left behind.
"""

import shutil
import signal
import tempfile
from pathlib import Path

from .processes import stop_all


class Session:
    """The benchmark's state; `results` maps a table column to the RESULT of each phase, by phase name."""

    def __init__(self, options):
        self.options = options
        self.work = None
        # Every server of the current run: one, or each node of a several-node run.
        self.servers = []
        self.cluster = None
        self.client = None
        self.results = {}

    def __enter__(self):
        self.work = Path(tempfile.mkdtemp(prefix="stixgate-bench."))
        return self

    def __exit__(self, *exc):
        # A second Ctrl-C must not leave servers running or data behind.
        previous = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.stop()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
            for number, handler in previous.items():
                signal.signal(number, handler)
        return False

    def stop(self):
        """Stops the current run's servers, then its cluster (the nodes first: they hold connections to it)."""
        stop_all(self.servers)
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            cluster.stop()
