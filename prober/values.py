"""Values as users write them: one rule per kind, wherever the value comes from (prober.yaml, a
PROBER_ variable, a command-line flag, a journey declaration).

    kind        accepted                                          bounds
    duration    30, 30s, 500ms, 2m, 1.5h, 7d (bare: seconds)      finite; 0 .. 366d, and each
                                                                  field's own range (DurationRule)
    time        ISO 8601 (no offset: UTC) or epoch seconds        1970-01-01 .. 2100-01-01
    number      a decimal (time scales, fractions)                finite; each field's range
    count       a whole number (rounds, ports, runs kept)         each field's range
    tag value   lower case [a-z0-9_.:/-], 1-200 characters        used as written, never rewritten

Every parser returns the value or raises ValueError whose message gives the value, the accepted
form and the bounds; callers prefix the field, flag or variable. Nothing here is unbounded: a
value that would make a command's work (or a wait) grow without limit is refused here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from prober.metrics import MAX_TAG_LENGTH, tag_value

DAY_S = 86400.0
# The longest duration anything takes: a year (leap years included). SLO windows are at most
# 90 days and store retention is weeks, so a longer value is a typo (or hostile).
MAX_DURATION_S = 366 * DAY_S
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}
# At most 40 digits before the point (anything that long is past every ceiling, and is then
# refused as out of range); the cap keeps the conversion cheap.
# ASCII digits only: `\d` would take a full-width digit, and float() would agree.
_DURATION = re.compile(r"^\s*([0-9]{1,40}(?:\.[0-9]{1,9})?)\s*(ms|s|m|h|d)?\s*$", re.ASCII)
# How long one attempt's cleanups may take together (serve.cleanup_timeout's default): a hung
# target must not keep the run, and the worst case of a journey counts it once per attempt.
DEFAULT_CLEANUP_TIMEOUT_S = 10.0
DURATION_FORM = "write e.g. 30, '30s', '500ms', '2m', '1h', '7d'"

EARLIEST_TIME = 0.0  # 1970-01-01T00:00:00Z
LATEST_TIME = 4102444800.0  # 2100-01-01T00:00:00Z
TIME_FORM = "write ISO 8601 (2026-03-02T10:00:00Z; no offset: UTC) or epoch seconds"
_TAG = re.compile(r"^[a-z0-9_.:/-]+$")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling in the largest unit (`900` -> '15m', `0.5` -> '500ms')."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        amount = seconds / _UNITS[unit]
        if amount >= 1 and amount == int(amount):
            return f"{int(amount)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(
    value: object, *, minimum: float = 0.0, maximum: float = MAX_DURATION_S
) -> float:
    """Seconds in [minimum, maximum]; ValueError with the accepted form and bounds otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{_shown(value)} is not a duration; {DURATION_FORM}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{_shown(value)} is not a duration; {DURATION_FORM}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    elif isinstance(value, int) and abs(value) > MAX_DURATION_S:
        seconds = math.inf if value > 0 else -math.inf  # float() of a huge int would overflow
    else:
        seconds = float(value)
    if math.isnan(seconds):
        raise ValueError(f"{_shown(value)} is not a duration; {DURATION_FORM}")
    if not minimum <= seconds <= maximum:
        low, high = format_duration(minimum), format_duration(maximum)
        raise ValueError(f"{_shown(value)} is out of range: write a duration from {low} to {high}")
    return seconds


@dataclass(frozen=True, slots=True)
class DurationRule:
    """A field's durations: `parse_duration` with the field's bounds (a pydantic validator)."""

    minimum: float = 0.0
    maximum: float = MAX_DURATION_S

    def __call__(self, value: object) -> float:
        return parse_duration(value, minimum=self.minimum, maximum=self.maximum)


def parse_time(value: object) -> float:
    """Epoch seconds from epoch seconds or ISO 8601 text (no offset: UTC), 1970 to 2100."""
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a time; {TIME_FORM}")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float):
        return _bounded_time(value, value)
    else:
        text = str(value).strip()
        try:
            number = float(text) if _ascii_number(text) else None
        except ValueError:
            number = None
        if number is None and not text.isascii():
            raise ValueError(f"{_shown(value)} is not a time; {TIME_FORM}")
        if number is not None:
            return _bounded_time(number, value)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{_shown(value)} is not a time; {TIME_FORM}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _bounded_time(moment.timestamp(), value)


def _bounded_time(seconds: float, value: object) -> float:
    if isinstance(seconds, int) and not EARLIEST_TIME <= seconds <= LATEST_TIME:
        seconds = math.inf  # float() of a huge int would overflow
    seconds = float(seconds)
    if math.isnan(seconds):
        raise ValueError(f"{_shown(value)} is not a time; {TIME_FORM}")
    if not EARLIEST_TIME <= seconds <= LATEST_TIME:
        raise ValueError(f"{_shown(value)} is out of range: give a time from 1970 to 2100")
    return seconds


