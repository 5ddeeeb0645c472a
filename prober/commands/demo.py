"""`prober demo`: why a journey probe beats a health check, told on one machine in about 90 s.

1. Starts `prober sandbox --faults` (the reference platform) on a free loopback port, its data
   in .prober/demo/, which is emptied first: the demo's SLO period is the demo itself.
2. Opens a DogStatsD receiver of its own (a real UDP socket on loopback) and sends the metrics
   there instead of to an agent.
3. Schedules the journeys as `prober serve` does (the same ProbeScheduler and App), at short
   intervals and without retries, and prints every run as it finishes.
4. Part-way, through `POST /_sandbox/faults`: a hard outage (optimizer-service unavailable) and,
   once every journey is green again, a silent failure (the orchestration engine accepts runs
   and never starts them: stuck in `queued`, every answer a 2xx). Each is held for a minimum
   and until a journey noticed it, then cleared.
5. Stops the schedule as serve does on SIGTERM (Ctrl-C ends the story early the same way) and
   prints the timeline of each fault, the datagrams the receiver got per metric with an example
   line each, `prober slo status` for the period, and where `prober slo export --format
   terraform` wrote. The same story as JSON: .prober/demo/story.json.

`--quick` (or PROBER_DEMO_QUICK=1): three journeys at a 6 s interval, about 30 s, for CI.
Exit 0 when the story held (each fault noticed, every journey that failed recovered), 1 when it
did not, 2 when the demo could not start. Nothing leaves 127.0.0.1.

The demo owns the platform it starts, so it also owns its password: SANDBOX_PASSWORD when set,
else a fresh random one, handed to the sandbox and to the config through the environment (the
config holds no credential, as in production).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from prober.paths import write_atomically
from prober.usage_error import UsageError

if TYPE_CHECKING:
    import httpx

    from prober.catalog import Catalog
    from prober.commands.demo_receiver import Tally
    from prober.commands.demo_timeline import Fault, Recorder
    from prober.commands.rounds import Plan
    from prober.config import LoadedConfig

START_DEADLINE_S = 30.0
DEMO_TARGET = "sandbox"
PASSWORD_VARIABLE = "SANDBOX_PASSWORD"
QUICK_VARIABLE = "PROBER_DEMO_QUICK"
WORKDIR = Path(".prober/demo")
TICK_S = 0.2  # how often the story looks at what the runs have shown
EXAMPLE_WIDTH = 110  # an example datagram line in the summary (story.json has them whole)


class DemoError(UsageError):
    pass


@dataclass(frozen=True, slots=True)
class Pace:
    """The story's timings, in seconds. A journey's worst case, timeout + cleanup, fits its
    interval (no retries), so `validate`'s schedule rule holds for the demo's overrides."""

    interval: float
    timeout: float
    cleanup: float
    run_max_wait: float  # how long the run journeys wait for a run before calling it stuck
    heartbeat: float
    lead_in: float  # all green before the first fault
    fault: float  # the least time each fault stays on
    gap: float  # between one fault's recovery and the next fault
    total: float  # the least length of the whole story
    journeys: tuple[str, ...]  # the default selection (empty: every journey)


FULL = Pace(
    interval=10,
    timeout=8,
    cleanup=2,
    run_max_wait=4,
    heartbeat=5,
    lead_in=15,
    fault=20,
    gap=5,
    total=90,
    journeys=(),
)
QUICK = Pace(
    interval=6,
    timeout=5,
    cleanup=1,
    run_max_wait=2,
    heartbeat=3,
    lead_in=3,
    fault=6,
    gap=1,
    total=0,
    journeys=("workflow_run_api", "workflow_run_browser", "workflow_crud_api"),
)


def quick_requested(flag: bool, environ: Mapping[str, str]) -> bool:
    return flag or environ.get(QUICK_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def faults() -> list[Fault]:
    """The two faults of the story, in order (fresh objects: they record when they ran)."""
    from prober.commands.demo_timeline import Fault

    return [
        Fault(
            "hard outage",
            "optimizer-service is unavailable; every run needs it",
            {"service": "optimizer-service", "mode": "unavailable"},
        ),
        Fault(
            "silent failure",
            "the orchestration engine accepts runs (202) and never starts them: stuck in queued",
            {"service": "orchestration-engine", "mode": "silent", "variant": "stuck"},
        ),
    ]


def password(environ: Mapping[str, str]) -> str:
    """The demo platform's password: SANDBOX_PASSWORD when set, else a fresh random one."""
    return environ.get(PASSWORD_VARIABLE) or secrets.token_urlsafe(12)


