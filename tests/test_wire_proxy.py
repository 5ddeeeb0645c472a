"""The wire-level fault proxy, against the real sandbox: every fault as seen on the wire."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from prober.trace import TraceContext
from tests.sandbox_process import SandboxProcess, wait_for
from tests.wire_proxy import (
    FROM_BROWSER,
    AddHeaders,
    BadEncoding,
    Delay,
    EmptyBody,
    Hang,
    HtmlErrorPage,
    RateLimit,
    Redirect,
    Reset,
    Respond,
    ThrowInPage,
    Trickle,
    Truncate,
    WireProxy,
    of_journey,
    self_signed_tls,
)

CREDENTIALS = {"username": "prober", "password": "prober"}


@pytest.fixture
def client(wire_proxy: WireProxy, token: str) -> Iterator[httpx.Client]:
    """An authenticated client whose every request goes through the proxy."""
    with httpx.Client(
        base_url=wire_proxy.url, headers={"authorization": f"Bearer {token}"}, timeout=10
    ) as http:
        yield http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- pass-through ------------------------------------------------------------------------------


def test_pass_through_keeps_headers_both_ways_and_records_each_request(
    client: httpx.Client, wire_proxy: WireProxy, sandbox: SandboxProcess, anon: httpx.Client
) -> None:
    trace = TraceContext.new().headers("wire-proxy-test")
    answer = client.get("/api/workflows", headers={**trace, "X-Custom-Case": "Kept"})
    direct = anon.get("/api/workflows", headers=client.headers)
    assert answer.status_code == 200
    assert answer.headers["x-service"] == "workflow-service"
    assert answer.json() == direct.json()
    assert answer.headers["content-type"] == direct.headers["content-type"]

    seen = wire_proxy.requests[-1]
    assert (seen.method, seen.path, seen.rule) == ("GET", "/api/workflows", None)
    assert ("X-Custom-Case", "Kept") in seen.headers  # name case and value as sent
    assert seen.header("traceparent") == trace["traceparent"]

    def logged() -> dict[str, str] | None:
        for entry in reversed(sandbox.logged_requests()):
            if entry["headers"].get("traceparent") == trace["traceparent"]:
                return dict(entry["headers"])
        return None

    received = wait_for(logged, 5, what="the sandbox to log the trace headers")
    assert {name: received.get(name) for name in trace} == trace


def test_request_bodies_reach_the_sandbox_whole_over_one_kept_alive_connection(
    wire_proxy: WireProxy,
) -> None:
    with httpx.Client(base_url=wire_proxy.url, timeout=10) as http:
        token = http.post("/api/auth/login", json=CREDENTIALS).json()["token"]
        chunked = http.post(  # an iterator body goes out with Transfer-Encoding: chunked
            "/api/auth/login", content=iter([b'{"username": "prober", ', b'"password": "prober"}'])
        )
        listed = http.get("/api/workflows", headers={"authorization": f"Bearer {token}"})
    assert chunked.status_code == 200, chunked.text
    assert listed.status_code == 200
    assert wire_proxy.requests[1].header("transfer-encoding") == "chunked"
    assert wire_proxy.requests[1].body == json.dumps(CREDENTIALS).encode()
    assert {r.connection for r in wire_proxy.requests} == {1}


class _ChunkedUpstream(BaseHTTPRequestHandler):
    """Answers the way uvicorn does for a streamed body (chunked) and as HTTP/1.0 does (to EOF)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.send_header("x-service", "chunky")
            self.end_headers()
            for part in (b"hello, ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_response(200)
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_chunked_and_unframed_upstream_bodies_arrive_whole() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedUpstream)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with WireProxy(f"http://127.0.0.1:{server.server_port}") as proxy, httpx.Client() as http:
            chunked = http.get(f"{proxy.url}/chunked")
            unframed = http.get(f"{proxy.url}/eof")
    finally:
        server.shutdown()
        server.server_close()
    assert (chunked.content, chunked.headers["x-service"]) == (b"hello, chunked world", "chunky")
    assert chunked.headers["content-length"] == "20"
    assert "transfer-encoding" not in chunked.headers
    assert unframed.content == b"until the end"


def test_an_unreachable_upstream_answers_502_from_the_proxy() -> None:
    with WireProxy(f"http://127.0.0.1:{_free_port()}") as proxy:
        answer = httpx.get(f"{proxy.url}/login")
    assert answer.status_code == 502
    assert answer.headers["x-wire-proxy"] == "error"


def test_only_a_plain_http_origin_is_accepted_as_upstream() -> None:
    with pytest.raises(ValueError, match="http://host"):
        WireProxy("https://127.0.0.1:1/base")


# --- faults ------------------------------------------------------------------------------------


