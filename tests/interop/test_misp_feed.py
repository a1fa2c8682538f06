"""The MISP feeds at /misp/<feed>/, read as MISP reads them: every event file loads with PyMISP's MISPEvent,
manifest.json and hashes.csv agree with the event files the way MISP's feed code expects, and a file changes,
with its timestamp, only when its content does."""

import json

import pytest
import requests
from pymisp import MISPEvent

from conftest import ROOT, Stixgate

FIXTURES = ROOT / "fixtures" / "intelmq"
FEED = "/misp/intelmq"

# Per fixture: its feed name, the (type, value, to_ids) of its loose attributes, its objects as
# (name, {(relation, type, value, to_ids)}), and the tags of its event.
EXPECTED = {
    "sinkhole": (
        "Sinkhole HTTP Drone",
        set(),
        {
            ("ip-port", frozenset({("ip-src", "ip-src", "198.51.100.23", False), ("src-port", "port", "61022", False)})),
            ("ip-port", frozenset({("ip-dst", "ip-dst", "203.0.113.80", False), ("dst-port", "port", "9796", False)})),
        },
        {"tlp:amber", 'rsit:malicious-code="infected-system"'},
    ),
    "misp-origin": (
        "MISP partner events",
        {
            ("hostname", "downloads.example.com", True),
            ("url", "http://downloads.example.com/invoice/INV-2291.js", True),
            ("md5", "0e2d5b8f9a4c7e3b1d6f8a2c4e6b8d0f", True),
            ("sha256", "8f14e45fceea167a5a36dedd4bea2543f6c1e2c7d9a4b1c3e5f7a9b2c4d6e8f0", True),
        },
        set(),
        {"tlp:green", 'rsit:malicious-code="malware-distribution"'},
    ),
    "n6-blacklist": (
        "n6 blacklist",
        {("ip-src", "192.0.2.77", True), ("hostname", "bad.example.net", True), ("AS", "64512", False)},
        set(),
        # RSIT has the taxonomy "other" but not the type "blacklist".
        {"tlp:white", "rsit:other", 'intelmq:type="blacklist"'},
    ),
}


def post(server, payload):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    answer = requests.post(f"{server.url}/envelopes", data=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["records"][0]["id"]


def post_fixtures(server):
    return {name: post(server, (FIXTURES / f"{name}.event.json").read_bytes()) for name in EXPECTED}


@pytest.fixture
def feed(tmp_path):
    """A server on the embedded default configuration, with every bare event fixture posted."""
    server = Stixgate(tmp_path)
    yield server, post_fixtures(server)
    server.stop()


def fetch(server, file, feed=FEED, **headers):
    return requests.get(f"{server.url}{feed}/{file}", headers=headers, timeout=30)


def load_events(server, feed=FEED):
    manifest = fetch(server, "manifest.json", feed).json()
    events = {}
    for uuid in manifest:
        answer = fetch(server, f"{uuid}.json", feed)
        assert answer.status_code == 200
        event = MISPEvent()
        event.load(answer.text)
        events[uuid] = event
    return manifest, events


def test_every_event_loads_in_pymisp_with_its_attributes_objects_tags_and_to_ids(feed):
    server, ids = feed
    manifest, events = load_events(server)
    assert len(events) == len(EXPECTED)
    for name, (feed_name, attributes, objects, tags) in EXPECTED.items():
        (event,) = [e for e in events.values() if feed_name in e.info]
        assert {(a.type, a.value, a.to_ids) for a in event.attributes} == attributes, name
        found_objects = {
            (o.name, frozenset((a.object_relation, a.type, a.value, a.to_ids) for a in o.attributes))
            for o in event.objects
        }
        assert found_objects == objects, name
        assert {t.name for t in event.tags} == tags, name
        everything = event.attributes + [a for o in event.objects for a in o.attributes]
        assert all(a.comment == f"envelope {ids[name]}" for a in everything), name
        assert event.published and event.Orgc.name == "stixgate"


def test_manifest_and_hashes_agree_with_the_event_files(feed):
    server, _ = feed
    manifest, events = load_events(server)
    expected_hashes = set()
    for uuid, event in events.items():
        # PyMISP's own manifest and hashes of the loaded event are what MISP's feed code compares against.
        assert manifest[uuid] == json.loads(json.dumps(event.manifest[uuid]))
        expected_hashes |= {f"{h},{uuid}" for h in event.attributes_hashes("md5")}
    lines = fetch(server, "hashes.csv").text.splitlines()
    assert len(lines) == len(set(lines))
    assert set(lines) == expected_hashes


def test_if_none_match_and_if_modified_since_give_304(feed):
    server, _ = feed
    event_file = next(iter(fetch(server, "manifest.json").json())) + ".json"
    for file in ["manifest.json", "hashes.csv", event_file]:
        first = fetch(server, file)
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        again = fetch(server, file, **{"If-None-Match": etag})
        assert again.status_code == 304, file
        assert again.headers["ETag"] == etag
        assert fetch(server, file, **{"If-Modified-Since": modified}).status_code == 304, file
        assert fetch(server, file, **{"If-None-Match": '"other"'}).status_code == 200, file


def test_an_envelope_joining_an_event_moves_only_that_events_timestamp(feed):
    server, _ = feed
    before = fetch(server, "manifest.json").json()
    etags = {uuid: fetch(server, f"{uuid}.json").headers["ETag"] for uuid in before}
    joining = json.loads((FIXTURES / "n6-blacklist.event.json").read_text())
    joining["source.ip"] = "192.0.2.78"
    joining["source.fqdn"] = "worse.example.net"
    post(server, joining)
    after = fetch(server, "manifest.json").json()
    assert after.keys() == before.keys(), "the same feed on the same day: the same event"
    (n6,) = [uuid for uuid, entry in before.items() if "n6 blacklist" in entry["info"]]
    assert after[n6]["timestamp"] > before[n6]["timestamp"]
    for uuid in before:
        answer = fetch(server, f"{uuid}.json", **{"If-None-Match": etags[uuid]})
        if uuid == n6:
            assert answer.status_code == 200
            event = MISPEvent()
            event.load(answer.text)
            assert "192.0.2.78" in {a.value for a in event.attributes}
            assert event.timestamp.timestamp() == after[n6]["timestamp"]
        else:
            assert after[uuid]["timestamp"] == before[uuid]["timestamp"], uuid
            assert answer.status_code == 304, uuid


def test_a_configured_feed_keeps_to_its_tlp_ceiling_and_grouping(tmp_path):
    server = Stixgate(
        tmp_path,
        config="""
[[misp.feeds]]
name = "shareable"
collection = "intelmq"
tlp_ceiling = "green"
group_by = "day"
""",
    )
    try:
        post_fixtures(server)
        # Envelopes from another day and feed: not shareable, so in no event of this feed.
        amber = json.loads((FIXTURES / "n6-blacklist.event.json").read_text())
        amber["tlp"] = "AMBER"
        amber["source.ip"] = "192.0.2.99"
        post(server, amber)
        _, events = load_events(server, "/misp/shareable")
        values = {a.value for e in events.values() for a in e.attributes}
        assert "192.0.2.99" not in values and "198.51.100.23" not in values
        assert {"192.0.2.77", "downloads.example.com"} <= values
        assert sorted(e.info for e in events.values()) == [
            "IntelMQ events of 2024-06-01 (UTC)",
            "IntelMQ events of 2024-07-12 (UTC)",
        ]
        # The collection's own feed has everything.
        assert len(fetch(server, "manifest.json").json()) == 3
    finally:
        server.stop()
