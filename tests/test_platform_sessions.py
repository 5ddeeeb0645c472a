"""A third platform's rules, with no session or credential code in its pack: a login that sets
a cookie, an API key header, 5 logins a minute per client; sessions shared by runs, channels and
processes; credentials sent to the target only and redacted; a WebSocket outage blamed as one."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prober import Journey, StepContext, expect
from prober.config import load_config
from prober.drivers.browser import BrowserDriver
from prober.drivers.http import HttpDriver
from prober.loader import load_packs
from prober.login_gate import LoginGate
from prober.metrics import FIXTURE_REPAIRED, FIXTURES_REPAIRED, Origin
from prober.result import JourneyResult
from prober.runner import Runner
from prober.sinks.dogstatsd import DogStatsdSink, parse_url
from prober.target import Target
from tests.background_agent import BackgroundAgent
from tests.cookie_platform import API_KEY, PASSWORD, CookiePlatform
from tests.loop_thread import LoopThread
from tests.sandbox_process import wait_for

PACK = Path(__file__).parent / "packs" / "cookie_platform"
ROOT = Path(__file__).resolve().parent.parent


def environ(platform: CookiePlatform, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    env.update(
        COOKIE_PLATFORM_URL=platform.url,
        COOKIE_PLATFORM_PASSWORD=PASSWORD,
        COOKIE_PLATFORM_KEY=API_KEY,
        PROBER_STORE__PATH=str(workdir / "results.db"),
        PROBER_ARTIFACTS__PATH=str(workdir / "artifacts"),
        PROBER_DATADOG__STATSD_URL="udp://127.0.0.1:9",
    )
    return env


def pack_target(platform: CookiePlatform, workdir: Path) -> Target:
    return load_config(PACK / "prober.yaml", environ(platform, workdir)).targets()["cookie"]


@pytest.fixture
def platform() -> Iterator[CookiePlatform]:
    with CookiePlatform() as running:
        yield running


@pytest.fixture(scope="module")
def journeys() -> dict[str, Journey]:
    report = load_packs([PACK])
    assert not report.problems, report.problems
    return report.by_name()


def status(result: JourneyResult) -> str:
    return str(result.status if result.error_type is None else result.error_type)


@pytest.mark.browser
def test_a_cookie_session_serves_every_run_and_the_browser_and_a_key_journey_never_logs_in(
    platform: CookiePlatform,
    journeys: dict[str, Journey],
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
) -> None:
    target, runner = pack_target(platform, tmp_path), Runner(browser=driver)
    items = loop.run(runner.run(journeys["cookie_items_api"], target))
    assert status(items) == "success", items.to_json()
    assert platform.logins == 0  # an API-key journey needs no login
    assert dict(items.final.annotations)[FIXTURES_REPAIRED] == {"prober-fixture-item": "created"}
    order = ("cookie_profile_api", "cookie_home_browser", "cookie_profile_api", "cookie_items_api")
    results = [loop.run(runner.run(journeys[name], target)) for name in order]
    assert [status(r) for r in results] == ["success"] * 4, [r.to_json() for r in results]
    assert platform.logins == 1  # one login: every run, the API and the browser
    assert results[1].steps[0].name == "sign in (session)"
    assert FIXTURES_REPAIRED not in dict(results[3].final.annotations)  # found as it should be


def test_a_revoked_session_is_renewed_once_and_the_request_replayed(
    platform: CookiePlatform, journeys: dict[str, Journey], loop: LoopThread, tmp_path: Path
) -> None:
    target, runner = pack_target(platform, tmp_path), Runner()
    profile = journeys["cookie_profile_api"]
    assert status(loop.run(runner.run(profile, target))) == "success"
    platform.revoke()
    again = loop.run(runner.run(profile, target))
    assert status(again) == "success", again.to_json()
    assert platform.unauthorized == ["/api/me"]  # the request that got the 401 was replayed
    assert platform.logins == 2


def test_concurrent_first_logins_are_one_login(
    platform: CookiePlatform, journeys: dict[str, Journey], loop: LoopThread, tmp_path: Path
) -> None:
    target, runner = pack_target(platform, tmp_path), Runner()
    profile = journeys["cookie_profile_api"]

    async def together() -> list[JourneyResult]:
        return list(await asyncio.gather(*(runner.run(profile, target) for _ in range(8))))

    assert {status(r) for r in loop.run(together())} == {"success"}
    assert platform.logins == 1


def test_six_prober_runs_within_a_minute_share_one_login(
    platform: CookiePlatform, tmp_path: Path
) -> None:
    """The incident: six `prober run`s at once on a host, a platform allowing 5 logins a minute
    per client. They share the session file under the store's folder: all pass."""
    env = environ(platform, tmp_path)  # no store yet: the six create it together
    codes, outputs = prober_runs_at_once(6, env, "--json", "cookie_*_api")
    assert codes == [0] * 6, outputs
    assert platform.logins == 1 and platform.rate_limited == 0
    shared = list((tmp_path / "sessions").glob("*.json"))
    assert len(shared) == 1
    assert stat.S_IMODE(shared[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(shared[0].parent.stat().st_mode) == 0o700
    assert PASSWORD not in shared[0].name and API_KEY not in shared[0].read_text()
    written = "".join(out + err for out, err in outputs)
    written += "".join(p.read_text() for p in (tmp_path / "artifacts").rglob("*") if p.is_file())
    written += (tmp_path / "results.db").read_bytes().decode("utf-8", "replace")
    assert PASSWORD not in written and API_KEY not in written


def test_a_key_journey_sends_the_key_to_the_target_only_and_it_never_shows(
    platform: CookiePlatform, loop: LoopThread, tmp_path: Path
) -> None:
    target = pack_target(platform, tmp_path)
    leaky = Journey("key_leak", cuj="kit", service="cookie-api", team="t", channel="api",
                    timeout="5s", retries=0, credentials=("api_key",))  # fmt: skip
    seen: dict[str, Any] = {}

    @leaky.step("call elsewhere, then fail on the target")
    async def call(ctx: StepContext) -> None:
        elsewhere = await ctx.api.get(platform.url.replace("127.0.0.1", "localhost") + "/api/me")
        seen["elsewhere"] = dict(elsewhere.request.headers)
        answer = await ctx.api.get("/api/items/missing")
        ctx.fail(f"header sent: {answer.request.headers['x-platform-key']}")

    result = loop.run(Runner().run(leaky, target))
    assert "x-platform-key" not in seen["elsewhere"]  # another origin gets no credential
    assert status(result) == "assertion"
    assert API_KEY not in json.dumps(result.to_json()) and "[REDACTED]" in json.dumps(
        result.to_json()
    )
    assert platform.logins == 0


def test_literal_credentials_and_secret_settings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "prober.yaml"
    text = (
        f"journeys: [{Path(__file__).parent / 'packs' / 'secret_setting'}]\n"
        "targets:\n"
        "  t:\n"
        "    base_url: http://127.0.0.1:9\n"
        "    credentials: {api_key: {header: X-Key, value: KEY}}\n"
        "    settings: {signing_key: plain-text-secret}\n"
    )
    told = []
    for key in ("plain-text-key", '"${THE_KEY}"'):
        config.write_text(text.replace("KEY}}", key + "}}"))
        done = subprocess.run(
            [sys.executable, "-m", "prober", "validate", "-c", str(config)],
            capture_output=True, text=True, check=False, cwd=ROOT,
            env={**os.environ, "THE_KEY": "from-the-environment"},
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        told.append(done.stderr)
    assert "targets.t.credentials.api_key.value: a literal value in the config file" in told[0]
    assert (
        "targets.t.settings.signing_key: a secret setting written in the config file" in (told[1])
    )
    assert "api_key" not in told[1]


def test_a_repaired_fixture_is_counted(
    platform: CookiePlatform, journeys: dict[str, Journey], loop: LoopThread, tmp_path: Path
) -> None:
    target, runner = pack_target(platform, tmp_path), Runner()
    items = journeys["cookie_items_api"]
    assert status(loop.run(runner.run(items, target))) == "success"
    fixture = next(i for i in platform.items.values() if i["title"] == "prober-fixture-item")
    fixture["colour"] = "red"  # drifted
    result = loop.run(runner.run(items, target))
    assert dict(result.final.annotations)[FIXTURES_REPAIRED] == {"prober-fixture-item": "repaired"}
    assert fixture["colour"] == "blue" or platform.items[fixture["id"]]["colour"] == "blue"
    with BackgroundAgent() as agent:
        sink = DogStatsdSink(parse_url(agent.url), Origin("test", "here"))
        sink.emit(result)
        sink.close()
        point = wait_for(lambda: agent.points(FIXTURE_REPAIRED) or None, 5, what="the count")[0]
    assert (point.value, point.tag("fixture"), point.tag("action")) == (
        1.0, "prober-fixture-item", "repaired",
    )  # fmt: skip


def test_a_network_failure_names_the_url_and_the_limit(
    platform: CookiePlatform, loop: LoopThread, tmp_path: Path
) -> None:
    target = pack_target(platform, tmp_path)
    closed = Journey("closed_port", cuj="kit", service="cookie-api", team="t", channel="api",
                     timeout="5s", retries=0, credentials=())  # fmt: skip

    @closed.step("call a port nobody listens on")
    async def call(ctx: StepContext) -> None:
        await ctx.api.get("/api/items")

    gone = Target(**{**{f: getattr(target, f) for f in ("name", "services", "auth")},
                     "base_url": "http://127.0.0.1:9"})  # fmt: skip
    result = loop.run(Runner().run(closed, gone))
    assert status(result) == "connection", result.to_json()
    message = result.failure.message if result.failure else ""
    assert "GET http://127.0.0.1:9/api/items" in message and "connecting to 127.0.0.1:9" in message
    assert result.failure is not None and result.failure.service == "cookie-api"


@pytest.mark.browser
def test_a_refused_websocket_is_a_connection_failure_of_its_owner(
    loop: LoopThread, driver: BrowserDriver, tmp_path: Path
) -> None:
    with CookiePlatform() as platform:
        platform.ws_url = platform.url.replace("http://", "ws://").rsplit(":", 1)[0] + ":9/socket"
        # The socket's host is one of the platform's origins (its live-updates port).
        target = pack_target(platform, tmp_path)
        live_origin = platform.ws_url.replace("ws://", "http://").removesuffix("/socket")
        target = Target(**{**{f: getattr(target, f) for f in ("name", "base_url", "services",
                                                               "auth", "username", "password")},
                           "extra_origins": (live_origin,)})  # fmt: skip
        live = Journey("live_updates", cuj="kit", service="cookie-web", team="t",
                       channel="browser", timeout="8s", retries=0, session=False)  # fmt: skip

        @live.step("see live updates")
        async def see_live(ctx: StepContext) -> None:
            await ctx.page.goto(ctx.target.base_url + "/live")
            shown = expect(ctx.page.get_by_test_id("live"))
            await ctx.wait("live updates", lambda ms: shown.to_have_text("live", timeout=ms),
                           cap_s=2)  # fmt: skip

        result = loop.run(
            Runner(http=HttpDriver(gate=LoginGate()), browser=driver).run(live, target)
        )
    assert status(result) == "connection", result.to_json()
    assert result.failed_service == "cookie-live"
    assert result.failure is not None and platform.ws_url in result.failure.message


def prober_runs_at_once(
    count: int, env: dict[str, str], *args: str, timeout: float = 120
) -> tuple[list[int], list[tuple[str, str]]]:
    """`count` `prober run`s of the pack started together (incident runs on one host): their
    exit codes and (stdout, stderr)."""
    command = [sys.executable, "-m", "prober", "run", "-c", str(PACK / "prober.yaml"), *args]
    runs = [
        subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    outputs = [run.communicate(timeout=timeout) for run in runs]
    return [run.returncode for run in runs], outputs
