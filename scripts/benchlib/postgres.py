"""The throwaway PostgreSQL cluster of a stixgate-postgres run, from Debian's server binaries.

Its durability settings are left as they are in production (fsync and synchronous_commit on), so that the
PostgreSQL engine's numbers compare with the sled engine's. Each run gets a cluster of its own.
"""

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from .processes import RunFailed, free_port


def newest_bin():
    """The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql (as `sort -V` would pick)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise RunFailed("stixgate-postgres needs PostgreSQL: apt-get install postgresql")

    def version(path):
        return [int(number) for number in re.findall(r"\d+", Path(path).parent.parent.name)]

    return Path(max(found, key=version)).parent


class Cluster:
    """A cluster in `work/postgres`, listening on 127.0.0.1 and a free port, trusting the user stixgate."""

    def __init__(self, work):
        self.bin = newest_bin()
        self.work = Path(work)
        self.dir = self.work / "postgres"
        self.port = free_port()
        # Its tools' output; the server's own log is dir/server.log.
        self.log = self.work / "postgres.log"
        # initdb refuses to run as root: then the tools run as the postgres user.
        self.as_postgres = []
        self.started = False

    @property
    def url(self):
        """What stixgate's STIXGATE_STORE__URL is set to."""
        return f"postgres://stixgate@127.0.0.1:{self.port}/postgres"

    def start(self):
        """initdb, then pg_ctl start; a failure raises RunFailed with the log that says why."""
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            # The postgres user must get through the work directory to its own.
            os.chmod(self.work, os.stat(self.work).st_mode | 0o001)
            shutil.chown(self.dir, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        with open(self.log, "wb") as log:
            initdb = subprocess.run(
                self.as_postgres + [self.bin / "initdb", "-D", data, "-A", "trust", "-U", "stixgate", "-E", "UTF8",
                                    "--locale=C"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        if initdb.returncode != 0:
            raise RunFailed(self.log.read_text(errors="replace"))
        self.started = True
        with open(self.log, "ab") as log:
            # In a session of its own, so that Ctrl-C does not stop the cluster before the nodes using it.
            pg_ctl = subprocess.run(
                self.as_postgres + [self.bin / "pg_ctl", "-D", data, "-l", self.dir / "server.log", "-w", "-o",
                                    f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"],
                stdout=log, start_new_session=True,
            )
        if pg_ctl.returncode != 0:
            server_log = self.dir / "server.log"
            raise RunFailed(server_log.read_text(errors="replace") if server_log.exists() else "pg_ctl start failed")

    def stop(self):
        """Stops the cluster if it was made, and removes it, so that the next run starts on a cluster of its own."""
        if self.started:
            with open(self.log, "ab") as log:
                subprocess.run(
                    self.as_postgres + [self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop"],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

