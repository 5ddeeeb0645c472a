"""Trace headers on the browser's requests to the target, without holding any of them up.

Playwright's routes would add them at the network layer, but a route makes every request of the
context wait for a round trip to Python (and turns the browser cache off), and the page's own
resource timing counts that wait: the canvas API answer ended ~36 ms later in the prober's page
than in a raw Playwright page (docs/performance.md, "Timing fidelity"). So:

- **In the page** (`init_script`, always): every frame's `fetch` and `XMLHttpRequest` add the
  attempt's trace headers, with a fresh span id each, to a call from a target-origin document
  to its own origin, before the request leaves the page - the API calls whose backend spans
  the trace is for. No round trip; a same-origin call never needs a CORS preflight, so the
  headers change nothing the browser does. A cross-origin call (to a third party, or to another
  of the target's origins) is left as the page made it: headers added there would make the
  browser ask the other origin's permission first (a preflight), which a server that does not
  expect them refuses. `BrowserContext.set_extra_http_headers` is no way out: it sends the
  headers to every origin, third parties included, and makes each cross-origin call preflight.
- **Documents** (`DocumentTracer`, a target's `trace_documents: true`): Chromium's Fetch domain,
  on a CDP session of each page, pauses only the target's documents (resource type Document,
  the target's origins) and Python continues them with the headers: one round trip per
  navigation, which the page's timings count (22 to 25 ms on a loaded 2-core machine). Scripts,
  styles, images and fonts are never paused and keep the browser cache.

What carries no trace headers: static assets, `sendBeacon`, `EventSource`, requests made by
workers, cross-origin calls from a target page to another target origin (`extra_origins`), and
documents unless the target asks for them (a popup's first document even then, when it left
before the popup's session was attached).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterable
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from prober.target import origin_of
from prober.trace import SPAN_HEADERS, TraceContext

_DEFAULT_PORTS = {"http": 80, "https": 443}

_SCRIPT = """(() => {
  const cfg = CONFIG;
  const origins = new Set(cfg.origins);
  const ours = new Set([...Object.keys(cfg.fixed), ...cfg.perSpan]);
  const bytes = new Uint8Array(8);
  const span = () => {
    do { crypto.getRandomValues(bytes); } while (bytes.every(b => b === 0));
    return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
  };
  const headers = () => {
    const id = span();
    return [['traceparent', `00-${cfg.trace}-${id}-01`],
            ['x-datadog-parent-id', BigInt('0x' + id).toString()],
            ...Object.entries(cfg.fixed)];
  };
  // Whether a call from this document to `url` gets the headers: same origin, a target's.
  const traced = (url) => {
    try {
      const to = new URL(url, document.baseURI).origin;
      return to === location.origin && origins.has(to);
    } catch (e) { return false; }
  };
  if (!origins.has(location.origin)) return;
  const nativeFetch = window.fetch;
  if (typeof nativeFetch === 'function') {
    window.fetch = function fetch(input) {
      // A Request (of any frame) has its URL; a string or a URL object is one.
      const url = input && typeof input === 'object' && typeof input.url === 'string'
        ? input.url : String(input);
      if (!traced(url)) return nativeFetch.apply(this, arguments);
      const request = new Request(input, arguments[1]);
      for (const [name, value] of headers()) request.headers.set(name, value);
      return nativeFetch.call(this, request);
    };
  }
  const xhr = window.XMLHttpRequest && XMLHttpRequest.prototype;
  if (xhr) {
    // (The wrappers' own names would shadow these inside them: hence the native* names.)
    const nativeOpen = xhr.open, nativeSend = xhr.send, nativeSet = xhr.setRequestHeader;
    const tracedXhr = new WeakSet();
    xhr.open = function open(method, url) {
      if (traced(String(url))) tracedXhr.add(this); else tracedXhr.delete(this);
      return nativeOpen.apply(this, arguments);
    };
    // The prober's values replace the page's own for these names, as fetch's set() does.
    xhr.setRequestHeader = function setRequestHeader(name, value) {
      if (tracedXhr.has(this) && ours.has(String(name).toLowerCase())) return;
      return nativeSet.apply(this, arguments);
    };
    xhr.send = function send(body) {
      if (tracedXhr.has(this)) {
        for (const [name, value] of headers()) nativeSet.call(this, name, value);
      }
      return nativeSend.apply(this, arguments);
    };
  }
})();"""


def browser_origin(origin: str) -> str:
    """An origin as `prober.target.origin_of` writes it (`scheme://host:port`, an IPv6 host
    bare) in the form a browser's `location.origin` and request URLs use: default port left
    out, IPv6 host in brackets."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":")
    host = f"[{host}]" if ":" in host else host
    default = bool(port) and int(port) == _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" if default or not port else f"{scheme}://{host}:{port}"


