"""The authoring kit: sessions reused across runs and channels, setup and teardown steps outside
the journey's latency, sweeps and cleanup retries, exclusive groups, polling, fixtures, typed
settings."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober import Journey, Leftover, PackSettings, Setting, StepContext, Sweep, expect
from prober.config import load_config
from prober.drivers.browser import BrowserDriver
from prober.kit import Duration
from prober.metrics import LEFTOVERS, Origin
from prober.result import JourneyResult
from prober.runner import Runner
from prober.sinks.dogstatsd import DogStatsdSink, parse_url
from prober.target import AuthSpec, Target
from tests.background_agent import BackgroundAgent
from tests.loop_thread import LoopThread
from tests.prober_cli import prober, prober_env
from tests.sandbox_process import SandboxProcess, wait_for
from tests.targets import sandbox_target
from tests.wire_proxy import Respond, WireProxy

WF = "workflow-service"
FE = "frontend-monolith"


def journey(name: str, channel: str = "api", **extra: Any) -> Journey:
    fields: dict[str, Any] = {"cuj": "kit", "service": WF, "team": "test", "channel": channel,
                              "timeout": "10s", "retries": 0, **extra}  # fmt: skip
    return Journey(name, **fields)


def verdict(result: JourneyResult) -> tuple[str, str | None, str | None]:
    kind = str(result.status) if result.error_type is None else str(result.error_type)
    return kind, result.failed_step, result.failed_service


def logins(sandbox: SandboxProcess, since: int) -> int:
    lines = sandbox.logged_requests()[since:]
    return sum(1 for line in lines if line.get("path") == "/api/auth/login")


# --- sessions ---------------------------------------------------------------------------------


def seeded_target(sandbox: SandboxProcess) -> Target:
    """The sandbox, with browsers signed in through the page's own token key."""
    return sandbox_target(
        sandbox.url,
        name="seeded",
        auth=AuthSpec(kind="login", browser_local_storage=(("sandbox-token", "{token}"),)),
    )


@pytest.mark.browser
def test_one_login_serves_every_run_and_the_browser(
    sandbox: SandboxProcess, loop: LoopThread, driver: BrowserDriver
) -> None:
    seeded = seeded_target(sandbox)
    listing = journey("signed_in_list", channel="browser", service=FE)

    @listing.step("open the list")
    async def open_list(ctx: StepContext) -> None:
        await ctx.page.goto(f"{ctx.target.base_url}/")
        await expect(ctx.page.get_by_test_id("list-status")).to_have_text("ready", timeout=5000)

    reading = journey("api_list")

    @reading.step("list")
    async def list_workflows(ctx: StepContext) -> None:
        (await ctx.api.get("/api/workflows")).raise_for_status()

    runner = Runner(browser=driver)
    before = len(sandbox.logged_requests())
    results = [loop.run(runner.run(j, seeded)) for j in (listing, reading, listing, reading)]
    assert [verdict(r)[0] for r in results] == ["success"] * 4, [r.to_json() for r in results]
    assert results[0].steps[0].name == "sign in (session)"
    assert results[0].steps[0].phase == "setup"
    assert logins(sandbox, before) == 1


@pytest.mark.browser
def test_a_journey_whose_cuj_is_signing_in_gets_a_clean_browser(
    sandbox: SandboxProcess, loop: LoopThread, driver: BrowserDriver
) -> None:
    seeded = seeded_target(sandbox)
    signing_in = journey("signs_in", channel="browser", service=FE, session=False)

    @signing_in.step("open the list")
    async def open_list(ctx: StepContext) -> None:
        await ctx.page.goto(f"{ctx.target.base_url}/")
        await ctx.page.wait_for_url("**/login**", timeout=5000)  # not signed in: sent to log in

    result = loop.run(Runner(browser=driver).run(signing_in, seeded))
    assert verdict(result)[0] == "success", result.to_json()
    assert [s.name for s in result.steps] == ["open the list"]


