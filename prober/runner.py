"""Running a journey: steps in order under deadlines, retries, cleanups, artifacts -> a result.

`Runner.run()` never raises for a failing journey; every outcome, the prober's own breakage
included, comes back as a `JourneyResult`. Only cancellation propagates, after cleanups ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from playwright.async_api import Error as PlaywrightError

from prober.artifacts import ArtifactStore
from prober.classify import NETWORK_KINDS, PROBER_SERVICE, classify, exchange_rule
from prober.context import CleanupStack, RunInfo, StepContext, call_cleanup
from prober.drivers.browser import BrowserDriver, BrowserSession, TraceLevel
from prober.drivers.http import HttpDriver
from prober.drivers.timing_probe import collect
from prober.errors import JourneyExit, ProbeError, RequestFailed
from prober.journey import Channel, Journey, Phase, Step
from prober.observe import Exchange, Observer, Wiring
from prober.redact import Redactor
from prober.result import (
    AttemptResult,
    BlameSource,
    ErrorType,
    Failure,
    JourneyResult,
    Status,
    StepResult,
    StepStatus,
    Trigger,
)
from prober.setup_steps import run_sweep, session_step, sweep_step
from prober.target import Target
from prober.trace import TraceContext
from prober.values import DEFAULT_CLEANUP_TIMEOUT_S

log = logging.getLogger(__name__)
SETUP_STEP = "setup"
SESSION_STEP = "sign in (session)"
SWEEP_STEP = "sweep leftovers"
PLAYWRIGHT_MARGIN_S = 0.5
# After a request a browser step awaits fails on the network, the step gets this long to notice
# by itself (a better message); then it is stopped, instead of waiting out its deadline.
FAIL_FAST_AFTER_S = 1.0
# A failed cleanup is tried again after these pauses, within the cleanup deadline.
CLEANUP_RETRY_PAUSES_S = (0.5, 1.0, 2.0)
# A step that returns this long after its limit was not stopped by its deadline: its code held
# the event loop (time.sleep, a blocking client) or swallowed the cancellation.
OVERRUN_TOLERANCE_S = 0.25


def trace_level(last_attempt: bool) -> TraceLevel:
    """The tracing policy (docs/performance.md has its cost): an attempt that no retry can
    follow records a full trace (DOM snapshots, screenshots, network); one that would be retried
    records none, since its retry records one. So `prober run` (no retries by default) traces
    its one attempt, while `serve` and `smoke` trace only retries: a healthy scheduled run pays
    nothing. Every failed attempt still leaves a screenshot, console.json and network.json;
    without an artifacts store nothing is traced."""
    return TraceLevel.FULL if last_attempt else TraceLevel.OFF


def new_run_id() -> str:
    return secrets.token_hex(6)


class StepListener(Protocol):
    """Told about steps as they happen (the live table of `prober run`). Must not raise."""

    def step_started(self, run_id: str, attempt: int, step: Step) -> None: ...

    def step_finished(self, run_id: str, attempt: int, result: StepResult) -> None: ...


def probe_error_result(
    journey: Journey,
    target: Target,
    trigger: Trigger,
    message: str,
    *,
    run_id: str | None = None,
    step: str = "runner",
    started_at: float | None = None,
) -> JourneyResult:
    """A run the prober could not carry out (its own fault): never counted against the SLO."""
    failure = Failure(
        ErrorType.PROBE_ERROR, PROBER_SERVICE, message, blame_source=BlameSource.PROBER
    )
    attempt = AttemptResult(
        attempt=1,
        status=Status.PROBE_ERROR,
        trace_id=TraceContext.new().trace_id,
        started_at=time.time() if started_at is None else started_at,
        duration_s=0.0,
        steps=tuple(StepResult(s.name, s.service, StepStatus.SKIPPED, 0.0) for s in journey.steps),
        failure=failure,
        failed_step=step,
    )
    return _journey_result(journey, target, trigger, run_id or new_run_id(), (attempt,))


def _journey_result(
    journey: Journey,
    target: Target,
    trigger: Trigger,
    run_id: str,
    attempts: tuple[AttemptResult, ...],
) -> JourneyResult:
    return JourneyResult(
        journey=journey.name,
        cuj=journey.cuj,
        service=journey.service,
        team=journey.team,
        channel=str(journey.channel),
        target=target.name,
        trigger=trigger,
        run_id=run_id,
        latency_threshold_s=journey.latency_threshold_s,
        attempts=attempts,
        latency_sli=journey.latency_sli,
    )


@dataclass
class _Attempt:
    """Mutable bookkeeping of one attempt; frozen into an AttemptResult at the end."""

    journey: Journey
    target: Target
    number: int
    trace: TraceContext
    observer: Observer
    redactor: Redactor
    cleanups: CleanupStack = field(default_factory=CleanupStack)
    steps: list[StepResult] = field(default_factory=list)
    failure: Failure | None = None
    failed_step: str | None = None
    artifacts: list[str] = field(default_factory=list)
    cleanup_failures: list[str] = field(default_factory=list)
    annotations: dict[str, Any] = field(default_factory=dict)
    internal_errors: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, step: str, failure: Failure) -> None:
        if self.failure is None:
            self.failure, self.failed_step = failure, step

    def internal_error(self, kind: str, exc: BaseException) -> None:
        """The prober's own fault that must not change the verdict: logged and counted."""
        detail = self.redactor.text(f"{type(exc).__name__}: {exc}")
        log.warning("%s of %s: %s (the verdict stands)", kind, self.journey.name, detail)
        self.internal_errors.append((kind, detail))


