"""Small parts of the runtime: trace headers, the route map, redaction, artifact retention."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from prober.artifacts import ArtifactStore
from prober.redact import MASK, Redactor
from prober.result import AttemptResult, JourneyResult, Status, Trigger
from prober.target import Secret, ServiceMap, Target
from prober.trace import PRODUCT_TOKEN, TraceContext, with_product_token
from prober.values import parse_duration
from tests.targets import ROUTES


def test_trace_headers_follow_w3c_and_datadog() -> None:
    trace = TraceContext.new()
    first, second = trace.headers("j/r1"), trace.headers("j/r1")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", first["traceparent"])
    assert first["traceparent"].split("-")[1] == trace.trace_id
    assert first["x-datadog-trace-id"] == str(int(trace.trace_id[16:], 16))
    assert int(first["x-datadog-trace-id"]) < 2**64
    span = first["traceparent"].split("-")[2]
    assert first["x-datadog-parent-id"] == str(int(span, 16))
    assert first["x-datadog-tags"] == f"_dd.p.tid={trace.trace_id[:16]}"
    assert first["x-cuj-probe"] == "j/r1"
    assert first["x-datadog-parent-id"] != second["x-datadog-parent-id"]
    assert TraceContext.new().trace_id != trace.trace_id


def test_user_agent_ends_with_the_product_token() -> None:
    assert with_product_token("Mozilla/5.0 X").endswith(f"X {PRODUCT_TOKEN}")
    assert with_product_token(with_product_token("a")) == f"a {PRODUCT_TOKEN}"
    assert with_product_token(None) == PRODUCT_TOKEN


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/workflows", "workflow-service"),
        ("/api/workflows/wf_1", "workflow-service"),
        ("/api/workflows/wf_1/runs", "orchestration-engine"),
        ("/api/runs/run_1", "orchestration-engine"),
        ("/api/auth/login", "workflow-service"),
        ("/workflows/wf_1", "frontend-monolith"),
        ("/static/canvas.js", "frontend-monolith"),
        ("/", "frontend-monolith"),
        ("/elsewhere/x", None),
    ],
)
def test_route_map_picks_the_owner(path: str, service: str | None) -> None:
    assert ServiceMap.from_mapping(ROUTES).service_for(path) == service


def test_double_star_crosses_segments() -> None:
    services = ServiceMap.from_mapping({"assets": ["/static/**"], "web": ["/*"]})
    assert services.service_for("/static/js/app.js") == "assets"
    assert services.service_for("/about") == "web"


def test_target_owns_only_its_origins() -> None:
    target = Target("t", "http://127.0.0.1:8000/app", extra_origins=("https://api.example.com",))
    assert target.owns("http://127.0.0.1:8000/x")
    assert target.owns("https://api.example.com/v1")
    assert target.owns("https://API.example.com:443/v1")
    assert not target.owns("http://127.0.0.1:8001/x")
    assert not target.owns("http://localhost:8000/x")
    assert not target.owns("https://cdn.example.com/x")


def test_secrets_never_print() -> None:
    secret = Secret("hunter2-long-value")
    target = Target("t", "http://x", password=secret)
    assert "hunter2" not in repr(target)
    assert "hunter2" not in str(secret)
    assert target.secrets() == ("hunter2-long-value",)


def test_redactor_masks_headers_fields_and_known_values() -> None:
    redactor = Redactor(["short", "a-long-token-value-123"])
    redactor.add("Bearer another-long-token-456")
    text = json.dumps(
        {
            "headers": [{"name": "Authorization", "value": "Bearer xyz"},
                        {"name": "Cookie", "value": "sid=1"}],
            "body": {"password": "short", "token": "t0k"},
            "note": "sent a-long-token-value-123 and another-long-token-456",
            "label": "short",
            "prose": "a short text",
        }
    )  # fmt: skip
    clean = redactor.text(text)
    for leaked in ("xyz", "sid=1", "t0k", "a-long-token-value-123", "another-long-token-456"):
        assert leaked not in clean
    data = json.loads(clean)
    assert data["body"] == {"password": MASK, "token": MASK}
    assert data["label"] == MASK
    assert data["prose"] == "a short text"  # short secrets are masked as whole values only
    assert redactor.headers({"Authorization": "x", "Accept": "json"}) == {
        "Authorization": MASK, "Accept": "json",
    }  # fmt: skip


def test_zip_artifacts_are_scrubbed(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    path = tmp_path / "trace.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("trace.network", '{"name":"authorization","value":"Bearer abc"}')
        archive.writestr("resources/1", b'{"password":"pw-long-enough-1"}')
        archive.writestr("resources/2.png", b"\x89PNG\x00secret-value-xyz\x00")
    store.scrub_zip(path, Redactor(["secret-value-xyz"]))
    with zipfile.ZipFile(path) as archive:
        content = b"".join(archive.read(n) for n in archive.namelist())
    assert b"abc" not in content
    assert b"pw-long-enough-1" not in content
    assert b"secret-value-xyz" not in content


def test_retention_keeps_the_newest_runs_and_drops_old_ones(tmp_path: Path) -> None:
    now = 1_000_000.0
    store = ArtifactStore(tmp_path, keep_runs=2, max_age_s=3600, clock=lambda: now)
    for index, age in enumerate([10, 20, 30, 7200]):
        run = store.directory("j", f"run{index}")
        (run / "x.json").write_text("{}")
        os.utime(run, (now - age, now - age))
    assert store.prune("j") == 2
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["run0", "run1"]


@pytest.mark.parametrize(
    ("raw", "seconds"), [(30, 30.0), ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0)]
)
def test_durations(raw: float | str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "-5s", True, "5 weeks"])
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_result_json_has_the_design_keys() -> None:
    attempt = AttemptResult(1, Status.SUCCESS, "ab" * 16, 1.0, 0.5, ())
    result = JourneyResult("j", "c", "s", "t", "api", "sandbox", Trigger.MANUAL, "r1", 1.0,
                           (attempt,))  # fmt: skip
    data = json.loads(json.dumps(result.to_json()))
    assert {
        "journey", "target", "status", "error_type", "failed_step", "failed_service",
        "duration_s", "within_slo", "trigger", "run_id", "trace_id", "attempts", "artifacts",
        "steps",
    } <= set(data)  # fmt: skip
    assert data["within_slo"] is True
    slow = JourneyResult("j", "c", "s", "t", "api", "sandbox", Trigger.MANUAL, "r1", 0.4,
                         (attempt,))  # fmt: skip
    assert slow.within_slo is False
