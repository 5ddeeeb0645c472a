"""Exceptions journeys raise on purpose, and the prober's own breakage.

Journeys signal outcomes with these; the classifier (prober/classify.py) turns every exception,
these and foreign ones alike, into a `Failure` at one boundary.

    AssertionError                 (Playwright `expect`, plain `assert`)  -> assertion
    ├── JourneyAssertion           ctx.fail(...): wrong outcome, optionally blaming a service
    └── GaveUp                     ctx.wait/ctx.poll ran out of the customer's patience, with
                                   the last state seen and who kept answering it
    TimeoutError
    └── WaitTimedOut               ctx.wait/ctx.poll reached the step's deadline first (same)
    JourneyExit                    journey code raised SystemExit or KeyboardInterrupt
    ReportedFailure                the platform reported its own failure in a 2xx answer
                                   (a run that ended `failed` with error.service)
    FailedAnswer                   a failure whose evidence is one recorded answer
    ├── LoginFailed                the target refused the probe user's login, or a login is
    │                              held back after refusals (so the account is not locked)
    ├── RequestFailed              a request the browser step awaited failed on the network
    └── UnexpectedStatus           ctx.expect_status got a status the journey does not accept
    ProbeError                     the prober itself broke -> probe_error, never the SLO
    └── BrowserUnavailable         no Chromium, or it would not start
"""

from __future__ import annotations

from typing import Any


class JourneyAssertion(AssertionError):
    """The target answered, but the outcome was wrong (canvas empty, data not saved)."""

    def __init__(
        self, message: str, *, service: str | None = None, blame: str | None = None
    ) -> None:
        super().__init__(message)
        self.service = service
        # Where `service` came from, a prober.result.BlameSource value: "author" (default when
        # a service is named) or, for the answer-reading helpers, "platform" / "route".
        self.blame = blame


class _LastSeen(Exception):
    """What a wait saw last: who kept answering it (`service`, named per `blame`, a
    prober.result.BlameSource value) and the answer's description (`evidence`). The classifier
    takes it when the step's record holds nothing stronger (a failed answer, a page error, a
    request still without an answer)."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        blame: str | None = None,
        evidence: str | None = None,
    ) -> None:
        super().__init__(message)
        self.service, self.blame, self.evidence = service, blame, evidence


class GaveUp(_LastSeen, AssertionError):
    """A wait or poll ran out of the customer's patience (its `cap_s`): an assertion."""


class Unreadable(_LastSeen, AssertionError):
    """An answer whose body the journey could not get to check (Chromium no longer held it,
    e.g. a body too large for its inspector cache): an assertion on the service that sent it,
    unless the step's record holds stronger evidence."""


class WaitTimedOut(_LastSeen, TimeoutError):
    """A wait or poll reached the step's deadline before the customer's patience: a timeout."""


class JourneyExit(Exception):
    """Journey code raised SystemExit or KeyboardInterrupt (not a real Ctrl-C, which cancels
    the run instead): carried as an ordinary exception so it cannot stop the prober, and
    judged like any other journey bug."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(f"journey code raised {type(raised).__name__}({raised})")
        self.raised = raised


class ReportedFailure(Exception):
    """The platform said, in an otherwise successful answer, that `service` failed."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message


class FailedAnswer(Exception):
    """A failure whose evidence is one recorded answer (`answer`, a prober.observe.Exchange;
    not imported here: this module imports nothing of the prober's)."""

    def __init__(self, message: str, answer: Any) -> None:
        super().__init__(message)
        self.answer = answer


class LoginFailed(FailedAnswer):
    """The target refused the login, now or recently (and further logins are held back)."""


class RequestFailed(FailedAnswer):
    """A request the step waited for failed at the network level; the step was stopped."""


class UnexpectedStatus(FailedAnswer):
    """ctx.expect_status: the answer's status is not one the journey accepts."""


class ProbeError(Exception):
    """The prober's own environment or code failed; the target is not to blame."""


class BrowserUnavailable(ProbeError):
    """No browser could be launched; the message says why and how to get one."""


class JourneyDefinitionError(Exception):
    """A journey declaration is invalid; the message names the file, the journey and the field."""


class JourneyImportInterrupted(KeyboardInterrupt):
    """A KeyboardInterrupt while a journey module was imported: Ctrl-C, or the module raises it.
    Still an interrupt (exit 130), but the message names the module."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source