def init_script(origins: Iterable[str], trace: TraceContext, probe: str) -> str:
    """The script that adds one attempt's trace headers to the page's same-origin calls."""
    config = {
        "origins": sorted(browser_origin(o) for o in origins),
        "trace": trace.trace_id,
        "fixed": trace.attempt_headers(probe),
        "perSpan": list(SPAN_HEADERS),
    }
    return _SCRIPT.replace("CONFIG", json.dumps(config))


class DocumentTracer:
    """Adds trace headers to the target's documents on the pages of one context: Chromium's
    Fetch domain pauses only those (resource type Document, the target's origins), so nothing
    else waits."""

    def __init__(self, origins: Iterable[str], trace: TraceContext, probe: str) -> None:
        self._origins = frozenset(origins)
        self._patterns = [
            {"urlPattern": _wildcard(browser_origin(o)) + "/*", "resourceType": "Document"}
            for o in sorted(self._origins)
        ]
        self._trace = trace
        self._probe = probe
        self._pending: set[asyncio.Task[None]] = set()
        self._pages: set[Page] = set()

    async def attach(self, context: BrowserContext, page: Page) -> None:
        """Start pausing `page`'s target documents (before it navigates anywhere)."""
        if page in self._pages:
            return
        self._pages.add(page)
        cdp = await context.new_cdp_session(page)
        cdp.on("Fetch.requestPaused", lambda event: self._paused(cdp, event))
        await cdp.send("Fetch.enable", {"patterns": self._patterns})

    def attach_later(self, context: BrowserContext, page: Page) -> None:
        """For a page the site opened (a popup): attach without waiting. Its first document
        may already be on its way, and then goes without trace headers."""
        self._spawn(self.attach(context, page))

    def _paused(self, cdp: CDPSession, event: dict[str, Any]) -> None:
        request = event.get("request", {})
        headers = dict(request.get("headers", {}))
        params: dict[str, Any] = {"requestId": event["requestId"]}
        if self.traces(str(request.get("url", ""))):
            ours = self._trace.headers(self._probe)
            headers = {k: v for k, v in headers.items() if k.lower() not in ours}
            headers.update(ours)
            params["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
        self._spawn(cdp.send("Fetch.continueRequest", params))

    def traces(self, url: str) -> bool:
        """Whether a paused document at `url` is the target's (the URL pattern that paused it
        is a glob; this is the exact check)."""
        try:
            return origin_of(url) in self._origins
        except ValueError:  # a port out of range: no origin of the target's
            return False

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        async def quietly() -> None:
            with contextlib.suppress(PlaywrightError):
                await coro  # the page navigated away or closed: the request no longer matters

        task = asyncio.ensure_future(quietly())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def close(self) -> None:
        for task in self._pending:
            task.cancel()


def _wildcard(text: str) -> str:
    """`text` as a literal in a CDP URL pattern (`*` and `?` are wildcards, `\\` escapes)."""
    return "".join("\\" + c if c in "*?\\" else c for c in text)
