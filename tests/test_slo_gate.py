"""`prober slo gate`: go / stop / cannot decide from the local store, and the same three through
a local HTTP server answering like Datadog's SLO API (the one fake: Datadog itself), including
403 and a hung backend."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from prober.commands import slo
from prober.errors import JourneyDefinitionError
from prober.journey import Journey
from prober.slo.policy import Action
from tests.prober_cli import prober
from tests.slo_runs import MIN, T0, config, fill

RUN_API = "workflow_run_api"  # orchestration-engine, team orchestration, slo_target 0.99
NOW = T0 + 1440 * MIN
API_KEY, APP_KEY = "dd-api-key-not-for-logs", "dd-app-key-not-for-logs"
KEYS = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY}


def gate(store: Path, *, environ: dict[str, str] | None = None, **options: Any) -> tuple[int, str]:
    loaded, catalog = config(store)
    out = io.StringIO()
    code = slo.gate(
        loaded, catalog, patterns=options.pop("patterns", [RUN_API]),
        service=options.pop("service", None), env="prod",
        source=options.pop("source", "store"), override=options.pop("override", None),
        environ=environ or {}, now=NOW, stdout=out, **options,
    )  # fmt: skip
    return code, out.getvalue()


# --- from the local store ---------------------------------------------------------------------


def test_go_with_budget_left(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    fill(store, RUN_API, range(1440), lambda i: "fail" if i % 200 == 0 else "ok")
    code, out = gate(store)
    # 8 of 1440 runs failed: 1 - 8/14.4 = 44.4% of the budget left, burn 0.56x over 24 h
    assert code == 0, out
    assert out.startswith("SLO gate GO for all services in env prod (budgets from store)")
    assert f"[ok] {RUN_API} availability: 44.4% of the 30-day budget left -> no policy action" \
        in out  # fmt: skip


def test_stop_when_the_budget_is_exhausted_then_override(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    fill(store, RUN_API, range(1440), lambda i: "fail" if 600 <= i < 630 else "ok")
    code, out = gate(store, environ={"GITHUB_ACTIONS": "true"})
    # 30 of 1440 failed: 1 - 30/14.4 = -108.3% left; burn over 24 h 2.08x (no post-mortem)
    assert code == 1, out
    assert (f"[STOP] {RUN_API} availability: -108.3% of the 30-day budget left -> 25% of the "
            "budget left or less: warn the owner; budget exhausted: freeze deploys of "
            "orchestration-engine (owner orchestration)") in out  # fmt: skip
    assert "::error title=SLO gate%3A STOP for all services in prod::" in out
    code, out = gate(store, override="hotfix for INC-42, approved by on-call")
    assert code == 0
    assert "SLO gate STOP" in out
    assert "OVERRIDDEN: deploying anyway, reason given: hotfix for INC-42" in out


def test_cannot_decide_without_data(tmp_path: Path) -> None:
    code, out = gate(tmp_path / "empty.db", environ={"GITHUB_ACTIONS": "true"})
    assert code == 2, out
    assert f"no scheduled runs of {RUN_API} in env prod in the last 30d" in out
    assert "Not a go" in out and "::error title=SLO gate%3A CANNOT DECIDE" in out
    # Data for one journey of the service is not enough: the other cannot be decided.
    store = tmp_path / "r.db"
    fill(store, RUN_API, range(1440), lambda i: "ok")
    code, out = gate(store, patterns=[], service="orchestration-engine")
    assert code == 2, out
    assert f"[ok] {RUN_API} availability: 100.0%" in out
    assert "workflow_run_browser availability: cannot decide: no scheduled runs" in out


def test_too_few_runs_cannot_decide(tmp_path: Path) -> None:
    # One good stored run used to say GO. Below MIN_RUNS (30) scheduled runs in 30 days the gate
    # cannot decide, and says how many it has and how many it needs.
    store = tmp_path / "r.db"
    fill(store, RUN_API, range(1), lambda i: "ok")
    code, out = gate(store)
    assert code == 2, out
    assert (
        f"{RUN_API} availability: cannot decide: too few runs: 1 scheduled run(s) of "
        f"{RUN_API} in env prod in the last 30d in the local store, 30 needed to decide" in out
    )
    assert "lower --min-runs" in out
    fill(store, RUN_API, range(1, 29), lambda i: "ok")
    assert gate(store)[0] == 2  # 29
    assert gate(store, min_runs=29)[0] == 0
    fill(store, RUN_API, range(29, 30), lambda i: "ok")
    assert gate(store)[0] == 0  # 30


def test_exit_codes_from_the_command_line(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    env = {
        "PATH": "/usr/bin:/bin",
        "SANDBOX_PASSWORD": "unused",
        "PROBER_STORE__PATH": str(store),
        "PROBER_ENV": "prod",
    }
    done = prober("slo", "gate", "--service", "orchestration-engine", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "SLO gate CANNOT DECIDE for service orchestration-engine" in done.stdout
    done = prober("slo", "gate", "--service", "nobody", env=env)
    assert done.returncode == 2 and "no enabled journey of service nobody" in done.stdout


def test_a_declared_policy_and_a_wrong_one() -> None:
    policy = {"owner": "sre-oncall", "rules": [
        {"budget_left_at_most": 0.5, "action": "freeze_deploys"},
        {"burn_rate_above": 2, "window": "1h", "action": "require_postmortem"},
    ]}  # fmt: skip
    journey = Journey("strict", cuj="strict", service="svc", team="t", channel="api",
                      budget_policy=policy)  # fmt: skip
    assert [r.action for r in journey.budget_policy.rules] == [
        Action.FREEZE_DEPLOYS, Action.REQUIRE_POSTMORTEM,
    ]  # fmt: skip
    assert journey.budget_policy.windows() == ["1h"]
    assert journey.replace(slo_target=0.99).budget_policy == journey.budget_policy
    with pytest.raises(JourneyDefinitionError) as caught:
        Journey("strict", cuj="strict", service="svc", team="t", channel="api",
                budget_policy={"rules": [{"budget_left_at_most": 0.5,
                                          "action": "panic"}]})  # fmt: skip
    assert "journey 'strict': budget_policy: rules[0].action: 'panic' is not one of" in str(
        caught.value
    )


# --- from Datadog's SLO API (a local server answering like it) ---------------------------------


@dataclass
class FakeDatadog:
    """GET /api/v1/slo?query=NAME and GET /api/v1/slo/{id}/history, as Datadog answers them."""

    slis: dict[tuple[str, int], float | None] = field(default_factory=dict)  # (name, seconds)
    mode: str = "ok"  # ok | forbidden | hang
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if self.mode == "forbidden":
            return 403, {"errors": ["Forbidden"]}
        if self.mode == "hang":
            self.release.wait(10)
        names = sorted({name for name, _ in self.slis})
        if path == "/api/v1/slo":
            wanted = query.get("query", [""])[0]
            data = [
                {"id": f"id{i}", "name": name, "type": "metric",
                 "thresholds": [{"timeframe": "30d", "target": 99.0}]}
                for i, name in enumerate(names) if name == wanted
            ]  # fmt: skip
            return 200, {"data": data, "errors": []}
        if path.startswith("/api/v1/slo/") and path.endswith("/history"):
            name = names[int(path.split("/")[4].removeprefix("id"))]
            seconds = int(query["to_ts"][0]) - int(query["from_ts"][0])
            overall = {"name": name, "sli_value": self.slis.get((name, seconds))}
            return 200, {"data": {"overall": overall, "type": "metric", "type_id": 1,
                                  "from_ts": int(query["from_ts"][0]),
                                  "to_ts": int(query["to_ts"][0])}, "errors": []}  # fmt: skip
        return 404, {"errors": ["Not found"]}


@pytest.fixture
def datadog() -> Iterator[FakeDatadog]:
    fake = FakeDatadog()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append((parts.path, dict(self.headers)))
            status, body = fake.answer(parts.path, parse_qs(parts.query))
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the gate gave up on a hung answer, as it should

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


AVAILABILITY = "cuj_slo_orchestration-engine_workflow_run_api_prod"
LATENCY = "cuj_slo_orchestration-engine_workflow_run_api_latency_prod"
MONTH, DAY = 30 * 86400, 86400


def via_datadog(datadog: FakeDatadog, tmp_path: Path, **options: Any) -> tuple[int, str]:
    code, out = gate(tmp_path / "unused.db", source="datadog", datadog_url=datadog.url,
                     environ={**KEYS, **options.pop("environ", {})}, **options)  # fmt: skip
    assert API_KEY not in out and APP_KEY not in out
    return code, out


def test_datadog_go_stop_and_no_data(datadog: FakeDatadog, tmp_path: Path) -> None:
    datadog.slis = {(AVAILABILITY, MONTH): 99.95, (AVAILABILITY, DAY): 99.9,
                    (LATENCY, MONTH): 99.5, (LATENCY, DAY): 99.0}  # fmt: skip
    code, out = via_datadog(datadog, tmp_path)
    assert code == 0, out
    # 0.05 of an allowed 1 percent spent: 95% left; latency 0.5 of 1: 50% left
    assert "availability: 95.0% of the 30-day budget left" in out
    assert "latency: 50.0% of the 30-day budget left" in out
    path, headers = datadog.requests[0]
    assert path == "/api/v1/slo"
    assert headers["DD-API-KEY"] == API_KEY and headers["DD-APPLICATION-KEY"] == APP_KEY
    datadog.slis[(LATENCY, MONTH)] = 98.0  # 2% of an allowed 1%: overspent
    datadog.slis[(LATENCY, DAY)] = 92.0  # 8x over a day: post-mortem too
    code, out = via_datadog(datadog, tmp_path)
    assert code == 1, out
    assert ("[STOP] workflow_run_api latency: -100.0% of the 30-day budget left -> 25% of the "
            "budget left or less: warn the owner; budget exhausted: freeze deploys of "
            "orchestration-engine; burn rate above 6x over 24h: require a post-mortem"
            ) in out  # fmt: skip
    datadog.slis = {(AVAILABILITY, MONTH): None, (LATENCY, MONTH): 99.9}
    code, out = via_datadog(datadog, tmp_path)
    assert code == 2, out
    assert f"SLO {AVAILABILITY} has no data over 30d in Datadog" in out
    datadog.slis = {}
    code, out = via_datadog(datadog, tmp_path)
    assert code == 2 and f"no SLO named {AVAILABILITY} in Datadog" in out


def test_datadog_forbidden_timeout_and_missing_keys_cannot_decide(
    datadog: FakeDatadog, tmp_path: Path
) -> None:
    datadog.slis = {(AVAILABILITY, MONTH): 99.95, (LATENCY, MONTH): 99.95}
    datadog.mode = "forbidden"
    code, out = via_datadog(datadog, tmp_path)
    assert code == 2, out
    assert "Datadog answered 403 Forbidden (check DD_APP_KEY and its slos_read scope)" in out
    datadog.mode = "hang"
    code, out = via_datadog(datadog, tmp_path, timeout_s=0.5)
    assert code == 2, out
    assert "Datadog could not be reached" in out
    datadog.release.set()
    code, out = gate(tmp_path / "unused.db", source="datadog", datadog_url=datadog.url,
                     environ={"DD_API_KEY": API_KEY})  # fmt: skip
    assert code == 2 and "DD_APP_KEY not set" in out


def test_datadog_url_from_the_environment(datadog: FakeDatadog, tmp_path: Path) -> None:
    datadog.slis = {(AVAILABILITY, MONTH): 97.0, (LATENCY, MONTH): 99.95,
                    (AVAILABILITY, DAY): 99.0, (LATENCY, DAY): 99.0}  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "unused", "PROBER_ENV": "prod",
           "DD_HOST": datadog.url, **KEYS,
           "PROBER_STORE__PATH": str(tmp_path / "r.db")}  # fmt: skip
    done = prober("slo", "gate", RUN_API, "--source", "datadog", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "budgets from datadog" in done.stdout and "freeze deploys" in done.stdout
    assert API_KEY not in done.stdout + done.stderr
