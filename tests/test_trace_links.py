"""Trace links (prober/trace_links.py): the form of the link, and every place a trace id is
printed or written carries it when a Datadog site is set, and none when not."""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from prober.metrics import Origin
from prober.reports import github, junit
from prober.reports.console import failure_details, summary_line
from prober.result import ErrorType
from prober.sinks.dogstatsd import DogStatsdSink, parse_url
from prober.sinks.log import LogSink
from prober.trace import TraceContext
from prober.trace_links import trace_url, with_trace_urls
from tests.background_agent import BackgroundAgent
from tests.prober_cli import ROOT, prober, prober_env
from tests.results import TRACE, attempt, result
from tests.sandbox_process import SandboxProcess, wait_for

LOW_64 = "11803532876627986230"  # int(TRACE[16:], 16)


@pytest.mark.parametrize(
    ("site", "host"),
    [
        ("datadoghq.com", "app.datadoghq.com"),
        ("datadoghq.eu", "app.datadoghq.eu"),
        ("ddog-gov.com", "app.ddog-gov.com"),
        ("us3.datadoghq.com", "us3.datadoghq.com"),
        ("us5.datadoghq.com", "us5.datadoghq.com"),
        ("ap1.datadoghq.com", "ap1.datadoghq.com"),
        (" US3.datadoghq.com ", "us3.datadoghq.com"),
    ],
)
def test_the_link_opens_the_trace_view_of_the_site_by_the_id_datadog_was_sent(
    site: str, host: str
) -> None:
    assert trace_url(site, TRACE) == f"https://{host}/apm/trace/{LOW_64}"
    # ...the very id the prober sends in x-datadog-trace-id.
    sent = TraceContext(TRACE, "00f067aa0ba902b7").headers("probe")["x-datadog-trace-id"]
    assert sent == LOW_64


@pytest.mark.parametrize(
    ("site", "trace_id"),
    [
        (None, TRACE),
        ("", TRACE),
        ("not a site", TRACE),
        ("evil.com/x?y=", TRACE),
        ("datadoghq.com", "<script>"),
        ("datadoghq.com", ""),
    ],
)
def test_no_site_or_no_trace_id_no_link(site: str | None, trace_id: str) -> None:
    assert trace_url(site, trace_id) is None


def _plain(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_every_report_and_sink_links_the_trace_with_a_site_and_none_without() -> None:
    failed = result(attempt(1, ErrorType.TIMEOUT), attempt(2, ErrorType.SERVER_ERROR))
    link = f"https://app.datadoghq.eu/apm/trace/{LOW_64}"

    def written(site: str | None) -> dict[str, str]:
        log = io.StringIO()
        LogSink(Origin("t", "h"), log, site=site).emit(failed)
        linked = with_trace_urls(failed.to_json(), site)
        return {
            "console summary": _plain(summary_line(failed, site)),
            "console details": _plain(failure_details(failed, site)),
            "junit": junit.render([failed], "smoke", now=0, site=site).decode(),
            "github": github.annotation(failed, site) or "",
            "log line": log.getvalue(),
            "--json": json.dumps(linked["trace_url"]),
            "--json attempts": json.dumps([a["trace_url"] for a in linked["attempts"]]),
        }

    for where, text in written("datadoghq.eu").items():
        assert link in text, where
    for where, text in written(None).items():
        assert "/apm/trace/" not in text, where
    # JUnit: the link in the failure's message and in system-out.
    root = ET.fromstring(junit.render([failed], "smoke", now=0, site="datadoghq.eu"))
    case = root.find("testsuite/testcase")
    assert case is not None
    failure, out = case.find("failure"), case.find("system-out")
    assert failure is not None and link in failure.attrib["message"]
    assert out is not None and f"trace_id {TRACE} {link}" in (out.text or "")


def test_datadog_events_link_the_trace() -> None:
    with BackgroundAgent() as agent:
        sink = DogStatsdSink(parse_url(agent.url), Origin("test", "here"), site="datadoghq.com")
        sink.emit(result(attempt(error_type=ErrorType.SERVER_ERROR)))
        sink.emit(result(attempt()))
        sink.close()

        def events() -> list[str] | None:
            found = [p.fields["text"] for p in agent.points() if p.kind == "event"]
            return found if len(found) == 2 else None

        failing, recovered = wait_for(events, 5, 0.05, "the failing and recovered events")
    link = f"https://app.datadoghq.com/apm/trace/{LOW_64}"
    assert link in failing.replace("\\n", "\n") and link in recovered


def test_run_json_links_each_trace_to_the_configured_site(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    with BackgroundAgent() as agent:
        env = prober_env(
            sandbox.url, tmp_path, agent.url,
            PROBER_JOURNEYS=f"[{ROOT / 'tests' / 'packs' / 'serving'}]",
            PROBER_SERVE__CLEANUP_TIMEOUT="0s", PROBER_DATADOG__SITE="us3.datadoghq.com",
            DD_SITE="datadoghq.eu",
        )  # fmt: skip
        started = time.monotonic()
        done = prober("run", "fast_api", "--json", env=env)
    assert done.returncode == 0, done.stderr
    [run] = [json.loads(line) for line in done.stdout.splitlines()]
    # The config's site wins over DD_SITE; the id is the run's, in Datadog's form.
    expected = trace_url("us3.datadoghq.com", run["trace_id"])
    assert expected is not None and expected.startswith("https://us3.datadoghq.com/apm/trace/")
    assert run["trace_url"] == expected
    assert [a["trace_url"] for a in run["attempts"]] == [expected]
    assert time.monotonic() - started < 30
