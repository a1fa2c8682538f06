"""The release build, and the benchmark client tests/bench/taxii.rs, which every server is measured with."""

import json
import subprocess
import sys
from pathlib import Path

from .processes import RunFailed

RESULT = "RESULT "


class BuildFailed(Exception):
    """The build failed (cargo has said why); the benchmark exits with cargo's status."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def build():
    """Builds stixgate and the client in release mode; returns the client's executable, which later runs call
    directly so that they do not wait on cargo's lock."""
    print("== building stixgate (release) and the benchmark client")
    built = subprocess.run(["cargo", "build", "--release", "--locked"])
    if built.returncode != 0:
        raise BuildFailed("cargo build --release failed", built.returncode)
    bench = subprocess.run(
        ["cargo", "bench", "--locked", "--bench", "taxii", "--no-run", "--message-format=json-render-diagnostics"],
        stdout=subprocess.PIPE, text=True,
    )
    if bench.returncode != 0:
        raise BuildFailed("cargo bench --no-run failed", bench.returncode)
    for line in bench.stdout.splitlines():
        message = json.loads(line)
        if (message.get("reason") == "compiler-artifact" and message["target"]["name"] == "taxii"
                and message.get("executable")):
            return Path(message["executable"])
    raise BuildFailed("could not find the benchmark executable", 1)


def results_of(output):
    """The client's RESULT lines, by phase (the last one wins, as the table shows one value per phase)."""
    results = {}
    for line in output.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
            results[result["phase"]] = result
    return results


def show(text):
    """Prints text as the client's output is printed: as it comes, whatever is printed around it."""
    sys.stdout.buffer.write(text)
    sys.stdout.buffer.flush()


def run_client(session, label, targets, objects, *args):
    """Runs the client against targets, pairs of (server, collection URL), one per node; shows its output as it
    comes and records its results under label. Raises RunFailed if the client failed, once its results are in."""
    options = session.options
    print(f"== {label}: {objects} objects, {options.concurrency} clients in the concurrent phase")
    command = [session.client, "--label", label]
    for server, _ in targets:
        command += ["--pid", str(server.pid)]
    for _, url in targets:
        command += ["--collection-url", url]
    command += ["--objects", str(objects), "--concurrency", str(options.concurrency),
                "--requests", str(options.requests), "--duration", str(options.duration),
                "--grace", str(options.grace), *args, *options.client_args]
    output = bytearray()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as client:
        try:
            # Chunks, not lines: whatever the client prints shows at once.
            while chunk := client.stdout.read1(65536):
                show(chunk)
                output += chunk
        except BaseException:
            # Interrupted (SIGTERM does not reach the client as Ctrl-C does): the servers are about to stop.
            client.kill()
            raise
    session.results.setdefault(label, {}).update(results_of(output.decode(errors="replace")))
    if client.returncode != 0:
        raise RunFailed(f"the client for {label} exited with {client.returncode}")


def record(session, label, result):
    """Adds a result this script measured itself, printed as the client prints its own."""
    print(RESULT + json.dumps(result))
    session.results.setdefault(label, {})[result["phase"]] = result
