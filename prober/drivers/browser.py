"""The browser driver: one Chromium per process, a fresh BrowserContext per run.

Chromium is launched on first use and relaunched after it crashes or disconnects. Each run's
context sends trace headers to the target's origins only (other origins on the page see none),
and reports every target request, failed request and console error to the run's Observer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from prober.classify import browser_failure_kind
from prober.drivers.chromium import ChromiumNotFound, find_chromium, launch_args
from prober.errors import BrowserUnavailable
from prober.observe import Exchange, Observer, Wiring
from prober.trace import with_product_token

DEFAULT_VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class BrowserSession:
    """One run's context and page, plus what it needs to report traffic completely."""

    context: BrowserContext
    page: Page
    tracing: bool
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _requests: dict[Request, Exchange] = field(default_factory=dict)

    async def settle(self, limit_s: float = 2.0) -> None:
        """Let response handlers that are still reading error bodies finish (bounded)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=limit_s)

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
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
        context = await browser.new_context()
        try:
            page = await context.new_page()
            return str(await page.evaluate("navigator.userAgent"))
        finally:
            await context.close()

    async def session(self, wiring: Wiring, *, record_trace: bool = False) -> BrowserSession:
        browser = await self.browser()
        try:
            context = await browser.new_context(
                user_agent=with_product_token(self._user_agent),
                viewport=DEFAULT_VIEWPORT,  # type: ignore[arg-type]
                ignore_https_errors=not wiring.target.verify_tls,
            )
        except PlaywrightError as exc:
            raise BrowserUnavailable(f"could not open a browser context: {exc}") from exc
        try:
            page = await context.new_page()
            session = BrowserSession(context, page, record_trace)
            await context.route("**/*", _TraceRouter(wiring))
            _watch(session, wiring.observer)
            if record_trace:
                await context.tracing.start(screenshots=True, snapshots=True, sources=False)
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


class _TraceRouter:
    """Adds trace headers to requests for the target's origins; lets every other one through."""

    def __init__(self, wiring: Wiring) -> None:
        self._target = wiring.target
        self._trace = wiring.trace
        self._probe = wiring.probe
        self._redactor = wiring.redactor

    async def __call__(self, route: Route, request: Request) -> None:
        try:
            if not self._target.owns(request.url):
                await route.fallback()
                return
            # all_headers(), not headers: the override replaces every header, and `headers`
            # leaves out cookies and the user agent.
            headers = await request.all_headers()
            for name in ("authorization", "cookie"):
                if name in headers:
                    self._redactor.add(headers[name])
            headers.update(self._trace.headers(self._probe))
            await route.fallback(headers=headers)
        except PlaywrightError:
            pass  # the page navigated away or closed; the request no longer matters


def _watch(session: BrowserSession, observer: Observer) -> None:
    context = session.context

    def on_request(request: Request) -> None:
        exchange = observer.started(request.method, request.url)
        if exchange is not None:
            session._requests[request] = exchange

    def on_response(response: Response) -> None:
        exchange = session._requests.get(response.request)
        if exchange is None:
            return
        task = asyncio.ensure_future(_record_response(observer, exchange, response))
        session._pending.add(task)
        task.add_done_callback(session._pending.discard)

    def on_failed(request: Request) -> None:
        exchange = session._requests.get(request)
        if exchange is not None:
            failure = request.failure or "request failed"
            observer.broke(exchange, failure, browser_failure_kind(failure))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            observer.console_error(message.text)

    def on_page_error(error: Any) -> None:
        observer.console_error(f"uncaught: {error}")

    context.on("request", on_request)
    context.on("response", on_response)
    context.on("requestfailed", on_failed)
    session.page.on("console", on_console)
    session.page.on("pageerror", on_page_error)


async def _record_response(observer: Observer, exchange: Exchange, response: Response) -> None:
    body: Any = None
    if response.status >= 400:
        with contextlib.suppress(PlaywrightError, ValueError):
            body = await response.json()
    observer.answered(exchange, response.status, response.headers, body)
