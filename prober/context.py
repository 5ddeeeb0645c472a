"""What a step receives: the page, the API client, the target, the run, shared vars, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx

from prober.errors import (
    FailedAnswer,
    GaveUp,
    JourneyAssertion,
    JourneyExit,
    ProbeError,
    ReportedFailure,
    UnexpectedStatus,
    Unreadable,
    WaitTimedOut,
)
from prober.kit import PackSettings
from prober.metrics import FIXTURES_REPAIRED
from prober.observe import Exchange, Observer
from prober.result import BlameSource
from prober.target import Target, glob_regex

if TYPE_CHECKING:
    from playwright.async_api import Page
    from playwright.async_api import Response as PageResponse

# An answer a journey checks: from ctx.api (httpx) or from the page (Playwright).
Answer = Any

Cleanup = Callable[[], Awaitable[Any] | Any]
T = TypeVar("T")
# ctx.wait leaves this much of the step for reporting before the runner's deadline.
WAIT_MARGIN_S = 1.0
MIN_WAIT_S = 0.5
# How long describing a wait's last state may take (a page that stopped answering).
SEEN_LIMIT_S = 0.5
log = logging.getLogger(__name__)


def _gave_up(exc: Exception) -> bool:
    """Whether `exc` means a wait ran out (not that something answered wrongly)."""
    if isinstance(exc, AssertionError):
        return True
    return type(exc).__name__ == "TimeoutError" and type(exc).__module__.startswith("playwright")


@dataclass(frozen=True, slots=True)
class RunInfo:
    journey: str
    run_id: str
    trace_id: str
    attempt: int
    trigger: str

    def resource_name(self, suffix: str = "") -> str:
        """`prober-<journey>-<run_id>[-suffix]`: what the sweep recognises as probe data."""
        name = f"prober-{self.journey}-{self.run_id}"
        return f"{name}-{suffix}" if suffix else name


@dataclass
class CleanupStack:
    """Teardowns registered the moment a resource exists; run last-in first-out."""

    entries: list[tuple[str, Cleanup]] = field(default_factory=list)

    def push(self, name: str, callback: Cleanup) -> None:
        self.entries.append((name, callback))


async def call_cleanup(callback: Cleanup) -> None:
    """Run a teardown; SystemExit/KeyboardInterrupt it raises become JourneyExit (see
    prober.runner.journey_code), so a cleanup cannot stop the prober."""
    try:
        outcome = callback()
        if inspect.isawaitable(outcome):
            await outcome
    except (SystemExit, KeyboardInterrupt) as exc:
        raise JourneyExit(exc) from exc


class StepContext:
    def __init__(
        self,
        *,
        target: Target,
        run: RunInfo,
        api: httpx.AsyncClient,
        cleanups: CleanupStack,
        page: Page | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
    ) -> None:
        self.target = target
        self.run = run
        self.api = api
        self.vars: dict[str, Any] = {}
        self._cleanups = cleanups
        self._page = page
        self.step_name: str | None = None
        self.step_service: str | None = None
        self.annotations: dict[str, Any] = {}
        self.deadline: float | None = None  # monotonic time the current step must end by
        self.step_limit_s: float | None = None  # the current step's whole time limit
        self._clock = clock
        self._observer = observer or Observer(target, clock)
        self._read: list[Exchange] = []  # answers the journey checked, for a wait's blame

    @property
    def remaining_s(self) -> float:
        """Seconds left before the current step's deadline: budget waits from this."""
        if self.deadline is None:
            return float("inf")
        return max(0.0, self.deadline - self._clock())

    async def wait(
        self,
        what: str,
        check: Callable[[float], Awaitable[T]],
        *,
        cap_s: float,
        seen: Callable[[], Awaitable[Any] | Any] | None = None,
        watch: str | None = None,
    ) -> T:
        """Run `check(timeout_ms)`, a wait for the target to reach a state.

        The wait is bounded by `cap_s` - how long a customer would wait before calling it
        broken - or by the step's deadline less a margin, whichever is nearer. Giving up at the
        cap is the check's own verdict (an `assertion`: the run is stuck, the canvas stays
        empty); giving up because the deadline was nearer is a `timeout`, since the journey ran
        out of time before the customer's patience did.

        Either way the failure says what was awaited, for how long, and what was seen last:
        `seen()` (sync or async) describes the state the page or API was left in ("'queued'").
        It is blamed on whoever kept answering that state: the last answer to a path matching
        the glob `watch` (e.g. "/api/runs/*", the page's own polling), else the last answer
        the wait read with ctx.read_json or ctx.expect_status - named by the platform, else by
        the route map - unless the step's record holds stronger evidence (a failed answer, a
        page error, a request still without an answer).
        """
        began = self._clock()
        marks = (len(self._observer.exchanges), len(self._read))
        left_s = self.remaining_s - WAIT_MARGIN_S
        deadline_bound = left_s < cap_s
        budget = self.step_limit_s
        if budget is not None and cap_s > budget - WAIT_MARGIN_S:
            # Even a wait that began with the step could not reach the customer's patience.
            _patience_warning(self.run.journey, what, cap_s, budget - WAIT_MARGIN_S)
        limit_ms = max(MIN_WAIT_S, min(cap_s, left_s)) * 1000
        try:
            return await check(limit_ms)
        except (GaveUp, WaitTimedOut):
            raise  # a wait inside this one already said what it saw
        except JourneyAssertion as exc:
            raise JourneyAssertion(
                f"waiting for {what}: {exc}", service=exc.service, blame=exc.blame
            ) from exc
        except Exception as exc:
            if not _gave_up(exc):
                raise  # an answer or a transport failure: its own classification stands
            waited = self._clock() - began
            shown = await _described(seen)
            still = f": still {shown}" if shown else f": {exc}"
            answer = self._last_answer(marks, watch)
            service, blame = self.service_of(answer) if answer is not None else (None, None)
            evidence = None if answer is None else answer.describe()
            if deadline_bound:
                raise WaitTimedOut(
                    f"the step's deadline came after {waited:.1f}s of waiting for {what} "
                    f"(a customer would wait {cap_s:g}s){still}",
                    service=service,
                    blame=blame,
                    evidence=evidence,
                ) from exc
            raise GaveUp(
                f"gave up waiting for {what} after {waited:.1f}s{still}",
                service=service,
                blame=blame,
                evidence=evidence,
            ) from exc

    async def poll(
        self,
        what: str,
        check: Callable[[], Awaitable[T]],
        *,
        cap_s: float,
        interval_s: float = 0.1,
        max_interval_s: float = 1.0,
        until: Callable[[T], bool] | None = None,
        describe: Callable[[T], str] | None = None,
        watch: str | None = None,
    ) -> T:
        """Call `check()` until its value is done - `until(value)` is true, or without `until`
        the value is truthy - and return that value; the pause between calls doubles from
        `interval_s` up to `max_interval_s`. Not done at `cap_s` (how long a customer would
        wait): an `assertion` ("gave up waiting for run r1 to finish after 10.0s: still
        'queued'"); the step's deadline first: a `timeout` with the same words. The last value
        is shown by `describe(value)` (default: its repr) and blamed on the service whose
        answer the last `check()` read (see `wait`). Exceptions from `check` (a failed
        answer) end the poll at once."""
        done = until or bool
        last: list[T] = []

        async def attempt(limit_ms: float) -> T:
            began = self._clock()
            pause = interval_s
            while True:
                value = await check()
                last[:] = [value]
                if done(value):
                    return value
                waited = self._clock() - began
                if waited + pause > limit_ms / 1000:
                    raise AssertionError(f"still not done after {waited:.1f}s")
                await asyncio.sleep(pause)
                pause = min(pause * 2, max_interval_s)

        def seen() -> str | None:
            if not last or (last[0] is None and describe is None):
                return None
            shown = describe(last[0]) if describe is not None else _short(last[0])
            return _Verbatim(shown)

        return await self.wait(what, attempt, cap_s=cap_s, seen=seen, watch=watch)

    def _last_answer(self, marks: tuple[int, int], watch: str | None) -> Exchange | None:
        """The answer that showed a wait's last state (see `wait`)."""
        if watch is not None:
            pattern = glob_regex(watch)
            for exchange in reversed(self._observer.exchanges[marks[0] :]):
                answered = exchange.status is not None and exchange.status < 400
                if answered and pattern.match(exchange.path):
                    return exchange
            return None
        read = self._read[marks[1] :]
        return read[-1] if read else None

    async def fixture(
        self,
        name: str,
        *,
        find: Callable[[], Awaitable[T | None]],
        create: Callable[[], Awaitable[T]],
        current: Callable[[T], bool] = lambda _: True,
        repair: Callable[[T], Awaitable[T]] | None = None,
    ) -> T:
        """A long-lived resource the journey checks against (a known workflow): `find()` it
        (None: missing), else `create()` it; when `current(found)` is false its content drifted
        and `repair(found)` puts it right (no `repair`: an `assertion`). Returns what find,
        create or repair returned. A creation or repair is never silent: the run's
        `fixtures_repaired` annotation names the fixture and what was done, counted as
        `cuj.prober.fixture.repaired` (docs/metrics.md) - a fixture that keeps being recreated
        is someone deleting it. One run at a time per target and name in this process, so
        concurrent runs do not each create one (prober.rest.RestCollection.fixture also keeps
        the oldest when two processes raced)."""
        async with self._fixture_turn(name):
            found = await find()
            if found is None:
                made = await create()
                self._fixture_report(name, "created")
                return made
            if not current(found):
                if repair is None:
                    self.fail(f"the fixture {name!r} drifted and the pack cannot repair it")
                repaired = await repair(found)
                self._fixture_report(name, "repaired")
                return repaired
            return found

    @contextlib.asynccontextmanager
    async def _fixture_turn(self, name: str) -> AsyncIterator[None]:
        """This run's turn at the fixture: waiting for another run's turn is bounded by what
        the step has left, so a platform that answers that run slowly fails this step as a
        timeout (blamed here) instead of eating the deadline of the steps after it."""
        lock = _fixture_lock(self.target.name, name)
        limit_s = max(MIN_WAIT_S, self.remaining_s - WAIT_MARGIN_S)
        try:
            async with asyncio.timeout(limit_s):
                await lock.acquire()
        except TimeoutError:
            raise WaitTimedOut(
                f"waited {limit_s:.1f}s for another run of this process to finish checking the "
                f"fixture {name!r}: the platform answers it too slowly",
                service=self.step_service,
                blame="step",
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _fixture_report(self, name: str, action: str) -> None:
        log.warning("journey %s: fixture %r was %s", self.run.journey, name, action)
        done = dict(self.annotations.get(FIXTURES_REPAIRED, {}))
        done[name] = action
        self.annotations[FIXTURES_REPAIRED] = done

    def settings(self, declared: PackSettings) -> Any:
        """The pack's typed settings for this target (defaults filled in; validated at load)."""
        return declared.values(self.target.settings)

    # --- checking the platform's answers -------------------------------------------------------

    def allow_status(self, *statuses: int, path: str | None = None) -> None:
        """Answers with these statuses (to paths matching the glob, e.g. "/api/workflows/*")
        are what this step wants - a "verify deleted" 404 - and are not evidence of a
        failure, for the rest of the current step."""
        self._observer.allow(frozenset(statuses), path)

    def expect_status(self, answer: Answer, *statuses: int) -> Answer:
        """`answer` (ctx.api's or the page's) has one of `statuses`, which are then not
        evidence of a failure. Any other 4xx/5xx fails the step classified by that answer
        (client_error, server_error or dependency_error on the service that answered); any
        other 1xx-3xx is an `assertion` on the service that answered."""
        status = _status_of(answer)
        exchange = self._exchange_of(answer)
        self._read.append(exchange)
        if status in statuses:
            exchange.expected = True
            return answer
        wanted = " or ".join(str(s) for s in statuses)
        said = f"{exchange.method} {exchange.path} answered {status}, not {wanted}"
        if status < 400:
            # It answered, just not what the journey needed (a deleted workflow still there).
            service, source = self.service_of(answer)
            raise JourneyAssertion(said, service=service, blame=source)
        raise UnexpectedStatus(said, exchange)

    async def read_json(
        self, answer: Answer, *fields: str, types: Mapping[str, type | tuple[type, ...]] = {}
    ) -> Any:
        """The JSON body of `answer`, which must hold every dotted field in `fields`, and each
        dotted field in `types` with a value of that type (`{"nodes": list, "version": int}`).

        A body that is not JSON, lacks a field, or holds one of another type fails the step as
        an `assertion` on the service that answered (named by the platform, else the route
        map's owner of the URL): checking the platform's answer is the journey's verdict, not a
        bug in journey code - which is what code that trips over an unchecked type would be.
        """
        exchange = self._exchange_of(answer)
        self._read.append(exchange)
        service, source = self.service_of(answer)
        where = f"{exchange.method} {exchange.path} answered {exchange.status}"
        try:
            body = await _json_of(answer)
        except ValueError as exc:
            # Not JSON where only JSON was accepted (HTML, empty, cut short): the service sent
            # what no client of it could use - judged like that answer in a browser.
            kind = (exchange.content_type or "untyped").split(";")[0].strip() or "untyped"
            exchange.body_problem = f"a {kind} body where JSON was expected ({exc})"
            raise FailedAnswer(
                f"{where} with a {kind} body where JSON was expected: {exc}", exchange
            ) from exc
        except Exception as exc:
            if hasattr(answer, "status_code"):
                raise
            # The page's answer, whose body Chromium no longer holds (too large for its
            # inspector cache, or the page went away): it cannot be checked.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise Unreadable(
                f"{where}, with a body the browser no longer held to check "
                f"({exchange.content_type or 'untyped'}): {first[:200]}",
                service=service,
                blame=source,
                evidence=exchange.describe(),
            ) from exc
        for dotted in (*fields, *types):
            if _missing(body, dotted):
                raise JourneyAssertion(
                    f"{where} without the field {dotted!r}", service=service, blame=source
                )
        for dotted, wanted in types.items():
            value = _field(body, dotted)
            if not _of_type(value, wanted):
                names = " or ".join(t.__name__ for t in _types(wanted))
                raise JourneyAssertion(
                    f"{where} with {dotted!r} a {type(value).__name__} ({_short(value)}), where "
                    f"a {names} was expected",
                    service=service,
                    blame=source,
                )
        return body

    def service_of(self, answer: Answer) -> tuple[str, str]:
        """(service, how we know): the service the platform says answered, else the route
        map's owner of the URL, else the current step's declared service. `answer` is ctx.api's
        or the page's response, or a recorded Exchange."""
        if isinstance(answer, Exchange):
            if answer.responder:
                return answer.responder, str(BlameSource.PLATFORM)
            if answer.owner:
                return answer.owner, str(BlameSource.ROUTE)
            return self.step_service or "unknown", str(BlameSource.STEP)
        headers = _headers_of(answer)
        named = headers.get(self.target.service_header)
        if named:
            return named, str(BlameSource.PLATFORM)
        owner = self.target.service_for_url(_url_of(answer))
        if owner:
            return owner, str(BlameSource.ROUTE)
        return self.step_service or "unknown", str(BlameSource.STEP)

    def _exchange_of(self, answer: Answer) -> Exchange:
        url, status = _url_of(answer), _status_of(answer)
        for exchange in reversed(self._observer.exchanges):
            if exchange.url == url and exchange.status == status:
                return exchange
        # An answer from outside the target's origins: judged on its own.
        method = _method_of(answer)
        exchange = Exchange(method, url, None, self.step_name, 0.0, 0.0, status)
        exchange.responder = _headers_of(answer).get(self.target.service_header)
        return exchange

    async def api_token(self) -> str | None:
        """The API's session token for the target (logging in if there is none yet): to sign
        another channel in with it. None when the target's auth uses no token."""
        from prober.drivers.http import TargetAuth

        auth = self.api.auth
        if isinstance(auth, TargetAuth):
            return await auth.token(self.api)
        return None

    def annotate(self, key: str, value: Any) -> None:
        """Report a value with the run (e.g. how many leftovers a sweep removed)."""
        self.annotations[key] = value

    @property
    def page(self) -> Page:
        if self._page is None:
            raise ProbeError("ctx.page exists only in browser journeys; this one is an api journey")
        return self._page

    def cleanup(self, callback: Cleanup, name: str | None = None) -> None:
        """Register a teardown now; it runs after success, failure, timeout or cancellation."""
        label = name or str(getattr(callback, "__name__", "cleanup"))
        self._cleanups.push(f"{self.step_name}: {label}" if self.step_name else label, callback)

    def fail(
        self, message: str, *, service: str | None = None, answer: Answer | None = None
    ) -> NoReturn:
        """The outcome is wrong although everything answered: an `assertion` failure on
        `service` (else the step's), whatever the step's traffic shows - the author's verdict
        is the strongest evidence there is. With `answer=` instead, the service that sent the
        answer showing the wrong outcome is blamed (a run still `queued`: whoever said so)."""
        if answer is not None and service is None:
            named, source = self.service_of(answer)
            raise JourneyAssertion(message, service=named, blame=source)
        raise JourneyAssertion(message, service=service)

    def reported_failure(self, service: str, message: str) -> NoReturn:
        """The platform reported that `service` failed (e.g. a run's error names it)."""
        raise ReportedFailure(service, message)