def parse_number(value: object, *, minimum: float, maximum: float) -> float:
    """A finite decimal in [minimum, maximum] (a scale, a fraction)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{_shown(value)} is not a number; write a decimal such as 1 or 2.5")
    if isinstance(value, str) and not _ascii_number(value):
        raise ValueError(f"{_shown(value)} is not a number; write a decimal such as 1 or 2.5")
    if isinstance(value, int) and abs(value) > 10**15:
        number = math.inf if value > 0 else -math.inf
    else:
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise ValueError(
                f"{_shown(value)} is not a number; write a decimal such as 1 or 2.5"
            ) from None
    if math.isnan(number) or not minimum <= number <= maximum:
        raise ValueError(f"{_shown(value)} is out of range: write a number from {minimum:g} to "
                         f"{maximum:g}")  # fmt: skip
    return number


def parse_count(value: object, *, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum] (rounds, ports, runs kept)."""
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a whole number")
    text = str(value).strip() if isinstance(value, str) else None
    if isinstance(value, int):
        number = value
    elif text is not None and re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        number = int(text)
    else:
        raise ValueError(f"{_shown(value)} is not a whole number; write e.g. {minimum}")
    if not minimum <= number <= maximum:
        raise ValueError(f"{_shown(value)} is out of range: write a whole number from {minimum} "
                         f"to {maximum}")  # fmt: skip
    return number


_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*",
    re.ASCII | re.IGNORECASE,
)


def _ascii_number(text: str) -> bool:
    """float() reads full-width digits and '1_000'; a number we are given is ASCII digits, an
    optional sign, point and exponent (and 'inf'/'nan', refused by the bounds)."""
    return _NUMBER.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class CountRule:
    """A field's whole numbers: `parse_count` with the field's bounds (a pydantic validator).
    Stricter than pydantic's int: `true` is not 1 and `80.0` is not 80 (a YAML or variable
    typo), and a digit that is not ASCII is not a digit."""

    minimum: int
    maximum: int

    def __call__(self, value: object) -> int:
        return parse_count(value, minimum=self.minimum, maximum=self.maximum)


@dataclass(frozen=True, slots=True)
class NumberRule:
    """A field's decimals: `parse_number` with the field's bounds (a pydantic validator);
    `true` is not 1."""

    minimum: float
    maximum: float

    def __call__(self, value: object) -> float:
        return parse_number(value, minimum=self.minimum, maximum=self.maximum)


def check_tag(value: object) -> str:
    """`value` when Datadog keeps it as written (it becomes a metric tag); ValueError naming
    the accepted characters and the spelling to use instead. Never rewritten silently: a
    rewritten env or location would split a dashboard in two without a word."""
    if not isinstance(value, str):
        raise ValueError(f"{_shown(value)} is not text; write a tag value such as 'prod'")
    if _TAG.match(value) and len(value) <= MAX_TAG_LENGTH and tag_value(value) == value:
        return value
    suggestion = tag_value(value)
    instead = f", e.g. {suggestion!r}" if suggestion != "none" else ""
    raise ValueError(
        f"{_shown(value)} is not a tag value: write lower case letters, digits and _ . : / - "
        f"(not starting or ending with _, at most {MAX_TAG_LENGTH}){instead}"
    )


URL_FORM = "write e.g. https://app.example"


def hide_userinfo(url: str) -> str:
    """`url` with a password in it replaced by `***` (a message must never echo one)."""
    return re.sub(r"(?<=://)([^/@\s]*?):[^/@\s]*@", r"\1:***@", url)


def check_http_url(value: object, *, origin: bool = False) -> str:
    """`value` when it is an http(s) URL the prober can use as written; ValueError saying what
    to change otherwise (the URL is shown with any password hidden). `origin`: scheme, host
    and port only (an extra origin). Never rewritten: a space, a query or a fragment would be
    sent or dropped without a word."""
    if not isinstance(value, str):
        raise ValueError(f"{_shown(value)} is not text; {URL_FORM}")
    shown = repr(hide_userinfo(value)) if len(value) <= 200 else repr(hide_userinfo(value[:197]))
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{shown} contains a space or a control character; {URL_FORM}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{shown} is not a URL ({exc}); {URL_FORM}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown} is not an http(s) URL; {URL_FORM}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{shown} has credentials in it (user:password@); remove them: credentials come "
            "from variables or files (a target's password: ${VAR} or ${file:PATH})"
        )
    if port == 0:
        raise ValueError(f"{shown} has port 0; write a port from 1 to 65535 or none")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(f"{shown} has a query or a fragment (? or #); a base URL is the "
                         "scheme, host, port and at most a path")  # fmt: skip
    if origin and parts.path not in ("", "/"):
        raise ValueError(f"{shown} has a path; an origin is scheme://host[:port] only")
    return value


def check_path(value: object) -> object:
    """A file or folder path as written in a config: text that is not empty and has no
    control character or surrounding space (`store: ''` would be the working folder itself)."""
    text = str(value) if hasattr(value, "__fspath__") else value
    if not isinstance(text, str):
        raise ValueError(f"{_shown(value)} is not a path; write e.g. .prober/results.db")
    if not text.strip() or text != text.strip() or not text.isprintable():
        raise ValueError(f"{_shown(value)} is not a usable path (empty, a control character, or "
                         "space around it); write e.g. .prober/results.db")  # fmt: skip
    return value


def check_credential(value: object) -> object:
    """A password or token (from a variable or a file): not empty, no line break or control
    character (a file saved with two newlines, an export with `\\n`). Never echoed."""
    if value is None or not isinstance(value, str):
        return value  # a missing one or a wrong type is validation's to report
    if not value:
        raise ValueError("is empty (the variable or the file it comes from is empty); set it")
    if not value.isprintable():
        raise ValueError("contains a line break or a control character (a file with a blank "
                         "last line? `echo -n` or `printf %s` writes it without one); remove "
                         "it")  # fmt: skip
    return value
