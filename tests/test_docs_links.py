"""Links between the documentation pages: every relative link in README.md
and docs/*.md names a file of the repository, and an anchor, where a link to a
Markdown page has one, names a heading (or an explicit ``<a id>``) of it."""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from helpers import REPO

PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]

FENCED_BLOCK = re.compile(r'^(```|~~~).*?^\1', re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r'`[^`\n]*`')
# [text](target) and ![alt](target); a title after the target is allowed.
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
EXPLICIT_ANCHOR = re.compile(r'<a\s+(?:id|name)="([^"]+)"')
HEADING = re.compile(r'^#{1,6}\s+(.*?)\s*#*\s*$', re.MULTILINE)
EXTERNAL = re.compile(r'^[a-z][a-z0-9+.-]*:', re.IGNORECASE)


def prose(text: str) -> str:
    """``text`` without code blocks and inline code, where brackets and
    parentheses are code, not links."""
    return INLINE_CODE.sub('', FENCED_BLOCK.sub('', text))


def relative_links(page: Path) -> Iterator[Tuple[str, str]]:
    """(path, anchor) of each link of ``page`` that is not a URL; the path is
    empty for an anchor into the page itself."""
    for target in LINK.findall(prose(page.read_text())):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition('#')
        yield path, anchor


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, inline-code marks and
    punctuation other than hyphens removed, spaces as hyphens."""
    text = heading.lower().replace('`', '')
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(page: Path) -> Set[str]:
    """Every anchor a link into ``page`` may name (duplicate headings get
    GitHub's -1, -2, ... suffixes)."""
    text = page.read_text()
    found = set(EXPLICIT_ANCHOR.findall(text))
    seen: Dict[str, int] = {}
    for heading in HEADING.findall(FENCED_BLOCK.sub('', text)):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f'{slug}-{count}')
    return found


def broken_links(page: Path) -> List[str]:
    """The links of ``page`` whose file, or whose heading, does not exist."""
    broken = []
    for path, anchor in relative_links(page):
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f'{path}: no such file')
        elif anchor and target.suffix == '.md' and anchor not in anchors(
                target):
            broken.append(f'{path}#{anchor}: no such heading in '
                          f'{target.name}')
    return broken


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path):
    assert broken_links(page) == []


def test_the_checker_finds_a_missing_page_and_heading(tmp_path: Path):
    other = tmp_path / 'other.md'
    other.write_text('# Other page\n\n## The `x` part: details\n')
    page = tmp_path / 'page.md'
    page.write_text(
        '# Page\n[ok](other.md#the-x-part-details) [ok](#page) '
        '![img](other.md) [web](https://example.org/missing.md) '
        '`[code](missing.md)`\n\n```\n[block](missing.md)\n```\n'
        '[gone](missing.md) [bad anchor](other.md#nowhere) [self](#nope)\n')
    assert [link.split(':')[0] for link in broken_links(page)
            ] == ['missing.md', 'other.md#nowhere', '#nope']