@contextmanager
def sandbox(workdir: Path, password: str, *, faults: bool = False) -> Iterator[str]:
    """A `prober sandbox` child process; yields its URL and stops it on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prober",
                "sandbox",
                "--port",
                "0",
                "--db",
                str(workdir / "sandbox.db"),
                "--request-log",
                str(workdir / "requests.jsonl"),
                *(["--faults"] if faults else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, PASSWORD_VARIABLE: password},
        )
    try:
        yield _wait_for_banner(proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_banner(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the sandbox exited with {proc.returncode}; see {log}")
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{") and "sandbox.listening" in line:
                return str(json.loads(line)["url"])
        time.sleep(0.05)
    raise DemoError(f"the sandbox did not start within {START_DEADLINE_S:g}s; see {log}")


def environment(url: str, password: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with the demo target pointed at the sandbox, with its password."""
    return {
        **environ,
        f"PROBER_TARGETS__{DEMO_TARGET.upper()}__BASE_URL": url,
        PASSWORD_VARIABLE: password,
    }


def story_environment(
    base: Mapping[str, str], workdir: Path, statsd_url: str, pace: Pace, journeys: Sequence[str]
) -> dict[str, str]:
    """`base` (from `environment`) with the demo's store, artifacts, receiver and pace. The
    agent variables go: the demo's receiver takes the metrics, whatever the shell exports."""
    overrides = {
        name: {"interval": f"{pace.interval:g}s", "timeout": f"{pace.timeout:g}s", "retries": 0}
        for name in journeys
    }
    return {
        **{k: v for k, v in base.items() if not k.startswith("DD_")},
        "DD_DOGSTATSD_URL": statsd_url,
        "PROBER_STORE__PATH": str((workdir / "results.db").resolve()),
        "PROBER_ARTIFACTS__PATH": str((workdir / "artifacts").resolve()),
        "PROBER_OVERRIDES": json.dumps(overrides),
        "PROBER_SERVE__CLEANUP_TIMEOUT": f"{pace.cleanup:g}s",
        "PROBER_SERVE__HEARTBEAT_INTERVAL": f"{pace.heartbeat:g}s",
        "PROBER_SERVE__SHUTDOWN_GRACE": f"{pace.timeout + pace.cleanup:g}s",
        f"PROBER_TARGETS__{DEMO_TARGET.upper()}__SETTINGS__RUN_MAX_WAIT": f"{pace.run_max_wait:g}s",
    }


def run_demo(
    config: Path | None, patterns: Sequence[str], *, quick: bool, out: IO[str] | None = None
) -> int:
    """The whole demo; the exit code (DemoError, ConfigError, ... when it cannot start)."""
    from prober.commands.demo_receiver import Receiver
    from prober.commands.setup import prepare

    out = out or sys.stdout
    pace = QUICK if quick else FULL
    chosen = list(patterns) or list(pace.journeys)
    secret = password(os.environ)
    # The config and journeys first (a placeholder URL): a wrong one is refused before the
    # last demo's folder is removed or a sandbox starts.
    prepare(config, environment("http://127.0.0.1:1", secret, os.environ))
    shutil.rmtree(WORKDIR, ignore_errors=True)  # the demo's own folder: a fresh SLO period
    receiver = Receiver()
    with sandbox(WORKDIR, secret, faults=True) as url:
        base = environment(url, secret, os.environ)
        _, catalog = prepare(config, base)
        names = [journey.name for journey, _ in catalog.plan(chosen, target=DEMO_TARGET)]
        if not names:
            raise DemoError(f"no enabled journey matches {' '.join(chosen) or 'the config'}")
        loaded, catalog = prepare(
            config, story_environment(base, WORKDIR, receiver.url, pace, names)
        )
        plan = catalog.plan(names, target=DEMO_TARGET)
        receiver.start()
        try:
            told = _Story(loaded, plan, pace, url, out).run()
        finally:
            tally = receiver.stop()
    return _epilogue(
        told, tally=tally, loaded=loaded, catalog=catalog, pace=pace, quick=quick, out=out
    )


@dataclass
class _Told:
    recorder: Recorder
    faults: list[Fault]
    ended: float


