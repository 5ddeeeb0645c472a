"""Exceptions journeys raise on purpose, and the prober's own breakage.

Journeys signal outcomes with these; the classifier (prober/classify.py) turns every exception,
these and foreign ones alike, into a `Failure` at one boundary.

    AssertionError                 (Playwright `expect`, plain `assert`)  -> assertion
    └── JourneyAssertion           ctx.fail(...): wrong outcome, optionally blaming a service
    ReportedFailure                the platform reported its own failure in a 2xx answer
                                   (a run that ended `failed` with error.service)
    ProbeError                     the prober itself broke -> probe_error, never the SLO
    └── BrowserUnavailable         no Chromium, or it would not start
"""

from __future__ import annotations


class JourneyAssertion(AssertionError):
    """The target answered, but the outcome was wrong (canvas empty, data not saved)."""

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service


class ReportedFailure(Exception):
    """The platform said, in an otherwise successful answer, that `service` failed."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message


class ProbeError(Exception):
    """The prober's own environment or code failed; the target is not to blame."""


class BrowserUnavailable(ProbeError):
    """No browser could be launched; the message says why and how to get one."""


class JourneyDefinitionError(Exception):
    """A journey declaration is invalid; the message names the file, the journey and the field."""
