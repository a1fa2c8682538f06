"""The book's examples run as written: the taxii2-client snippet of "TAXII clients", against the embedded default."""

import re

import requests

from conftest import ROOT, Stixgate

PAGE = ROOT / "docs" / "src" / "guide" / "taxii-clients.md"


def book_block(page, language):
    """The first fenced block of `language` on the book's `page`."""
    text = page.read_text()
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text)
    assert match, f"no {language} block on {page}"
    return match.group(1)


def test_the_taxii2_client_example_reads_what_was_posted(tmp_path):
    server = Stixgate(tmp_path)
    try:
        with open(ROOT / "fixtures" / "intelmq" / "sinkhole.draft.json", "rb") as envelope:
            stored = requests.post(f"{server.url}/envelopes", data=envelope, timeout=30)
        assert stored.status_code == 200, stored.text
        snippet = book_block(PAGE, "python")
        assert "http://127.0.0.1:8080" in snippet
        # Only the address changes (the test server has a free port), and the loop body collects the pages.
        snippet = snippet.replace("http://127.0.0.1:8080", server.url).replace("    ...", "    pages.append(page)")
        scope = {"pages": []}
        exec(compile(snippet, str(PAGE.relative_to(ROOT)), "exec"), scope)
        objects = [o for page in scope["pages"] for o in page.get("objects", [])]
        assert any(o["type"] == "iep04-envelope" for o in objects), objects
    finally:
        server.stop()
