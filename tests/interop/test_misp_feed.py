"""The MISP feed at /misp/<collection>/, read as MISP reads it: every event file loads with PyMISP's MISPEvent,
and manifest.json and hashes.csv agree with the event files the way MISP's feed code expects."""

import json

import pytest
import requests
from pymisp import MISPEvent

from conftest import ROOT, Stixgate

FIXTURES = ROOT / "fixtures" / "intelmq"
FEED = "/misp/intelmq"

# Per fixture: its feed name, and the (type, value, to_ids) of its attributes and the tags of its event.
EXPECTED = {
    "sinkhole": (
        "Sinkhole HTTP Drone",
        {("ip-src", "198.51.100.23", False), ("ip-dst", "203.0.113.80", False)},
        {"tlp:amber", 'rsit:malicious-code="infected-system"'},
    ),
    "misp-origin": (
        "MISP partner events",
        {
            ("domain", "downloads.example.com", True),
            ("url", "http://downloads.example.com/invoice/INV-2291.js", True),
            ("md5", "0e2d5b8f9a4c7e3b1d6f8a2c4e6b8d0f", True),
            ("sha256", "8f14e45fceea167a5a36dedd4bea2543f6c1e2c7d9a4b1c3e5f7a9b2c4d6e8f0", True),
        },
        {"tlp:green", 'rsit:malicious-code="malware-distribution"'},
    ),
    "n6-blacklist": (
        "n6 blacklist",
        {("ip-src", "192.0.2.77", True), ("domain", "bad.example.net", True), ("AS", "64512", False)},
        {"tlp:white", 'rsit:other="blacklist"'},
    ),
}


@pytest.fixture
def feed(tmp_path):
    """A server on the embedded default configuration, with every bare event fixture posted."""
    server = Stixgate(tmp_path)
    ids = {}
    for name in EXPECTED:
        answer = requests.post(f"{server.url}/envelopes", data=(FIXTURES / f"{name}.event.json").read_bytes())
        assert answer.status_code == 200, answer.text
        ids[name] = answer.json()["records"][0]["id"]
    yield server, ids
    server.stop()


def fetch(server, file, **headers):
    return requests.get(f"{server.url}{FEED}/{file}", headers=headers, timeout=30)


def load_events(server):
    manifest = fetch(server, "manifest.json").json()
    events = {}
    for uuid in manifest:
        answer = fetch(server, f"{uuid}.json")
        assert answer.status_code == 200
        event = MISPEvent()
        event.load(answer.text)
        events[uuid] = event
    return manifest, events


def test_every_event_loads_in_pymisp_with_its_attributes_tags_and_to_ids(feed):
    server, ids = feed
    manifest, events = load_events(server)
    assert len(events) == len(EXPECTED)
    by_feed = {event.info: event for event in events.values()}
    for name, (feed_name, attributes, tags) in EXPECTED.items():
        (event,) = [e for info, e in by_feed.items() if feed_name in info]
        assert {(a.type, a.value, a.to_ids) for a in event.attributes} == attributes, name
        assert {t.name for t in event.tags} == tags, name
        assert all(a.comment == f"envelope {ids[name]}" for a in event.attributes), name
        assert event.published and event.Orgc.name == "stixgate"


def test_manifest_and_hashes_agree_with_the_event_files(feed):
    server, _ = feed
    manifest, events = load_events(server)
    expected_hashes = set()
    for uuid, event in events.items():
        # PyMISP's own manifest of the loaded event is what MISP's feed code compares against.
        assert manifest[uuid] == json.loads(json.dumps(event.manifest[uuid]))
        for attribute in event.attributes:
            expected_hashes |= {f"{h},{uuid}" for h in attribute.hash_values("md5")}
    lines = fetch(server, "hashes.csv").text.splitlines()
    assert set(lines) == expected_hashes


def test_if_none_match_gives_304(feed):
    server, _ = feed
    for file in ["manifest.json", "hashes.csv", next(iter(fetch(server, "manifest.json").json())) + ".json"]:
        first = fetch(server, file)
        etag = first.headers["ETag"]
        again = fetch(server, file, **{"If-None-Match": etag})
        assert again.status_code == 304, file
        assert again.headers["ETag"] == etag
