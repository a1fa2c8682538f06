"""Each view of the operator page in Chromium: what it lists, for whom, under its CSP, with no console error."""

import json
import re

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from conftest import BOBS, COLLECTION, HOSTILE_FEED, HOSTILE_ID, INDICATOR, console_errors, request, screenshot, wait_for

CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
TAXII = "application/taxii+json;version=2.1"


def texts(driver, selector):
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_every_view_is_sent_with_the_strict_csp(server):
    for path, user in [
        ("/", "alice"),
        (f"/ui/envelopes?collection={COLLECTION}", "alice"),
        ("/ui/preview", "alice"),
        ("/ui/peers", "root"),
    ]:
        status, headers, _ = request(server.url + path, user)
        assert status == 200, path
        assert headers["Content-Security-Policy"] == CSP, path
        assert headers["Content-Type"] == "text/html; charset=utf-8", path


def test_collections_show_counts_and_urls_of_what_the_user_may_read(server, browser):
    browser.as_user("alice")
    browser.get(server.url + "/")
    assert texts(browser, "section.collection h2") == ["IntelMQ events"]
    counts = dict(zip(texts(browser, "dl.counts dt"), texts(browser, "dl.counts dd")))
    # What TAXII lists and what the page counts agree.
    _, _, body = request(
        f"{server.url}/api/collections/{COLLECTION}/objects/?limit=1000", "alice", headers={"Accept": TAXII}
    )
    assert counts["Objects"] == str(len(json.loads(body)["objects"]))
    # Two posted envelopes, and one made of the TAXII post (taxii.envelopes_from_posts).
    assert counts["Envelopes"] == "3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", counts["Newest date_added"])
    urls = {
        label.find_element(By.TAG_NAME, "span").text: label.find_element(By.TAG_NAME, "input").get_attribute("value")
        for label in browser.find_elements(By.CSS_SELECTOR, "label.url")
    }
    assert urls == {
        "TAXII collection": f"{server.url}/api/collections/{COLLECTION}/",
        "MISP feed": f"{server.url}/misp/{COLLECTION}",
        "IntelMQ feed": f"{server.url}/intelmq/feed?collection={COLLECTION}&consumer=intelmq-collector",
    }
    # The style sheet was applied, so the CSP let it through.
    header = browser.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(29, 35, 48, 1)"
    assert "shown to admins" in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href='/ui/peers']")
    assert console_errors(browser) == []
    screenshot(browser, "collections")


def test_envelopes_come_newest_first_with_their_links_and_hostile_values_as_text(server, browser):
    browser.as_user("alice")
    browser.get(server.url + "/")
    browser.find_element(By.LINK_TEXT, "Newest envelopes").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tbody tr"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    ids = [row.find_element(By.CSS_SELECTOR, "td.id a").text for row in rows]
    # The envelope the TAXII post made came last, so it is listed first.
    assert len(ids) == 3 and ids[1:] == [HOSTILE_ID, "3f9c2b1e-0d4a-4c8b-9e7f-1a2b3c4d5e6f"]
    assert rows[1].find_elements(By.TAG_NAME, "td")[2].text == HOSTILE_FEED
    # Nothing of the hostile values became markup.
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []
    links = {a.text: a.get_attribute("href") for a in rows[2].find_elements(By.CSS_SELECTOR, "td.links a")}
    assert set(links) <= {"STIX objects", "MISP event", "MISP feed"} and "STIX objects" in links
    posted = rows[0].find_element(By.LINK_TEXT, "STIX objects").get_attribute("href")
    assert console_errors(browser) == []
    screenshot(browser, "envelopes")

    # The exact text, the carrier over TAXII and the MISP event or feed answer, as the same user.
    rows[2].find_element(By.CSS_SELECTOR, "td.id a").click()
    wait_for(lambda: browser.find_elements(By.TAG_NAME, "pre"))
    assert json.loads(browser.find_element(By.TAG_NAME, "pre").text)["payload"]["source.ip"] == "192.0.2.10"
    browser.get(links["STIX objects"])
    carrier = json.loads(browser.find_element(By.TAG_NAME, "pre").text)["objects"][0]
    assert carrier["envelope_id"] == "3f9c2b1e-0d4a-4c8b-9e7f-1a2b3c4d5e6f"
    # The envelope made of an object posted over TAXII stands for that object.
    browser.get(posted)
    assert json.loads(browser.find_element(By.TAG_NAME, "pre").text)["objects"][0]["id"] == INDICATOR
    misp = links.get("MISP event") or links["MISP feed"]
    browser.get(misp)
    assert json.loads(browser.find_element(By.TAG_NAME, "pre").text)