class _Story:
    def __init__(
        self, loaded: LoadedConfig, plan: Plan, pace: Pace, url: str, out: IO[str]
    ) -> None:
        from prober.commands.demo_timeline import Recorder

        self.loaded, self.plan, self.pace, self.url = loaded, plan, pace, url
        self.recorder = Recorder(out)
        self.faults = faults()
        self.stop = asyncio.Event()

    def run(self) -> _Told:
        asyncio.run(self._run())
        return _Told(self.recorder, self.faults, time.time())

    async def _run(self) -> None:
        import httpx

        from prober.app import App
        from prober.journey import Channel
        from prober.scheduler import ProbeScheduler

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop.set)
        app = App(self.loaded)
        app.fanout.sinks.append(self.recorder)
        config = app.config
        scheduler = ProbeScheduler(app, self.plan, config.serve)
        say = self.recorder.say
        try:
            self._introduce(app.statsd.destination)
            if any(journey.channel is Channel.BROWSER for journey, _ in self.plan):
                why = await app.browser_ready(config.browser.launch_timeout)
                if why is not None:
                    say(
                        time.time(),
                        f"the browser did not start ({why}): browser journeys record probe_error",
                        "magenta",
                    )
            self.recorder.began = time.time()
            scheduler.start()
            say(
                time.time(),
                f"scheduling {len(self.plan)} journeys every "
                f"{self.pace.interval:g}s, as `prober serve` does",
                "bold",
            )
            async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
                try:
                    await self._script(client)
                finally:
                    await client.delete("/_sandbox/faults")
        except httpx.HTTPError as exc:
            raise DemoError(f"the sandbox's fault API at {self.url} failed: {exc}") from None
        finally:
            say(time.time(), "stopping the schedule: in-flight runs finish, as on SIGTERM")
            await scheduler.stop(config.serve.shutdown_grace)
            await app.aclose()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def _introduce(self, destination: object) -> None:
        from prober.journey import Channel

        console = self.recorder.console
        browser = [j.name for j, _ in self.plan if j.channel is Channel.BROWSER]
        api = [j.name for j, _ in self.plan if j.channel is not Channel.BROWSER]
        console.rule("cuj-prober demo")
        console.print(f"the reference platform   {self.url}  (fault API on: /_sandbox/faults)")
        console.print(
            f"DogStatsD receiver       {destination}  (the demo's own, in place of a Datadog agent)"
        )
        console.print(f"browser journeys         {', '.join(browser) or '-'}")
        console.print(f"API journeys             {', '.join(api) or '-'}")
        console.print(
            f"pace                     every {self.pace.interval:g}s, timeout "
            f"{self.pace.timeout:g}s, no retries; a run waits "
            f"{self.pace.run_max_wait:g}s before it calls a workflow run stuck"
        )
        console.print(
            f"the story                {self.pace.lead_in:g}s green, a hard outage, "
            "recovery, a silent failure, recovery"
        )
        console.print("Ctrl-C ends the story early; the summary still prints.")
        console.rule()

    async def _script(self, client: httpx.AsyncClient) -> None:
        pace = self.pace
        await self._pause(pace.lead_in)
        for index, fault in enumerate(self.faults):
            if self.stop.is_set():
                return
            if index:
                await self._pause(pace.gap)
            await self._play(client, fault)
        await self._until(lambda: False, self.recorder.began + pace.total)

    async def _play(self, client: httpx.AsyncClient, fault: Fault) -> None:
        """Inject `fault`; clear it once it has been on for `pace.fault` and a journey noticed
        (or two intervals later anyway); then wait for every journey that failed to recover."""
        pace, recorder, say = self.pace, self.recorder, self.recorder.say
        answer = await client.post("/_sandbox/faults", json=fault.spec)
        answer.raise_for_status()
        fault.injected_at, fault.fault_id = time.time(), str(answer.json()["id"])
        say(fault.injected_at, f"▶ {fault.kind}: {fault.description}", "bold yellow")
        minimum = fault.injected_at + pace.fault

        def noticed() -> bool:
            return time.time() >= minimum and bool(recorder.failed_during(fault))

        seen = await self._until(noticed, minimum + 2 * pace.interval)
        (await client.delete(f"/_sandbox/faults/{fault.fault_id}")).raise_for_status()
        fault.cleared_at = time.time()
        note = "" if seen else ": no journey noticed it"
        say(fault.cleared_at, f"▶ {fault.kind} cleared{note}", "bold yellow")

        def recovered() -> bool:
            return all(recorder.recoveries(fault).values())

        if seen and await self._until(
            recovered, fault.cleared_at + 3 * pace.interval + pace.timeout
        ):
            say(time.time(), "▶ every journey that failed is green again", "bold green")

    async def _pause(self, seconds: float) -> None:
        await self._until(lambda: False, time.time() + seconds)

    async def _until(self, condition: Callable[[], bool], deadline: float) -> bool:
        """Whether `condition` came true before `deadline` (False also when Ctrl-C stopped the
        story)."""
        while not self.stop.is_set():
            if condition():
                return True
            left = deadline - time.time()
            if left <= 0:
                return False
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(TICK_S, left))
        return False


