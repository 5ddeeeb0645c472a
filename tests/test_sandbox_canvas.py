"""The platform's pages in a real Chromium: login, the list, and the Workflow Canvas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.graphs import create
from tests.sandbox_process import SandboxProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in(page: Page, token: str) -> Page:
    """A page whose origin already holds a session token, as after a login."""
    page.add_init_script(f"window.localStorage.setItem('sandbox-token', {token!r});")
    return page


@pytest.fixture
def workflow(api: httpx.Client) -> Any:
    wf = create(api, "canvas-test")
    yield wf
    api.delete("/_sandbox/faults")  # a fault left by the test must not block the teardown
    api.delete(f"/api/workflows/{wf['id']}").raise_for_status()


def open_canvas(page: Page, sandbox: SandboxProcess, wf_id: str) -> None:
    page.goto(f"{sandbox.url}/workflows/{wf_id}")
    expect(page.get_by_test_id("canvas-status")).to_have_text("ready")


def test_login_through_the_form_lands_on_the_workflow_list(
    page: Page, sandbox: SandboxProcess, workflow: dict[str, Any]
) -> None:
    page.goto(f"{sandbox.url}/")
    expect(page).to_have_url(f"{sandbox.url}/login?next=%2F")
    page.get_by_test_id("login-username").fill("prober")
    page.get_by_test_id("login-password").fill("wrong")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong user name or password.")
    page.get_by_test_id("login-password").fill("prober")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("list-status")).to_have_text("ready")
    item = page.locator(f'[data-testid=workflow-item][data-workflow-id="{workflow["id"]}"]')
    expect(item).to_contain_text("canvas-test")


def test_canvas_draws_exactly_the_workflows_nodes_and_edges(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any]
) -> None:
    open_canvas(signed_in, sandbox, workflow["id"])
    nodes = signed_in.get_by_test_id("canvas-node")
    expect(nodes).to_have_count(len(workflow["nodes"]))
    expect(signed_in.get_by_test_id("canvas-edge")).to_have_count(len(workflow["edges"]))
    drawn = nodes.evaluate_all("els => els.map(e => e.dataset.nodeId)")
    assert drawn == [n["id"] for n in workflow["nodes"]]
    labels = signed_in.get_by_test_id("canvas-node-label").all_text_contents()
    assert labels == [n["label"] for n in workflow["nodes"]]
    expect(signed_in.get_by_test_id("workflow-name")).to_have_value("canvas-test")


def test_run_button_drives_run_status_to_succeeded(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any]
) -> None:
    open_canvas(signed_in, sandbox, workflow["id"])
    signed_in.get_by_test_id("run-button").click()
    expect(signed_in.get_by_test_id("run-status")).to_have_text("succeeded", timeout=10_000)
    output = signed_in.get_by_test_id("run-output")
    for node in workflow["nodes"]:
        expect(output).to_contain_text(f'"{node["id"]}"')


def test_rename_and_added_node_survive_a_reload(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any], api: httpx.Client
) -> None:
    open_canvas(signed_in, sandbox, workflow["id"])
    signed_in.get_by_test_id("workflow-name").fill("canvas-test renamed")
    signed_in.get_by_test_id("add-node").click()
    expect(signed_in.get_by_test_id("canvas-node")).to_have_count(6)
    signed_in.get_by_test_id("save-button").click()
    expect(signed_in.get_by_test_id("save-status")).to_have_text("saved")
    signed_in.reload()
    expect(signed_in.get_by_test_id("canvas-status")).to_have_text("ready")
    expect(signed_in.get_by_test_id("workflow-name")).to_have_value("canvas-test renamed")
    expect(signed_in.get_by_test_id("canvas-node")).to_have_count(6)
    expect(signed_in.get_by_test_id("canvas-edge")).to_have_count(6)
    stored = api.get(f"/api/workflows/{workflow['id']}").json()
    assert stored["version"] == 2
    assert stored["name"] == "canvas-test renamed"


def test_saving_a_stale_canvas_reports_a_conflict(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any], api: httpx.Client
) -> None:
    open_canvas(signed_in, sandbox, workflow["id"])
    api.put(f"/api/workflows/{workflow['id']}", json={"version": 1, "name": "changed elsewhere"})
    signed_in.get_by_test_id("workflow-name").fill("my change")
    signed_in.get_by_test_id("save-button").click()
    expect(signed_in.get_by_test_id("save-status")).to_have_text("conflict")
    assert api.get(f"/api/workflows/{workflow['id']}").json()["name"] == "changed elsewhere"


def test_delete_removes_the_workflow_from_the_list(
    signed_in: Page, sandbox: SandboxProcess, api: httpx.Client
) -> None:
    wf = create(api, "canvas-delete-me")
    open_canvas(signed_in, sandbox, wf["id"])
    signed_in.get_by_test_id("delete-button").click()
    expect(signed_in.get_by_test_id("list-status")).to_have_text("ready")
    expect(signed_in).to_have_url(f"{sandbox.url}/")
    expect(signed_in.locator(f'[data-workflow-id="{wf["id"]}"]')).to_have_count(0)
    assert api.get(f"/api/workflows/{wf['id']}").status_code == 404


def test_blank_canvas_fault_says_ready_but_draws_nothing(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any], api: httpx.Client
) -> None:
    api.post("/_sandbox/faults", json={"service": "frontend-monolith", "mode": "silent"})
    open_canvas(signed_in, sandbox, workflow["id"])
    expect(signed_in.get_by_test_id("canvas-node")).to_have_count(0)
    expect(signed_in.get_by_test_id("canvas-edge")).to_have_count(0)


def test_canvas_shows_which_service_failed_when_its_api_call_fails(
    signed_in: Page, sandbox: SandboxProcess, workflow: dict[str, Any], api: httpx.Client
) -> None:
    api.post(
        "/_sandbox/faults",
        json={"service": "workflow-service", "mode": "unavailable", "path": "/api/workflows/*"},
    )
    signed_in.goto(f"{sandbox.url}/workflows/{workflow['id']}")
    status = signed_in.get_by_test_id("canvas-status")
    expect(status).to_have_text("error")
    expect(status).to_have_attribute("data-http-status", "503")
    expect(signed_in.get_by_test_id("canvas-error")).to_contain_text("upstream workflow-service")
    expect(signed_in.get_by_test_id("canvas-node")).to_have_count(0)
