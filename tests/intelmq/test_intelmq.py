"""The real IntelMQ 3.5.0 against a running stixgate: what its restapi output sends is accepted, and what
the feed gives its collectors is accepted by MessageFactory and Event, with no InvalidKey or InvalidValue."""

import ipaddress
import json
import os
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

import intelmq
import intelmq.lib.exceptions
import pytest
import requests
from intelmq.bots.parsers.json.parser import JSONParserBot
from intelmq.lib import test as intelmq_test
from intelmq.lib import utils as intelmq_utils
from intelmq.lib.message import Event, MessageFactory

from conftest import BINARY, ROOT, Stixgate

HARMONIZATION = json.loads((Path(intelmq.__file__).parent / "etc" / "harmonization.conf").read_text())
FIXTURES = sorted((ROOT / "fixtures" / "intelmq").glob("*.event.json"))
ID_KEY = "extra.stixgate_id"


@pytest.fixture
def stixgate(tmp_path):
    server = Stixgate(tmp_path)
    yield server
    server.stop()


def event_of(path):
    """A fixture as IntelMQ's own Event, through the same MessageFactory a bot uses."""
    return MessageFactory.unserialize(path.read_text(), harmonization=HARMONIZATION)


def restapi_post(stixgate, body, **kwargs):
    """What intelmq.bots.outputs.restapi sends: always this Content-Type, even for form data."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    return requests.post(f"{stixgate.url}/intelmq/events", headers=headers, timeout=30, **kwargs, **body)


def feed(stixgate, **params):
    response = requests.get(f"{stixgate.url}/intelmq/feed", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response


def events_of(response):
    """Each line as the JSON parser bot reads it (splitlines: true, default_type Event)."""
    return [
        MessageFactory.unserialize(line, harmonization=HARMONIZATION, default_type="Event")
        for line in response.text.splitlines()
    ]


def without_id(event):
    return {k: v for k, v in event.items() if k != ID_KEY}


@pytest.mark.parametrize("hierarchical", [False, True], ids=["flat", "hierarchical"])
def test_restapi_output_events_come_back_equal_through_the_feed(stixgate, hierarchical):
    sent = [event_of(path) for path in FIXTURES]
    for event in sent:
        response = restapi_post(stixgate, {"json": event.to_dict(hierarchical=hierarchical)})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "stored"
    received = events_of(feed(stixgate, with_type="true", id_key=ID_KEY))
    assert [type(e).__name__ for e in received] == ["Event"] * len(sent)
    assert [without_id(e) for e in received] == [dict(e) for e in sent]
    assert all(e[ID_KEY] for e in received)


def test_form_data_labelled_json_is_accepted(stixgate):
    event = Event(harmonization=HARMONIZATION)
    event.add("source.ip", "198.51.100.9")
    event.add("source.port", 4444)
    event.add("classification.type", "scanner")
    event.add("feed.name", "form feed")
    event.add("time.observation", "2024-01-02T03:04:05+00:00")
    response = restapi_post(stixgate, {"data": event.to_dict()})
    assert response.status_code == 200, response.text
    (received,) = events_of(feed(stixgate))
    # Form fields are text; IntelMQ sanitises "4444" back to 4444 when it reads the line.
    assert dict(received) == dict(event)


def test_a_retried_post_stores_one_envelope(stixgate):
    body = {"json": event_of(FIXTURES[0]).to_dict()}
    first, second = restapi_post(stixgate, body), restapi_post(stixgate, body)
    assert first.status_code == second.status_code == 200
    assert (first.json()["status"], second.json()["status"]) == ("stored", "duplicate")
    assert first.json()["id"] == second.json()["id"]
    assert len(feed(stixgate).text.splitlines()) == 1


def test_bad_events_get_400_so_the_bot_dumps_them(stixgate):
    for body in [{"data": b"{not json"}, {"json": {"Source.IP": "192.0.2.1"}}, {"json": {"raw": "%%%"}}]:
        response = restapi_post(stixgate, body)
        assert response.status_code == 400, response.text
        assert response.json()["description"]
    assert feed(stixgate).text == ""


def test_keys_intelmq_would_refuse_are_moved_under_extra(stixgate):
    envelope = {
        "meta": {"uuid": "cert-x:1", "format": "intelmq", "type": "event"},
        "payload": {"source.ip": "192.0.2.5", "notify": True, "rtir_incident_id": 7, "time.observation": "2024-01-01T00:00:00+00:00"},
    }
    assert requests.post(f"{stixgate.url}/envelopes", data=json.dumps(envelope), timeout=30).status_code == 200
    response = feed(stixgate)
    (received,) = events_of(response)
    assert received["extra.notify"] is True and received["extra.rtir_incident_id"] == 7
    assert response.headers["X-Stixgate-Keys-Moved"] == "2"


def test_cursors_give_only_what_is_new(stixgate):
    first, second = (event_of(path).to_dict() for path in FIXTURES[:2])
    restapi_post(stixgate, {"json": first})
    page = feed(stixgate)
    assert len(page.text.splitlines()) == 1
    assert feed(stixgate, cursor=page.headers["X-Stixgate-Cursor"]).text == ""
    assert len(feed(stixgate, consumer="collector-1").text.splitlines()) == 1
    assert feed(stixgate, consumer="collector-1").text == ""
    restapi_post(stixgate, {"json": second})
    assert len(feed(stixgate, consumer="collector-1").text.splitlines()) == 1
    assert len(feed(stixgate, cursor=page.headers["X-Stixgate-Cursor"]).text.splitlines()) == 1
    bad = requests.get(f"{stixgate.url}/intelmq/feed", params={"cursor": "forged"}, timeout=30)
    assert bad.status_code == 400


def test_intelmq_to_a_then_taxii_to_b_then_intelmq_gives_equal_events(tmp_path):
    """IntelMQ's restapi output -> stixgate A -> TAXII pull by B (running: the job is handed to it) -> B's
    feed -> IntelMQ's MessageFactory: every event comes back equal."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Stixgate(tmp_path / "a"), Stixgate(tmp_path / "b")
    try:
        sent = [event_of(path) for path in FIXTURES]
        for event in sent:
            assert restapi_post(a, {"json": event.to_dict(hierarchical=True)}).status_code == 200
        pulled = subprocess.run(
            [BINARY, "pull", f"{a.url}/taxii2/", "--data", str(tmp_path / "b" / "data")],
            capture_output=True, text=True, timeout=120,
        )
        assert pulled.returncode == 0, pulled.stderr
        received = events_of(feed(b, id_key=ID_KEY))
        assert sorted(json.dumps(without_id(e), sort_keys=True) for e in received) == sorted(
            json.dumps(dict(e), sort_keys=True) for e in sent
        )
        a_ids = {e[ID_KEY] for e in events_of(feed(a, id_key=ID_KEY))}
        assert {e[ID_KEY] for e in received} == a_ids, "B keys the envelopes by A's ids"
    finally:
        a.stop()
        b.stop()


