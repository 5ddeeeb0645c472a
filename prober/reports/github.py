"""GitHub Actions workflow commands: a failed journey becomes an error annotation on the run
summary, a prober fault a warning (it is not the deploy's fault)."""

from __future__ import annotations

from collections.abc import Mapping

from prober.reports.junit import failure_message
from prober.result import JourneyResult, Status


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(result: JourneyResult, site: str | None = None) -> str | None:
    """`site`: the Datadog site, for the trace link."""
    if result.status is Status.SUCCESS or result.failure is None:
        return None
    level = "warning" if result.status is Status.PROBE_ERROR else "error"
    title = f"CUJ {result.journey} {result.status} on {result.target}"
    body = f"{failure_message(result, site)}: {result.failure.message}"
    return f"::{level} title={_property(title)}::{_data(body)}"


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def workflow_command(level: str, title: str, body: str) -> str:
    """One annotation (`level`: error, warning, notice) with its title and body escaped."""
    return f"::{level} title={_property(title)}::{_data(body)}"
