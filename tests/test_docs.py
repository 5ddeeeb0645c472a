"""The repository stands alone: its links resolve, and nothing in it points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINK = re.compile(r"\]\(([^)\s]+)\)")
# What a published repository cannot cite: files beside the checkout, or a design document
# that is not part of it.
# (Spelled in pieces, so this file does not match itself.)
_DOC = "DES" + "IGN"
_OUTSIDE = re.compile("|".join(map(re.escape, ("../" + "shared", f"{_DOC}.md", f"{_DOC} §"))))


def tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_every_link_inside_the_repository_resolves() -> None:
    broken = []
    for page in tracked("*.md"):
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a URL, or an anchor on the same page
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_nothing_refers_outside_the_repository() -> None:
    found = []
    for path in tracked():
        if path.suffix in {".png", ".zip", ".db"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if _OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert found == []