# The metric contract in the order the summary shows it (prober/metrics.py defines each name).
def contract() -> tuple[str, ...]:
    from prober import metrics as m
    from prober.commands.demo_receiver import EVENT

    return (
        m.RUNS,
        m.DURATION,
        m.STEP_DURATION,
        m.ATTEMPTS,
        m.CAN_COMPLETE,
        EVENT,
        m.HEARTBEAT,
        m.LEFTOVERS,
        m.SKIPPED,
        m.CLEANUP_FAILED,
        m.INTERNAL_ERRORS,
        m.FIXTURE_REPAIRED,
        m.PAGE_TTFB,
        m.PAGE_DOM_CONTENT_LOADED,
        m.PAGE_LOAD,
        m.PAGE_LCP,
        m.PAGE_CLS,
        m.PAGE_LONG_TASKS,
        m.PAGE_LONG_TASK_TIME,
        m.PAGE_REQUEST_DURATION,
        m.PAGE_REQUEST_END,
    )


def _epilogue(
    told: _Told,
    *,
    tally: Tally,
    loaded: LoadedConfig,
    catalog: Catalog,
    pace: Pace,
    quick: bool,
    out: IO[str],
) -> int:
    from rich.table import Table

    from prober.commands import slo
    from prober.commands.demo_timeline import read_requests, render, tell

    recorder = told.recorder
    console = recorder.console
    requests = read_requests(WORKDIR / "requests.jsonl")
    stories = [tell(recorder, fault, requests) for fault in told.faults]
    render(recorder, stories, requests)

    console.rule("what the DogStatsD receiver got")
    table = Table(show_header=True, box=None, padding=(0, 2))
    for column in ("metric", "datagrams", "example line"):
        table.add_column(column, overflow="fold")
    for key in (*contract(), *sorted(set(tally.counts) - set(contract()))):
        example = tally.examples.get(key)
        table.add_row(
            key,
            str(tally.counts.get(key, 0)),
            "(not exercised in this run)" if example is None else _shorten(example.line),
        )
    console.print(table)

    elapsed = max(1.0, told.ended - recorder.began)
    window = f"{math.ceil(elapsed) + 5}s"
    # The story lasts minutes, not the 30 scheduled runs a real decision needs: show the
    # budget of the runs it has, saying so on the command line it prints.
    console.rule(f"$ prober slo status --window {window} --min-runs 1")
    out.flush()
    slo.status(
        loaded,
        catalog,
        window=window,
        window_s=float(math.ceil(elapsed) + 5),
        env=None,
        as_json=False,
        min_runs=1,
        stdout=out,
    )
    terraform_dir = WORKDIR / "slo"
    console.rule(f"$ prober slo export --format terraform --out {terraform_dir}")
    out.flush()
    slo.export(
        loaded,
        catalog,
        fmt="terraform",
        env=None,
        out_dir=terraform_dir,
        locations=[],
        notify_page="",
        notify_ticket="",
        stdout=out,
    )
    for path in sorted(p for p in terraform_dir.rglob("*") if p.is_file()):
        console.print(f"  {path}")

    held = all(s.first_failure is not None and s.recovered_at is not None for s in stories)
    story = {
        "quick": quick,
        "pace": asdict(pace),
        "began": recorder.began,
        "ended": told.ended,
        "runs": len(recorder.seen),
        "journeys": sorted({s.result.journey for s in recorder.seen}),
        "faults": [s.to_json() for s in stories],
        "datagrams": {
            key: {"count": n, "example": tally.examples[key].line}
            for key, n in sorted(tally.counts.items())
        },
        "terraform": str(terraform_dir),
        "held": held,
    }
    written = write_atomically(WORKDIR / "story.json", json.dumps(story, indent=2, sort_keys=True))
    console.rule()
    console.print(
        f"the story as JSON: {written}; the run log of the platform: "
        f"{WORKDIR / 'requests.jsonl'}; failure artifacts: {WORKDIR / 'artifacts'}"
    )
    if not held:
        console.print(
            "the story did not hold: a fault went unnoticed or a journey did not "
            "recover before the end (see the timeline)",
            style="bold red",
        )
        return 1
    return 0


def _shorten(line: str, width: int = EXAMPLE_WIDTH) -> str:
    flat = line.replace("\\n", " ")
    return flat if len(flat) <= width else flat[: width - 1] + "…"
