"""Links from a trace id to its trace in Datadog APM: `https://<app host>/apm/trace/<id>`.

The id in the link is the low 64 bits of the 128-bit trace id, in decimal: the value the
prober sends as `x-datadog-trace-id` (prober/trace.py), and the `trace_id` field every Datadog
tracer reports for the spans it makes under that trace, whether it keeps the full 128 bits (the
high half travels apart, as the `_dd.p.tid` tag) or only the low 64. Datadog treats a span with
the full id and one with only its low half as the same trace, so the low half finds the trace
either way; the 32-digit W3C form only finds traces whose tracer kept all 128 bits.
(docs/operations.md, "Trace links", cites the Datadog pages that say so.)

No site, no link: `trace_url` returns None and every report prints the bare trace id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prober.trace import datadog_trace_id

# A Datadog site as DD_SITE spells it: datadoghq.com, us3.datadoghq.com, datadoghq.eu...
_SITE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def app_host(site: str) -> str | None:
    """The web app's host for a Datadog site: `app.` before a site without a region
    (datadoghq.com, datadoghq.eu, ddog-gov.com), the site itself otherwise (us3.datadoghq.com);
    None for something that is not a site."""
    site = site.strip().lower()
    if not _SITE.match(site):
        return None
    return f"app.{site}" if site.count(".") == 1 else site


def trace_url(site: str | None, trace_id: str) -> str | None:
    """The one place a trace link is built. None without a site, or for an id that is not a
    32-digit hex W3C trace id (a probe_error made before any request has one too)."""
    if not site or not _TRACE_ID.match(trace_id):
        return None
    host = app_host(site)
    return None if host is None else f"https://{host}/apm/trace/{datadog_trace_id(trace_id)}"


def trace_ref(site: str | None, trace_id: str) -> str:
    """A trace id for text: `<id>`, or `<id> <link>` with a site."""
    url = trace_url(site, trace_id)
    return trace_id if url is None else f"{trace_id} {url}"


def with_trace_urls(result: Mapping[str, Any], site: str | None) -> dict[str, Any]:
    """A result's JSON (JourneyResult.to_json()) with `trace_url` beside each `trace_id`, the
    run's and every attempt's (null without a site)."""
    linked = dict(result)
    linked["trace_url"] = trace_url(site, str(result.get("trace_id", "")))
    linked["attempts"] = [
        {**attempt, "trace_url": trace_url(site, str(attempt.get("trace_id", "")))}
        for attempt in result.get("attempts", [])
    ]
    return linked
