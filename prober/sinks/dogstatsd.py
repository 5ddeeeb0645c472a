"""DogStatsD: every finished run as the metrics of prober/metrics.py, via the `datadog` package.

Exactly one `env` and one `service` tag per point: the datadog client adds DD_ENV, DD_SERVICE
and DATADOG_TAGS values as constant tags on its own, so those are removed from its constant
tags and ours are set per point. An agent that is not there never stalls or crashes a run:
sends are non-blocking, and the first failure is logged once, not once per packet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from datadog.dogstatsd.base import DogStatsd, TagList

from prober import __version__
from prober import metrics as m
from prober.page_timings import PageTimings
from prober.result import JourneyResult, Status, StepStatus
from prober.trace_links import trace_ref
from prober.values import hide_userinfo, parse_count

log = logging.getLogger(__name__)
DEFAULT_URL = "udp://127.0.0.1:8125"


class DogStatsdConfigError(ValueError):
    """The DogStatsD destination cannot be used; the message says which value and why.
    `variable` names the DD_ environment variable it came from (None: the config file)."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Destination:
    host: str | None = None
    port: int | None = None
    socket_path: str | None = None

    def __str__(self) -> str:
        if self.socket_path:
            return f"unix://{self.socket_path}"
        return f"udp://{self.host}:{self.port}"


def parse_url(url: str) -> Destination:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DogStatsdConfigError(
            f"{url!r}: the port is not a number from 1 to 65535; write udp://host:8125"
        ) from None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise DogStatsdConfigError(f"{hide_userinfo(url)!r}: a DogStatsD URL has no user, query "
                                   "or fragment; write udp://host:port")  # fmt: skip
    if parts.scheme in ("unix", "unixgram"):
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if not path:
            raise DogStatsdConfigError(f"{url!r}: a unix:// URL needs a socket path")
        if not path.startswith("/"):
            raise DogStatsdConfigError(f"{url!r}: the socket path must be absolute; write "
                                       "unix:///var/run/datadog/dsd.socket")  # fmt: skip
        return Destination(socket_path=path)
    if parts.scheme == "udp":
        if port == 0:
            raise DogStatsdConfigError(
                f"{url!r}: the port is not a number from 1 to 65535; write udp://host:8125"
            )
        return Destination(host=parts.hostname or "127.0.0.1", port=port or 8125)
    raise DogStatsdConfigError(
        f"{url!r}: DogStatsD URLs are udp://host:port or unix:///path/to/socket"
    )


def resolve_destination(configured: str | None, environ: Mapping[str, str]) -> Destination:
    """Where metrics go: DD_DOGSTATSD_URL, else DD_AGENT_HOST/DD_DOGSTATSD_PORT, else the
    configured `datadog.statsd_url`, else udp://127.0.0.1:8125. The agent's environment wins,
    as it does for every Datadog library in a container."""
    if environ.get("DD_DOGSTATSD_URL"):
        try:
            return parse_url(environ["DD_DOGSTATSD_URL"])
        except DogStatsdConfigError as exc:
            raise DogStatsdConfigError(str(exc), "DD_DOGSTATSD_URL") from None
    host, port = environ.get("DD_AGENT_HOST"), environ.get("DD_DOGSTATSD_PORT")
    if host or port:
        port_number = 8125
        if port:
            try:
                port_number = parse_count(port, minimum=1, maximum=65535)
            except ValueError as exc:
                raise DogStatsdConfigError(f"{exc} (a UDP port)", "DD_DOGSTATSD_PORT") from None
        if host is not None and (
            not host.strip() or any(c.isspace() for c in host) or "/" in host or "@" in host
        ):
            raise DogStatsdConfigError(
                f"{host!r} is not a host name or address; write e.g. 10.0.0.5", "DD_AGENT_HOST"
            )
        return Destination(host=host or "127.0.0.1", port=port_number)
    return parse_url(configured or DEFAULT_URL)