_PATIENCE_TOLD: set[tuple[str, str]] = set()


def _patience_warning(journey: str, what: str, cap_s: float, left_s: float) -> None:
    """Once per journey and wait: a customer's patience that the step's deadline cuts short
    turns a stuck state (an `assertion`) into a step `timeout`."""
    if (journey, what) in _PATIENCE_TOLD:
        return
    _PATIENCE_TOLD.add((journey, what))
    log.warning(
        "journey %s: waiting for %s with a customer's patience of %gs, but the step can give "
        "a wait at most %.1fs: a state that never comes will be reported as a timeout of the "
        "step, not as the assertion it is. Lower the wait (e.g. the pack's setting) or raise "
        "the journey's timeout",
        journey, what, cap_s, max(left_s, 0.0),
    )  # fmt: skip


async def _described(seen: Callable[[], Awaitable[Any] | Any] | None) -> str | None:
    """What a wait saw last, for its message; a `seen` that fails or hangs shows nothing."""
    if seen is None:
        return None
    try:
        async with asyncio.timeout(SEEN_LIMIT_S):
            shown = seen()
            if inspect.isawaitable(shown):
                shown = await shown
    except Exception:
        return None
    if shown is None:
        return None
    return str(shown) if isinstance(shown, _Verbatim) else _short(shown)


