"""Chromium discovery on real files, and a real launch of what it finds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from playwright.sync_api import BrowserType

from prober.drivers.chromium import ChromiumNotFound, find_chromium, launch_args


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def no_path(name: str) -> str | None:
    return None


def test_configured_path_wins(tmp_path: Path) -> None:
    mine = executable(tmp_path / "my-chrome")
    executable(tmp_path / "pw/chromium-1200/chrome-linux/chrome")
    found = find_chromium(mine, browsers_dir=tmp_path / "pw", which=lambda n: "/usr/bin/" + n)
    assert (found.path, found.source) == (mine, "configured")


def test_a_configured_path_that_is_wrong_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(ChromiumNotFound, match=r"browser\.executable_path") as raised:
        find_chromium(tmp_path / "missing", which=lambda n: "/usr/bin/chromium")
    assert str(tmp_path / "missing") in str(raised.value)


def test_playwright_browser_before_path_newest_revision_first(tmp_path: Path) -> None:
    executable(tmp_path / "chromium-1100/chrome-linux/chrome")
    newest = executable(tmp_path / "chromium-1200/chrome-linux64/chrome")
    found = find_chromium(browsers_dir=tmp_path, which=lambda n: "/usr/bin/" + n)
    assert (found.path, found.source) == (newest, "playwright")


def test_path_names_in_order(tmp_path: Path) -> None:
    on_path = {"chromium-browser": "/opt/cb", "google-chrome": "/opt/gc"}
    found = find_chromium(browsers_dir=tmp_path, which=on_path.get)
    assert (found.path, found.source) == (Path("/opt/cb"), "path")


def test_nothing_found_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ChromiumNotFound) as raised:
        find_chromium(browsers_dir=tmp_path, which=no_path)
    message = str(raised.value)
    assert "apt-get install -y chromium" in message
    assert "scripts/install-browser" in message
    assert str(tmp_path) in message


def test_no_sandbox_only_as_root() -> None:
    assert "--no-sandbox" in launch_args(is_root=True)
    assert "--no-sandbox" not in launch_args(is_root=False)
    assert "--disable-background-networking" in launch_args(is_root=False)
    assert ("--no-sandbox" in launch_args()) is (os.geteuid() == 0)


@pytest.mark.browser
def test_what_is_found_here_launches_and_renders(browser_type: BrowserType) -> None:
    chromium = find_chromium()
    browser = browser_type.launch(executable_path=str(chromium.path), args=launch_args())
    try:
        page = browser.new_page()
        page.set_content("<p id=x>rendered</p>")
        assert page.inner_text("#x") == "rendered"
        assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
    finally:
        browser.close()
