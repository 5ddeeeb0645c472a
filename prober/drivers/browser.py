"""The browser driver: one Chromium per process, a fresh BrowserContext per run.

Chromium is launched on first use and relaunched after it crashes or disconnects. Each run's
context sends trace headers to the target's origins only (other origins on the page see none),
and reports every target request, failed request and console error to the run's Observer.

What it costs (docs/performance.md measures each): nothing stands in the way of a request. The
trace headers are added inside the page, by an init script that wraps `fetch` and
`XMLHttpRequest` for calls from a target page to its own origin (prober/drivers/page_trace.py),
so no request waits for Python and a page timing is what the page would have measured without
the prober; a target that wants its documents traced too (`trace_documents`) pays one round
trip to Python per navigation for it. The page's `authorization` headers join the run's
redactor as the request listener sees them. Playwright tracing is what `record_trace` asks for
(`TraceLevel`: the runner's policy decides per attempt). The user agent is read once per
launch from the browser itself (`Browser.getVersion`), not from a throwaway page. An init
script keeps each document's paints, layout shifts and long tasks for the page timings read
after every step (prober/drivers/timing_probe.py): three buffered observers, no round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    WebSocket,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from prober.drivers.chromium import ChromiumNotFound, find_chromium, launch_args
from prober.drivers.page_trace import DocumentTracer, init_script
from prober.drivers.timing_probe import INIT_SCRIPT
from prober.errors import BrowserUnavailable
from prober.observe import Exchange, Observer, Wiring, inspect_body, script_url
from prober.redact import Redactor
from prober.trace import with_product_token

DEFAULT_VIEWPORT = {"width": 1280, "height": 800}
# Reading the bodies of a failed step's answers is bounded: evidence, not a download.
INSPECT_LIMIT_S = 2.0
INSPECT_MAX_ANSWERS = 30


class TraceLevel(StrEnum):
    """How much Playwright tracing a run's context records (the runner's policy picks one).

    OFF: nothing. LIGHT: actions, network and console, no DOM snapshots or screencast - the
    part that is cheap for Chromium. FULL: also snapshots and screenshots, for the trace
    viewer's film strip; most of its cost is inside Chromium.
    """

    OFF = "off"
    LIGHT = "light"
    FULL = "full"


@dataclass
class BrowserSession:
    """One run's context and page, plus what it needs to report traffic completely."""

    context: BrowserContext
    page: Page
    tracing: bool
    # Whoever stops the trace hands over the redactor that scrubs it; cookie values are added
    # to it then (a trace records request headers), instead of reading every request's.
    _trace_redactor: Redactor | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _requests: dict[Request, Exchange] = field(default_factory=dict)
    _answers: dict[int, Response] = field(default_factory=dict)
    # Requests to other origins that follow one of the target's redirects -> that 3xx.
    _off_target: dict[Request, Exchange] = field(default_factory=dict)
    _documents: DocumentTracer | None = None

    async def settle(self, limit_s: float = 2.0) -> None:
        """Let response handlers that are still reading error bodies finish (bounded)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=limit_s)

    async def inspect(self, exchanges: list[Exchange]) -> None:
        """For a failed step: check the bodies of its 2xx answers that carry data (declared
        JSON, or fetched by the page's scripts), newest first, within INSPECT_LIMIT_S."""
        wanted = [
            (e, r)
            for e in reversed(exchanges)
            if (r := self._answers.get(id(e))) is not None
            and (e.resource in ("fetch", "xhr") or "json" in (e.content_type or ""))
        ][:INSPECT_MAX_ANSWERS]

        async def read_all() -> None:
            for exchange, response in wanted:
                try:
                    body = await response.body()
                    # Asked of the browser: the headers Playwright reports at once lack the
                    # page's own (accept...) on a redirect's next hop.
                    accept = await response.request.header_value("accept") or ""
                except PlaywrightError:
                    continue  # the page navigated away: Chromium dropped the body
                inspect_body(exchange, body, accept, by_journey=False)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(INSPECT_LIMIT_S):
                await read_all()

    async def stop_tracing(self, path: Any | None = None) -> None:
        """Stop the trace, saving it at `path` (None: discard). Before it is scrubbed, every
        cookie value of the context joins the run's redactor, since the trace holds them."""
        if not self.tracing:
            return
        self.tracing = False
        if path is not None and self._trace_redactor is not None:
            with contextlib.suppress(PlaywrightError):
                for cookie in await self.context.cookies():
                    self._trace_redactor.add(cookie.get("value", ""))
        await self.context.tracing.stop(path=path)

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        if self._documents is not None:
            self._documents.close()
        with contextlib.suppress(PlaywrightError):
            await self.context.close()


class BrowserDriver:
    def __init__(
        self,
        executable_path: str | None = None,
        *,
        headless: bool = True,
        launch_timeout_s: float = 30.0,
    ) -> None:
        self._executable_path = executable_path
        self._headless = headless
        self._launch_timeout_s = launch_timeout_s
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._user_agent: str | None = None
        self._lock = asyncio.Lock()
        self.launches = 0

    async def browser(self) -> Browser:
        """The shared browser, launched (again) when there is none or it went away."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            try:
                chromium = find_chromium(self._executable_path)
            except ChromiumNotFound as exc:
                raise BrowserUnavailable(str(exc)) from exc
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                browser = await self._playwright.chromium.launch(
                    executable_path=str(chromium.path),
                    args=launch_args(),
                    headless=self._headless,
                    timeout=self._launch_timeout_s * 1000,
                )
            except PlaywrightError as exc:
                first_line = (str(exc).strip().splitlines() or [""])[0]
                raise BrowserUnavailable(
                    f"Chromium at {chromium.path} would not start: {first_line}"
                ) from exc
            self._browser = browser
            self.launches += 1
            self._user_agent = await self._default_user_agent(browser)
            return browser

    async def _default_user_agent(self, browser: Browser) -> str:
        """The browser's own user agent, asked of the browser (no page, no context)."""
        cdp = await browser.new_browser_cdp_session()
        try:
            version = await cdp.send("Browser.getVersion")
        finally:
            await cdp.detach()
        return str(version["userAgent"])

    async def session(
        self,
        wiring: Wiring,
        *,
        record_trace: TraceLevel | bool = TraceLevel.OFF,
        storage_state: dict[str, Any] | None = None,
    ) -> BrowserSession:
        """A fresh context and page for one run. `record_trace` True means FULL.

        `storage_state` (cookies and local storage, as `BrowserContext.storage_state()` returns
        them) starts the context signed in: the seam for a login-once browser session, whose
        saving is measured by scripts/bench (the `sign in` step of the side-by-side figures).
        """
        level = TraceLevel.FULL if record_trace is True else TraceLevel(record_trace or "off")
        browser = await self.browser()
        try:
            context = await browser.new_context(
                user_agent=with_product_token(self._user_agent),
                viewport=DEFAULT_VIEWPORT,  # type: ignore[arg-type]
                ignore_https_errors=not wiring.target.verify_tls,
                storage_state=storage_state,  # type: ignore[arg-type]
            )
        except PlaywrightError as exc:
            raise BrowserUnavailable(f"could not open a browser context: {exc}") from exc
        try:
            tracing = level is not TraceLevel.OFF
            target, trace, probe = wiring.target, wiring.trace, wiring.probe
            # The page's calls to its own (target) origin carry the trace headers, added in
            # the page: no request waits for Python (prober/drivers/page_trace.py).
            await context.add_init_script(init_script(target.origins, trace, probe))
            # Paints, layout shifts and long tasks are kept from each document's start, for
            # the page timings read after every step (prober/drivers/timing_probe.py).
            await context.add_init_script(INIT_SCRIPT)
            page = await context.new_page()
            session = BrowserSession(context, page, tracing, wiring.redactor if tracing else None)
            if target.trace_documents:
                documents = DocumentTracer(target.origins, trace, probe)
                session._documents = documents
                await documents.attach(context, page)
                context.on("page", lambda opened: documents.attach_later(context, opened))
            _watch(session, wiring.observer, wiring.redactor)
            wiring.observer.readers.append(session.inspect)
            if tracing:
                full = level is TraceLevel.FULL
                await context.tracing.start(screenshots=full, snapshots=full, sources=False)
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise
        return session

    async def close(self) -> None:
        async with self._lock:
            if self._browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
                self._browser = None
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None


def _watch(session: BrowserSession, observer: Observer, redactor: Redactor) -> None:
    """Record what the page does: requests and how they end, page errors with their script."""
    _watch_network(session, observer, redactor)
    _watch_page(session, observer)


def _watch_network(session: BrowserSession, observer: Observer, redactor: Redactor) -> None:
    """Requests to the target and how they end: answered, finished, failed, redirected away.
    Every `authorization` header a page sends joins the run's redactor here, before anything
    about the request can reach evidence or an artifact."""
    context = session.context
    page = session.page

    def on_request(request: Request) -> None:
        redactor.add(request.headers.get("authorization"))
        hop = request.redirected_from
        via = None if hop is None else session._requests.get(hop)
        exchange = observer.started(request.method, request.url, request.resource_type, via)
        if exchange is not None:
            exchange.navigation = _main_document(request, page)
            session._requests[request] = exchange
        elif via is not None:
            session._off_target[request] = via

    def on_response(response: Response) -> None:
        exchange = session._requests.get(response.request)
        if exchange is None:
            return
        # Status and headers now: Chromium may abort the body later (a script that answered
        # 500 ends as net::ERR_ABORTED), and the status must survive that.
        observer.answered(exchange, response.status, response.headers)
        if response.status < 400:
            if response.status < 300:
                session._answers[id(exchange)] = response
            return
        task = asyncio.ensure_future(_read_error_body(observer, exchange, response))
        session._pending.add(task)
        task.add_done_callback(session._pending.discard)

    def on_failed(request: Request) -> None:
        exchange = session._requests.get(request)
        if exchange is not None:
            observer.broke(exchange, request.failure or "request failed")
            return
        via = session._off_target.pop(request, None)
        if via is not None:
            observer.redirect_failed(via, request.url, request.failure or "request failed")

    def on_finished(request: Request) -> None:
        exchange = session._requests.get(request)
        if exchange is not None:
            observer.body_done(exchange)

    context.on("request", on_request)
    context.on("response", on_response)
    context.on("requestfailed", on_failed)
    context.on("requestfinished", on_finished)


def _watch_page(session: BrowserSession, observer: Observer) -> None:
    """The page's own errors (uncaught exceptions, console errors, refused resources) and its
    WebSockets."""
    page = session.page

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            url = (message.location or {}).get("url") or None
            observer.page_error("console", message.text, url)
            refused = _REFUSED.search(message.text)
            if refused is not None:
                _refused(session, observer, refused.group(1), message.text)

    def on_page_error(error: Any) -> None:
        stack = str(getattr(error, "stack", "") or "")
        text = str(getattr(error, "message", "") or error)
        observer.page_error("exception", text, script_url(stack) or page.url)

    def on_websocket(socket: WebSocket) -> None:
        # A socket the browser could not open, or that broke (socketerror: Chromium's
        # "Error in connection establishment: net::ERR_CONNECTION_REFUSED", a failed handshake,
        # a reset), is network evidence in the step where it happened: a page that waits for
        # its live updates fails with the socket's URL, not an assertion on the page's script.
        # A clean close (the page closed it, or navigated away) is not evidence.
        url = socket.url

        def on_error(error: str) -> None:
            observer.socket_failed(url, f"WebSocket {url}: {error}")

        socket.on("socketerror", on_error)

    page.on("websocket", on_websocket)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)


# Chromium refusing to use a resource it received (X-Content-Type-Options: nosniff with a MIME
# type that does not fit): the request succeeded, only the console says so.
_REFUSED = re.compile(r"Refused to (?:execute script|apply style) from '([^']+)'")


def _refused(session: BrowserSession, observer: Observer, url: str, text: str) -> None:
    """Record a resource the page refused as a blocked request (evidence, and fail fast)."""
    for request, exchange in reversed(list(session._requests.items())):
        if request.url == url and exchange.failure is None:
            observer.broke(exchange, f"blocked: {text[:200]}")
            return


def _main_document(request: Request, page: Page) -> bool:
    """Whether `request` loads the page's own document (not a frame's, not a fetch)."""
    try:
        return request.is_navigation_request() and request.frame == page.main_frame
    except PlaywrightError:
        return False  # a service worker's request has no frame


async def _read_error_body(observer: Observer, exchange: Exchange, response: Response) -> None:
    with contextlib.suppress(PlaywrightError):
        observer.error_body(exchange, await response.body())
