"""Maintenance windows (`maintenance:` in prober.yaml): when journeys are not probed on schedule
and their SLOs are corrected.

A window is one-off (`start`, `end`) or recurring (`rrule` or `cron`, with `duration`), read in
its `timezone` (IANA, default UTC), and applies to every journey and target unless `journeys`
(name globs, `*` and `?`) or `targets` narrow it. Recurring windows are kept as Datadog's SLO
corrections express them: the first occurrence (DTSTART, local time), an RFC 5545 RRULE without
time-of-day parts, and a duration in seconds; a cron line becomes such a rule. Each occurrence
starts at the rule's local wall time (so it follows daylight saving time) and lasts `duration`
of real time.

Used by `serve` (no scheduled runs in a window: `skipped{reason:maintenance}`), `run`/`smoke`
(they run, and say so), and the SLO export, status and backtest (`spec.corrections`).
"""

from __future__ import annotations

import calendar
import re
import warnings
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from functools import cache, cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as rfc5545
from dateutil.rrule import rrulestr

# What Datadog's SLO corrections accept of RFC 5545 (the time of day comes from the start).
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH")
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
OVERLAP_HORIZON = timedelta(days=2 * 366)  # how far ahead overlaps are looked for
MAX_INTERVAL = 999
MAX_COUNT = 10_000
# No rule is ever iterated past this wall time (prober.values' latest time): dateutil looks for
# a match up to the year 9999, which takes seconds for a rule that never matches (INTERVAL=7;
# BYDAY=MO from a Tuesday); capped, a rule costs at most 130 years of steps.
LAST_WALL = datetime(2100, 1, 1)
FIRST_YEAR = 1970
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # cron 0-6 (7 is Sunday too)
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


class WindowError(ValueError):
    """A window that cannot be understood; the message says which field and the fix."""


