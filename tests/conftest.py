from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober.drivers.browser import BrowserDriver
from prober.drivers.chromium import find_chromium, launch_args
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess, login, start_sandbox
from tests.wire_proxy import WireProxy

# The longest files first (measured, seconds on one worker: ~120, ~100, ~55, ~50, ~30, ~30):
# `make test` hands each file to whichever of its two workers is free, so a long file collected
# last would run alone at the end while the other worker idles.
LONGEST_FIRST = (
    "test_workflow_journeys.py",
    "test_wire_faults_packs.py",
    "test_serve.py",
    "test_benchmarks.py",
    "test_demo.py",
    "test_nodered.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One platform with faults enabled for the whole session; tests clear faults after use."""
    process = start_sandbox(
        tmp_path_factory.mktemp("sandbox"), "--faults", "--seed", "7", "--upstream-timeout", "2"
    )
    yield process
    assert process.stop() == 0, process.output.read_text()


@pytest.fixture(scope="session")
def token(sandbox: SandboxProcess) -> str:
    return login(sandbox.url)


@pytest.fixture
def api(sandbox: SandboxProcess, token: str) -> Iterator[httpx.Client]:
    """An authenticated client; every fault the test injected is cleared afterwards."""
    with httpx.Client(
        base_url=sandbox.url, headers={"authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client
        client.delete("/_sandbox/faults").raise_for_status()


@pytest.fixture
def anon(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the Chromium the prober itself would find."""
    chromium = find_chromium()
    return {
        **browser_type_launch_args,
        "executable_path": str(chromium.path),
        "args": launch_args(),
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def loop() -> Iterator[LoopThread]:
    """The event loop async runtime code runs on (one per session, like one prober process)."""
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def driver(loop: LoopThread) -> Iterator[BrowserDriver]:
    """One Chromium for all runtime tests, launched on first use."""
    browser = BrowserDriver()
    yield browser
    loop.run(browser.close())


@pytest.fixture
def wire_proxy(sandbox: SandboxProcess) -> Iterator[WireProxy]:
    """A wire-level fault proxy in front of the session sandbox, stopped after the test."""
    with WireProxy(sandbox.url) as proxy:
        yield proxy
