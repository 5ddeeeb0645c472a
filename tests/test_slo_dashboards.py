"""Dashboards as code: every dashboard goes through the client's models field by field, and every
metric and tag a widget names is one the DogStatsD sink really emits (measured on a real UDP
socket, not read from a list)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest
from datadog_api_client import Configuration
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard

from prober import metrics as m
from prober.dogstatsd_wire import decode
from prober.result import ErrorType
from prober.sinks.dogstatsd import Destination, DogStatsdSink
from prober.slo import dashboards, datadog_json
from tests.results import attempt, result
from tests.test_slo_export import _strict, exported

SERIES = re.compile(
    r"(?:sum|avg|min|max|count|p\d+):(?P<metric>[a-z_.]+)\{(?P<scope>[^}]*)\}"
    r"(?:\s*by\s*\{(?P<by>[^}]*)\})?"
)


@pytest.fixture(scope="module")
def emitted() -> Iterator[dict[str, set[str]]]:
    """Metric name -> the tag keys the sink sends with it: a success, a failure, a heartbeat and
    every skip reason, through a real datagram socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    sink = DogStatsdSink(Destination(host="127.0.0.1", port=sock.getsockname()[1]),
                         m.Origin("prod", "eu-west-1"))  # fmt: skip
    sink.emit(result(attempt()))
    sink.emit(result(attempt(error_type=ErrorType.SERVER_ERROR)))
    sink.heartbeat()
    for reason in m.SKIP_REASONS:
        sink.skipped("workflow_canvas_load", "sandbox", reason)
    sink.close()
    tags: dict[str, set[str]] = {}
    try:
        while True:
            for point in decode(sock.recv(65536)):
                tags.setdefault(point.name, set()).update(point.tag_map())
    except TimeoutError:
        pass
    finally:
        sock.close()
    yield tags


def contract_problems(query: str, emitted: dict[str, set[str]]) -> list[str]:
    problems = []
    found = list(SERIES.finditer(query))
    if not found:
        problems.append(f"no metric in {query!r}")
    for series in found:
        metric = series["metric"]
        if metric not in emitted:
            problems.append(f"{metric} is not emitted")
            continue
        keys = [item.lstrip("!$").split(":")[0] for item in series["scope"].split(",") if item]
        keys += [k.strip() for k in (series["by"] or "").split(",") if k.strip()]
        problems += [f"{metric} carries no tag {key}" for key in keys
                     if key not in emitted[metric]]  # fmt: skip
    return problems


def test_every_metric_and_tag_a_widget_names_is_emitted(emitted: dict[str, set[str]]) -> None:
    boards = json.loads(datadog_json.dumps(exported()))["dashboards"]
    checked = 0
    for board in boards:
        variables = {v["prefix"] for v in board["template_variables"]}
        assert variables == {m.ENV, m.LOCATION, m.TARGET}
        for query in dashboards.queries(board):
            assert contract_problems(query, emitted) == [], (board["title"], query)
            checked += 1
    assert checked > 30
    # The check itself fails on a metric the tool does not emit, or a tag it does not send.
    assert contract_problems("sum:cuj.journey.bogus{$env}.as_count()", emitted) == [
        "cuj.journey.bogus is not emitted"
    ]
    assert contract_problems(f"sum:{m.HEARTBEAT}{{$env}} by {{journey}}", emitted) == [
        f"{m.HEARTBEAT} carries no tag journey"
    ]


def test_dashboards_go_through_the_client_models_and_name_the_blame() -> None:
    body = json.loads(datadog_json.dumps(exported()))
    titles = [board["title"] for board in body["dashboards"]]
    assert titles == ["CUJ workflow_canvas_load (prod)", "CUJ workflow_crud (prod)",
                      "CUJ workflow_run (prod)", "CUJ overview (prod)"]  # fmt: skip
    config = Configuration()
    for data in body["dashboards"]:
        model = validate_and_convert_types(data, (Dashboard,), ["dashboard"], True, True, config)
        _strict(model, data["title"])
        assert model.to_dict() == data
    run = body["dashboards"][2]
    kinds = [w["definition"]["type"] for w in run["widgets"]]
    assert kinds.count("slo") == 4 and kinds.count("note") == 2  # two journeys, two SLOs each
    slo_ids = {
        w["definition"]["slo_id"] for w in run["widgets"] if w["definition"]["type"] == "slo"
    }
    assert "{{slo_id:cuj_slo_orchestration-engine_workflow_run_api_prod}}" in slo_ids
    text = json.dumps(run)
    for needle in ("by {failed_service,failed_step}", "by {status,error_type}",
                   "by {step,location}", "cuj.prober.heartbeat", "cuj.prober.runs.skipped",
                   "Runbook: https://"):  # fmt: skip
        assert needle in text, needle
