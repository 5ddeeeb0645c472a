"""Trace correlation headers: W3C traceparent plus Datadog's own propagation.

Each run attempt has one 128-bit trace id; each request the prober sends gets a fresh span id,
so the backend's spans hang off the probe's trace and the result's trace id finds them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from prober import __version__

PRODUCT_TOKEN = f"cuj-prober/{__version__}"
PROBE_HEADER = "x-cuj-probe"
# The headers whose value is the request's own span id; the others are the attempt's.
SPAN_HEADERS = ("traceparent", "x-datadog-parent-id")


def _nonzero_hex(nbytes: int) -> str:
    while True:
        value = secrets.token_hex(nbytes)
        if int(value, 16):
            return value


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16 hex digits: the attempt's root span

    @classmethod
    def new(cls) -> TraceContext:
        return cls(_nonzero_hex(16), _nonzero_hex(8))

    def headers(self, probe: str) -> dict[str, str]:
        """Headers for one outgoing request, with a new span id for it."""
        span = _nonzero_hex(8)
        return {
            "traceparent": f"00-{self.trace_id}-{span}-01",
            "x-datadog-parent-id": str(int(span, 16)),
            **self.attempt_headers(probe),
        }

    def attempt_headers(self, probe: str) -> dict[str, str]:
        """The headers every request of the attempt shares (all but `SPAN_HEADERS`)."""
        return {
            "x-datadog-trace-id": datadog_trace_id(self.trace_id),
            "x-datadog-origin": "synthetics",
            "x-datadog-sampling-priority": "1",
            # The high 64 bits, so Datadog rebuilds the full 128-bit id.
            "x-datadog-tags": f"_dd.p.tid={self.trace_id[:16]}",
            PROBE_HEADER: probe,
        }


def datadog_trace_id(trace_id: str) -> str:
    """Datadog's form of a 32-digit W3C trace id (x-datadog-trace-id, the trace view's id):
    the low 64 bits, in decimal."""
    return str(int(trace_id[16:], 16))


def with_product_token(user_agent: str | None) -> str:
    """A user agent ending in `cuj-prober/<version>`, so backends can exclude probe traffic."""
    if not user_agent:
        return PRODUCT_TOKEN
    return user_agent if user_agent.endswith(PRODUCT_TOKEN) else f"{user_agent} {PRODUCT_TOKEN}"