def test_the_mapping_preview_shows_stix_objects_and_misp_attributes_and_stores_nothing(server, browser):
    browser.as_user("alice")
    browser.get(server.url + "/")
    browser.find_element(By.LINK_TEXT, "IntelMQ events").click()
    wait_for(lambda: browser.find_elements(By.NAME, "input"))
    event = {
        "source.ip": "198.51.100.23",
        "source.port": 4444,
        "classification.type": "c2-server",
        "feed.name": "preview <feed>",
        "time.observation": "2026-02-03T04:05:06+00:00",
    }
    browser.find_element(By.NAME, "input").send_keys(json.dumps(event))
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    # A click submits the form without waiting for the answer.
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "article.object"))
    headings = texts(browser, "article.object h3")
    kinds = {heading.split("--")[0] for heading in headings}
    assert {"iep04-envelope", "ipv4-addr", "network-traffic"} <= kinds, headings
    shown = [json.loads(pre.text) for pre in browser.find_elements(By.CSS_SELECTOR, "article.object pre")]
    assert any(o.get("value") == "198.51.100.23" for o in shown)
    attributes = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    assert any("198.51.100.23" in row for row in attributes), attributes
    # The form keeps what was pasted, as text.
    assert json.loads(browser.find_element(By.NAME, "input").get_attribute("value")) == event
    assert console_errors(browser) == []
    screenshot(browser, "preview")
    status, _, _ = request(f"{server.url}/intelmq/feed?collection={COLLECTION}", "alice")
    _, _, feed = request(f"{server.url}/intelmq/feed?collection={COLLECTION}&limit=100", "alice")
    assert status == 200 and b"198.51.100.23" not in feed, "a preview stores nothing"


def test_a_form_on_another_site_cannot_store_with_the_operators_credentials(server, browser):
    # The browser holds alice's credentials, as it would after she signed in; a page of any other site (here a
    # data: URL, an origin of its own) posts an IntelMQ event as form fields, which needs no CORS preflight.
    browser.as_user("alice")
    form = (
        f'<form method="post" action="{server.url}/intelmq/events?collection={COLLECTION}">'
        '<input name="source.ip" value="203.0.113.99"><input name="classification.type" value="scanner">'
        '<input name="feed.name" value="cross-site"><button>send</button></form>'
    )
    browser.get("data:text/html," + form)
    browser.find_element(By.TAG_NAME, "button").click()

    def page_text():
        # The form's page is replaced by the answer while it is read: an element of the old page is stale.
        try:
            return browser.find_element(By.TAG_NAME, "body").text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    wait_for(lambda: "http_status" in page_text())
    refusal = json.loads(page_text())
    assert refusal["http_status"] == "403" and "from another site" in refusal["description"], refusal
    _, _, feed = request(f"{server.url}/intelmq/feed?collection={COLLECTION}&limit=1000", "alice")
    assert b"203.0.113.99" not in feed, "nothing was stored"


def test_peers_and_consumers_are_shown_to_admins_only(server, browser):
    browser.as_user("root")
    browser.get(server.url + "/")
    browser.find_element(By.LINK_TEXT, "Peers and jobs").click()

    def peer_has_run():
        browser.refresh()
        return browser.find_elements(By.CSS_SELECTOR, "tbody tr td.error") and browser.find_element(
            By.CSS_SELECTOR, "tbody tr td.error"
        ).text

    # The peer's first run comes within seconds of the start.
    wait_for(peer_has_run)
    peer = browser.find_elements(By.CSS_SELECTOR, "table")[0].find_element(By.CSS_SELECTOR, "tbody tr")
    assert "unreachable" in peer.text and "127.0.0.1:9" in peer.text
    # The failed run is counted as the first in a row, and the retry after it is shown as the next run.
    assert "in a row)" in peer.find_elements(By.TAG_NAME, "td")[4].text
    assert peer.find_element(By.CSS_SELECTOR, "td.next").text.endswith("Z")
    consumers = browser.find_elements(By.CSS_SELECTOR, "table")[1].find_elements(By.CSS_SELECTOR, "tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in consumers]
    # Each consumer with the user it belongs to: another user naming it would get a cursor of its own.
    assert [c[:3] for c in cells] == [["collector-1", "alice", COLLECTION]]
    assert cells[0][3].isdigit()
    assert console_errors(browser) == []
    screenshot(browser, "peers")

    browser.as_user("alice")
    browser.get(server.url + "/ui/peers")
    refusal = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert refusal["http_status"] == "403" and "collector-1" not in json.dumps(refusal)


def test_a_user_without_rights_sees_nothing_of_a_collection(server, browser):
    browser.as_user("bob")
    browser.get(server.url + "/")
    assert texts(browser, "section.collection h2") == ["Bob's collection"]
    page = browser.page_source
    assert COLLECTION not in page and BOBS in page
    browser.get(f"{server.url}/ui/envelopes?collection={COLLECTION}")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert json.loads(body)["http_status"] == "404"
    assert "first-feed" not in body and "192.0.2" not in body
    screenshot(browser, "refused")
    browser.as_user(None)
    status, headers, _ = request(f"{server.url}/ui/envelopes?collection={COLLECTION}")
    assert status == 401 and "WWW-Authenticate" in headers
