"""scripts/bench explains itself, refuses bad options before building anything, and asks stixgate for the debug
lines it times. The benchmark itself is not run here: it takes minutes of release build and load."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from benchlib.stixgate import DONE_MESSAGES, LOG_FILTER  # noqa: E402 (found through the line above)

VARIABLES = ["BENCH_OBJECTS", "BENCH_MEDALLION_OBJECTS", "BENCH_CONCURRENCY", "BENCH_REQUESTS", "BENCH_DURATION",
             "BENCH_GRACE", "BENCH_SERVERS", "BENCH_NODES", "BENCH_ARGS"]


def bench(*args, **variables):
    """Runs scripts/bench as a user does (its shebang picks the system's python3), without the caller's BENCH_*.

    Should a refusal not come, the benchmark would start: after 30 s it gets SIGTERM, on which it stops its servers
    and removes its directory, and the test fails."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BENCH_")}
    env.update(variables)
    with subprocess.Popen([ROOT / "scripts" / "bench", *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            stdout, stderr = process.communicate(timeout=120)
            pytest.fail(f"scripts/bench {args} {variables} went on to run the benchmark:\n{stdout}{stderr}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_help_names_every_option_and_environment_variable():
    done = bench("--help")
    assert done.returncode == 0, done.stderr
    for text in VARIABLES + ["--objects", "--medallion-objects", "--concurrency", "--requests", "--duration",
                             "--grace", "--servers", "--nodes", "stixgate-postgres"]:
        assert text in done.stdout


@pytest.mark.parametrize(
    "args, variables, message",
    [
        (["--no-such-option"], {}, "unrecognized arguments: --no-such-option"),
        (["--objects", "many"], {}, "argument --objects: not a whole number: 'many'"),
        (["--concurrency", "0"], {}, "argument --concurrency: must be at least 1: '0'"),
        (["--duration", "-1"], {}, "argument --duration: must be 0 or more seconds: '-1'"),
        (["--servers", "stixgate", "nginx"], {}, "argument --servers: unknown server 'nginx'"),
        ([], {"BENCH_SERVERS": "stixgate nginx"}, "BENCH_SERVERS: unknown server 'nginx'"),
        ([], {"BENCH_NODES": "1 three"}, "BENCH_NODES: not a whole number: 'three'"),
        ([], {"BENCH_REQUESTS": "-5"}, "BENCH_REQUESTS: must be at least 1: '-5'"),
        ([], {"BENCH_GRACE": "soon"}, "BENCH_GRACE: not a number of seconds: 'soon'"),
    ],
)
def test_a_bad_option_or_variable_is_refused_with_its_name(args, variables, message):
    done = bench(*args, **variables)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    # Refused before the build, which would say so first.
    assert "building" not in done.stdout


def module_of(path):
    """The tracing target of the code in a file under src/, such as stixgate::misp::maintainer."""
    parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return "::".join(["stixgate", *parts])


@pytest.mark.parametrize("message", [message for _, message in DONE_MESSAGES])
def test_the_log_filter_lets_through_the_debug_lines_after_load_times(message):
    # Without them the table shows "-" for the work after the load, silently: this fails instead when the module
    # that logs them moves out from under LOG_FILTER's targets.
    debug = [directive.split("=")[0] for directive in LOG_FILTER.split(",") if directive.endswith("=debug")]
    modules = [module_of(path) for path in (ROOT / "src").rglob("*.rs") if f'"{message}"' in path.read_text()]
    assert modules, f"no module under src/ logs {message!r}"
    for module in modules:
        assert any(module == target or module.startswith(target + "::") for target in debug), (
            f"{module} logs {message!r} but LOG_FILTER in scripts/benchlib/stixgate.py has no debug target for it"
        )