def test_respond_answers_instead_of_the_sandbox_for_the_first_n_matches(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    rule = wire_proxy.add(
        Respond(
            "GET", "/static/canvas.*", status=500, body="boom", headers=(("x-a", "b"),), times=1
        )
    )
    failed = client.get("/static/canvas.js")
    healthy = client.get("/static/canvas.js")
    assert (failed.status_code, failed.text, failed.headers["x-a"]) == (500, "boom", "b")
    assert "x-service" not in failed.headers  # the sandbox never answered it
    assert healthy.status_code == 200
    assert healthy.headers["x-service"] == "frontend-monolith"
    assert wire_proxy.hits(rule) == 1
    assert [r.rule for r in wire_proxy.requests] == [rule, None]


def test_method_and_glob_select_and_rules_apply_in_the_order_added(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    first = wire_proxy.add(Respond("*", "/api/workflows/*", status=503))
    wire_proxy.add(Respond("GET", "/api/workflows/*", status=504))
    wire_proxy.add(Respond("DELETE", "/api/workflows", status=418))
    assert client.get("/api/workflows/nope").status_code == 503
    assert client.get("/api/workflows").status_code == 200  # "/api/workflows/*" needs the slash
    assert wire_proxy.hits(first) == 1
    wire_proxy.clear()
    assert wire_proxy.requests == []
    assert client.get("/api/workflows/nope").status_code == 404


def test_remove_drops_one_rule_and_keeps_the_others_and_what_was_seen(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    first = wire_proxy.add(Respond("GET", "/api/workflows/*", status=503))
    wire_proxy.add(Respond("GET", "/api/workflows/*", status=504))
    assert client.get("/api/workflows/nope").status_code == 503
    assert wire_proxy.remove(first) == 1
    assert client.get("/api/workflows/nope").status_code == 504
    assert wire_proxy.hits(first) == 0
    assert len(wire_proxy.requests) == 2


def test_throw_in_page_prepends_a_throw_to_a_script_even_when_the_client_has_it_cached(
    client: httpx.Client, wire_proxy: WireProxy, anon: httpx.Client
) -> None:
    direct = anon.get("/static/canvas.js")
    wire_proxy.add(ThrowInPage("GET", "/static/canvas.js", message="boom"))
    answer = client.get("/static/canvas.js", headers={"if-none-match": direct.headers["etag"]})
    assert answer.status_code == 200
    assert answer.content == b'throw new Error("boom");\n' + direct.content
    assert answer.headers["content-length"] == str(len(answer.content))


def test_throw_in_page_inserts_a_throwing_script_before_the_pages_own(
    client: httpx.Client, wire_proxy: WireProxy, anon: httpx.Client
) -> None:
    direct = anon.get("/login").text
    wire_proxy.add(ThrowInPage("GET", "/login"))
    html = client.get("/login").text
    injected = '<script>throw new Error("injected");</script>'
    assert html.replace(injected, "", 1) == direct
    assert html.index(injected) < html.index('<script src="/static/common.js">')


def test_truncate_keeps_status_200_and_a_content_length_for_the_cut_body(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    whole = client.get("/api/workflows").content
    wire_proxy.add(Truncate("GET", "/api/workflows"))
    answer = client.get("/api/workflows")
    assert answer.status_code == 200
    assert answer.content == whole[: len(whole) // 2]
    assert answer.headers["content-length"] == str(len(whole) // 2)
    assert answer.headers["x-service"] == "workflow-service"
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_html_error_page_answers_200_text_html_on_a_json_route(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    wire_proxy.add(HtmlErrorPage("GET", "/api/workflows"))
    answer = client.get("/api/workflows")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Service error</h1>" in answer.text
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_redirect_to_itself_loops(client: httpx.Client, wire_proxy: WireProxy) -> None:
    wire_proxy.add(Redirect("GET", "/workflows/*"))
    answer = client.get("/workflows/x?a=1")
    assert (answer.status_code, answer.headers["location"]) == (302, "/workflows/x?a=1")
    with pytest.raises(httpx.TooManyRedirects):
        client.get("/workflows/x", follow_redirects=True)


def test_two_redirects_make_an_a_b_a_loop(client: httpx.Client, wire_proxy: WireProxy) -> None:
    wire_proxy.add(Redirect("GET", "/", location="/login"))
    wire_proxy.add(Redirect("GET", "/login", location="/"))
    with pytest.raises(httpx.TooManyRedirects):
        client.get("/", follow_redirects=True)
    paths = [r.path for r in wire_proxy.requests]
    assert paths[:4] == ["/", "/login", "/", "/login"]


def test_reset_drops_the_connection_without_an_answer_and_records_when(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    wire_proxy.add(Reset("POST", "/api/workflows"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/api/workflows", json={"name": "never"})
    noticed = time.monotonic()
    [reset] = wire_proxy.resets
    assert (reset.method, reset.path) == ("POST", "/api/workflows")
    assert wire_proxy.requests[-1].at <= reset.at <= noticed
    assert noticed - reset.at < 5  # the client saw it at once, not at its 10 s read timeout
    assert json.loads(wire_proxy.requests[-1].body) == {"name": "never"}  # read before the reset


def test_reset_is_an_rst_not_a_fin(wire_proxy: WireProxy) -> None:
    wire_proxy.add(Reset("GET", "/login"))
    with socket.create_connection(("127.0.0.1", int(wire_proxy.url.rsplit(":", 1)[1]))) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /login HTTP/1.1\r\nhost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):  # a FIN would read as b""
            sock.recv(1024)


def test_rate_limit_answers_429_with_retry_after_on_login(
    wire_proxy: WireProxy, anon: httpx.Client
) -> None:
    wire_proxy.add(RateLimit("POST", "/api/auth/login", retry_after=7))
    answer = httpx.post(f"{wire_proxy.url}/api/auth/login", json=CREDENTIALS)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["code"] == "rate_limited"
    assert anon.post("/api/auth/login", json=CREDENTIALS).status_code == 200  # direct: fine


def test_delay_forwards_after_waiting(client: httpx.Client, wire_proxy: WireProxy) -> None:
    wire_proxy.add(Delay("GET", "/api/workflows", 0.4))
    started = time.monotonic()
    answer = client.get("/api/workflows")
    assert time.monotonic() - started >= 0.4
    assert answer.status_code == 200
    assert answer.headers["x-service"] == "workflow-service"


def test_hang_never_answers_and_stopping_the_proxy_frees_the_client(
    sandbox: SandboxProcess,
) -> None:
    proxy = WireProxy(sandbox.url).start()
    try:
        proxy.add(Hang("GET", "/login"))
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{proxy.url}/login", timeout=0.3)
        port = int(proxy.url.rsplit(":", 1)[1])
        hung = socket.create_connection(("127.0.0.1", port))
        hung.sendall(b"GET /login HTTP/1.1\r\nhost: x\r\n\r\n")
        wait_for(lambda: len(proxy.requests) == 2, 5, what="the proxy to read the request")
    finally:
        stopping = time.monotonic()
        proxy.stop()
    assert time.monotonic() - stopping < 5  # not held by the hung exchanges
    with hung:
        hung.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # closed either way, never answered
            assert hung.recv(1024) == b""
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proxy.url}/login")


def test_when_selects_by_request_headers(client: httpx.Client, wire_proxy: WireProxy) -> None:
    rule = wire_proxy.add(Respond("GET", "/api/workflows", status=503, when=FROM_BROWSER))
    mine = wire_proxy.add(
        Respond("GET", "/api/workflows", status=504, when=of_journey("workflow_run_api"))
    )
    assert client.get("/api/workflows").status_code == 200  # httpx sends no Sec-Fetch-Mode
    assert client.get("/api/workflows", headers={"sec-fetch-mode": "cors"}).status_code == 503
    probe = {"x-cuj-probe": "workflow_run_api/abc123"}
    assert client.get("/api/workflows", headers=probe).status_code == 504
    other = {"x-cuj-probe": "workflow_crud_api/abc123"}
    assert client.get("/api/workflows", headers=other).status_code == 200
    assert (wire_proxy.hits(rule), wire_proxy.hits(mine)) == (1, 1)


def test_empty_body_answers_204_or_an_empty_200(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    wire_proxy.add(EmptyBody("GET", "/api/workflows", times=1))
    wire_proxy.add(EmptyBody("GET", "/api/workflows", status=200, content_type="application/json"))
    no_content = client.get("/api/workflows")
    empty = client.get("/api/workflows")
    assert (no_content.status_code, no_content.content) == (204, b"")
    assert "content-type" not in no_content.headers and "x-service" not in no_content.headers
    assert (empty.status_code, empty.content) == (200, b"")
    assert (empty.headers["content-type"], empty.headers["content-length"]) == (
        "application/json",
        "0",
    )


def test_trickle_sends_the_head_at_once_and_the_body_slowly(
    client: httpx.Client, wire_proxy: WireProxy
) -> None:
    whole = client.get("/api/workflows").content
    wire_proxy.add(Trickle("GET", "/api/workflows", chunk=max(1, len(whole) // 4), interval=0.3))
    started = time.monotonic()
    with client.stream("GET", "/api/workflows") as answer:
        headed = time.monotonic() - started
        assert answer.status_code == 200
        assert answer.headers["x-service"] == "workflow-service"  # the sandbox's own head
        assert answer.headers["content-length"] == str(len(whole))
        body = answer.read()
    took = time.monotonic() - started
    assert headed < 0.3 and took >= 1.1  # four or five chunks, each 0.3 s after the last
    assert body == whole
    # Every read gets bytes within its 1 s read timeout; the whole body still comes late.
    wire_proxy.clear()
    wire_proxy.add(Trickle("GET", "/api/workflows", chunk=1, interval=0.2))
    with pytest.raises(TimeoutError), httpx.Client(base_url=wire_proxy.url, timeout=1) as slow:
        deadline = time.monotonic() + 2
        with slow.stream("GET", "/api/workflows", headers=client.headers) as answer:
            for _ in answer.iter_bytes():
                if time.monotonic() > deadline:
                    raise TimeoutError("the body is still coming after 2 s")


def test_bad_encoding_labels_a_plain_body_gzip(client: httpx.Client, wire_proxy: WireProxy) -> None:
    whole = client.get("/api/workflows", headers={"accept-encoding": "identity"})
    wire_proxy.add(BadEncoding("GET", "/api/workflows"))
    with pytest.raises(httpx.DecodingError):
        client.get("/api/workflows")
    with client.stream("GET", "/api/workflows") as raw:
        assert raw.status_code == 200
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["content-type"] == whole.headers["content-type"]
        assert raw.headers["x-service"] == "workflow-service"
        body = b"".join(raw.iter_raw())
    assert body == whole.content
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(body)


def test_add_headers_replaces_the_same_names_and_keeps_the_rest(
    client: httpx.Client, wire_proxy: WireProxy, anon: httpx.Client
) -> None:
    direct = anon.get("/static/canvas.js")
    wire_proxy.add(
        AddHeaders(
            "GET",
            "/static/canvas.js",
            headers=(("Content-Type", "text/plain"), ("X-Content-Type-Options", "nosniff")),
        )
    )
    answer = client.get("/static/canvas.js")
    assert answer.status_code == 200
    assert answer.headers.get_list("content-type") == ["text/plain"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-service"] == "frontend-monolith"
    assert answer.content == direct.content


def test_tls_serves_a_certificate_no_client_trusts(sandbox: SandboxProcess, tmp_path: Path) -> None:
    with WireProxy(sandbox.url, tls=self_signed_tls(tmp_path)) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{proxy.url}/login")
        insecure = httpx.get(f"{proxy.url}/login", verify=False)
    assert insecure.status_code == 200
    assert insecure.headers["x-service"] == "frontend-monolith"


# --- in Chromium -------------------------------------------------------------------------------


@pytest.mark.browser
def test_chromium_signs_in_through_the_proxy(page: Page, wire_proxy: WireProxy) -> None:
    first = page.goto(f"{wire_proxy.url}/login")
    assert first is not None
    assert first.headers["x-service"] == "frontend-monolith"
    page.get_by_test_id("login-username").fill("prober")
    page.get_by_test_id("login-password").fill("prober")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("list-status")).to_have_text("ready")
    expect(page).to_have_url(f"{wire_proxy.url}/")
    seen = {(r.method, r.path) for r in wire_proxy.requests}
    assert {
        ("GET", "/login"),
        ("GET", "/static/common.js"),
        ("POST", "/api/auth/login"),
        ("GET", "/"),
        ("GET", "/static/list.js"),
        ("GET", "/api/workflows"),
    } <= seen


@pytest.mark.browser
def test_injected_throws_fire_pageerrors_in_chromium(page: Page, wire_proxy: WireProxy) -> None:
    wire_proxy.add(ThrowInPage("GET", "/login", message="from the html"))
    wire_proxy.add(ThrowInPage("GET", "/static/common.js", message="from the script"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(error.message))
    with page.expect_event("pageerror", lambda error: error.message == "from the script"):
        page.goto(f"{wire_proxy.url}/login")
    assert errors == ["from the html", "from the script"]  # in page order, each uncaught


@pytest.mark.browser
def test_chromium_sends_sec_fetch_mode_through_the_prober_style_route(
    page: Page, wire_proxy: WireProxy
) -> None:
    """FROM_BROWSER relies on it: Chromium's requests carry Sec-Fetch-Mode even when a route
    overrides their headers, as the prober's trace route does."""
    page.route("**/*", lambda route: route.fallback(headers={**route.request.headers, "x-a": "b"}))
    page.goto(f"{wire_proxy.url}/login")
    seen = [r for r in wire_proxy.requests if r.path == "/static/common.js"]
    assert seen and seen[0].header("sec-fetch-mode") == "no-cors"
    assert seen[0].header("x-a") == "b"