def parse_local(value: object, tz: ZoneInfo, what: str) -> datetime:
    """An ISO 8601 date-time without offset, read as wall time in `tz`."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise WindowError(
                f"{what} {value!r} is not a date-time; write e.g. 2025-03-01T22:00"
            ) from None
    if not FIRST_YEAR <= moment.year < LAST_WALL.year:
        raise WindowError(f"{what} {value!r} is out of range: give a date-time from "
                          f"{FIRST_YEAR} to {LAST_WALL.year - 1}")  # fmt: skip
    if moment.tzinfo is not None:
        raise WindowError(f"{what} {value!r} carries an offset; write the local time and set "
                          "`timezone` (e.g. Europe/Berlin) instead")  # fmt: skip
    local = moment.replace(tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment:
        raise WindowError(f"{what} {value!r} does not exist in {tz.key} (the clocks skip it at "
                          "the change to summer time); choose another time")  # fmt: skip
    return local


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            f"timezone {name!r} is not an IANA time zone; write e.g. UTC or Europe/Berlin"
        ) from None


def check_rrule(text: str) -> str:
    """The RRULE normalised (upper case, no `RRULE:`), or WindowError naming the part."""
    body = text.strip().removeprefix("RRULE:").upper()
    parts: dict[str, str] = {}
    for item in filter(None, body.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise WindowError(f"rrule part {item!r} is not KEY=VALUE (e.g. FREQ=WEEKLY;BYDAY=SA)")
        if key not in RRULE_PARTS:
            raise WindowError(
                f"rrule part {key} is not supported by Datadog's SLO corrections; use "
                f"{', '.join(RRULE_PARTS)} (the time of day comes from `start`)"
            )
        if key in parts:
            raise WindowError(f"rrule part {key} is given twice; keep one")
        parts[key] = value
    if parts.get("FREQ") not in FREQUENCIES:
        raise WindowError(f"rrule needs FREQ= one of {', '.join(FREQUENCIES)} (a maintenance "
                          "window recurs at most daily)")  # fmt: skip
    if "COUNT" in parts and "UNTIL" in parts:
        raise WindowError("rrule has both COUNT and UNTIL; keep one")
    _check_parts(parts)
    try:
        rrulestr(body, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, OverflowError) as exc:
        raise WindowError(f"rrule {text!r} is not valid: {exc}") from None
    return ";".join(f"{k}={v}" for k, v in parts.items())


def _numbers(parts: dict[str, str], key: str, low: int, high: int, *, signed: bool = False
             ) -> list[int]:  # fmt: skip
    """The comma-separated whole numbers of `key` in low..high (or -high..-low if signed)."""
    if key not in parts:
        return []
    found = []
    for item in parts[key].split(","):
        ok = re.fullmatch(r"[+-]?\d{1,5}" if signed else r"\d{1,5}", item) is not None
        number = int(item) if ok else 0
        if not (low <= number <= high or (signed and -high <= number <= -low)):
            bounds = f"{low}..{high}" + (f" or -{high}..-{low}" if signed else "")
            raise WindowError(f"rrule {key}={parts[key]}: {item!r} is not a whole number in "
                              f"{bounds}")  # fmt: skip
        found.append(number)
    return found


def _check_parts(parts: dict[str, str]) -> None:
    """Refuse, before anything iterates, a rule that loops (INTERVAL=0), is unbounded in its
    numbers, or can never match (BYMONTHDAY=31;BYMONTH=2)."""
    _numbers(parts, "INTERVAL", 1, MAX_INTERVAL)
    _numbers(parts, "COUNT", 1, MAX_COUNT)
    months = _numbers(parts, "BYMONTH", 1, 12) or list(range(1, 13))
    days = _numbers(parts, "BYMONTHDAY", 1, 31, signed=True)
    longest = max(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in months)
    if days and all(abs(d) > longest for d in days):
        raise WindowError(f"rrule BYMONTHDAY={parts['BYMONTHDAY']} never falls in "
                          f"BYMONTH={parts.get('BYMONTH')}: the rule would never occur; fix the "
                          "days or the months")  # fmt: skip
    for item in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []:
        match = _BYDAY.match(item)
        if match is None:
            raise WindowError(f"rrule BYDAY {item!r}: write MO, TU, ... SU, or 1MO/-1FR (monthly)")
        if match.group(1) is not None:
            limit = 5 if parts["FREQ"] == "MONTHLY" else 53
            if parts["FREQ"] not in ("MONTHLY", "YEARLY") or not 1 <= abs(int(match.group(1))
                                                                           ) <= limit:  # fmt: skip
                raise WindowError(f"rrule BYDAY {item!r}: a numbered day (1MO, -1FR) is for "
                                  f"FREQ=MONTHLY (1-5) or YEARLY (1-53)")  # fmt: skip
    if "UNTIL" in parts:
        until = _UNTIL.match(parts["UNTIL"])
        if until is None:
            raise WindowError(f"rrule UNTIL={parts['UNTIL']}: write YYYYMMDD or "
                              "YYYYMMDDTHHMMSS (e.g. UNTIL=20261231)")  # fmt: skip
        if not FIRST_YEAR <= int(until.group(1)) < LAST_WALL.year:
            raise WindowError(f"rrule UNTIL={parts['UNTIL']} is out of range: give a date from "
                              f"{FIRST_YEAR} to {LAST_WALL.year - 1}")  # fmt: skip


def bounded_rule(text: str, dtstart: datetime) -> rfc5545.rrule:
    """The rule from naive wall time `dtstart`, never iterated past LAST_WALL (see there)."""
    rule = rrulestr(text, dtstart=dtstart)
    assert isinstance(rule, rfc5545.rrule)
    if "UNTIL=" in text.upper():
        return rule  # checked to be before LAST_WALL
    with warnings.catch_warnings():  # COUNT with an UNTIL cap: dateutil warns, then honours both
        warnings.simplefilter("ignore", DeprecationWarning)
        return rule.replace(until=LAST_WALL)


def _cron_days(field_text: str) -> list[int]:
    days: set[int] = set()
    for item in field_text.lower().split(","):
        low, _, high = item.partition("-")
        try:
            first = _DAY_NAMES[low] if low in _DAY_NAMES else int(low)
            last = first if not high else _DAY_NAMES[high] if high in _DAY_NAMES else int(high)
        except (KeyError, ValueError):
            raise WindowError(
                f"cron day of week {item!r}: write 0-7, mon-sun, lists, ranges"
            ) from None
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise WindowError(f"cron day of week {item!r} is outside 0-7")
        days |= {d % 7 for d in range(first, last + 1)}
    return sorted(days)


def _cron_numbers(field_text: str, low: int, high: int, what: str) -> list[int]:
    try:
        values = sorted({int(v) for v in field_text.split(",")})
    except ValueError:
        raise WindowError(f"cron {what} {field_text!r}: write numbers or * (no steps)") from None
    if not all(low <= v <= high for v in values):
        raise WindowError(f"cron {what} {field_text!r} is outside {low}-{high}")
    return values


def cron_to_rrule(line: str) -> tuple[int, int, str]:
    """`M H DOM MON DOW` -> (hour, minute, RRULE). One time of day, no steps: Datadog's
    corrections take one start time per rule; day of month and day of week not both."""
    fields = line.split()
    if len(fields) != 5:
        raise WindowError(f"cron {line!r} needs 5 fields: minute hour day-of-month month "
                          "day-of-week (e.g. '0 2 * * sun')")  # fmt: skip
    minute, hour, dom, month, dow = fields
    if not (minute.isdigit() and hour.isdigit()) or int(minute) > 59 or int(hour) > 23:
        raise WindowError(f"cron {line!r}: minute and hour must be single numbers (one start "
                          "time a day; write two windows for two)")  # fmt: skip
    if dom != "*" and dow != "*":
        raise WindowError(f"cron {line!r}: give day of month or day of week, not both")
    parts = ["FREQ=DAILY"]
    if dow != "*":
        parts = ["FREQ=WEEKLY", "BYDAY=" + ",".join(_DAYS[d] for d in _cron_days(dow))]
    if dom != "*":
        days = _cron_numbers(dom, 1, 31, "day of month")
        parts = ["FREQ=MONTHLY", "BYMONTHDAY=" + ",".join(map(str, days))]
    if month != "*":
        months = _cron_numbers(month, 1, 12, "month")
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    return int(hour), int(minute), ";".join(parts)


@dataclass(frozen=True)
class Window:
    """One maintenance window; times are aware datetimes in `tz`."""

    name: str
    tz: ZoneInfo
    start: datetime  # one-off: its start; recurring: the first occurrence
    end: datetime | None = None  # one-off only
    rrule: str | None = None  # recurring: Datadog's RRULE, time of day from `start`
    duration_s: float | None = None  # recurring only
    journeys: tuple[str, ...] = ()  # name globs; () = every journey
    targets: tuple[str, ...] = ()  # () = every target
    description: str = ""

    @property
    def recurring(self) -> bool:
        return self.rrule is not None

    @property
    def length_s(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        assert self.end is not None
        return (self.end - self.start).total_seconds()

    def applies(self, journey: str, target: str | None = None) -> bool:
        """The window covers `journey` (on `target`; None: on some target)."""
        journey_ok = not self.journeys or any(fnmatchcase(journey, g) for g in self.journeys)
        return journey_ok and (target is None or not self.targets or target in self.targets)

    @cached_property
    def _rule(self) -> rfc5545.rrule:
        assert self.rrule is not None
        return bounded_rule(self.rrule, self.start.replace(tzinfo=None))

    def occurrences(self, since: float, until: float) -> list[tuple[float, float]]:
        """(start, end) epoch seconds of the occurrences that overlap [since, until)."""
        if not self.recurring:
            assert self.end is not None
            start, end = self.start.timestamp(), self.end.timestamp()
            return [(start, end)] if start < until and end > since else []
        length = self.length_s
        found = []
        # Wall times; a local day is at most 26 h from UTC either way.
        low = datetime.fromtimestamp(since - length, self.tz).replace(tzinfo=None)
        high = datetime.fromtimestamp(until, self.tz).replace(tzinfo=None)
        for wall in self._rule.between(low - timedelta(days=1), high + timedelta(days=1),
                                          inc=True):  # fmt: skip
            start = wall.replace(tzinfo=self.tz).timestamp()
            if start < until and start + length > since:
                found.append((start, start + length))
        return found

    def active(self, at: float) -> tuple[float, float] | None:
        """The occurrence that covers `at` (start <= at < end), if any."""
        for start, end in self.occurrences(at, at + 1e-6):
            if start <= at < end:
                return start, end
        return None

    def describe(self) -> str:
        local = self.start.strftime("%Y-%m-%d %H:%M")
        if self.recurring:
            what = f"every {self.rrule} from {local} {self.tz.key}, {self.length_s / 60:g} min"
        else:
            assert self.end is not None
            what = f"{local} - {self.end.strftime('%Y-%m-%d %H:%M')} {self.tz.key}"
        scope = ", ".join(self.journeys) or "every journey"
        if self.targets:
            scope += f" on {', '.join(self.targets)}"
        return f"maintenance window {self.name!r} ({what}; {scope})"


def build_window(
    *,
    name: str,
    start: object,
    end: object | None = None,
    timezone: str = "UTC",
    rrule_text: str | None = None,
    cron: str | None = None,
    duration_s: float | None = None,
    journeys: Sequence[str] = (),
    targets: Sequence[str] = (),
    description: str = "",
) -> Window:
    """A checked window; WindowError says which field is wrong and how to fix it."""
    if not _NAME.match(name):
        raise WindowError(f"name {name!r} must be lower case [a-z0-9_-] (it names resources)")
    for glob in journeys:
        if set(glob) & set("[]!"):
            raise WindowError(f"journey glob {glob!r}: only * and ? are supported")
    tz = zone(timezone)
    first = parse_local(start, tz, "start")
    if rrule_text is not None and cron is not None:
        raise WindowError("give rrule or cron, not both")
    recurring = rrule_text is not None or cron is not None
    if not recurring:
        if end is None:
            raise WindowError("a one-off window needs `end` (or rrule/cron and `duration`)")
        if duration_s is not None:
            raise WindowError("`duration` is for recurring windows; a one-off one has `end`")
        last = parse_local(end, tz, "end")
        if last <= first:
            raise WindowError(f"end {end} is not after start {start}")
        return Window(name, tz, first, last, journeys=tuple(journeys), targets=tuple(targets),
                      description=description)  # fmt: skip
    if end is not None:
        raise WindowError("a recurring window has `duration`, not `end`")
    if duration_s is None or duration_s <= 0:
        raise WindowError("a recurring window needs `duration` (e.g. 2h)")
    if cron is not None:
        hour, minute, rule = cron_to_rrule(cron)
        # The first occurrence on or after `start`, at the cron's time of day.
        begin = bounded_rule(f"{rule};BYHOUR={hour};BYMINUTE={minute};BYSECOND=0",
                             dtstart=first.replace(tzinfo=None))  # fmt: skip
        found = begin.after(first.replace(tzinfo=None), inc=True)
        if found is None:
            raise WindowError(f"cron {cron!r} never fires after start {start}")
        first = parse_local(found, tz, "the first cron time")
    else:
        assert rrule_text is not None
        rule = check_rrule(rrule_text)
    window = Window(name, tz, first, rrule=rule, duration_s=duration_s,
                    journeys=tuple(journeys), targets=tuple(targets),
                    description=description)  # fmt: skip
    starts = [s for s, _ in window.occurrences(first.timestamp(),
                                                (first + OVERLAP_HORIZON).timestamp())]  # fmt: skip
    if not starts:
        raise WindowError(f"rrule {rule} has no occurrence in the two years from start {start}: "
                          "it would never apply; check UNTIL, COUNT and the BY parts")  # fmt: skip
    gaps = [b - a for a, b in pairwise(starts)]
    if gaps and min(gaps) < duration_s:
        raise WindowError(
            f"duration {duration_s / 3600:g}h is longer than the {min(gaps) / 3600:g}h between "
            "two occurrences: the window would overlap itself; shorten it"
        )
    return window


def _globs_meet(a: str, b: str) -> bool:
    """Whether some name matches both globs (`*` any run, `?` one character)."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == b[j] or "?" in (a[i], b[j])) and meet(i + 1, j + 1)

    return meet(0, 0)