def test_a_401_on_a_reused_session_logs_in_again_once(
    sandbox: SandboxProcess, loop: LoopThread, wire_proxy: WireProxy
) -> None:
    target = sandbox_target(wire_proxy.url, name="relogin")
    reading = journey("relogin_list")

    @reading.step("list")
    async def list_workflows(ctx: StepContext) -> None:
        (await ctx.api.get("/api/workflows")).raise_for_status()

    runner = Runner()
    assert verdict(loop.run(runner.run(reading, target)))[0] == "success"
    revoked = wire_proxy.add(Respond("GET", "/api/workflows", status=401, times=1))
    result = loop.run(runner.run(reading, target))
    assert verdict(result)[0] == "success", result.to_json()
    assert wire_proxy.hits(revoked) == 1
    posts = [r for r in wire_proxy.requests if r.path == "/api/auth/login"]
    assert len(posts) == 2  # the first run's login, and one after the 401


# --- setup and teardown -------------------------------------------------------------------------


def test_setup_and_teardown_time_is_not_the_customers_wait(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    timed = journey("timed", latency_threshold="0.5s")

    @timed.setup("prepare a fixture")
    async def prepare(ctx: StepContext) -> None:
        await asyncio.sleep(0.6)

    @timed.step("the journey")
    async def the_journey(ctx: StepContext) -> None:
        (await ctx.api.get("/api/workflows")).raise_for_status()

    @timed.teardown("tidy up")
    async def tidy(ctx: StepContext) -> None:
        await asyncio.sleep(0.6)

    result = loop.run(Runner().run(timed, sandbox_target(sandbox.url)))
    steps = {s.name: s for s in result.steps}
    assert [s.phase for s in result.steps] == ["setup", "step", "teardown"]
    assert steps["prepare a fixture"].duration_s >= 0.6
    assert steps["tidy up"].duration_s >= 0.6
    assert result.duration_s == steps["the journey"].duration_s
    assert result.within_slo, result.to_json()


def test_a_failed_setup_fails_the_run_and_teardown_still_runs(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    ran: list[str] = []
    broken = journey("broken_setup")

    @broken.setup("prepare")
    async def prepare(ctx: StepContext) -> None:
        ctx.fail("the fixture cannot be created", service=WF)

    @broken.step("the journey")
    async def the_journey(ctx: StepContext) -> None:
        ran.append("step")

    @broken.teardown("tidy up")
    async def tidy(ctx: StepContext) -> None:
        ran.append("teardown")

    result = loop.run(Runner().run(broken, sandbox_target(sandbox.url)))
    assert verdict(result) == ("assertion", "prepare", WF)
    assert ran == ["teardown"]
    assert [str(s.status) for s in result.steps] == ["failed", "skipped", "passed"]


# --- sweeps and cleanups ----------------------------------------------------------------------


def test_a_declared_sweep_removes_only_stale_prefixed_leftovers(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    now = time.time()
    store = {
        "a": Leftover("a", "prober-old", now - 7200),
        "b": Leftover("b", "prober-new", now - 60),
        "c": Leftover("c", "customer-data", now - 7200),
    }

    async def lister(ctx: StepContext) -> list[Leftover]:
        return list(store.values())

    async def deleter(ctx: StepContext, leftover: Leftover) -> None:
        del store[leftover.id]

    swept = journey("swept", sweep=Sweep(list=lister, delete=deleter, max_age="1h"))

    @swept.step("the journey")
    async def the_journey(ctx: StepContext) -> None:
        return None

    result = loop.run(Runner().run(swept, sandbox_target(sandbox.url)))
    assert sorted(store) == ["b", "c"]
    assert result.steps[0].name == "sweep leftovers" and result.steps[0].phase == "setup"
    assert dict(result.final.annotations)["leftovers"] == 1
    with BackgroundAgent() as agent:
        sink = DogStatsdSink(parse_url(agent.url), Origin("test", "here"))
        sink.emit(result)
        sink.close()
        point = wait_for(lambda: agent.points(LEFTOVERS) or None, 5, what="leftovers")[0]
    assert (point.value, point.tag("journey")) == (1.0, "swept")


def test_a_cleanup_that_fails_once_is_retried(sandbox: SandboxProcess, loop: LoopThread) -> None:
    attempts: list[str] = []
    flaky = journey("flaky_cleanup")

    @flaky.step("create")
    async def create(ctx: StepContext) -> None:
        async def remove_once_it_works() -> None:
            attempts.append("once")
            if attempts.count("once") == 1:
                raise httpx.ConnectError("the target blinked")

        async def never_works() -> None:
            attempts.append("never")
            raise httpx.ConnectError("down for good")

        ctx.cleanup(remove_once_it_works, "delete the workflow")
        ctx.cleanup(never_works, "delete the other one")

    result = loop.run(Runner(cleanup_timeout_s=10).run(flaky, sandbox_target(sandbox.url)))
    assert attempts.count("once") == 2
    assert attempts.count("never") == 4  # the first try and three retries
    assert result.final.cleanup_failures == ("create: delete the other one",)


# --- exclusive groups ---------------------------------------------------------------------------


def test_exclusive_groups_never_run_together_in_smoke(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """Two journeys that change shared state; `smoke` starts them side by side. Each fails if
    the other is running (the pack counts, in the process both share)."""
    env = prober_env(sandbox.url, tmp_path, "udp://127.0.0.1:9")
    env["PROBER_JOURNEYS"] = f"[{Path(__file__).parent / 'packs' / 'grouped'}]"
    done = prober("smoke", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    env["GROUPED_PACK_GROUP"] = ""  # the same pack without the group: they collide
    clash = prober("smoke", env=env)
    assert clash.returncode == 1, clash.stdout + clash.stderr
    assert "another run of the group was in flight" in clash.stdout + clash.stderr


# --- polling and fixtures ---------------------------------------------------------------------


def test_poll_returns_the_first_truthy_value_or_gives_up_at_its_cap(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    polled = journey("polled")
    calls: list[int] = []

    @polled.step("ready soon")
    async def ready_soon(ctx: StepContext) -> None:
        async def third_time() -> int:
            calls.append(1)
            return len(calls) if len(calls) >= 3 else 0

        ctx.vars["got"] = await ctx.poll("the third call", third_time, cap_s=5, interval_s=0.01)

    @polled.step("never ready")
    async def never_ready(ctx: StepContext) -> None:
        async def nothing() -> None:
            return None

        await ctx.poll("the run to finish", nothing, cap_s=0.5, interval_s=0.05)

    result = loop.run(Runner().run(polled, sandbox_target(sandbox.url)))
    assert len(calls) == 3
    assert verdict(result) == ("assertion", "never ready", WF), result.to_json()
    assert "the run to finish" in (result.failure.message if result.failure else "")


def test_a_fixture_is_created_once_and_repaired_by_content(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    store: dict[str, dict[str, Any]] = {}
    created: list[int] = []
    wanted = {"nodes": ["a", "b"]}
    fixtured = journey("fixtured")

    @fixtured.step("use the fixture")
    async def use(ctx: StepContext) -> None:
        async def find() -> dict[str, Any] | None:
            await asyncio.sleep(0.05)  # a round trip: concurrent runs interleave here
            return store.get("fx")

        async def create() -> dict[str, Any]:
            created.append(1)
            store["fx"] = dict(wanted)
            return store["fx"]

        async def repair(found: dict[str, Any]) -> dict[str, Any]:
            store["fx"] = dict(wanted)
            return store["fx"]

        got = await ctx.fixture("fx", find=find, create=create,
                                current=lambda f: f == wanted, repair=repair)  # fmt: skip
        assert got == wanted

    target, runner = sandbox_target(sandbox.url), Runner()

    async def together() -> list[JourneyResult]:
        return list(await asyncio.gather(*(runner.run(fixtured, target) for _ in range(4))))

    assert {verdict(r)[0] for r in loop.run(together())} == {"success"}
    assert created == [1]
    store["fx"] = {"nodes": ["a"]}  # drifted: same count would not have shown it either way
    assert verdict(loop.run(runner.run(fixtured, target)))[0] == "success"
    assert store["fx"] == wanted and created == [1]


# --- typed settings -----------------------------------------------------------------------------


def test_typed_settings_parse_and_validate(tmp_path: Path) -> None:
    settings = PackSettings(
        wait=Setting(Duration, "20s", "how long to wait"),
        retries=Setting(int, 2, "how often"),
        name=Setting(str, "prober-fixture", "which one"),
    )
    values = settings.values({"wait": "1m", "retries": "3"})
    assert (values.wait, values.retries, values.name) == (60.0, 3, "prober-fixture")
    assert settings.problems({"wait": "soon", "retries": "1.5", "name": "x"}) == [
        ("wait", "'soon' is not a duration like 20s; how long to wait"),
        ("retries", "'1.5' is not a whole number; how often"),
    ]
    with pytest.raises(AttributeError, match="declared: name, retries, wait"):
        _ = values.retry


def test_validate_names_each_bad_pack_setting(tmp_path: Path) -> None:
    config = tmp_path / "prober.yaml"
    pack = Path(__file__).resolve().parent.parent / "journeys" / "workflows"
    config.write_text(
        f"journeys: [{pack}]\n"
        "targets:\n"
        "  s:\n"
        "    base_url: http://127.0.0.1:9\n"
        "    settings: {run_max_wait: soon, fixtur_name: x, sweep_max_age: 0s}\n"
    )
    load_config(config, {})  # the file itself is valid; the packs judge the settings
    done = prober("validate", "-c", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "targets.s.settings.run_max_wait: 'soon' is not a duration" in done.stderr
    assert "targets.s.settings.fixtur_name: no pack declares this setting; did you mean" in (
        done.stderr
    )
    assert "sweep_max_age" not in done.stderr
    assert "Traceback" not in done.stderr


# --- prober new pack ----------------------------------------------------------------------------


@pytest.mark.browser
def test_a_new_pack_validates_and_runs_green_against_the_sandbox(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    made = prober("new", "pack", "my_platform", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    pack = tmp_path / "my_platform"
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(pack)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    env = prober_env(sandbox.url, tmp_path, "udp://127.0.0.1:9")
    env.update(
        MY_PLATFORM_PASSWORD="prober",
        PROBER_TARGETS__MY_PLATFORM__BASE_URL=sandbox.url,
    )
    env.pop("PROBER_TARGETS__SANDBOX__BASE_URL")
    config = str(pack / "prober.yaml")
    assert prober("validate", "-c", config, env=env).returncode == 0
    ran = prober("run", "-c", config, "--json", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = {r["journey"]: r for r in map(json.loads, ran.stdout.splitlines())}
    assert set(runs) == {"my_platform_crud_api", "my_platform_home_browser"}
    assert runs["my_platform_home_browser"]["steps"][0]["name"] == "sign in (session)"
    again = prober("new", "pack", "my_platform", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_target_url_no_route_owns_is_reported_once_with_the_pattern_to_add(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prober.observe import Observer

    observer = Observer(sandbox_target("http://127.0.0.1:9", name="partial"))
    with caplog.at_level("WARNING", logger="prober.observe"):
        for wf in ("wf_0a1b2c3d4e5f", "wf_9f8e7d6c5b4a"):
            observer.started("GET", f"http://127.0.0.1:9/api/flows/{wf}/nodes")
        observer.started("GET", "http://127.0.0.1:9/api/workflows/wf_0a1b2c3d4e5f")  # routed
        observer.started("GET", "https://cdn.example/x.js")  # not the target's
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 1, told
    assert "no route-map entry owns /api/flows/*/nodes" in told[0]
    assert 'SERVICE: ["/api/flows/*/nodes"]' in told[0]


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "control"])
def test_exclusive_groups_never_run_together_in_serve(
    sandbox: SandboxProcess, tmp_path: Path, grouped: bool
) -> None:
    """Serve starts the two every second, half a second apart, and each holds the shared state
    for 0.6 s: without the group they collide; with it, never."""
    from tests.test_serve import start_serve

    overrides = {n: {"interval": "1s", "timeout": "1s"} for n in ("grouped_deploy_a",
                                                                  "grouped_deploy_b")}  # fmt: skip
    with BackgroundAgent() as agent:
        serve = start_serve(
            sandbox, tmp_path, agent,
            PROBER_JOURNEYS=f"[{Path(__file__).parent / 'packs' / 'grouped'}]",
            PROBER_OVERRIDES=json.dumps(overrides), PROBER_SERVE__JITTER="0",
            GROUPED_PACK_HOLD_S="0.6", GROUPED_PACK_GROUP="shared-flows" if grouped else "",
        )  # fmt: skip
        wait_for(lambda: min(len(serve.runs(n)) for n in overrides) >= 3, 30, what="3 runs each")
        assert serve.stop() == 0, serve.output()
    runs = [r for n in overrides for r in serve.runs(n)]
    collided = [r for r in runs if r.status != "success"]
    if grouped:
        assert collided == [], [(r.journey, r.error_type) for r in collided]
    else:
        assert collided, "the control never collided: the test proves nothing"
