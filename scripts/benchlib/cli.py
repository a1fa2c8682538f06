"""The options of scripts/bench.

Every option takes its default from an environment variable, so that the calls written before the options
existed (`BENCH_OBJECTS=5000 scripts/bench`) keep working; a value given on the command line wins. Every value is
checked here, before the release build, so that a typo costs a second and not minutes.
"""

import argparse
import math
import os
from dataclasses import dataclass
from typing import Callable

SERVERS = ("stixgate", "medallion", "stixgate-postgres")

DESCRIPTION = """\
Benchmarks stixgate's TAXII 2.1 server side by side with medallion 3.0.0 (the OASIS TAXII 2.1 reference server)
on its memory backend. One client, tests/bench/taxii.rs, drives each server through the same phases: load, page
and concurrent. A table compares them at the end. For stixgate it also reports the work done after the last
POST's answer (envelope maker, MISP feed), memory once quiet, disk against the bytes posted, and the first page
after a restart (after_load).

Each server runs alone while it is measured, on 127.0.0.1 and a free port, with its data in a temporary
directory. Everything is stopped and the directories removed on exit, also on Ctrl-C and on errors.

`stixgate-postgres` is stixgate on its PostgreSQL engine (one node), on a throwaway cluster started here from
Debian's server binaries (/usr/lib/postgresql/*/bin), with PostgreSQL's durability settings left as they are in
production (fsync and synchronous_commit on), so that its numbers compare with the sled engine's. Its server RSS
is stixgate's alone, without PostgreSQL's. With --nodes, it runs once per node count: N `serve` processes on one
database, the client spreading its POSTs, its paging and its concurrent clients over them in turn; its numbers
are then the nodes' together (their RSS summed), in a column named stixgate-postgres-N-nodes.

Every option defaults to the environment variable named in its help, then to the value shown.
Arguments after `--` go to every run of the client (default: BENCH_ARGS, split at white space), such as
`scripts/bench -- --batch 500`; `cargo bench --bench taxii -- --help` lists them."""

EPILOG = """\
medallion gets fewer objects by default. Its memory backend does work quadratic in the size of the collection
(with a date parse in the inner loop) on every GET without `next`: at 2000 objects the first page takes about
10 s, at 20000 it would take about 20 minutes. Its `next` tokens can be used only once, so the concurrent phase
has to use `added_after` positions there, and those GETs are quadratic too."""


@dataclass(frozen=True)
class Options:
    """What one benchmark run was asked for."""

    objects: int
    medallion_objects: int
    concurrency: int
    requests: int
    duration: float
    grace: float
    servers: list
    node_counts: list
    client_args: list


def count(text):
    """A whole number of at least 1 (objects, clients, requests, nodes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def seconds(text):
    """A number of seconds, 0 or more, fractions allowed (as the client reads them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text!r}")
    return value


def server(text):
    """One of the servers this script knows how to start."""
    if text not in SERVERS:
        raise argparse.ArgumentTypeError(f"unknown server {text!r} (choose from {', '.join(SERVERS)})")
    return text


@dataclass(frozen=True)
class Option:
    """One option: its flag, the environment variable it defaults to, how its text is read, and its default."""

    flag: str
    variable: str
    kind: Callable
    default: str
    metavar: str
    help: str
    # A list of values, separated by white space in the environment variable.
    many: bool = False

    @property
    def name(self):
        return self.flag[2:].replace("-", "_")


OPTIONS = [
    Option("--objects", "BENCH_OBJECTS", count, "100000", "N", "objects loaded into stixgate"),
    Option("--medallion-objects", "BENCH_MEDALLION_OBJECTS", count, "5000", "N",
           "objects loaded into medallion (fewer: see the end of this help)"),
    Option("--concurrency", "BENCH_CONCURRENCY", count, "32", "N", "clients of the concurrent phase"),
    Option("--requests", "BENCH_REQUESTS", count, "2000", "N", "requests of the concurrent phase at most"),
    Option("--duration", "BENCH_DURATION", seconds, "10", "SECONDS",
           "seconds after which the concurrent phase starts no more requests"),
    Option("--grace", "BENCH_GRACE", seconds, "60", "SECONDS",
           "seconds after that before requests still running are given up on"),
    Option("--servers", "BENCH_SERVERS", server, "stixgate medallion", "SERVER",
           f"servers to run, in this order ({', '.join(SERVERS)})", many=True),
    Option("--nodes", "BENCH_NODES", count, "1", "N", "node counts to run stixgate-postgres with, such as 1 3",
           many=True),
]


def parser():
    """The command line, with each option's environment variable and default in its help."""
    command_line = argparse.ArgumentParser(
        prog="scripts/bench",
        usage="scripts/bench [options] [-- CLIENT-ARGS...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in OPTIONS:
        command_line.add_argument(
            option.flag,
            type=option.kind,
            nargs="+" if option.many else None,
            metavar=option.metavar,
            help=f"{option.help} (default: {option.variable}, else {option.default})",
        )
    return command_line


def parse(argv):
    """The options from the command line, then the environment, then the defaults; exits 2 on a bad value."""
    command_line = parser()
    if "--" in argv:
        split = argv.index("--")
        argv, client_args = argv[:split], argv[split + 1:]
    else:
        client_args = os.environ.get("BENCH_ARGS", "").split()
    given = command_line.parse_args(argv)
    values = {}
    for option in OPTIONS:
        value = getattr(given, option.name)
        if value is None:
            # As the shell's ${VARIABLE:-default}: set but empty means the default.
            text = os.environ.get(option.variable) or option.default
            try:
                value = [option.kind(word) for word in text.split()] if option.many else option.kind(text)
            except argparse.ArgumentTypeError as error:
                command_line.error(f"{option.variable}: {error}")
            if option.many and not value:
                command_line.error(f"{option.variable}: empty")
        values[option.name] = value
    return Options(
        objects=values["objects"],
        medallion_objects=values["medallion_objects"],
        concurrency=values["concurrency"],
        requests=values["requests"],
        duration=values["duration"],
        grace=values["grace"],
        servers=values["servers"],
        node_counts=values["nodes"],
        client_args=client_args,
    )
