"""The reference platform's HTTP contract (see the README), over real HTTP to `prober sandbox`."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.graphs import TERMINAL, create, diamond
from tests.sandbox_process import SandboxProcess, wait_for


def finished_run(api: httpx.Client, run_id: str, timeout: float = 10) -> dict[str, Any]:
    def terminal() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in TERMINAL else None

    result: dict[str, Any] = wait_for(terminal, timeout, what=f"run {run_id} to finish")
    return result


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/login", "frontend-monolith"),
        ("/", "frontend-monolith"),
        ("/workflows/wf_any", "frontend-monolith"),
        ("/static/canvas.js", "frontend-monolith"),
        ("/api/workflows", "workflow-service"),
        ("/api/runs/run_missing", "orchestration-engine"),
    ],
)
def test_every_response_names_its_service(api: httpx.Client, path: str, service: str) -> None:
    answer = api.get(path)
    assert answer.headers["x-service"] == service
    assert answer.status_code in (200, 404)


AUTHED_ROUTES = [
    ("GET", "/api/workflows", "workflow-service"),
    ("POST", "/api/workflows", "workflow-service"),
    ("GET", "/api/workflows/wf_x", "workflow-service"),
    ("PUT", "/api/workflows/wf_x", "workflow-service"),
    ("DELETE", "/api/workflows/wf_x", "workflow-service"),
    ("POST", "/api/workflows/wf_x/runs", "orchestration-engine"),
    ("GET", "/api/runs/run_x", "orchestration-engine"),
    ("POST", "/api/optimize", "optimizer-service"),
]


@pytest.mark.parametrize(("method", "path", "service"), AUTHED_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic cHJvYmVyOnByb2Jlcg=="]
)
def test_api_routes_need_a_bearer_token(
    anon: httpx.Client, method: str, path: str, service: str, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    answer = anon.request(method, path, json={}, headers=headers)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["service"] == service == answer.headers["x-service"]


def test_login_rejects_a_wrong_password_and_bad_bodies(anon: httpx.Client) -> None:
    wrong = anon.post("/api/auth/login", json={"username": "prober", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    malformed = anon.post("/api/auth/login", content=b'{"username": "prober",')
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    missing = anon.post("/api/auth/login", json={"username": "prober"})
    assert missing.status_code == 422
    assert "password" in missing.json()["error"]["message"]


def test_workflow_create_read_update_delete(api: httpx.Client) -> None:
    wf = create(api, "crud-test")
    assert wf["version"] == 1
    assert [n["id"] for n in wf["nodes"]] == ["src", "clean", "enrich", "join", "sink"]
    assert wf["edges"][0]["id"] == "src->clean"

    fetched = api.get(f"/api/workflows/{wf['id']}").json()
    assert fetched == wf
    listed = {w["id"]: w for w in api.get("/api/workflows").json()["workflows"]}
    assert listed[wf["id"]]["node_count"] == 5
    assert listed[wf["id"]]["edge_count"] == 5
    prefixed = api.get("/api/workflows", params={"name_prefix": "crud-te"}).json()["workflows"]
    assert wf["id"] in {w["id"] for w in prefixed}

    nodes = [*wf["nodes"], {"id": "audit", "label": "Audit", "x": 740, "y": 160}]
    edges = [*wf["edges"], {"source": "sink", "target": "audit"}]
    saved = api.put(
        f"/api/workflows/{wf['id']}",
        json={"version": 1, "name": "crud-test renamed", "nodes": nodes, "edges": edges},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2
    again = api.get(f"/api/workflows/{wf['id']}").json()
    assert again["name"] == "crud-test renamed"
    assert len(again["nodes"]) == 6
    assert again["version"] == 2

    stale = api.put(f"/api/workflows/{wf['id']}", json={"version": 1, "name": "lost update"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["current_version"] == 2
    assert api.get(f"/api/workflows/{wf['id']}").json()["name"] == "crud-test renamed"

    assert api.delete(f"/api/workflows/{wf['id']}").status_code == 204
    gone = api.get(f"/api/workflows/{wf['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"] == {
        "code": "workflow_not_found",
        "message": f"workflow {wf['id']} does not exist",
        "service": "workflow-service",
    }
    assert wf["id"] not in {w["id"] for w in api.get("/api/workflows").json()["workflows"]}
    assert api.delete(f"/api/workflows/{wf['id']}").status_code == 404
    assert api.put(f"/api/workflows/{wf['id']}", json={"version": 2}).status_code == 404


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"edges": [{"source": "src", "target": "ghost"}]}, "ghost"),
        ({"edges": [{"source": "join", "target": "src"}]}, "cycle"),
        ({"nodes": [{"id": "a", "label": "A"}, {"id": "a", "label": "B"}], "edges": []}, "unique"),
        ({"nodes": [{"id": "a"}], "edges": []}, "label"),
        ({"name": "   "}, "blank"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_saves_that_break_the_graph_are_refused(
    api: httpx.Client, change: dict[str, Any], mentions: str
) -> None:
    wf = create(api, "invalid-save")
    if "edges" in change and "nodes" not in change:
        change = {"edges": [*wf["edges"], *change["edges"]]}
    answer = api.put(f"/api/workflows/{wf['id']}", json={"version": 1, **change})
    assert answer.status_code == 422, answer.text
    assert mentions in answer.json()["error"]["message"]
    assert api.get(f"/api/workflows/{wf['id']}").json()["version"] == 1
    api.delete(f"/api/workflows/{wf['id']}")


def test_save_without_a_version_is_refused(api: httpx.Client) -> None:
    wf = create(api, "no-version")
    answer = api.put(f"/api/workflows/{wf['id']}", json={"name": "x"})
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "version"
    api.delete(f"/api/workflows/{wf['id']}")


def test_run_goes_queued_running_succeeded_with_every_node_in_the_output(
    api: httpx.Client,
) -> None:
    wf = create(api, "run-lifecycle")
    started = api.post(f"/api/workflows/{wf['id']}/runs")
    assert started.status_code == 202
    assert started.headers["x-service"] == "orchestration-engine"
    body = started.json()
    assert body["status"] == "queued"
    seen: list[str] = []

    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/api/runs/{body['run_id']}").json()
        if not seen or seen[-1] != run["status"]:
            seen.append(run["status"])
        return run if run["status"] in TERMINAL else None

    run = wait_for(done, 10, interval=0.02, what="the run to finish")
    assert seen == ["queued", "running", "succeeded"]
    assert run["error"] is None
    output = run["output"]
    assert set(output["results"]) == {n["id"] for n in wf["nodes"]}
    plan = output["plan"]
    for edge in wf["edges"]:
        assert plan.index(edge["source"]) < plan.index(edge["target"])
    assert run["started_at"] >= run["created_at"]
    assert run["finished_at"] >= run["started_at"]
    api.delete(f"/api/workflows/{wf['id']}")


def test_run_of_a_missing_workflow_is_404_from_the_engine(api: httpx.Client) -> None:
    answer = api.post("/api/workflows/wf_missing/runs")
    assert answer.status_code == 404
    assert answer.json()["error"]["service"] == "orchestration-engine"


def test_optimizer_plans_a_topological_order(api: httpx.Client) -> None:
    graph = diamond("plan")
    answer = api.post("/api/optimize", json={"nodes": graph["nodes"], "edges": graph["edges"]})
    assert answer.status_code == 200
    assert answer.headers["x-service"] == "optimizer-service"
    assert answer.json()["plan"] == ["src", "clean", "enrich", "join", "sink"]


def test_request_log_has_trace_headers_and_the_engine_propagates_them(
    sandbox: SandboxProcess, api: httpx.Client, token: str
) -> None:
    wf = create(api, "traced")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        "x-datadog-trace-id": "11803532876627986230",
        "x-datadog-origin": "synthetics",
        "x-cuj-probe": "workflow_run/run-123",
    }
    run = api.post(f"/api/workflows/{wf['id']}/runs", headers=headers).json()
    finished_run(api, run["run_id"])

    def traced() -> list[dict[str, Any]]:
        return [
            e for e in sandbox.logged_requests() if trace_id in e["headers"].get("traceparent", "")
        ]

    entries = wait_for(lambda: len(traced()) >= 3 and traced(), 5, what="traced log lines")
    by_path = {(e["caller"], e["path"]): e for e in entries}
    outer = by_path[("client", f"/api/workflows/{wf['id']}/runs")]
    assert outer["headers"]["x-cuj-probe"] == "workflow_run/run-123"
    assert outer["headers"]["x-datadog-origin"] == "synthetics"
    assert outer["status"] == 202
    assert ("orchestration-engine", f"/api/workflows/{wf['id']}") in by_path
    optimize = by_path[("orchestration-engine", "/api/optimize")]
    assert optimize["headers"]["x-datadog-trace-id"] == "11803532876627986230"
    assert optimize["service"] == "optimizer-service"
    assert token not in sandbox.request_log.read_text()
    api.delete(f"/api/workflows/{wf['id']}")


# --- faults ------------------------------------------------------------------------------------


def inject(api: httpx.Client, **fault: Any) -> dict[str, Any]:
    answer = api.post("/_sandbox/faults", json=fault)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


@pytest.mark.parametrize("status", [500, 503, 404, 429])
def test_error_fault_answers_with_that_status_from_that_service_only(
    api: httpx.Client, status: int
) -> None:
    wf = create(api, "error-fault")
    inject(api, service="workflow-service", mode="error", status=status)
    hit = api.get(f"/api/workflows/{wf['id']}")
    assert hit.status_code == status
    assert hit.headers["x-service"] == "workflow-service"
    assert hit.json()["error"]["service"] == "workflow-service"
    # Other services answer normally.
    assert api.get("/api/runs/run_missing").status_code == 404
    graph = diamond("x")
    assert api.post("/api/optimize", json=graph | {"name": None}).status_code == 200
    assert api.get("/login").status_code == 200
    api.delete("/_sandbox/faults")
    assert api.get(f"/api/workflows/{wf['id']}").status_code == 200
    api.delete(f"/api/workflows/{wf['id']}")


def test_fault_path_scopes_it_to_matching_routes(api: httpx.Client) -> None:
    wf = create(api, "scoped")
    inject(api, service="workflow-service", mode="error", path="/api/workflows/*")
    assert api.get(f"/api/workflows/{wf['id']}").status_code == 500
    assert api.get("/api/workflows").status_code == 200
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_latency_fault_delays_the_service_by_delay_ms(api: httpx.Client) -> None:
    graph = diamond("slow")
    inject(api, service="optimizer-service", mode="latency", delay_ms=400)
    t0 = time.monotonic()
    answer = api.post("/api/optimize", json={"nodes": graph["nodes"], "edges": graph["edges"]})
    elapsed = time.monotonic() - t0
    assert answer.status_code == 200
    assert answer.json()["plan"]
    assert elapsed >= 0.4


def test_hang_fault_never_answers_and_the_platform_keeps_serving(
    sandbox: SandboxProcess, api: httpx.Client
) -> None:
    inject(api, service="workflow-service", mode="hang", path="/api/workflows")
    with pytest.raises(httpx.ReadTimeout):
        api.get("/api/workflows", timeout=0.5)
    assert api.get("/api/runs/run_missing").status_code == 404

    def hung_entry() -> bool:
        return any(
            e["path"] == "/api/workflows" and e["outcome"] == "hang" and e["status"] is None
            for e in sandbox.logged_requests()
        )

    wait_for(hung_entry, 5, what="the hung request to be logged after the client gave up")


def test_unavailable_service_is_named_as_upstream_by_its_caller(api: httpx.Client) -> None:
    wf = create(api, "unavailable")
    inject(api, service="workflow-service", mode="unavailable")
    direct = api.get(f"/api/workflows/{wf['id']}")
    assert direct.status_code == 503
    assert direct.headers["x-service"] == "edge-gateway"
    assert direct.json()["error"]["upstream"] == "workflow-service"
    via_engine = api.post(f"/api/workflows/{wf['id']}/runs")
    assert via_engine.status_code == 503
    assert via_engine.headers["x-service"] == "orchestration-engine"
    assert via_engine.json()["error"]["upstream"] == "workflow-service"
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_workflow_service_error_reaches_run_start_as_bad_gateway(api: httpx.Client) -> None:
    wf = create(api, "bad-gateway")
    inject(api, service="workflow-service", mode="error", status=500)
    answer = api.post(f"/api/workflows/{wf['id']}/runs")
    assert answer.status_code == 502
    assert answer.json()["error"]["service"] == "orchestration-engine"
    assert answer.json()["error"]["upstream"] == "workflow-service"
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"mode": "unavailable"}, "unavailable"),
        ({"mode": "error", "status": 500}, "error"),
        ({"mode": "hang"}, "timeout"),
    ],
)
def test_optimizer_failure_fails_the_run_naming_the_optimizer(
    api: httpx.Client, fault: dict[str, Any], code: str
) -> None:
    wf = create(api, "optimizer-down")
    inject(api, service="optimizer-service", **fault)
    started = api.post(f"/api/workflows/{wf['id']}/runs")
    assert started.status_code == 202
    run = finished_run(api, started.json()["run_id"])
    assert run["status"] == "failed"
    assert run["error"]["service"] == "optimizer-service"
    assert run["error"]["code"] == code
    assert run["output"] is None
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_empty_nodes_returns_200_without_nodes(api: httpx.Client) -> None:
    wf = create(api, "empty-nodes")
    inject(api, service="workflow-service", mode="silent", variant="empty_nodes")
    answer = api.get(f"/api/workflows/{wf['id']}")
    assert answer.status_code == 200
    assert answer.json()["nodes"] == []
    assert answer.json()["name"] == "empty-nodes"
    api.delete("/_sandbox/faults")
    assert len(api.get(f"/api/workflows/{wf['id']}").json()["nodes"]) == 5
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_lost_write_answers_200_but_stores_nothing(api: httpx.Client) -> None:
    wf = create(api, "lost-write")
    inject(api, service="workflow-service", mode="silent", variant="lost_write")
    saved = api.put(f"/api/workflows/{wf['id']}", json={"version": 1, "name": "renamed"})
    assert saved.status_code == 200
    assert saved.json()["name"] == "renamed"
    assert saved.json()["version"] == 2
    stored = api.get(f"/api/workflows/{wf['id']}").json()
    assert stored["name"] == "lost-write"
    assert stored["version"] == 1
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_stuck_run_stays_queued(api: httpx.Client) -> None:
    wf = create(api, "stuck")
    fault = inject(api, service="orchestration-engine", mode="silent")
    assert fault["variant"] == "stuck"  # the engine's default silent variant
    run_id = api.post(f"/api/workflows/{wf['id']}/runs").json()["run_id"]
    api.delete("/_sandbox/faults")
    # A healthy run leaves `queued` within 0.2 s; watch this one for five times that.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert api.get(f"/api/runs/{run_id}").json()["status"] == "queued"
        time.sleep(0.05)
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_empty_output_run_succeeds_with_no_output(api: httpx.Client) -> None:
    wf = create(api, "empty-output")
    inject(api, service="orchestration-engine", mode="silent", variant="empty_output")
    run = finished_run(api, api.post(f"/api/workflows/{wf['id']}/runs").json()["run_id"])
    assert run["status"] == "succeeded"
    assert run["output"] is None
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_empty_plan_makes_a_run_succeed_having_done_nothing(api: httpx.Client) -> None:
    wf = create(api, "empty-plan")
    inject(api, service="optimizer-service", mode="silent")
    run = finished_run(api, api.post(f"/api/workflows/{wf['id']}/runs").json()["run_id"])
    assert run["status"] == "succeeded"
    assert run["output"]["results"] == {}
    assert run["output"]["nodes_executed"] == 0
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}")


def test_silent_blank_canvas_marks_the_canvas_page(api: httpx.Client) -> None:
    inject(api, service="frontend-monolith", mode="silent")
    page = api.get("/workflows/wf_any")
    assert page.status_code == 200
    assert 'data-canvas-variant="blank_canvas"' in page.text
    api.delete("/_sandbox/faults")
    assert 'data-canvas-variant="normal"' in api.get("/workflows/wf_any").text


def test_times_limits_a_fault_to_its_first_hits(api: httpx.Client) -> None:
    fault = inject(api, service="workflow-service", mode="error", status=503, times=2)
    assert [api.get("/api/workflows").status_code for _ in range(3)] == [503, 503, 200]
    listed = api.get("/_sandbox/faults").json()["faults"]
    assert listed == [fault | {"hits": 2, "exhausted": True}]


def test_rate_faults_a_fraction_of_requests(api: httpx.Client) -> None:
    inject(api, service="workflow-service", mode="error", rate=0.5)
    statuses = [api.get("/api/workflows").status_code for _ in range(60)]
    assert 10 <= statuses.count(500) <= 50
    assert statuses.count(500) + statuses.count(200) == 60


def test_faults_are_listed_removed_one_by_one_and_cleared(api: httpx.Client) -> None:
    first = inject(api, service="optimizer-service", mode="latency", delay_ms=5)
    second = inject(api, service="frontend-monolith", mode="error")
    ids = [f["id"] for f in api.get("/_sandbox/faults").json()["faults"]]
    assert ids == [first["id"], second["id"]]
    assert api.delete(f"/_sandbox/faults/{first['id']}").status_code == 204
    assert api.delete(f"/_sandbox/faults/{first['id']}").status_code == 404
    assert [f["id"] for f in api.get("/_sandbox/faults").json()["faults"]] == [second["id"]]
    assert api.delete("/_sandbox/faults").json() == {"cleared": 1}
    assert api.get("/_sandbox/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        (b'{"service": "workflow-service", "mode": ', 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b'["error"]', 422, "object"),
        (b'{"service": "workflow-service", "mode": "explode"}', 422, "mode"),
        (b'{"service": "billing", "mode": "error"}', 422, "service"),
        (b'{"service": "workflow-service", "mode": "latency", "delay_ms": -1}', 422, "delay_ms"),
        (b'{"service": "workflow-service", "mode": "latency"}', 422, "needs delay_ms"),
        (b'{"service": "workflow-service", "mode": "error", "status": 200}', 422, "status"),
        (b'{"service": "workflow-service", "mode": "error", "rate": 1.5}', 422, "rate"),
        (b'{"service": "workflow-service", "mode": "error", "path": "api"}', 422, "path"),
        (b'{"service": "workflow-service", "mode": "silent", "variant": "stuck"}', 422, "stuck"),
        (b'{"service": "workflow-service", "mode": "error", "when": "now"}', 422, "when"),
        (b'{"service": "optimizer-service", "mode": "unavailable", "status": 500}', 422, "502"),
    ],
)
def test_bad_fault_requests_get_a_clear_error(
    api: httpx.Client, body: bytes, status: int, mentions: str
) -> None:
    answer = api.post("/_sandbox/faults", content=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert mentions in error["message"]
    assert api.get("/_sandbox/faults").json() == {"faults": []}