class _Verbatim(str):
    """A description to show as it is (a poll's `describe`), not as a repr."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _status_of(answer: Answer) -> int:
    status = getattr(answer, "status_code", None)
    if status is None:
        status = answer.status  # Playwright
    return int(status)


def _url_of(answer: Answer) -> str:
    return str(answer.url)


def _method_of(answer: Answer) -> str:
    request = answer.request
    return str(request.method).upper()


def _headers_of(answer: Answer) -> dict[str, str]:
    return {k.lower(): v for k, v in dict(answer.headers).items()}


async def _json_of(answer: Answer) -> Any:
    if hasattr(answer, "status_code"):  # httpx: the body is read already
        return answer.json()
    page_answer: PageResponse = answer
    return await page_answer.json()


def _types(wanted: type | tuple[type, ...]) -> tuple[type, ...]:
    return wanted if isinstance(wanted, tuple) else (wanted,)


def _of_type(value: Any, wanted: type | tuple[type, ...]) -> bool:
    """isinstance, except that JSON's true/false is not a number."""
    kinds = _types(wanted)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _field(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        node = node[part]
    return node


def _missing(body: Any, dotted: str) -> bool:
    node = body
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return True
        node = node[part]
    return False


_FIXTURE_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}


def _fixture_lock(target: str, name: str) -> asyncio.Lock:
    loop = id(asyncio.get_running_loop())  # a lock belongs to one event loop
    return _FIXTURE_LOCKS.setdefault((loop, target, name), asyncio.Lock())
