"""The operator page in a real browser: Debian's Chromium, driven headless by Selenium through Debian's
chromedriver, against the real stixgate binary started as the interop tests start it, with users and data."""

import base64
import importlib.util
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "target" / "screenshots"
# Named explicitly, so that Selenium Manager never looks for (or downloads) a browser or a driver.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# One server starter for every Python suite: the interop tests' own.
_spec = importlib.util.spec_from_file_location("interop_conftest", ROOT / "tests" / "interop" / "conftest.py")
interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interop)

COLLECTION = interop.COLLECTION
BOBS = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"
HOSTILE_ID = "<script>alert('id')</script>"
HOSTILE_FEED = "<img src=x onerror=alert('feed')>"
INDICATOR = "indicator--6b0e4d7c-1f2a-4b3c-8d9e-0a1b2c3d4e5f"

CONFIG = """
[[users]]
name = "alice"
password = "{alice}"
[[users]]
name = "bob"
password = "{bob}"
[[users]]
name = "root"
password = "{root}"
admin = true

[intake]
collection = "{collection}"

[[api_roots]]
path = "api"
title = "stixgate browser"

[[api_roots.collections]]
id = "{collection}"
alias = "intelmq"
title = "IntelMQ events"
read = ["alice"]
write = ["alice"]

[[api_roots.collections]]
id = "{bobs}"
title = "Bob's collection"
read = ["bob"]

# A peer that cannot be reached, so that the peers view has a run, a failure and its error to show.
[[peer]]
name = "unreachable"
url = "http://127.0.0.1:9/api/collections/{collection}/"
direction = "pull"
interval = 3600
"""


def envelope(uuid, feed, ip):
    return {
        "meta": {"version": 1, "uuid": {"current": uuid}, "type": "event", "format": "intelmq"},
        "payload": {
            "source.ip": ip,
            "classification.type": "scanner",
            "feed.name": feed,
            "time.observation": "2026-01-02T03:04:05+00:00",
        },
    }


def basic(user):
    return "Basic " + base64.b64encode(f"{user}:{user}-pw".encode()).decode()


def request(url, user=None, data=None, headers=None):
    """An HTTP request outside the browser: status, headers and body, whatever the status."""
    headers = dict(headers or {})
    if user:
        headers["Authorization"] = basic(user)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """stixgate with alice (reads and writes the intake collection), bob (reads another) and root (admin),
    holding two envelopes (one with a hostile id and feed name) and a TAXII object posted by alice."""
    tmp_path = tmp_path_factory.mktemp("browser")
    config = CONFIG.format(
        alice=interop.hash_password("alice-pw"),
        bob=interop.hash_password("bob-pw"),
        root=interop.hash_password("root-pw"),
        collection=COLLECTION,
        bobs=BOBS,
    )
    server = interop.Stixgate(tmp_path, config)
    body = "\n".join(
        json.dumps(e)
        for e in [
            envelope("3f9c2b1e-0d4a-4c8b-9e7f-1a2b3c4d5e6f", "first-feed", "192.0.2.10"),
            envelope(HOSTILE_ID, HOSTILE_FEED, "192.0.2.11"),
        ]
    )
    status, _, answer = request(f"{server.url}/envelopes", "alice", body.encode())
    assert status == 200, answer
    taxii = "application/taxii+json;version=2.1"
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": INDICATOR,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "posted over TAXII",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    }
    status, _, answer = request(
        f"{server.url}/api/collections/{COLLECTION}/objects/",
        "alice",
        json.dumps({"objects": [indicator]}).encode(),
        {"Content-Type": taxii, "Accept": taxii},
    )
    assert status == 202, answer
    # Its envelope is made after the answer, by the envelope maker.
    wait_for(lambda: request(f"{server.url}/envelopes/{INDICATOR}", "alice")[0] == 200)
    # A named IntelMQ consumer, whose cursor the peers view shows.
    status, _, answer = request(f"{server.url}/intelmq/feed?collection={COLLECTION}&consumer=collector-1", "alice")
    assert status == 200, answer
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Headless Chromium whose console messages are kept; `as_user` sends a user's Basic credentials with
    every request the page makes (the style sheet too)."""
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.enable", {})

    def as_user(user):
        headers = {"Authorization": basic(user)} if user else {}
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    driver.as_user = as_user
    yield driver
    driver.quit()


def console_errors(driver):
    """The console's errors since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, name):
    """The whole page, not only what fits the window, for looking at: target/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def wait_for(condition, seconds=30):
    """Waits until `condition()` is true."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.5)
