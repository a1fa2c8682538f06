#!/usr/bin/env python3
"""Fails on a broken internal link in the documentation.

Reads README.md, ARCHITECTURE.md (when it exists) and every .md under docs/src, and reports each relative link
to a file that does not exist, and each `#anchor` that names no heading of its target page. Anchors follow
mdBook's rule (which GitHub's matches for these pages): the heading's text without its markup, lowercased,
whitespace turned into `-`, every character but letters, digits, `_` and `-` dropped; a heading whose id was
taken already gets `-1`, `-2`, ... Links to other sites, and links inside code, are not checked.

Usage: scripts/check_links.py [REPOSITORY]   (the repository this script is in, by default)
"""

import re
import sys
from pathlib import Path
from urllib.parse import unquote

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>]+>")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documentation(repository):
    """The files whose links are checked."""
    files = [repository / "README.md", repository / "ARCHITECTURE.md"]
    files += sorted((repository / "docs" / "src").rglob("*.md"))
    return [f for f in files if f.is_file()]


def blocks(text):
    """The text outside fenced code, as (first line number, block) pairs split at blank lines."""
    block, start, fenced = [], 1, False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            line = ""
        if fenced or not line.strip():
            if block:
                yield start, "\n".join(block)
            block, start = [], number + 1
        else:
            block.append(line)
    if block:
        yield start, "\n".join(block)


def anchor(heading):
    """The id mdBook gives a heading of this markdown text."""
    text = LINK_TEXT.sub(r"\1", heading)
    text = HTML_TAG.sub("", text).replace("`", "").replace("*", "")
    kept = []
    for character in text.strip():
        if character.isalnum() or character in "_-":
            kept.append(character.lower() if character.isascii() else character)
        elif character.isspace():
            kept.append("-")
    return "".join(kept)


def anchors(text):
    """The ids of every heading of a page, numbered as mdBook numbers repeated ones."""
    seen, ids = {}, set()
    for _, block in blocks(text):
        for line in block.split("\n"):
            match = HEADING.match(line)
            if match:
                base = anchor(match.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                ids.add(base if count == 0 else f"{base}-{count}")
    return ids


def links(text):
    """Every link target outside code, with its line number."""
    for start, block in blocks(text):
        # Code spans become spaces of the same shape, so that line numbers stay right.
        plain = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), block)
        for pattern in (INLINE_LINK, REFERENCE_DEFINITION):
            for match in pattern.finditer(plain):
                yield start + plain.count("\n", 0, match.start()), match.group(1)


def problems(repository):
    """Each broken link as `file:line: message`."""
    found, pages = [], {}
    for page in documentation(repository):
        text = page.read_text(encoding="utf-8")
        for line, target in links(text):
            if not target or target.startswith("//") or SCHEME.match(target):
                continue
            path, _, fragment = target.partition("#")
            destination = (page.parent / unquote(path)).resolve() if path else page
            where = f"{page.relative_to(repository)}:{line}"
            if not destination.exists():
                found.append(f"{where}: {target}: no such file")
                continue
            if not fragment or destination.suffix != ".md" or destination.is_dir():
                continue
            if destination not in pages:
                pages[destination] = anchors(destination.read_text(encoding="utf-8"))
            if unquote(fragment) not in pages[destination]:
                found.append(f"{where}: {target}: no heading with the id `{fragment}` in that page")
    return found


def main(arguments):
    repository = Path(arguments[0] if arguments else Path(__file__).resolve().parent.parent).resolve()
    broken = problems(repository)
    for problem in broken:
        print(problem, file=sys.stderr)
    if broken:
        print(f"broken links: {len(broken)}", file=sys.stderr)
        return 1
    print(f"links checked in {len(documentation(repository))} documentation files: none broken")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
