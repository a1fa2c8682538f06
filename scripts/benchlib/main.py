"""The benchmark from start to end: options, build, one run per table column, the table."""

import os
import signal
import sys
from dataclasses import dataclass
from functools import partial
from typing import Callable

from . import cli
from .client import BuildFailed, build
from .medallion import bench_medallion
from .processes import ANSWER_ERRORS, RunFailed
from .session import Session
from .stixgate import bench_stixgate, bench_stixgate_postgres, postgres_label
from .table import print_table


@dataclass(frozen=True)
class Run:
    """One server's run, a column of the table. `name` is how the end says which runs failed."""

    name: str
    column: str
    start: Callable


def plan(options):
    """The runs asked for, in order: each server once, stixgate-postgres once per node count."""
    runs = []
    for server in options.servers:
        if server == "stixgate":
            runs.append(Run(server, server, bench_stixgate))
        elif server == "medallion":
            runs.append(Run(server, server, bench_medallion))
        else:
            runs += [Run(f"{server} {nodes}", postgres_label(nodes), partial(bench_stixgate_postgres, nodes=nodes))
                     for nodes in options.node_counts]
    return runs


def interrupted(number, frame):
    """SIGTERM stops the benchmark as Ctrl-C does: cleanly, exiting 130."""
    raise KeyboardInterrupt


def benchmark(session, runs):
    """Builds, runs each server alone (stopping it, and its cluster, before the next), prints the table; returns
    the exit status: 1 if a run failed, after the table of those that did not."""
    session.client = build()
    failed = []
    for run in runs:
        try:
            run.start(session)
        except RunFailed as error:
            print(error, file=sys.stderr)
            failed.append(run.name)
        except ANSWER_ERRORS as error:
            print(f"{run.name}: {error}", file=sys.stderr)
            failed.append(run.name)
        finally:
            session.stop()
    options = session.options
    if "stixgate" in options.servers and "medallion" in options.servers and options.medallion_objects != options.objects:
        print()
        print(f"note: medallion was loaded with {options.medallion_objects} objects, stixgate with {options.objects} "
              f"(BENCH_MEDALLION_OBJECTS, BENCH_OBJECTS). medallion's memory backend costs grow with the square of the "
              f"collection size, so its rates at {options.objects} objects would be far lower still.")
    print_table([run.column for run in runs], session.results)
    if failed:
        print(f"the benchmark failed for: {' '.join(failed)} (see above)", file=sys.stderr)
        return 1
    return 0


def main(argv, root):
    """Checks the options before anything slow, then benchmarks from the project's root; returns the exit status."""
    options = cli.parse(argv)
    runs = plan(options)
    os.chdir(root)
    # This script's lines and its children's output interleave in the order they happen, even through a pipe.
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        with Session(options) as session:
            return benchmark(session, runs)
    except KeyboardInterrupt:
        return 130
    except BuildFailed as error:
        print(f"scripts/bench: {error}", file=sys.stderr)
        return error.status
