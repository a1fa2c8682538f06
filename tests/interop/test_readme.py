"""README's examples run as written: the taxii2-client snippet of "TAXII 2.1", against the embedded default."""

import re

import requests

from conftest import ROOT, Stixgate


def readme_block(section, language):
    """The first fenced block of `language` under the README heading `section`."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n{section}\n")
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block under {section}"
    return match.group(1)


def test_the_taxii2_client_example_reads_what_was_posted(tmp_path):
    server = Stixgate(tmp_path)
    try:
        with open(ROOT / "fixtures" / "intelmq" / "sinkhole.draft.json", "rb") as envelope:
            stored = requests.post(f"{server.url}/envelopes", data=envelope, timeout=30)
        assert stored.status_code == 200, stored.text
        snippet = readme_block("## TAXII 2.1", "python")
        assert "http://127.0.0.1:8080" in snippet
        # Only the address changes (the test server has a free port), and the loop body collects the pages.
        snippet = snippet.replace("http://127.0.0.1:8080", server.url).replace("    ...", "    pages.append(page)")
        scope = {"pages": []}
        exec(compile(snippet, "README.md", "exec"), scope)
        objects = [o for page in scope["pages"] for o in page.get("objects", [])]
        assert any(o["type"] == "iep04-envelope" for o in objects), objects
    finally:
        server.stop()