def scopes_meet(first: Window, second: Window) -> bool:
    """Whether two windows may cover the same journey on the same target."""
    if first.targets and second.targets and not set(first.targets) & set(second.targets):
        return False
    if not first.journeys or not second.journeys:
        return True
    return any(_globs_meet(a, b) for a in first.journeys for b in second.journeys)


def overlap(first: Window, second: Window) -> tuple[float, float] | None:
    """The first moment both windows cover a common scope (within OVERLAP_HORIZON), if any."""
    if not scopes_meet(first, second):
        return None
    since = min(first.start, second.start).timestamp()
    until = (max(first.start, second.start) + OVERLAP_HORIZON).timestamp()
    theirs = second.occurrences(since, until)
    starts = [s for s, _ in theirs]
    for start, end in first.occurrences(since, until):
        i = bisect_right(starts, end)
        for other_start, other_end in theirs[max(0, i - 2) : i]:
            if other_start < end and start < other_end:
                return max(start, other_start), min(end, other_end)
    return None


@dataclass(frozen=True)
class Maintenance:
    """Every configured window; what covers a journey at a time."""

    windows: tuple[Window, ...] = ()

    def active(self, journey: str, target: str | None, at: float) -> Window | None:
        for window in self.windows:
            if window.applies(journey, target) and window.active(at) is not None:
                return window
        return None

    def for_journey(self, journey: str) -> list[Window]:
        """The windows that cover `journey` on some target: they correct its SLOs."""
        return [w for w in self.windows if w.applies(journey)]

    def periods(self, journey: str, since: float, until: float) -> list[tuple[float, float]]:
        return sorted(p for w in self.for_journey(journey) for p in w.occurrences(since, until))


def covered(periods: Sequence[tuple[float, float]], at: float) -> bool:
    """`at` falls in one of the sorted (start, end) periods (start <= at < end)."""
    i = bisect_right([s for s, _ in periods], at)
    return i > 0 and at < periods[i - 1][1]


def notices(maintenance: Maintenance, plan: Iterable[tuple[str, str]], at: float) -> list[str]:
    """One line per (journey, target) of `plan` inside a window now, for `run` and `smoke`."""
    lines = []
    for journey, target in plan:
        window = maintenance.active(journey, target, at)
        if window is None:
            continue
        occurrence = window.active(at)
        assert occurrence is not None
        until = datetime.fromtimestamp(occurrence[1], window.tz).strftime("%Y-%m-%d %H:%M %Z")
        lines.append(f"note: {journey}@{target} is in {window.describe()} until {until}; "
                     "running it anyway (serve skips scheduled runs in the window)")  # fmt: skip
    return lines
