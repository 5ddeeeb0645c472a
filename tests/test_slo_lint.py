"""`prober slo lint`: a fixture repository with known violations reports exactly them."""

from __future__ import annotations

from pathlib import Path

import pytest

from prober.slo.lint import LintError, lint
from tests.prober_cli import ROOT, prober

FIXTURE = ROOT / "tests" / "fixtures" / "slo_lint"
MODULE = "modules/legacy_slo/main.tf"
EXPECTED = {
    ("main.tf", "datadog_monitor.computed_tags", "computed"),
    ("main.tf", "datadog_monitor.no_env_suffix", "name"),
    ("main.tf", "datadog_monitor.slo_alert_untagged", "tags"),
    ("main.tf", "datadog_service_level_objective.run_badname", "name"),
    ("main.tf", "datadog_service_level_objective.run_latency", "name"),
    ("main.tf", "datadog_service_level_objective.run_latency", "tags"),
    (MODULE, "module.legacy_crud_api.datadog_service_level_objective.this", "name"),
    (MODULE, "module.legacy_crud_api.datadog_service_level_objective.this", "tags"),
    (MODULE, "module.legacy_crud_browser.datadog_service_level_objective.this", "name"),
    (MODULE, "module.legacy_crud_browser.datadog_service_level_objective.this", "tags"),
}


def test_reports_exactly_the_known_violations() -> None:
    found = lint(FIXTURE)
    got = {(str(Path(v.file).relative_to(FIXTURE)), v.address, v.rule) for v in found}
    assert got == EXPECTED
    messages = {v.address: v.message for v in found if v.rule == "name"}
    assert messages["datadog_service_level_objective.run_latency"].endswith(
        "should be 'cuj_slo_orchestration-engine_workflow_run_api_latency_prod' "
        "(cuj_slo_[service]_[journey][_latency]_[env])"
    )
    # The module is judged per call, with that call's arguments.
    assert (
        "'cuj_slo_workflow-service_workflow_crud_api_staging'"
        in (messages["module.legacy_crud_api.datadog_service_level_objective.this"])
    )
    tags = {v.address: v.message for v in found if v.rule == "tags"}
    assert tags["datadog_monitor.slo_alert_untagged"] == (
        "needs exactly one tag of: monitor_type, journey"
    )


def test_command_exit_codes(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    done = prober("slo", "lint", str(FIXTURE), env=env)
    assert done.returncode == 1
    assert done.stdout.strip().endswith(f"10 violations in {FIXTURE}")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "main.tf").write_text((FIXTURE / "main.tf").read_text().split("# Violation")[0])
    done = prober("slo", "lint", str(clean), env=env)
    assert done.returncode == 0, done.stdout
    (tmp_path / "broken.tf").write_text('resource "x" {\n')
    done = prober("slo", "lint", str(tmp_path), env=env)
    assert done.returncode == 2 and "not valid HCL" in done.stderr
    assert "Traceback" not in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LintError, match=r"no \.tf files"):
        lint(empty)
