"""JUnit XML for CI (`prober smoke --junit PATH`): one testcase per journey run.

A `failure` element for a journey that failed (the target's fault), an `error` element for a
probe_error (the prober's); the message carries error type, failed step, failed service and
trace id, and system-out the step timings. Written atomically: a CI job never reads half a file.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from prober.paths import write_atomically
from prober.result import JourneyResult, Status, StepStatus
from prober.trace_links import trace_ref


def failure_message(result: JourneyResult, site: str | None = None) -> str:
    """`site`: the Datadog site, for the trace link (None: the bare trace id)."""
    return (
        f"{result.error_type} in step {result.failed_step!r}, blame {result.failed_service} "
        f"[{result.blame_source}] "
        f"(trace {trace_ref(site, result.trace_id)}, run {result.run_id})"
    )


def _system_out(result: JourneyResult, site: str | None) -> str:
    lines = [
        f"run_id {result.run_id}",
        f"trace_id {trace_ref(site, result.trace_id)}",
        f"attempts {len(result.attempts)}",
        f"within_slo {str(result.within_slo).lower()}",
    ]
    for step in result.steps:
        duration = "-" if step.status is StepStatus.SKIPPED else f"{step.duration_s:.3f}s"
        lines.append(f"step {step.name!r} [{step.service}] {step.status} {duration}")
    lines += [f"artifact {path}" for path in result.artifacts]
    return "\n".join(lines) + "\n"


def render(
    results: Sequence[JourneyResult],
    suite: str,
    now: float | None = None,
    site: str | None = None,
) -> bytes:
    failures = sum(r.status is Status.FAILURE for r in results)
    errors = sum(r.status is Status.PROBE_ERROR for r in results)
    total_time = f"{sum(r.duration_s for r in results):.3f}"
    counts = {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "time": total_time,
    }
    root = ET.Element("testsuites", {"name": "cuj-prober", **counts})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() if now is None else now))
    testsuite = ET.SubElement(
        root,
        "testsuite",
        {"name": suite, **counts, "skipped": "0", "timestamp": stamp,
         "hostname": socket.gethostname()},
    )  # fmt: skip
    for result in results:
        case = ET.SubElement(
            testsuite,
            "testcase",
            {
                "classname": f"cuj.{result.target}",
                "name": result.journey,
                "time": f"{result.duration_s:.3f}",
            },
        )
        failure = result.failure
        if failure is not None:
            kind = "error" if result.status is Status.PROBE_ERROR else "failure"
            attrs = {"message": failure_message(result, site), "type": str(failure.error_type)}
            element = ET.SubElement(case, kind, attrs)
            element.text = failure.message + (f"\n{failure.evidence}" if failure.evidence else "")
        ET.SubElement(case, "system-out").text = _system_out(result, site)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write(
    path: Path, results: Sequence[JourneyResult], suite: str, site: str | None = None
) -> None:
    """Atomically; OSError when it cannot be written, and then no partial file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render(results, suite, site=site))