class _QuietSendErrors(logging.Filter):
    """The datadog client warns on every dropped packet; the sink reports that once itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error submitting packet")


logging.getLogger("datadog.dogstatsd").addFilter(_QuietSendErrors())


class _Client(DogStatsd):
    """The datadog client, telling its owner the first time a packet could not be sent."""

    def __init__(self, destination: Destination, **options: Any) -> None:
        super().__init__(
            host=destination.host,
            port=destination.port,
            socket_path=destination.socket_path,
            **options,
        )
        self._destination = destination
        self.dropped = 0

    def _xmit_packet(
        self, packet: str, is_telemetry: bool, queue_mode: bool = False
    ) -> bool | None:
        sent = super()._xmit_packet(packet, is_telemetry, queue_mode=queue_mode)
        if sent is False:
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "the DogStatsD agent at %s is not taking metrics; they are dropped until "
                    "it is back. Runs go on; this is reported once.",
                    self._destination,
                )
        return sent


class DogStatsdSink:
    name = "dogstatsd"

    def __init__(
        self, destination: Destination, origin: m.Origin, *, site: str | None = None
    ) -> None:
        self.destination = destination
        self.origin = origin
        self.site = site  # Datadog's site: events link the trace (prober/trace_links.py)
        self._client = _Client(
            destination,
            constant_tags=[],
            disable_telemetry=True,
            disable_buffering=True,  # each point leaves at once: nothing to lose at exit
            socket_timeout=0,  # non-blocking: a full or absent agent never stalls a run
            origin_detection_enabled=False,
        )
        # Our env and service tags are the only ones: drop what the client took from DD_*.
        kept = [t for t in self._client.constant_tags if not t.startswith(("env:", "service:"))]
        self._client.constant_tags = TagList(kept)
        self._states: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    # --- runs ---------------------------------------------------------------------------------

    def emit(self, result: JourneyResult) -> None:
        common = m.common_tags(result, self.origin)
        status = str(result.status)
        failure = result.failure
        self._client.increment(
            m.RUNS,
            tags=[
                *common,
                m.tag(m.STATUS, status),
                m.tag(m.ERROR_TYPE, result.error_type or m.NONE),
                m.tag(m.FAILED_STEP, result.failed_step or m.NONE),
                m.tag(m.FAILED_SERVICE, result.failed_service or m.NONE),
                m.tag(m.WITHIN_SLO, str(result.within_slo).lower()),
            ],
        )
        self._client.distribution(
            m.DURATION, result.duration_s, tags=[*common, m.tag(m.STATUS, status)]
        )
        for step in result.steps:
            if step.status is StepStatus.SKIPPED:
                continue
            step_tags = [
                *common,
                m.tag(m.STEP, step.name),
                m.tag(m.STEP_SERVICE, step.service),
                m.tag(m.STATUS, step.status),
            ]
            self._client.distribution(m.STEP_DURATION, step.duration_s, tags=step_tags)
            if step.page is not None:
                self._page(step.page, step_tags)
        for attempt in result.attempts:
            self._client.increment(
                m.ATTEMPTS,
                tags=[
                    *common,
                    m.tag(m.ATTEMPT, attempt.attempt),
                    m.tag(m.STATUS, attempt.status),
                    m.tag(m.ERROR_TYPE, attempt.error_type or m.NONE),
                ],
            )
            for cleanup in attempt.cleanup_failures:
                self._client.increment(m.CLEANUP_FAILED, tags=[*common, m.tag(m.STEP, cleanup)])
            for kind, _detail in attempt.internal_errors:
                self.internal_error(kind, result.journey)
            found = dict(attempt.annotations).get(m.LEFTOVERS_FOUND)
            if isinstance(found, int):
                self.leftovers(result.journey, result.target, found)
            repaired = dict(attempt.annotations).get(m.FIXTURES_REPAIRED)
            for fixture, action in (repaired if isinstance(repaired, dict) else {}).items():
                tags = [m.tag(m.FIXTURE, str(fixture)), m.tag(m.ACTION, str(action))]
                self._client.increment(m.FIXTURE_REPAIRED, tags=[*common, *tags])
        check = {
            Status.SUCCESS: DogStatsd.OK,
            Status.FAILURE: DogStatsd.CRITICAL,
            Status.PROBE_ERROR: DogStatsd.UNKNOWN,
        }[result.status]
        self._client.service_check(
            m.CAN_COMPLETE,
            check,
            tags=common,
            message=_summary(result, self.site) if failure is not None else None,
        )
        self._event_on_change(result, common)

    def _page(self, page: PageTimings, tags: list[str]) -> None:
        """What the page measured during one step, with the step's tags (seconds)."""
        send = self._client.distribution
        nav = page.navigation
        if nav is not None:
            send(m.PAGE_TTFB, nav.ttfb_ms / 1000, tags=tags)
            if nav.dom_content_loaded_ms is not None:
                send(m.PAGE_DOM_CONTENT_LOADED, nav.dom_content_loaded_ms / 1000, tags=tags)
            if nav.load_ms is not None:
                send(m.PAGE_LOAD, nav.load_ms / 1000, tags=tags)
        if page.lcp_ms is not None:
            send(m.PAGE_LCP, page.lcp_ms / 1000, tags=tags)
        send(m.PAGE_CLS, page.cls, tags=tags)
        send(m.PAGE_LONG_TASKS, page.long_tasks, tags=tags)
        send(m.PAGE_LONG_TASK_TIME, page.long_task_ms / 1000, tags=tags)
        for request in page.requests:
            request_tags = [
                *tags,
                m.tag(m.RESOURCE, request.resource),
                m.tag(m.REQUEST_SERVICE, request.service or m.NONE),
            ]
            send(m.PAGE_REQUEST_DURATION, request.duration_ms / 1000, tags=request_tags)
            send(m.PAGE_REQUEST_END, request.end_ms / 1000, tags=request_tags)

    def remember_failing(self, failing: Mapping[tuple[str, str], bool]) -> None:
        """Seed (journey, target) -> failing from the store, so a restart neither repeats a
        "failing" event nor misses the "recovered" one."""
        with self._lock:
            self._states.update(failing)

    def _event_on_change(self, result: JourneyResult, common: list[str]) -> None:
        """An event when a journey starts failing or recovers (prober faults change nothing)."""
        if result.status is Status.PROBE_ERROR:
            return
        key = (result.journey, result.target)
        failing = result.status is Status.FAILURE
        with self._lock:
            was_failing = self._states.get(key, False)
            self._states[key] = failing
        if failing == was_failing:
            return
        if failing:
            title = f"CUJ {result.journey} is failing on {result.target}"
            text = _summary(result, self.site)
            alert = "error"
        else:
            title = f"CUJ {result.journey} recovered on {result.target}"
            text = f"run {result.run_id} succeeded (trace {trace_ref(self.site, result.trace_id)})"
            alert = "success"
        self._client.event(
            title,
            text,
            alert_type=alert,
            aggregation_key=f"cuj-{result.journey}-{result.target}",
            source_type_name="cuj-prober",
            tags=common,
        )

    # --- prober health ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        self._client.gauge(
            m.HEARTBEAT,
            1,
            tags=[
                m.tag(m.ENV, self.origin.env),
                m.tag(m.LOCATION, self.origin.location),
                m.tag(m.PROBER_VERSION, __version__),
            ],
        )

    def leftovers(self, journey: str, target: str, found: int) -> None:
        """How many leftovers of killed runs a sweep found (0 is a point too: sweeps ran)."""
        self._client.increment(
            m.LEFTOVERS,
            found,
            tags=[
                m.tag(m.JOURNEY, journey),
                m.tag(m.TARGET, target),
                m.tag(m.ENV, self.origin.env),
                m.tag(m.LOCATION, self.origin.location),
            ],
        )

    def internal_error(self, kind: str, journey: str | None = None) -> None:
        """Count one of the prober's own faults that did not change a verdict."""
        tags = [
            m.tag(m.ENV, self.origin.env),
            m.tag(m.LOCATION, self.origin.location),
            m.tag(m.KIND, kind),
        ]
        if journey is not None:
            tags.append(m.tag(m.JOURNEY, journey))
        self._client.increment(m.INTERNAL_ERRORS, tags=tags)

    def skipped(self, journey: str, target: str, reason: str) -> None:
        if reason not in m.SKIP_REASONS:
            raise ValueError(f"skip reason {reason!r} is not one of {m.SKIP_REASONS}")
        self._client.increment(
            m.SKIPPED,
            tags=[
                m.tag(m.JOURNEY, journey),
                m.tag(m.TARGET, target),
                m.tag(m.ENV, self.origin.env),
                m.tag(m.LOCATION, self.origin.location),
                m.tag(m.REASON, reason),
            ],
        )

    def close(self) -> None:
        self._client.flush()
        self._client.close_socket()


def _summary(result: JourneyResult, site: str | None) -> str:
    failure = result.failure
    lines = [
        f"run {result.run_id}: {result.error_type} in step {result.failed_step!r}, "
        f"blame {result.failed_service}",
        f"trace_id {trace_ref(site, result.trace_id)}",
    ]
    if failure is not None:
        lines.append(failure.message[:500])
        if failure.evidence:
            lines.append(f"evidence: {failure.evidence}")
    if result.locations:
        lines.append(f"locations: {result.locations}")
    if result.artifacts:
        lines.append(f"artifacts: {result.artifacts[0].rsplit('/', 1)[0]}")
    return "\n".join(lines)
