"""`prober slo audit DIR`: a fixture tree with known missing, orphaned and drifted resources
reports exactly those (exit 1); the export's own output is in sync (exit 0); a folder that is not
Terraform is a usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path

from tests.prober_cli import ROOT, prober

FIXTURE = ROOT / "tests" / "fixtures" / "slo_audit"
ENV = {"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "unused"}


def audit(folder: Path) -> tuple[int, list[str]]:
    done = prober("slo", "audit", str(folder), "--env", "prod", env=ENV, cwd=ROOT)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines() + done.stderr.splitlines()


def test_the_fixture_reports_exactly_its_missing_orphaned_and_drifted_resources() -> None:
    code, lines = audit(Path("tests/fixtures/slo_audit"))
    assert code == 1
    kinds = [(line.split()[0], line.split()[1].rstrip(":")) for line in lines[:-1]]
    assert kinds == [
        (
            "missing",
            "datadog_monitor.workflow_service_workflow_crud_browser_runs_journey_down_prod",
        ),
        ("orphaned", "tests/fixtures/slo_audit/legacy.tf"),
        ("drifted", "tests/fixtures/slo_audit/main.tf"),
        ("drifted", "tests/fixtures/slo_audit/modules/datadog_cuj_slo/main.tf"),
        ("drifted", "tests/fixtures/slo_audit/modules/datadog_cuj_slo/main.tf"),
        ("drifted", "tests/fixtures/slo_audit/main.tf"),
        ("violation", "tests/fixtures/slo_audit/legacy.tf"),
    ]
    text = "\n".join(lines)
    assert "export_api (cuj_slo_workflow-service_workflow_export_api_prod): journey " \
        "workflow_export_api is not configured" in text  # fmt: skip
    assert "> 0.4' -> expected '" in text and "{'critical': 0.5, 'warning': 0.2}" in text
    assert text.count("'target': 99.9") == 4  # both SLOs of workflow_run_api, 30 and 7 days
    assert "module.cuj_workflow_run_api.datadog_service_level_objective.latency" in text
    assert "name: 'cuj-prober_heartbeat_nodata_local_prod' -> expected " \
        "'cuj-prober_heartbeat_no_data_local_prod'" in text  # fmt: skip
    assert "needs exactly one tag of: team" in text
    assert "postgres" not in text  # another team's monitor is not a CUJ resource
    assert lines[-1] == ("1 missing, 1 orphaned, 4 drifted, 1 convention violation(s) in "
                         "tests/fixtures/slo_audit")  # fmt: skip


def test_the_export_is_in_sync_and_a_non_terraform_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = prober("slo", "export", "--format", "terraform", "--env", "prod", "--out",
                  str(tmp_path / "tf"), env=ENV)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert audit(tmp_path / "tf") == (0, [f"0 missing, 0 orphaned, 0 drifted, 0 convention "
                                          f"violation(s) in {tmp_path / 'tf'}"])  # fmt: skip
    (tmp_path / "empty").mkdir()
    code, lines = audit(tmp_path / "empty")
    assert code == 2 and len(lines) == 1 and "no .tf files here" in lines[0]
