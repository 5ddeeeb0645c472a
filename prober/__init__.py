"""cuj-prober: synthetic probes for the Critical User Journeys of a workflow platform.

The public API for journey authors:

    from prober import Journey, StepContext, expect
    from prober import Sweep, Leftover, PackSettings, Setting, Duration   # the authoring kit
    from prober import PageTiming          # a latency SLI on what the page measured

Playwright's `expect` is re-exported lazily, so commands that never drive a browser do not
import Playwright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from playwright.async_api import expect

    from prober.context import RunInfo, StepContext
    from prober.errors import JourneyAssertion, ReportedFailure
    from prober.journey import Channel, Journey
    from prober.kit import Duration, Leftover, PackSettings, Setting, Sweep
    from prober.latency_sli import PageTiming

__all__ = [
    "Channel",
    "Duration",
    "Journey",
    "JourneyAssertion",
    "Leftover",
    "PackSettings",
    "PageTiming",
    "ReportedFailure",
    "RunInfo",
    "Setting",
    "StepContext",
    "Sweep",
    "__version__",
    "expect",
]

_LAZY = {
    "Channel": "prober.journey",
    "Journey": "prober.journey",
    "StepContext": "prober.context",
    "RunInfo": "prober.context",
    "JourneyAssertion": "prober.errors",
    "ReportedFailure": "prober.errors",
    "Duration": "prober.kit",
    "Leftover": "prober.kit",
    "PackSettings": "prober.kit",
    "Setting": "prober.kit",
    "Sweep": "prober.kit",
    "PageTiming": "prober.latency_sli",
    "expect": "playwright.async_api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prober' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
