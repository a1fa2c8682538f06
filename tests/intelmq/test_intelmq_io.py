"""The real IntelMQ 3.5.0 against stixgate's non-HTTP-request paths: its tcp output bot sends to the
[intelmq.tcp] listener, and what GET /intelmq/stream and [[intelmq.push]] deliver is accepted by
MessageFactory with no InvalidKey or InvalidValue."""

import json
import re
import socket
import tempfile
import threading
import time
import unittest
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import intelmq
import pytest
import requests
from intelmq.bots.outputs.tcp.output import TCPOutputBot
from intelmq.lib import test as intelmq_test
from intelmq.lib import utils as intelmq_utils
from intelmq.lib.message import MessageFactory

from conftest import ROOT, Stixgate

HARMONIZATION = json.loads((Path(intelmq.__file__).parent / "etc" / "harmonization.conf").read_text())
FIXTURES = sorted((ROOT / "fixtures" / "intelmq").glob("*.event.json"))
PATIENCE = 15


def event_of(path):
    return MessageFactory.unserialize(path.read_text(), harmonization=HARMONIZATION)


def unserialize(line):
    """As the JSON parser bot reads each line (splitlines: true)."""
    return MessageFactory.unserialize(line, harmonization=HARMONIZATION, default_type="Event")


def tcp_address(server):
    """Where the [intelmq.tcp] listener said it listens."""
    for _ in range(100):
        for line in server.log:
            match = re.search(r"IntelMQ tcp intake listening address=(\S+)", line)
            if match:
                host, port = match.group(1).rsplit(":", 1)
                return host, int(port)
        time.sleep(0.1)
    raise AssertionError("the tcp listener did not start:\n" + "".join(server.log))


def tcp_server(tmp_path):
    return Stixgate(tmp_path, '[intelmq.tcp]\nlisten = "127.0.0.1:0"\n')


def feed_events(server):
    response = requests.get(f"{server.url}/intelmq/feed", timeout=30)
    assert response.status_code == 200, response.text
    return [unserialize(line) for line in response.text.splitlines()]


class TestTcpOutputBot(intelmq_test.BotTestCase, unittest.TestCase):
    """The real TCPOutputBot, run by IntelMQ's own BotTestCase (the harness of its bot tests: a mocked
    pipeline and configuration, no IntelMQ runtime), sending to the listener of a real stixgate."""

    @classmethod
    def setUpClass(cls):
        # The harness refuses root unless it can switch to an `intelmq` user, which a test machine or CI
        # container need not have; the bot under test does not care who runs it.
        with mock.patch.object(intelmq_test.utils, "drop_privileges", return_value=True):
            super().setUpClass()

    @classmethod
    def set_bot(cls):
        cls.bot_reference = TCPOutputBot

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.server = tcp_server(Path(self.directory.name))
        host, port = tcp_address(self.server)
        self.sysconfig = {"ip": host, "port": port}

    def tearDown(self):
        self.server.stop()
        self.directory.cleanup()
        super().tearDown()

    def run_events(self, events, **parameters):
        self.input_message = [event.to_json(with_type=True) for event in events]
        self.run_bot(iterations=len(events), parameters=parameters)

    def test_framed_events_are_acknowledged_and_stored(self):
        sent = [event_of(path) for path in FIXTURES]
        # The bot acknowledges its input only after stixgate's `Ok`: no warnings ("not delivered") allowed.
        self.run_events(sent)
        self.run_events(sent[:1], hierarchical_output=True)
        # The hierarchical resend has the same content: a duplicate, not a fourth event.
        assert [dict(e) for e in feed_events(self.server)] == [dict(e) for e in sent]

    def test_separated_events_are_stored(self):
        sent = [event_of(path) for path in FIXTURES]
        self.run_events(sent, counterpart_is_intelmq=False, separator="\n")
        deadline = time.monotonic() + PATIENCE
        while len(feed_events(self.server)) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [dict(e) for e in feed_events(self.server)] == [dict(e) for e in sent]


def test_frames_as_the_tcp_output_builds_them_resent_are_duplicates(tmp_path):
    """output.py's framing (struct.pack('>I', len(d)) + d, d = utils.encode(event.to_json(...))) and its
    wait for exactly b"Ok", replicated to see the resend that the bot makes after a lost answer."""
    server = tcp_server(tmp_path)
    try:
        data = intelmq_utils.encode(event_of(FIXTURES[0]).to_json(hierarchical=False))
        frame = len(data).to_bytes(4, "big") + data
        with socket.create_connection(tcp_address(server), timeout=PATIENCE) as connection:
            for _ in range(2):
                connection.sendall(frame)
                assert connection.recv(2) == b"Ok"
            bad = b"{not json"
            connection.sendall(len(bad).to_bytes(4, "big") + bad)
            assert connection.recv(2) != b"Ok"
        assert len(feed_events(server)) == 1
    finally:
        server.stop()


@pytest.fixture
def stixgate(tmp_path):
    server = Stixgate(tmp_path)
    yield server
    server.stop()


def test_every_stream_line_is_an_intelmq_event(stixgate):
    sent = [event_of(path) for path in FIXTURES]
    post = lambda event: requests.post(f"{stixgate.url}/intelmq/events", json=event.to_dict(), timeout=30)
    assert post(sent[0]).status_code == 200
    received = []
    with requests.get(f"{stixgate.url}/intelmq/stream", params={"id_key": "extra.stixgate_id"}, stream=True, timeout=PATIENCE) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        for event in sent[1:]:
            assert post(event).status_code == 200
        # Read as the http_stream collector reads: one report per line, empty lines skipped.
        for line in lines:
            if line.strip():
                received.append(unserialize(line.decode()))
            if len(received) == len(sent):
                break
    assert [{k: v for k, v in e.items() if k != "extra.stixgate_id"} for e in received] == [dict(e) for e in sent]


class ApiCollector(BaseHTTPRequestHandler):
    """IntelMQ's api collector: POST /intelmq/push, any body, always 200 and empty."""

    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/intelmq/push":
            self.bodies.append(body.decode())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_every_pushed_line_is_an_intelmq_event(tmp_path):
    collector = ThreadingHTTPServer(("127.0.0.1", 0), ApiCollector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{collector.server_address[1]}/intelmq/push"
    server = Stixgate(tmp_path, f'[[intelmq.push]]\nurl = "{url}"\ninterval = 1\n')
    try:
        sent = [event_of(path) for path in FIXTURES]
        for event in sent:
            response = requests.post(f"{server.url}/intelmq/events", json=event.to_dict(), timeout=30)
            assert response.status_code == 200, response.text
        deadline = time.monotonic() + PATIENCE
        lines = []
        while len(lines) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
            lines = [line for body in ApiCollector.bodies for line in body.splitlines()]
        assert [dict(unserialize(line)) for line in lines] == [dict(e) for e in sent]
    finally:
        server.stop()
        collector.shutdown()
