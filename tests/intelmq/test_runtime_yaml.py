"""Every `yaml` block of the book's "Connecting IntelMQ" page is a whole runtime.yaml that IntelMQ 3.5's own
configuration check (`intelmqctl check`) accepts, with its pipeline wired from a collector to an output. The
blocks are read from the page itself, so that the book and this test cannot drift apart."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import intelmq
import pytest
from ruamel.yaml import YAML

from conftest import ROOT

PAGE = ROOT / "docs" / "src" / "guide" / "intelmq.md"
BLOCKS = re.findall(r"^```yaml\n(.*?)^```$", PAGE.read_text(), flags=re.MULTILINE | re.DOTALL)

# IntelMQ's command line drops root privileges to an `intelmq` user, which a test machine or CI container need
# not have; the check itself does not care who runs it.
CHECK = """
import sys
from unittest import mock
from intelmq.bin import intelmqctl
with mock.patch.object(intelmqctl.utils, "drop_privileges", return_value=True):
    sys.argv = ["intelmqctl", *sys.argv[1:]]
    sys.exit(intelmqctl.main())
"""


def intelmqctl(root, *args):
    """intelmqctl of this environment's IntelMQ, on the installation at `root`."""
    env = dict(os.environ, INTELMQ_ROOT_DIR=str(root))
    # The check looks for each bot's executable on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-c", CHECK, *args], env=env, capture_output=True, text=True, timeout=300
    )


def installation(tmp_path, runtime_yaml):
    """An IntelMQ installation in `tmp_path` (the `/opt/intelmq` layout, its paths moved there) with this
    runtime.yaml and IntelMQ's own harmonization.conf."""
    root = tmp_path / "intelmq"
    for directory in ["etc", "var/log", "var/run", "var/lib/bots"]:
        (root / directory).mkdir(parents=True)
    shutil.copy(Path(intelmq.__file__).parent / "etc" / "harmonization.conf", root / "etc")
    (root / "etc" / "runtime.yaml").write_text(runtime_yaml.replace("/opt/intelmq/", f"{root}/"))
    return root


def check(tmp_path, runtime_yaml):
    """What `intelmqctl check` says of `runtime_yaml`, once the installation's upgrades are recorded."""
    root = installation(tmp_path, runtime_yaml)
    upgraded = intelmqctl(root, "upgrade-config")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    return intelmqctl(root, "check", "--no-connections")


def wiring_problems(runtime):
    """What is not wired in a runtime configuration: a destination queue that no bot reads, a bot that no
    bot sends to, or a collector whose events reach no output."""
    problems = []
    bots = {bot_id: bot for bot_id, bot in runtime.items() if bot_id != "global"}
    queue_of = {f"{bot_id}-queue": bot_id for bot_id, bot in bots.items() if bot["group"] != "Collector"}
    sends_to = {}
    for bot_id, bot in bots.items():
        destinations = bot.get("parameters", {}).get("destination_queues", {})
        queues = [q for path in destinations.values() for q in path] if isinstance(destinations, dict) else destinations
        sends_to[bot_id] = []
        for queue in queues:
            if queue not in queue_of:
                problems.append(f"{bot_id} sends to {queue}, which no bot reads")
            else:
                sends_to[bot_id].append(queue_of[queue])
    fed = {target for targets in sends_to.values() for target in targets}
    problems += [f"no bot sends to {bot_id}" for bot_id, bot in bots.items() if bot["group"] != "Collector" and bot_id not in fed]
    for bot_id, bot in bots.items():
        if bot["group"] != "Collector":
            continue
        reached, seen = [bot_id], set()
        while reached:
            current = reached.pop()
            seen.add(current)
            reached += [t for t in sends_to.get(current, []) if t not in seen]
        if not any(bots[b]["group"] == "Output" for b in seen):
            problems.append(f"the events of {bot_id} reach no output")
    return problems


def parsed(runtime_yaml):
    return YAML(typ="safe").load(runtime_yaml)


def test_the_page_has_its_pipelines():
    # Both directions: into stixgate (restapi, tcp) and out of it (feed, stream, push).
    assert len(BLOCKS) == 5, BLOCKS
    modules = {bot["module"] for block in BLOCKS for bot in parsed(block).values()}
    for module in ["outputs.restapi.output", "outputs.tcp.output", "collectors.http.collector_http",
                   "collectors.http.collector_http_stream", "collectors.api.collector_api", "parsers.json.parser"]:
        assert f"intelmq.bots.{module}" in modules


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{n}" for n in range(1, len(BLOCKS) + 1)])
def test_each_block_passes_intelmqs_check_and_is_wired(tmp_path, block):
    assert wiring_problems(parsed(block)) == []
    result = check(tmp_path, block)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Checking runtime and pipeline configuration." in output, output
    assert "ERROR" not in output and "WARNING" not in output, output


def test_a_broken_pipeline_fails(tmp_path):
    """The checks can fail: without the collector's destination queue, IntelMQ's check refuses the block;
    with a queue that names no bot, the wiring check does."""
    block = BLOCKS[0]
    unwired = re.sub(r"    destination_queues:\n      _default: \[json-parser-queue\]\n", "", block)
    assert unwired != block
    result = check(tmp_path / "unwired", unwired)
    assert result.returncode != 0
    assert "No (default) destination queue for 'file-collector'" in result.stdout + result.stderr
    misnamed = block.replace("[stixgate-output-queue]", "[stixgate-queue]")
    assert misnamed != block
    assert wiring_problems(parsed(misnamed)) == [
        "json-parser sends to stixgate-queue, which no bot reads",
        "no bot sends to stixgate-output",
        "the events of file-collector reach no output",
    ]
