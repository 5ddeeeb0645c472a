"""Trace headers without a round trip (issue 23, prober/drivers/page_trace.py), over real
sockets: a target and a third party on two loopback ports, the prober's own browser session.

What must hold: the page's calls to its own origin carry the attempt's trace headers, each with
its own span id; the third party sees none and no CORS preflight; nothing pauses the requests
Playwright's routes would pause (a cacheable script is fetched once for two pages: a route
turns the cache off); the page's authorization header reaches the redactor. With
`trace_documents`, the target's documents carry the headers too, and the cookie the browser
keeps for them still goes along once."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from prober.commands.setup import prepare
from prober.drivers.browser import BrowserDriver
from prober.drivers.page_trace import DocumentTracer, browser_origin
from prober.observe import Observer, Wiring
from prober.redact import Redactor
from prober.target import Target, origin_of
from prober.trace import PROBE_HEADER, TraceContext
from tests.loop_thread import LoopThread
from tests.prober_cli import CONFIG, prober_env

pytestmark = pytest.mark.browser

TOKEN = "Bearer page-made-token-0123456789"
TRACE_NAMES = {
    "traceparent", "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-origin",
    "x-datadog-sampling-priority", "x-datadog-tags", PROBE_HEADER,
}  # fmt: skip

# The target's page: a cacheable script of its own, a third party's image and script, then
# calls to its own origin (fetch with a Request, fetch with a URL object, an XHR that sets its
# own traceparent, which the prober's replaces) and one to the third party.
PAGE = """<!doctype html><html><head><title>loading</title>
<script src="/static/app.js"></script>
<script src="THIRD/tag.js"></script></head><body><img src="THIRD/pixel.png">
<script>
(async () => {
  const auth = {authorization: "TOKEN"};
  await (await fetch(new Request("/api/one", {headers: auth}))).text();
  await (await fetch(new URL("/api/two", location.href))).text();
  await new Promise((done) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", "/api/xhr");
    xhr.setRequestHeader("traceparent", "set-by-the-page");
    xhr.onloadend = done;
    xhr.send();
  });
  await (await fetch("THIRD/api")).text();
  document.title = "done";
})().catch((e) => { document.title = "failed: " + e; });
</script></body></html>"""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Origin:
    """One loopback HTTP server and every request it received."""

    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    peer: str = ""  # the other origin, substituted into the page

    def requests(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


def _serve(origin: Origin) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            origin.seen.append(Seen(self.command, self.path, headers))

        def do_OPTIONS(self) -> None:  # a preflight: recorded, and allowed, so it shows
            self._record()
            self.send_response(204)
            self.send_header("access-control-allow-origin", "*")
            self.send_header("access-control-allow-headers", "*")
            self.end_headers()

        def do_GET(self) -> None:
            self._record()
            extra: list[tuple[str, str]] = []
            if self.path in ("/", "/again"):
                page = PAGE.replace("THIRD", origin.peer).replace("TOKEN", TOKEN)
                body, kind = page.encode(), "text/html"
                extra.append(("set-cookie", "sid=abc123; Path=/"))
            elif self.path.endswith(".js"):
                body, kind = b"window.loaded = true;", "text/javascript"
                extra.append(("cache-control", "max-age=600"))
            else:
                body, kind = b"ok", "text/plain"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.send_header("access-control-allow-origin", "*")
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def origins() -> Iterator[tuple[Origin, Origin]]:
    target, third = Origin(), Origin()
    servers = [_serve(target), _serve(third)]
    target.peer, third.peer = third.url, target.url
    yield target, third
    for server in servers:
        server.shutdown()
        server.server_close()


def _visit(
    loop: LoopThread, driver: BrowserDriver, target_url: str, *, trace_documents: bool
) -> tuple[TraceContext, Redactor]:
    """One session of the prober: the page, then a second page that uses the same script."""
    target = Target("t", target_url, trace_documents=trace_documents)
    trace, redactor = TraceContext.new(), Redactor(())
    wiring = Wiring(target, Observer(target), trace, "j/run1", redactor)

    async def visit() -> None:
        session = await driver.session(wiring)
        try:
            for path in ("/", "/again"):
                await session.page.goto(target_url + path)
                await session.page.wait_for_function("document.title !== 'loading'")
                assert await session.page.title() == "done"
        finally:
            await session.close()

    loop.run(visit(), 30)
    return trace, redactor


def _traced(seen: Seen, trace: TraceContext) -> bool:
    """Whether `seen` carries every trace header, of this attempt."""
    h = seen.headers
    assert set(h) >= TRACE_NAMES, (seen.path, sorted(h))
    assert re.fullmatch(rf"00-{trace.trace_id}-[0-9a-f]{{16}}-01", h["traceparent"]), h
    span = h["traceparent"].split("-")[2]
    assert h["x-datadog-parent-id"] == str(int(span, 16))
    assert {k: h[k] for k in trace.attempt_headers("j/run1")} == trace.attempt_headers("j/run1")
    return True


@pytest.mark.parametrize("trace_documents", [False, True], ids=["calls", "calls+documents"])
def test_trace_headers_reach_the_pages_calls_without_a_round_trip(
    loop: LoopThread, driver: BrowserDriver, origins: tuple[Origin, Origin], trace_documents: bool
) -> None:
    target, third = origins
    trace, redactor = _visit(loop, driver, target.url, trace_documents=trace_documents)

    calls = [s for s in target.seen if s.path.startswith("/api/")]
    assert [s.path for s in calls] == ["/api/one", "/api/two", "/api/xhr"] * 2
    assert all(_traced(s, trace) for s in calls)
    # Each call its own span; the XHR's own traceparent replaced, not joined to the prober's.
    assert len({s.headers["traceparent"] for s in calls}) == len(calls)
    assert calls[0].headers["authorization"] == TOKEN
    assert TOKEN in redactor.secrets

    documents = target.requests("/") + target.requests("/again")
    assert len(documents) == 2
    if trace_documents:
        assert all(_traced(s, trace) for s in documents)
        # The browser's own cookie still goes along, once, beside the prober's headers.
        assert documents[1].headers.get("cookie") == "sid=abc123"
    else:
        assert not any(TRACE_NAMES & set(s.headers) for s in documents)

    # Nothing else was held up or touched: the script came once (the browser cache is on, as
    # no route is), without trace headers.
    (script,) = target.requests("/static/app.js")
    assert not TRACE_NAMES & set(script.headers)

    # The third party: its image, script and the page's call, no trace header, no preflight.
    assert {s.path for s in third.seen} == {"/tag.js", "/pixel.png", "/api"}
    assert [s for s in third.seen if s.method == "OPTIONS" or TRACE_NAMES & set(s.headers)] == []
    assert [s for s in target.seen if s.method == "OPTIONS"] == []


@pytest.mark.parametrize(
    ("origin", "browser"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://App.Example.com:443", "https://app.example.com"),
        ("http://app.example.com:80/x", "http://app.example.com"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_origins_are_written_as_the_browser_writes_them(origin: str, browser: str) -> None:
    assert browser_origin(origin_of(origin)) == browser


@pytest.mark.parametrize(
    ("origin", "hits", "misses"),
    [
        (
            "http://127.0.0.1:8000",
            ["http://127.0.0.1:8000/", "http://127.0.0.1:8000/api/x?y=1", "http://127.0.0.1:8000"],
            ["http://127.0.0.1:8001/", "http://127.0.0.10:8000/", "https://127.0.0.1:8000/",
             "http://evil.example/?u=http://127.0.0.1:8000/", "http://127.0.0.1:80001/"],
        ),
        (
            "https://App.Example.com:443",
            ["https://app.example.com/", "https://app.example.com:443/x", "https://APP.example.com/"],
            ["https://app.example.com:8443/", "http://app.example.com/",
             "https://app.example.com.evil.net/", "https://xapp.example.com/"],
        ),
        ("http://[::1]:9000", ["http://[::1]:9000/a"], ["http://[::1]:9001/a", "http://::1:9000/"]),
    ],
)  # fmt: skip
def test_a_paused_document_is_traced_only_on_the_target_origin_itself(
    origin: str, hits: list[str], misses: list[str]
) -> None:
    tracer = DocumentTracer([origin_of(origin + "/")], TraceContext.new(), "j/1")
    assert [u for u in hits if not tracer.traces(u)] == []
    assert [u for u in misses if tracer.traces(u)] == []


def test_trace_documents_is_a_target_setting_off_by_default(tmp_path: Path) -> None:
    environ = prober_env("http://127.0.0.1:9", tmp_path, "udp://127.0.0.1:9")
    assert prepare(CONFIG, environ)[1].targets["sandbox"].trace_documents is False
    environ["PROBER_TARGETS__SANDBOX__TRACE_DOCUMENTS"] = "true"
    assert prepare(CONFIG, environ)[1].targets["sandbox"].trace_documents is True
