#!/usr/bin/env python3
"""Tests of scripts/check_links.py on small repositories made for each case: it passes good links and fails on
each kind of broken one."""

import contextlib
import io
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_links  # noqa: E402


class CheckLinks(unittest.TestCase):
    def repository(self, files):
        """A repository holding `files` (path: text); the broken links check_links finds in it."""
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        root = Path(directory.name)
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        return check_links.problems(root.resolve())

    def test_good_links_pass(self):
        found = self.repository({
            "README.md": "See [the guide](docs/src/guide.md#stixgate-pull-url) and [the code](src/).\n",
            "src/main.rs": "",
            "docs/src/guide.md": "# Guide\n\n## `stixgate pull URL`\n\nBack to [the top](#guide), [out](../../README.md).\n",
            "docs/src/SUMMARY.md": "# Summary\n\n- [Guide](guide.md)\n",
        })
        self.assertEqual(found, [])

    def test_a_link_to_a_missing_file_fails(self):
        found = self.repository({
            "README.md": "Intro.\n\nSee [the guide](docs/src/gide.md).\n",
            "docs/src/guide.md": "# Guide\n",
        })
        self.assertEqual(found, ["README.md:3: docs/src/gide.md: no such file"])

    def test_an_anchor_that_names_no_heading_fails(self):
        found = self.repository({
            "docs/src/a.md": "# A\n\nSee [logs](b.md#logs) and [here](#nowhere).\n",
            "docs/src/b.md": "# B\n\n## Operations\n",
        })
        self.assertEqual(found, [
            "docs/src/a.md:3: b.md#logs: no heading with the id `logs` in that page",
            "docs/src/a.md:3: #nowhere: no heading with the id `nowhere` in that page",
        ])

    def test_anchors_follow_mdbooks_rule(self):
        text = (
            "# Data directory, durability and backup\n"
            "## Peers: `[[peer]]`\n"
            "## TLS in nginx: `contrib/nginx.conf`\n"
            "## Same id again\n"
            "## Same id again\n"
            "## While `stixgate serve` runs on the data directory ##\n"
        )
        self.assertEqual(check_links.anchors(text), {
            "data-directory-durability-and-backup",
            "peers-peer",
            "tls-in-nginx-contribnginxconf",
            "same-id-again",
            "same-id-again-1",
            "while-stixgate-serve-runs-on-the-data-directory",
        })

    def test_links_and_headings_in_code_are_not_read(self):
        found = self.repository({
            "docs/src/a.md": (
                "# A\n\n```toml\n# not a heading\n[x](missing.md)\n```\n\n"
                "Inline `[x](missing.md)` code, and [b](b.md#real).\n"
            ),
            "docs/src/b.md": "# B\n\n```sh\n# fake\n```\n\n## Real\n",
        })
        self.assertEqual(found, [])
        self.assertEqual(check_links.anchors("# B\n\n```sh\n# fake\n```\n"), {"b"})

    def test_external_links_are_not_checked(self):
        found = self.repository({
            "README.md": "[a](https://example.org/x.md#y) [b](mailto:x@example.org) [c](//example.org/z)\n",
        })
        self.assertEqual(found, [])

    def test_reference_definitions_and_architecture_are_checked(self):
        found = self.repository({
            "README.md": "See [the map][map].\n\n[map]: ARCHITECTURE.md#code-map\n",
            "ARCHITECTURE.md": "# Architecture\n\n## Code map\n\nThe [book](docs/src/missing.md).\n",
        })
        self.assertEqual(found, ["ARCHITECTURE.md:5: docs/src/missing.md: no such file"])

    def test_the_line_of_a_link_after_a_code_span_over_two_lines(self):
        found = self.repository({
            "README.md": "A `span\nover two` lines, then\n[broken](nowhere.md).\n",
        })
        self.assertEqual(found, ["README.md:3: nowhere.md: no such file"])

    def test_main_exits_non_zero_on_a_broken_link(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        (Path(directory.name) / "README.md").write_text("[x](y.md)\n")
        errors, output = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(output):
            self.assertEqual(check_links.main([directory.name]), 1)
            (Path(directory.name) / "y.md").write_text("# Y\n")
            self.assertEqual(check_links.main([directory.name]), 0)
        self.assertEqual(errors.getvalue(), "README.md:1: y.md: no such file\nbroken links: 1\n")
        self.assertIn("none broken", output.getvalue())


if __name__ == "__main__":
    unittest.main()
