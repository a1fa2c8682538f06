"""stixgate's runs: on its sled engine (with the measures after the load), and on PostgreSQL with one or more
nodes."""

import json
import os
import time
from datetime import datetime

from .client import record, run_client
from .postgres import Cluster
from .processes import TAXII, RunFailed, Server, free_port, get

# The one collection of stixgate's embedded default configuration (alias intelmq), writable anonymously on loopback.
COLLECTION = "6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c"
BINARY = "target/release/stixgate"
# Logs as JSON with the debug lines of the work done after a POST's answer (the envelope maker and the MISP feed
# maintainer), which after_load times. The targets are module paths: a test in tests/interop/test_bench_options.py
# fails when a module that logs one of DONE_MESSAGES is no longer under them.
LOG_FILTER = "info,stixgate::ingest::envelope_maker=debug,stixgate::misp=debug"
# The debug lines after_load looks for, by what they say is done.
DONE_MESSAGES = (("maker", "envelopes of posted objects made"), ("misp", "MISP feed took in envelopes"))
# after_load's wait for quiet: the log must not grow for this long, checked this many times at most.
QUIET_S = 5
QUIET_CHECKS = 120


def collection_url(port):
    """The default collection of the stixgate listening on port."""
    return f"http://127.0.0.1:{port}/api/collections/{COLLECTION}/"


def start_stixgate(session, port):
    """Serves the run's data directory on port, logging to stixgate.log (appended: after_load restarts it)."""
    env = dict(os.environ, STIXGATE_LOG=LOG_FILTER, STIXGATE_LOG_FORMAT="json")
    server = Server(session.work, "stixgate",
                    [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(session.work / "stixgate-data")],
                    env=env, append=True)
    session.servers.append(server)
    server.wait_until_up(f"http://127.0.0.1:{port}/healthz")
    return server


def bench_stixgate(session):
    """stixgate on sled: the client's phases, then after_load (even when a check failed, as its numbers still
    say something; the run counts as failed all the same)."""
    port = free_port()
    server = start_stixgate(session, port)
    failure = None
    try:
        run_client(session, "stixgate", [(server, collection_url(port))], session.options.objects)
    except RunFailed as error:
        failure = error
    if "load" not in session.results.get("stixgate", {}):
        raise failure or RunFailed("stixgate: the client reported no load phase")
    after_load(session, server, port)
    if failure is not None:
        raise failure


def wait_until_quiet(log):
    """Until the server's log has not grown for QUIET_S: its envelope maker and MISP feed maintainer are done."""
    for _ in range(QUIET_CHECKS):
        size = log.stat().st_size
        time.sleep(QUIET_S)
        if log.stat().st_size == size:
            return


def last_done(log):
    """When the log last said each piece of work after a POST's answer was done, in Unix seconds."""
    last = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        for what, text in DONE_MESSAGES:
            if entry.get("message") == text:
                last[what] = datetime.fromisoformat(entry["timestamp"]).timestamp()
    return last


def size(path):
    """Bytes in the files under path."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def after_load(session, server, port):
    """Once the server has been quiet for QUIET_S: when its envelope maker and MISP feed maintainer finished after
    the last POST's answer, its memory, and its data directory against the bytes posted; then a restart, and how
    long the first page takes (it builds the collection's in-memory index)."""
    wait_until_quiet(server.log)
    rss_settled = server.rss_kib()
    session.stop()
    server = start_stixgate(session, port)
    started = time.monotonic()
    get(f"{collection_url(port)}objects/?limit=1000", {"Accept": TAXII})
    first_page = int((time.monotonic() - started) * 1000)
    rss_restarted = server.rss_kib()

    load = session.results["stixgate"]["load"]
    ended = load["ended_unix_ms"] / 1000
    last = last_done(server.log)
    data, texts = size(session.work / "stixgate-data"), size(session.work / "stixgate-data" / "texts")
    after = {what: round(last[what] - ended, 1) if what in last else None for what in ("maker", "misp")}
    shown = {what: "-" if value is None else f"{value} s" for what, value in after.items()}
    disk_per_posted = round(data / load["bytes"], 2)
    print(f"[stixgate] after the last POST's answer: envelopes all made at {shown['maker']}, MISP feed caught up at "
          f"{shown['misp']}; server RSS once quiet {rss_settled / 1024:.0f} MiB")
    print(f"[stixgate] data directory {data / 1e6:.1f} MB (text log {texts / 1e6:.1f} MB) for "
          f"{load['bytes'] / 1e6:.1f} MB posted: {disk_per_posted}x")
    print(f"[stixgate] restarted: first page in {first_page} ms (it builds the collection's in-memory index), "
          f"RSS {rss_restarted / 1024:.0f} MiB")
    record(session, "stixgate", {
        "phase": "after",
        "envelopes_made_s": after["maker"],
        "misp_caught_up_s": after["misp"],
        "rss_settled_kib": rss_settled,
        "bytes_posted": load["bytes"],
        "data_bytes": data,
        "text_log_bytes": texts,
        "disk_per_posted": disk_per_posted,
        "first_page_after_restart_ms": first_page,
        "rss_after_restart_kib": rss_restarted,
    })


def postgres_label(nodes):
    """The table column of a stixgate-postgres run with this many nodes."""
    return "stixgate-postgres" if nodes == 1 else f"stixgate-postgres-{nodes}-nodes"


def bench_stixgate_postgres(session, nodes):
    """nodes `serve` processes on one fresh database, each with a data directory of its own; the client spreads
    its work over them."""
    label = postgres_label(nodes)
    session.cluster = Cluster(session.work)
    session.cluster.start()
    env = dict(os.environ, STIXGATE_STORE__ENGINE="postgres", STIXGATE_STORE__SSLMODE="disable",
               STIXGATE_STORE__URL=session.cluster.url)
    targets = []
    for node in range(1, nodes + 1):
        port = free_port()
        server = Server(session.work, f"{label}-{node}",
                        [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data",
                         str(session.work / f"{label}-data-{node}")],
                        env=env)
        session.servers.append(server)
        server.wait_until_up(f"http://127.0.0.1:{port}/healthz")
        targets.append((server, collection_url(port)))
    run_client(session, label, targets, session.options.objects)
