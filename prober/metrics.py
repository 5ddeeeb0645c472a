"""The metric contract: every metric, tag and value name, defined once.

The DogStatsD sink emits exactly these; the SLO export builds its queries from them, so a query
can never drift from what is emitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prober.result import JourneyResult, Status

# Metrics
RUNS = "cuj.journey.runs"  # count, 1 per finished run
DURATION = "cuj.journey.duration"  # distribution, seconds
STEP_DURATION = "cuj.journey.step.duration"  # distribution, seconds
# What the page itself measured during a browser step (prober/page_timings.py), distributions
# with the step's tags: the navigation the step made (from its start, seconds), largest
# contentful paint, layout shift, long tasks, and each target request the page saw answered.
PAGE_TTFB = "cuj.journey.step.page.ttfb"
PAGE_DOM_CONTENT_LOADED = "cuj.journey.step.page.dom_content_loaded"
PAGE_LOAD = "cuj.journey.step.page.load"
PAGE_LCP = "cuj.journey.step.page.lcp"
PAGE_CLS = "cuj.journey.step.page.cls"  # unitless, summed over the step
PAGE_LONG_TASKS = "cuj.journey.step.page.long_tasks"  # how many in the step
PAGE_LONG_TASK_TIME = "cuj.journey.step.page.long_task_time"  # seconds, summed
PAGE_REQUEST_DURATION = "cuj.journey.step.page.request.duration"  # seconds, per request
PAGE_REQUEST_END = "cuj.journey.step.page.request.end"  # seconds after the step's start
ATTEMPTS = "cuj.journey.attempts"  # count, 1 per attempt
HEARTBEAT = "cuj.prober.heartbeat"  # gauge 1, every 15 s while the scheduler lives
SKIPPED = "cuj.prober.runs.skipped"  # count
CLEANUP_FAILED = "cuj.prober.cleanup.failed"  # count
# count: the prober's own faults that did not change a verdict (artifacts, store, a sink)
INTERNAL_ERRORS = "cuj.prober.internal_errors"
# count: leftovers of killed runs a sweep found (and deleted); the run annotation it comes from
LEFTOVERS = "cuj.prober.leftovers"
LEFTOVERS_FOUND = "leftovers"
# count: fixtures a run had to create (missing) or repair (drifted), tags fixture and action;
# the run annotation it comes from ({fixture name: "created" | "repaired"})
FIXTURE_REPAIRED = "cuj.prober.fixture.repaired"
FIXTURES_REPAIRED = "fixtures_repaired"
FIXTURE = "fixture"
ACTION = "action"
# The target setting that overrides every Sweep's max age (e.g. 0s to sweep all leftovers).
SWEEP_MAX_AGE_SETTING = "sweep_max_age"
CAN_COMPLETE = "cuj.journey.can_complete"  # service check, per run

# Common tag keys on journey metrics
JOURNEY = "journey"
CUJ = "cuj"
ENV = "env"
SERVICE = "service"
TEAM = "team"
CHANNEL = "channel"
TRIGGER = "trigger"
LOCATION = "location"
TARGET = "target"
# Per-metric tag keys
STATUS = "status"
ERROR_TYPE = "error_type"
FAILED_STEP = "failed_step"
FAILED_SERVICE = "failed_service"
WITHIN_SLO = "within_slo"
STEP = "step"
STEP_SERVICE = "step_service"
ATTEMPT = "attempt"
REASON = "reason"
KIND = "kind"  # internal_errors: artifacts | sweep | page_timings | sink:<name>
RESOURCE = "resource"  # page requests: document | script | fetch | xhr | iframe
REQUEST_SERVICE = "request_service"  # page requests: the route map's owner of the path
PROBER_VERSION = "prober_version"

NONE = "none"  # error_type, failed_step, failed_service on success
MAINTENANCE = "maintenance"  # skip reason: a scheduled run inside a maintenance window
SKIP_REASONS = ("overlap", "misfire", "shutdown", MAINTENANCE)
SCHEDULE_TRIGGER = "schedule"
SUCCESS = str(Status.SUCCESS)
FAILURE = str(Status.FAILURE)
PROBE_ERROR = str(Status.PROBE_ERROR)

_INVALID = re.compile(r"[^a-z0-9_.:/-]+")
MAX_TAG_LENGTH = 200


def tag_value(value: object) -> str:
    """A value Datadog keeps as written: lower case, [a-z0-9_.:/-], at most 200 characters."""
    cleaned = _INVALID.sub("_", str(value).strip().lower()).strip("_")
    return (cleaned or NONE)[:MAX_TAG_LENGTH]


def tag(key: str, value: object) -> str:
    return f"{key}:{tag_value(value)}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the prober runs: the tags every point carries beyond the result's own."""

    env: str
    location: str


def common_tags(result: JourneyResult, origin: Origin) -> list[str]:
    return [
        tag(JOURNEY, result.journey),
        tag(CUJ, result.cuj),
        tag(ENV, origin.env),
        tag(SERVICE, result.service),
        tag(TEAM, result.team),
        tag(CHANNEL, result.channel),
        tag(TRIGGER, result.trigger),
        tag(LOCATION, origin.location),
        tag(TARGET, result.target),
    ]
