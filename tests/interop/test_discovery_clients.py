"""Real TAXII clients follow discovery to the API root: taxii2-client 2.3.0 and cytaxii2 1.0.1, which requests
`default` as it is (a relative URL once failed it with "No scheme supplied"). On the embedded default, which
has no users, both send credentials all the same, as MISP's push and OpenCTI's connector do: they are ignored."""

import json

from cytaxii2.cytaxii2 import cytaxii2
from taxii2client.v21 import Server

from conftest import COLLECTION, Stixgate
from test_taxii2_client import indicator


def test_taxii2_client_follows_discovery_on_the_embedded_default_with_credentials(tmp_path):
    stixgate = Stixgate(tmp_path)
    try:
        server = Server(f"{stixgate.url}/taxii2/", user="misp", password="anything")
        assert [root.url for root in server.api_roots] == [f"{stixgate.url}/api/"]
        root = server.default
        assert root.url == f"{stixgate.url}/api/"
        [collection] = root.collections
        assert collection.id == COLLECTION and collection.can_read and collection.can_write
        status = collection.add_objects({"objects": [indicator(1)]})
        assert status.success_count == 1
        assert [o["id"] for o in collection.get_objects()["objects"]] == [indicator(1)["id"]]
    finally:
        stixgate.stop()


def test_cytaxii2_follows_discovery_on_the_embedded_default_with_credentials(tmp_path):
    stixgate = Stixgate(tmp_path)
    try:
        client = cytaxii2(f"{stixgate.url}/taxii2/", "opencti", "anything", version=2.1)
        discovery = client.discovery_request()
        assert discovery["status_code"] == 200, discovery
        assert discovery["response"]["default"] == f"{stixgate.url}/api/"
        root = client.root_discovery()
        assert root["status_code"] == 200, root
        assert root["response"]["versions"] == ["application/taxii+json;version=2.1"]
        collections = client.collection_request()
        assert [c["id"] for c in collections["response"]["collections"]] == [COLLECTION]
        sent = client.inbox_request(COLLECTION, json.dumps({"objects": [indicator(2)]}))
        assert sent["status_code"] == 202 and sent["response"]["success_count"] == 1, sent
        polled = client.poll_request(COLLECTION)
        assert polled["status_code"] == 200, polled
        assert [o["id"] for o in polled["response"]["objects"]] == [indicator(2)["id"]]
    finally:
        stixgate.stop()


def test_cytaxii2_follows_discovery_as_a_configured_user(stixgate):
    client = cytaxii2(f"{stixgate.url}/taxii2/", "alice", "alice-pw", version=2.1)
    root = client.root_discovery()
    assert root["status_code"] == 200, root
    assert root["response"]["title"] == "stixgate interop"
    wrong = cytaxii2(f"{stixgate.url}/taxii2/", "alice", "wrong", version=2.1)
    assert wrong.discovery_request()["status_code"] == 401