def test_file_output_lines_import_and_come_back_equal(tmp_path):
    """IntelMQ's file output writes `to_json()` lines (sorted keys, UTF-8, no __type): `stixgate import` takes
    the file, and the feed gives the same events back."""
    sent = [event_of(path) for path in FIXTURES]
    lines = tmp_path / "events.txt"
    lines.write_text("".join(event.to_json() + "\n" for event in sent), encoding="utf-8")
    imported = subprocess.run(
        [BINARY, "import", str(lines), "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert f"{len(sent)} stored, 0 duplicates, 0 errors" in imported.stderr
    server = Stixgate(tmp_path)  # serves tmp_path / "data", where the events were imported
    try:
        assert [dict(e) for e in events_of(feed(server))] == [dict(e) for e in sent]
    finally:
        server.stop()


# ---- values as IntelMQ holds them ------------------------------------------------------------------------------

TAXII = "application/taxii+json;version=2.1"
NETWORK_FIELDS = [
    "source.ip", "destination.ip", "source.network", "destination.network",
    "source.port", "destination.port", "protocol.transport",
]


def post_envelope(stixgate, payload, uuid):
    envelope = {"meta": {"uuid": uuid, "format": "intelmq", "type": "event"}, "payload": payload}
    response = requests.post(f"{stixgate.url}/envelopes", data=json.dumps(envelope), timeout=30)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["records"]] == ["stored"], response.text


def taxii_add(stixgate, objects):
    response = requests.post(
        f"{stixgate.url}/api/collections/intelmq/objects/",
        data=json.dumps({"objects": objects}),
        headers={"Content-Type": TAXII, "Accept": TAXII},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["failure_count"] == 0, response.text
    # The envelopes of foreign indicators and observed-data are made after the answer, by the envelope maker.
    deadline = time.monotonic() + 30
    for made in (o["id"] for o in objects if o["type"] in ("indicator", "observed-data")):
        while requests.get(f"{stixgate.url}/envelopes/{made}", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, f"the envelope of {made} did not appear"
            time.sleep(0.05)


def test_intelmq_keeps_a_valid_ipv6_address_as_written():
    """The premise: reading a line (MessageFactory.unserialize, then Event.update in the JSON parser), IntelMQ
    3.5.0 tries each value unsanitised first, and IPAddress.is_valid takes upper case, so it holds
    2001:DB8::BB2B:F258 as written. Only a value it must sanitise is rewritten (Python's form, lower case),
    as is any value given to Message.add with its default sanitize=True, which parsers use for feed data."""
    line = json.dumps({"source.ip": "2001:DB8::BB2B:F258", "destination.ip": "2001:DB8::1/128"})
    held = MessageFactory.unserialize(line, harmonization=HARMONIZATION, default_type="Event")
    assert held["source.ip"] == "2001:DB8::BB2B:F258"
    assert held["destination.ip"] == "2001:db8::1"
    updated = Event(harmonization=HARMONIZATION)
    updated.update(held)
    assert dict(updated) == dict(held)
    added = Event(harmonization=HARMONIZATION)
    added.add("source.ip", "2001:DB8::BB2B:F258")
    assert added["source.ip"] == "2001:db8::bb2b:f258"


class TestJsonParserReadsTheFeed(intelmq_test.BotTestCase, unittest.TestCase):
    """IntelMQ's own JSON parser bot (splitlines, as the book's http collector setup has it), run by
    IntelMQ's BotTestCase harness on a report whose raw is a feed page: the events it sends hold the addresses
    exactly as the feed wrote them, which is as IntelMQ holds the envelopes' values."""

    @classmethod
    def setUpClass(cls):
        # The harness refuses root unless it can switch to an `intelmq` user, which a test machine or CI
        # container need not have; the bot under test does not care who runs it.
        with mock.patch.object(intelmq_test.utils, "drop_privileges", return_value=True):
            super().setUpClass()

    @classmethod
    def set_bot(cls):
        cls.bot_reference = JSONParserBot

    def test_addresses_arrive_as_written(self):
        with tempfile.TemporaryDirectory() as directory:
            server = Stixgate(Path(directory))
            try:
                for n, written in enumerate(["2001:DB8::BB2B:F258", "2001:DB8::1/128", "192.0.2.9"]):
                    post_envelope(server, {"source.ip": written, "classification.type": "scanner"}, f"cert-x:{n}")
                page = feed(server).text
            finally:
                server.stop()
        report = {"__type": "Report", "feed.name": "stixgate", "raw": intelmq_utils.base64_encode(page)}
        self.input_message = [report]
        self.run_bot(parameters={"splitlines": True})
        sent = [json.loads(message) for message in self.get_output_queue()]
        assert [event["source.ip"] for event in sent] == [json.loads(line)["source.ip"] for line in page.splitlines()]
        assert [event["source.ip"] for event in sent] == ["2001:DB8::BB2B:F258", "2001:db8::1", "192.0.2.9"]


@pytest.mark.parametrize(
    "field, written",
    [
        ("source.ip", "2001:DB8::BB2B:F258"),
        ("source.ip", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
        ("source.ip", "2001:DB8::1/128"),
        ("source.ip", " 2001:db8::2 "),
        ("source.ip", "::"),
        ("source.network", "2001:DB8::/32"),
        ("source.network", "2001:DB8::7/32"),
        ("source.network", "192.0.2.7/24"),
        ("source.network", "192.0.2.7"),
    ],
)
def test_the_feed_delivers_an_address_as_intelmq_holds_it(stixgate, field, written):
    """Each line carries the value exactly as IntelMQ 3.5.0's Event holds the value the envelope has: kept
    as written when valid, sanitised as IntelMQ sanitises otherwise."""
    held = MessageFactory.unserialize(json.dumps({field: written}), harmonization=HARMONIZATION, default_type="Event")
    post_envelope(stixgate, {field: written, "classification.type": "scanner"}, "cert-x:address")
    (line,) = feed(stixgate).text.splitlines()
    assert json.loads(line)[field] == held[field]
    (received,) = events_of(feed(stixgate))
    assert received[field] == held[field]


@pytest.mark.parametrize("pattern, network", [
    ("[ipv4-addr:value = '192.0.2.0/24']", "192.0.2.0/24"),
    ("[ipv6-addr:value = '2001:db8::/32']", "2001:db8::/32"),
    ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", "198.51.100.0/24"),
])
def test_a_cidr_indicator_reaches_intelmq_as_source_network(stixgate, pattern, network):
    """A foreign indicator on a network becomes an event IntelMQ accepts: the CIDR in source.network, which
    its IPNetwork type takes, never in source.ip, which its IPAddress type refuses."""
    with pytest.raises(intelmq.lib.exceptions.InvalidValue):
        Event(harmonization=HARMONIZATION).add("source.ip", network)
    indicator = {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--5c1f0f6e-8a7b-4c2d-9e3f-1a2b3c4d5e6f",
        "created": "2024-09-04T00:00:00.000Z", "modified": "2024-09-04T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-09-04T00:00:00Z",
    }
    taxii_add(stixgate, [indicator])
    (event,) = events_of(feed(stixgate))
    assert event["source.network"] == network
    assert "source.ip" not in event


def republished(name):
    """The fixture's standard objects as a tool that re-publishes them would: without our back-link (so
    stixgate reads them as foreign objects) and without the carrier."""
    done = subprocess.run([BINARY, "map", str(ROOT / "fixtures" / "intelmq" / f"{name}.draft.json")],
                          capture_output=True, timeout=60, check=True)
    objects = [o for o in json.loads(done.stdout)["objects"] if o["type"] != "iep04-envelope"]
    for obj in objects:
        obj.pop("extensions", None)
    return objects


@pytest.mark.parametrize("name", ["sinkhole", "honeypot-brute-force", "scan-open-service", "transport-no-port", "drop-network"])
def test_republished_network_objects_reach_intelmq_with_the_same_values(stixgate, name):
    """IntelMQ event -> STIX -> (re-published) -> stixgate -> feed -> IntelMQ Event: the addresses, networks,
    ports and transport come back on their sides, and IntelMQ accepts every line. Addresses compare as
    addresses: STIX writes them canonically (lower case), IntelMQ keeps what the feed wrote."""
    original = event_of(ROOT / "fixtures" / "intelmq" / f"{name}.event.json")
    expected = {k: v for k, v in original.items() if k in NETWORK_FIELDS}
    taxii_add(stixgate, republished(name))
    found = {}
    for event in events_of(feed(stixgate)):
        found.update({k: v for k, v in event.items() if k in NETWORK_FIELDS})
    assert found.keys() == expected.keys()
    for field, value in found.items():
        if field.endswith(".ip"):
            assert ipaddress.ip_address(value) == ipaddress.ip_address(expected[field]), field
        else:
            assert value == expected[field], field
