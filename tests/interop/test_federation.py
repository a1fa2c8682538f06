"""stixgate's TAXII client against a third-party server: medallion 3.0.0 (the OASIS reference server), memory
backend. Carriers pushed to medallion come back as the exact envelopes; medallion's own standard objects come
back as IntelMQ envelopes keyed by their STIX ids."""

import base64
import json
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from taxii2client.v21 import Collection, as_pages

from conftest import BINARY, Stixgate

TAXII = "application/taxii+json;version=2.1"
# Small pages, so that every pull below walks several of medallion's `next` pages.
MEDALLION_PAGE_SIZE = 25


class Medallion:
    """A medallion 3.0.0 process with one API root `api` and one readable, writable collection."""

    def __init__(self, folder):
        folder.mkdir()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.user, self.password = "peer", secrets.token_urlsafe(12)
        self.collection_id = str(uuid.uuid4())
        self.collection_url = f"{self.url}/api/collections/{self.collection_id}/"
        # The formats read by medallion 3.0.0's medallion/__init__.py (configuration) and
        # medallion/backends/memory_backend.py (data), as in scripts/benchlib/medallion.py.
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(folder / "data.json"),
            },
            "users": {self.user: self.password},
            "taxii": {"max_page_size": MEDALLION_PAGE_SIZE},
        }
        data = {
            "/discovery": {"title": "medallion", "default": f"{self.url}/api/", "api_roots": [f"{self.url}/api/"]},
            "api": {
                "information": {
                    "title": "medallion",
                    "versions": [TAXII],
                    "max_content_length": 10485760,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection_id,
                        "title": "exchange",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [],
                        "manifest": [],
                    }
                ],
            },
        }
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "data.json").write_text(json.dumps(data))
        executable = Path(sys.executable).parent / "medallion"
        self.log = open(folder / "medallion.log", "w")
        self.process = subprocess.Popen(
            [executable, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARN", folder / "config.json"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            if self.process.poll() is not None:
                break
            try:
                answer = requests.get(f"{self.url}/taxii2/", auth=(self.user, self.password), headers={"Accept": TAXII}, timeout=5)
                if answer.status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"medallion did not start:\n{(folder / 'medallion.log').read_text()}")

    def credentials(self):
        return ["--user", self.user, f"--password={self.password}"]

    def collection(self):
        return Collection(self.collection_url, user=self.user, password=self.password)

    def stop(self):
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


@pytest.fixture
def medallion(tmp_path):
    server = Medallion(tmp_path / "medallion")
    yield server
    server.stop()


def stixgate(*args, data, input=None):
    """Runs `stixgate ARGS --data DATA` to the end; fails the test on a non-zero exit."""
    done = subprocess.run([BINARY, *args, "--data", str(data)], input=input, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def exported(data):
    return stixgate("export", data=data).stdout.splitlines()


def envelopes(n):
    return [
        json.dumps(
            {
                "meta": {"version": 1, "uuid": {"current": f"cert-at:intelmq:{uuid.UUID(int=i + 1, version=4)}"}, "type": "event", "format": "intelmq"},
                "payload": {
                    "classification.type": "phishing",
                    "source.url": f"http://phish-{i}.example.com/login",
                    "source.fqdn": f"phish-{i}.example.com",
                    "feed.provider": "Example CERT",
                    "time.source": "2026-03-01T10:00:00+00:00",
                    "tlp": "AMBER",
                },
            }
        )
        for i in range(n)
    ]


def test_carriers_pushed_to_medallion_come_back_as_the_exact_envelopes(medallion, tmp_path):
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "intelmq"
    sent = [(fixtures / f"{name}.draft.json").read_text().strip() for name in ("sinkhole", "misp-origin", "n6-blacklist")]
    sent += envelopes(20)
    origin, fresh = tmp_path / "origin", tmp_path / "fresh"
    stixgate("import", "-", data=origin, input="\n".join(sent))

    # medallion 3.0.0 answers 500 to every GET of a collection holding an object with a top-level `version`,
    # such as the extension-definition: it is left out.
    pushed = stixgate("push", medallion.collection_url, *medallion.credentials(), "--skip-type", "extension-definition", data=origin)
    assert "0 failures" in pushed.stderr and "1 skipped" in pushed.stderr, pushed.stderr

    # medallion still serves its collection, and holds every carrier.
    served = [o for page in as_pages(medallion.collection().get_objects, per_request=MEDALLION_PAGE_SIZE) for o in page.get("objects", [])]
    assert not [o for o in served if o["type"] == "extension-definition"]
    assert len([o for o in served if o["type"] == "iep04-envelope"]) == len(sent)

    pulled = stixgate("pull", medallion.collection_url, *medallion.credentials(), data=fresh)
    assert f"{len(sent)} new envelopes, 0 duplicates, 0 failures" in pulled.stderr, pulled.stderr
    assert sorted(exported(fresh)) == sorted(sent)

    # A second pull resumes from its checkpoint: nothing comes twice.
    again = stixgate("pull", medallion.collection_url, *medallion.credentials(), data=fresh)
    assert "0 new envelopes" in again.stderr, again.stderr
    assert sorted(exported(fresh)) == sorted(sent)


def test_medallions_standard_objects_become_envelopes_keyed_by_their_stix_ids(medallion, tmp_path):
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--c0fcd3b1-8f6e-4d3c-9a44-0f1e2d3c4b5a",
        "created": "2026-02-01T08:00:00.000Z",
        "modified": "2026-02-01T08:00:00.000Z",
        "name": "C2 domain",
        "description": "command and control",
        "pattern": "[domain-name:value = 'c2.example.net']",
        "pattern_type": "stix",
        "valid_from": "2026-02-01T08:00:00Z",
    }
    address = {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.23"}
    observed = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": "observed-data--6a8d2c4e-0b1f-4e3a-8c5d-7e9f1a2b3c4d",
        "created": "2026-02-02T09:00:00.000Z",
        "modified": "2026-02-02T09:00:00.000Z",
        "first_observed": "2026-02-02T09:00:00Z",
        "last_observed": "2026-02-02T09:00:00Z",
        "number_observed": 1,
        "object_refs": [address["id"]],
    }
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        "created": "2026-02-01T08:00:00.000Z",
        "modified": "2026-02-01T08:00:00.000Z",
        "name": "ExampleBot",
        "is_family": True,
    }
    status = medallion.collection().add_objects({"objects": [indicator, address, observed, malware]})
    assert status.success_count == 4

    # Where conftest's Stixgate serves from.
    local = tmp_path / "data"
    pulled = stixgate("pull", medallion.collection_url, *medallion.credentials(), data=local)
    assert "4 objects (4 new), 2 new envelopes" in pulled.stderr, pulled.stderr
    by_id = {envelope["meta"]["uuid"]["current"]: envelope for envelope in map(json.loads, exported(local))}
    assert set(by_id) == {indicator["id"], observed["id"]}

    from_indicator = by_id[indicator["id"]]
    assert from_indicator["meta"]["format"] == "intelmq"
    assert from_indicator["payload"]["source.fqdn"] == "c2.example.net"
    assert from_indicator["payload"]["event_description.text"] == "command and control"
    # `raw` is the object exactly as medallion served it.
    served = json.loads(base64.b64decode(from_indicator["payload"]["raw"]))
    assert served == indicator
    assert by_id[observed["id"]]["payload"]["source.ip"] == "198.51.100.23"

    # Every object is also served again by stixgate, as medallion gave it.
    server = Stixgate(tmp_path)
    try:
        objects = requests.get(f"{server.url}/api/collections/intelmq/objects/", headers={"Accept": TAXII}).json()["objects"]
        assert objects[0] == indicator
        assert {o["id"] for o in objects} == {indicator["id"], address["id"], observed["id"], malware["id"]}
    finally:
        server.stop()
