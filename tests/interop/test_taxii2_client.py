"""The real taxii2-client 2.3.0 against a running stixgate: every call a TAXII user makes."""

import datetime
import uuid

import pytest
import requests
from taxii2client.common import TokenAuth
from taxii2client.exceptions import AccessError
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from conftest import COLLECTION, READ_ONLY

TAXII = "application/taxii+json;version=2.1"


def indicator(n, modified="2020-01-01T00:00:00.000Z"):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n, version=4)}",
        "created": "2020-01-01T00:00:00.000Z",
        "modified": modified,
        "name": f"indicator {n}",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n % 250}']",
        "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z",
    }


def collection(stixgate, user="alice", collection_id=COLLECTION):
    return Collection(f"{stixgate.url}/api/collections/{collection_id}/", user=user, password=f"{user}-pw")


def test_discovery_api_root_and_collections(stixgate):
    server = Server(f"{stixgate.url}/taxii2/", user="alice", password="alice-pw")
    assert server.title == "stixgate"
    assert [root.url for root in server.api_roots] == [f"{stixgate.url}/api/"]
    root = server.default
    assert root.title == "stixgate interop"
    assert root.versions == [TAXII]
    assert root.max_content_length > 0
    assert {c.id: (c.can_read, c.can_write) for c in root.collections} == {COLLECTION: (True, True), READ_ONLY: (True, False)}
    assert root.collections[0].alias == "intelmq"
    assert root.collections[0].media_types == ["application/stix+json;version=2.1"]


def test_add_page_manifest_versions_get_and_delete(stixgate):
    alice = collection(stixgate)
    assert alice.get_objects() == {"more": False}
    objects = [indicator(n) for n in range(1, 251)]
    status = alice.add_objects({"objects": objects[:150]})
    assert status.status == "complete" and status.success_count == 150
    status = alice.add_objects(json_text({"objects": objects[150:]}))
    assert status.success_count == 100
    again = alice.add_objects({"objects": objects[:10]})
    assert again.success_count == 10 and again.failure_count == 0

    pages = list(as_pages(alice.get_objects, per_request=40))
    seen = [o["id"] for page in pages for o in page.get("objects", [])]
    assert len(seen) == 250 and len(set(seen)) == 250
    assert len(pages) == 7
    # A per_request above the server's cap: the client adapts and still sees everything once.
    assert sum(len(p.get("objects", [])) for p in as_pages(alice.get_objects, per_request=50000)) == 250
    manifest = [r["id"] for page in as_pages(alice.get_manifest, per_request=100) for r in page.get("objects", [])]
    assert manifest == seen

    target = objects[0]["id"]
    alice.add_objects({"objects": [indicator(1, "2021-03-04T05:06:07.890Z")]})
    assert alice.get_object(target)["objects"][0]["modified"] == "2021-03-04T05:06:07.890Z"
    assert len(alice.get_object(target, version="all")["objects"]) == 2
    assert alice.object_versions(target)["versions"] == ["2020-01-01T00:00:00.000Z", "2021-03-04T05:06:07.890Z"]
    assert len(alice.get_objects(type="indicator", limit=5)["objects"]) == 5
    after = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    assert len(alice.get_objects(added_after=after, limit=3)["objects"]) == 3
    assert alice.get_objects(id=target, version="first")["objects"][0]["modified"] == "2020-01-01T00:00:00.000Z"
    assert alice.get_objects(spec_version="2.0") == {"more": False}

    alice.delete_object(target)
    with pytest.raises(requests.HTTPError) as missing:
        alice.get_object(target)
    assert missing.value.response.status_code == 404


def test_status_is_fetched_by_the_client(stixgate):
    alice = collection(stixgate)
    status = alice.add_objects({"objects": [indicator(7)]}, wait_for_completion=False)
    root = ApiRoot(f"{stixgate.url}/api/", user="alice", password="alice-pw")
    fetched = root.get_status(status.id)
    assert fetched.status == "complete" and fetched.successes[0]["id"] == indicator(7)["id"]
    # taxii2-client polls without the trailing slash.
    response = requests.get(f"{stixgate.url}/api/status/{status.id}", auth=("alice", "alice-pw"), headers={"Accept": TAXII})
    assert response.status_code == 200


def test_a_user_who_may_only_read(stixgate):
    bob = collection(stixgate, user="bob")
    assert bob.can_read and not bob.can_write
    assert bob.get_objects() == {"more": False}
    with pytest.raises(AccessError):
        bob.add_objects({"objects": [indicator(1)]})
    with pytest.raises(AccessError):
        bob.delete_object(indicator(1)["id"])
    # What the client refuses to send, the server refuses too.
    response = requests.post(
        f"{stixgate.url}/api/collections/{COLLECTION}/objects/",
        json={"objects": [indicator(1)]},
        auth=("bob", "bob-pw"),
        headers={"Accept": TAXII, "Content-Type": TAXII},
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"] == TAXII
    assert response.json()["http_status"] == "403"


def test_wrong_credentials_and_tokens(stixgate):
    with pytest.raises(requests.HTTPError) as refused:
        Server(f"{stixgate.url}/taxii2/", user="alice", password="wrong").title
    assert refused.value.response.status_code == 401
    assert "Basic" in refused.value.response.headers["WWW-Authenticate"]
    with pytest.raises(requests.HTTPError):
        Collection(f"{stixgate.url}/api/collections/{COLLECTION}/", auth=TokenAuth("not-a-token")).get_objects()


def json_text(value):
    import json

    return json.dumps(value)