class Runner:
    def __init__(
        self,
        *,
        http: HttpDriver | None = None,
        browser: BrowserDriver | None = None,
        artifacts: ArtifactStore | None = None,
        cleanup_timeout_s: float = DEFAULT_CLEANUP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http or HttpDriver()
        self._browser = browser
        self._artifacts = artifacts
        self._cleanup_timeout_s = cleanup_timeout_s
        self._clock = clock
        self._wall = wall_clock

    async def run(
        self,
        journey: Journey,
        target: Target,
        trigger: Trigger = Trigger.MANUAL,
        *,
        retries: int | None = None,
        run_id: str | None = None,
        listener: StepListener | None = None,
    ) -> JourneyResult:
        """Run `journey` against `target`; a failed attempt is retried in a fresh context."""
        run_id = run_id or new_run_id()
        allowed = journey.retries if retries is None else retries
        attempts: list[AttemptResult] = []
        for number in range(1, allowed + 2):
            attempt = await self._attempt(
                journey, target, trigger, run_id, number, listener=listener, last=number > allowed
            )
            attempts.append(attempt)
            if attempt.status is Status.SUCCESS:
                break
        return _journey_result(journey, target, trigger, run_id, tuple(attempts))

    async def _attempt(
        self,
        journey: Journey,
        target: Target,
        trigger: Trigger,
        run_id: str,
        number: int,
        *,
        listener: StepListener | None,
        last: bool = True,
    ) -> AttemptResult:
        wiring = self._wiring(journey, target, f"{journey.name}/{run_id}")
        trace = wiring.trace
        state = _Attempt(journey, target, number, trace, wiring.observer, wiring.redactor)
        started_wall = self._wall()
        api = self._http.client(wiring)
        session: BrowserSession | None = None
        try:
            try:
                if journey.channel is Channel.BROWSER:
                    session = await self._open_browser(wiring, last)
            except ProbeError as exc:
                state.fail(
                    SETUP_STEP,
                    Failure(
                        ErrorType.PROBE_ERROR,
                        PROBER_SERVICE,
                        str(exc),
                        exception=type(exc).__name__,
                        blame_source=BlameSource.PROBER,
                    ),
                )
            # Launching the shared browser is the prober's cost, not the customer's: the
            # clock and the deadline start once the context is ready.
            started = self._clock()
            run = RunInfo(journey.name, run_id, trace.trace_id, number, str(trigger))
            ctx = StepContext(
                target=target,
                run=run,
                api=api,
                cleanups=state.cleanups,
                page=None if session is None else session.page,
                clock=self._clock,
                observer=state.observer,
            )
            deadline = started + journey.timeout_s
            for step in self._plan(journey, target, session):
                skip = state.failure is not None and not _continues(state, journey)
                if skip and step.phase is not Phase.TEARDOWN:
                    state.steps.append(
                        StepResult(
                            step.name, step.service, StepStatus.SKIPPED, 0.0, phase=step.phase
                        )
                    )
                    _tell(listener, "step_finished", run_id, number, state.steps[-1])
                    continue
                _tell(listener, "step_started", run_id, number, step)
                state.steps.append(await self._step(step, ctx, state, deadline, session))
                _tell(listener, "step_finished", run_id, number, state.steps[-1])
            # What a customer waited for: the journey's steps - not setup or teardown, not our
            # artifacts or cleanup.
            duration = sum(s.duration_s for s in state.steps if s.phase == Phase.STEP)
            await self._save_artifacts(state, run_id, session)
        finally:
            # Shielded from a second cancellation: a cancelled run still removes its test data.
            await asyncio.shield(self._finish(state, api, session))
        status = Status.SUCCESS
        if state.failure is not None:
            probe_fault = state.failure.error_type is ErrorType.PROBE_ERROR
            status = Status.PROBE_ERROR if probe_fault else Status.FAILURE
        log.debug("attempt %d of %s/%s: %s", number, journey.name, run_id, status)
        return AttemptResult(
            attempt=number,
            status=status,
            trace_id=trace.trace_id,
            started_at=started_wall,
            duration_s=duration,
            steps=tuple(state.steps),
            failure=_redacted(state.failure, state.redactor),
            failed_step=state.failed_step,
            artifacts=tuple(state.artifacts),
            cleanup_failures=tuple(state.cleanup_failures),
            annotations=tuple(state.annotations.items()),
            span_id=trace.span_id,
            internal_errors=tuple(state.internal_errors),
        )

    async def sweep(self, journey: Journey, target: Target) -> int:
        """Run the journey's declared Sweep on its own (serve's schedule); returns how many
        leftovers it found. Raises what the sweep raised."""
        if journey.sweep is None:
            return 0
        run_id = new_run_id()
        wiring = self._wiring(journey, target, f"{journey.name}/sweep-{run_id}")
        api = self._http.client(wiring)
        try:
            ctx = StepContext(
                target=target,
                run=RunInfo(journey.name, run_id, wiring.trace.trace_id, 1, "schedule"),
                api=api,
                cleanups=CleanupStack(),
                clock=self._clock,
                observer=wiring.observer,
            )
            ctx.step_name, ctx.step_service = SWEEP_STEP, journey.service
            async with asyncio.timeout(self._cleanup_timeout_s):
                found: int = await journey_code(run_sweep(journey.sweep, ctx))
                return found
        finally:
            await api.aclose()

    def _wiring(self, journey: Journey, target: Target, probe: str) -> Wiring:
        """A fresh trace, evidence record and redactor for one attempt (or one sweep)."""
        secrets = target.secrets()
        if journey.settings is not None:
            secrets += journey.settings.secrets(target.settings)
        return Wiring(
            target,
            Observer(target, self._clock),
            TraceContext.new(),
            probe,
            Redactor(secrets),
            interval_s=journey.interval_s,
            credentials=journey.credentials,
        )

    def _plan(self, journey: Journey, target: Target, session: BrowserSession | None) -> list[Step]:
        """The steps to run: the kit's implicit setup steps (signing the browser in with the
        API's session, sweeping leftovers), then the journey's own."""
        implicit: list[Step] = []
        if session is not None and journey.session and target.auth.browser_seeded:
            implicit.append(
                Step(SESSION_STEP, journey.service, session_step(session), phase=Phase.SETUP)
            )
        if journey.sweep is not None:
            implicit.append(
                Step(SWEEP_STEP, journey.service, sweep_step(journey.sweep), phase=Phase.SETUP)
            )
        return [*implicit, *journey.steps]

    async def _open_browser(self, wiring: Wiring, last: bool) -> BrowserSession:
        if self._browser is None:
            raise ProbeError("this journey needs a browser and the runner has no browser driver")
        level = TraceLevel.OFF if self._artifacts is None else trace_level(last)
        return await self._browser.session(wiring, record_trace=level)

    async def _step(
        self,
        step: Step,
        ctx: StepContext,
        state: _Attempt,
        deadline: float,
        session: BrowserSession | None,
    ) -> StepResult:
        """Run one step; in a browser, then read what the page measured during it."""
        start = self._clock()
        result = await self._step_outcome(step, ctx, state, deadline, session, start=start)
        if session is None:
            return result
        try:
            page = await collect(
                session.page, state.target, start, self._clock, state.redactor.text
            )
        except Exception as exc:
            # A page that hangs or went away cannot tell: the prober's fault, the verdict stands.
            state.internal_error("page_timings", exc)
            return result
        return result if page is None else dataclasses.replace(result, page=page)

    async def _step_outcome(
        self,
        step: Step,
        ctx: StepContext,
        state: _Attempt,
        deadline: float,
        session: BrowserSession | None,
        *,
        start: float,
    ) -> StepResult:
        state.observer.begin_step(step.name)
        ctx.step_name = step.name
        ctx.step_service = step.service
        remaining = deadline - start
        limit = remaining if step.timeout_s is None else min(step.timeout_s, remaining)
        timer = asyncio.timeout(max(limit, 0.0))
        ctx.deadline = start + max(limit, 0.0)
        ctx.step_limit_s = max(limit, 0.0)
        ctx.annotations = state.annotations
        if session is not None:
            # Playwright's own waits end just before the step's deadline, so they fail with
            # their precise message instead of being cut off.
            session.page.set_default_timeout(max(100.0, (limit - PLAYWRIGHT_MARGIN_S) * 1000))
        try:
            async with timer:
                await self._run_step(step, ctx, state.observer, session)
        except TimeoutError as exc:
            error: Exception = exc
            hit_deadline = timer.expired()
            if hit_deadline:
                whose = "its" if limit < remaining else "the journey's"
                error = TimeoutError(f"step {step.name!r} passed {whose} {limit:g}s deadline")
        except Exception as exc:
            error, hit_deadline = exc, False
        else:
            elapsed = self._clock() - start
            if elapsed <= limit + OVERRUN_TOLERANCE_S:
                return StepResult(
                    step.name, step.service, StepStatus.PASSED, elapsed, phase=step.phase
                )
            return self._overran(step, state, elapsed, limit)
        duration = self._clock() - start
        failure = await self._judge(step, state, session, error, hit_deadline)
        state.fail(step.name, failure)
        return StepResult(
            step.name,
            step.service,
            StepStatus.FAILED,
            duration,
            _redacted(failure, state.redactor),
            phase=step.phase,
        )

    async def _judge(
        self,
        step: Step,
        state: _Attempt,
        session: BrowserSession | None,
        error: Exception,
        hit_deadline: bool,
    ) -> Failure:
        """Classify a failed step. Completing the record and classifying never raise: a failure
        there is the prober's own (logged, counted), and the verdict is decided from the
        evidence that remains - a target fault must never come out as a probe_error."""
        try:
            if session is not None:
                await session.settle()
            for broken in await state.observer.complete(step.name):
                state.internal_error("observe", broken)
        except Exception as exc:
            state.internal_error("observe", exc)
        try:
            return classify(
                error,
                step,
                state.observer.in_step(step.name),
                state.observer.errors_in_step(step.name),
                deadline=hit_deadline,
                now=self._clock(),
            )
        except Exception as exc:
            state.internal_error("classify", exc)
        try:
            return classify(error, step, (), (), deadline=hit_deadline)
        except Exception as exc:
            state.internal_error("classify", exc)
        kind = ErrorType.TIMEOUT if hit_deadline else ErrorType.ASSERTION
        text = f"{type(error).__name__}: {error}"
        return Failure(kind, step.service, text, None, type(error).__name__, BlameSource.STEP)

    def _overran(self, step: Step, state: _Attempt, elapsed: float, limit: float) -> StepResult:
        """A step that returned long after its limit: never a success."""
        failure = Failure(
            ErrorType.PROBE_ERROR,
            PROBER_SERVICE,
            f"step {step.name!r} took {elapsed:.2f}s, {elapsed - limit:.2f}s over its {limit:g}s "
            "limit, and its deadline could not stop it: the journey's code blocked the event "
            "loop (time.sleep, a blocking HTTP client, heavy work) or swallowed the "
            "cancellation. Use `await asyncio.sleep`, ctx.api and the page's async calls",
            None,
            "StepOverran",
            BlameSource.PROBER,
        )
        state.fail(step.name, failure)
        return StepResult(
            step.name, step.service, StepStatus.FAILED, elapsed, failure, phase=step.phase
        )

    async def _run_step(
        self,
        step: Step,
        ctx: StepContext,
        observer: Observer,
        session: BrowserSession | None,
    ) -> None:
        """Run the step; in a browser, stop it FAIL_FAST_AFTER_S after a request it awaits
        failed on the network (unless the page tried that request again meanwhile)."""
        if session is None:
            await journey_code(step.fn(ctx))
            return
        alarm = asyncio.Event()
        broken: list[Exchange] = []

        def on_alarm(exchange: Exchange) -> None:
            # Only this step's own requests: a late failure of an earlier one is not its cause.
            if exchange.step != step.name:
                return
            refused = exchange.failure is not None and exchange_rule(exchange) in NETWORK_KINDS
            failed_page = exchange.fatal_status and (exchange.status or 0) >= 400
            if refused or failed_page:
                broken.append(exchange)
                alarm.set()

        observer.alarm = on_alarm
        task = asyncio.ensure_future(journey_code(step.fn(ctx)))
        try:
            while True:
                waiter = asyncio.ensure_future(alarm.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not task.done():
                    alarm.clear()
                    await asyncio.wait({task}, timeout=FAIL_FAST_AFTER_S)
                if task.done():
                    task.result()  # the step's own outcome, or its exception
                    return
                failed = broken[-1]
                if not _tried_again(observer, failed):
                    raise RequestFailed(
                        f"{failed.describe()}; the step could not go on without it", failed
                    )
        finally:
            observer.alarm = None
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def _save_artifacts(
        self, state: _Attempt, run_id: str, session: BrowserSession | None
    ) -> None:
        """Screenshot, trace, console and network log of a failed attempt. Any failure to
        write them (disk full, unwritable folder, a bad zip) is the prober's own: logged and
        counted as an internal error, never a change of the run's verdict."""
        store = self._artifacts
        folder = None
        if store is not None and (state.failure is not None or store.on_success):
            try:
                folder = store.directory(state.journey.name, run_id)
            except Exception as exc:
                state.internal_error("artifacts", exc)
        if store is None or folder is None:
            if session is not None:
                with contextlib.suppress(PlaywrightError):
                    await session.stop_tracing()
            return
        stem = store.stem(state.number, state.trace.trace_id)
        redactor = state.redactor
        if session is not None:
            shot = folder / f"{stem}-screenshot.png"
            await self._artifact(
                state, shot, session.page.screenshot(path=shot, full_page=True, timeout=5_000)
            )
            if session.tracing:
                trace_zip = folder / f"{stem}-trace.zip"
                if await self._artifact(state, trace_zip, session.stop_tracing(trace_zip)):
                    try:
                        store.scrub_zip(trace_zip, redactor)
                    except Exception as exc:
                        # An unscrubbed trace may hold secrets: it goes, and that is counted.
                        trace_zip.unlink(missing_ok=True)
                        state.artifacts.remove(str(trace_zip))
                        state.internal_error("artifacts", exc)
            console = [
                {"step": e.step, "kind": e.kind, "text": e.text, "url": e.url, "owner": e.owner}
                for e in state.observer.page_errors
            ]
            await self._artifact(
                state,
                folder / f"{stem}-console.json",
                _sync(store.write_json, folder / f"{stem}-console.json", console, redactor),
            )
            timings = [
                {"step": s.name, **s.page.to_json()} for s in state.steps if s.page is not None
            ]
            if timings:
                await self._artifact(
                    state,
                    folder / f"{stem}-timings.json",
                    _sync(store.write_json, folder / f"{stem}-timings.json", timings, redactor),
                )
        network = [_exchange_json(e) for e in state.observer.exchanges]
        await self._artifact(
            state,
            folder / f"{stem}-network.json",
            _sync(store.write_json, folder / f"{stem}-network.json", network, redactor),
        )
        try:
            store.prune(state.journey.name)
        except Exception as exc:
            state.internal_error("artifacts", exc)

    async def _artifact(self, state: _Attempt, path: Any, writing: Any) -> bool:
        try:
            await writing
        except Exception as exc:
            state.internal_error("artifacts", exc)
            return False
        state.artifacts.append(str(path))
        return True

    async def _finish(
        self, state: _Attempt, api: httpx.AsyncClient, session: BrowserSession | None
    ) -> None:
        """Cleanups under their own deadline, then close the context and client."""
        await self._cleanup(state)
        if session is not None:
            await session.close()
        await api.aclose()

    async def _cleanup(self, state: _Attempt) -> None:
        pending = list(reversed(state.cleanups.entries))
        state.observer.begin_step("cleanup")
        try:
            async with asyncio.timeout(self._cleanup_timeout_s):
                while pending:
                    name, callback = pending[0]
                    await self._cleanup_one(state, name, callback)
                    pending.pop(0)
        except TimeoutError:
            for name, _ in pending:
                log.warning(
                    "cleanup %r of %s did not finish within %gs",
                    name,
                    state.journey.name,
                    self._cleanup_timeout_s,
                )
                state.cleanup_failures.append(name)

    async def _cleanup_one(self, state: _Attempt, name: str, callback: Any) -> None:
        """One cleanup, retried with back-off (CLEANUP_RETRY_PAUSES_S) while the cleanup
        deadline allows: a target that fails once must not keep our test data."""
        for pause in (*CLEANUP_RETRY_PAUSES_S, None):
            try:
                await call_cleanup(callback)
                return
            except Exception as exc:
                detail = state.redactor.text(f"{type(exc).__name__}: {exc}")
                if pause is None:
                    log.warning("cleanup %r of %s failed: %s", name, state.journey.name, detail)
                    state.cleanup_failures.append(name)
                    return
                log.info("cleanup %r of %s failed (%s); again in %gs", name,
                         state.journey.name, detail, pause)  # fmt: skip
                await asyncio.sleep(pause)


async def journey_code(running: Awaitable[Any]) -> Any:
    """Await journey code. SystemExit and KeyboardInterrupt it raises come out as JourneyExit:
    asyncio would carry them out of the event loop and stop the whole prober with a
    traceback; here they are one run's probe_error (or its target failure)."""
    try:
        return await running
    except (SystemExit, KeyboardInterrupt) as exc:
        raise JourneyExit(exc) from exc


def _tell(listener: StepListener | None, event: str, *args: Any) -> None:
    if listener is None:
        return
    try:
        getattr(listener, event)(*args)
    except Exception:
        log.exception("step listener failed on %s; the run goes on", event)


def _continues(state: _Attempt, journey: Journey) -> bool:
    """After a failure, only a soft step's failure lets the next steps run."""
    soft = {s.name for s in journey.steps if s.soft}
    return state.failed_step in soft and all(
        r.status is not StepStatus.FAILED or r.name in soft for r in state.steps
    )


async def _sync(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _tried_again(observer: Observer, failed: Exchange) -> bool:
    """Whether the page sent the failed request again (it may yet recover by itself)."""
    return any(
        e.url == failed.url and e.started > failed.started and e.failure is None
        for e in observer.exchanges
    )


def _redacted(failure: Failure | None, redactor: Redactor) -> Failure | None:
    if failure is None:
        return None
    return Failure(
        failure.error_type,
        failure.service,
        redactor.text(failure.message),
        None if failure.evidence is None else redactor.text(failure.evidence),
        failure.exception,
        failure.blame_source,
    )


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    return {
        "step": exchange.step,
        "method": exchange.method,
        "url": exchange.url,
        "owner": exchange.owner,
        "status": exchange.status,
        "responder": exchange.responder,
        "reported_service": exchange.reported_service,
        "upstream": exchange.upstream,
        "message": exchange.message,
        "failure": exchange.failure,
        "resource": exchange.resource,
        "content_type": exchange.content_type,
        "excerpt": exchange.excerpt,
        "body_problem": exchange.body_problem or exchange.body_mismatch,
        "expected": exchange.expected,
        "pending": exchange.pending,
        "duration_s": None if exchange.ended is None else exchange.ended - exchange.started,
    }
