"""`slo backtest --rules FILE`: alternative alert rules to score on the same runs.

A YAML list (or one mapping) of candidates; each changes what it names of the shipped rules
(`spec.SHIPPED`, always scored first as `shipped`):

    - name: faster-page
      burn_rates:                       # replaces all three burn-rate pairs
        - {name: fast, long_window: 1h, short_window: 5m, threshold: 10, severity: page}
        - {name: slow, long_window: 24h, short_window: 2h, threshold: 3, severity: ticket}
      slo_target: 0.99                  # every journey's target, for this candidate
      error_budget: {critical: 90, warning: 75}
      probe_errors: {window: 30m, critical: 0.5, warning: 0.2}
      journey_down:                     # N of the locations for `for` (default 2, max(5m, 3
        min_locations: 2                #   intervals)); per journey by name
        for: 5m
        rule: average                   # or consecutive: N in each of the window's buckets
        journeys: {workflow_run_browser: {min_locations: 1, for: 10m}}

`slo export --rules FILE` exports the one candidate FILE holds instead of the shipped rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prober.input_file import InputFileError, read_input
from prober.slo import spec
from prober.slo.spec import (
    MAX_LONG_WINDOW_H,
    BurnRate,
    JourneyDown,
    ProbeErrorRate,
    Rules,
    SloError,
)
from prober.values import parse_duration
from prober.yaml_source import YamlError, decode_utf8, load_yaml

MAX_RULES_BYTES = 1024 * 1024  # a few candidate rule sets are a few KiB

SEVERITIES = ("page", "ticket")
_FIELDS = {"name", "burn_rates", "slo_target", "error_budget", "probe_errors", "journey_down"}
_DOWN_FIELDS = {"min_locations", "for", "rule"}


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    rules: Rules
    slo_target: float | None = None  # None: each journey's own


class RulesError(SloError):
    """The --rules file is wrong; the message names the file, the candidate and the field."""


def _window(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RulesError(f"{where}: {value!r} is not a window; write e.g. '5m', '1h'")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None
    if seconds <= 0 or value.strip()[-1] not in "mhd":
        raise RulesError(f"{where}: {value!r} must be minutes, hours or days, e.g. '5m'")
    return value.strip()


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise RulesError(f"{where}: {value!r} must be a number in ({low:g}, {high:g}]")
    return float(value)


def _burn_rate(raw: Any, where: str) -> BurnRate:
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected name, long_window, short_window, threshold, severity")
    missing = {"name", "long_window", "short_window", "threshold", "severity"} - set(raw)
    if missing:
        raise RulesError(f"{where}: missing {', '.join(sorted(missing))}")
    long = _window(raw["long_window"], f"{where}.long_window")
    short = _window(raw["short_window"], f"{where}.short_window")
    if parse_duration(short) >= parse_duration(long):
        raise RulesError(f"{where}: short_window {short} must be shorter than long_window {long}")
    if parse_duration(long) > MAX_LONG_WINDOW_H * 3600:
        raise RulesError(f"{where}.long_window: Datadog allows at most {MAX_LONG_WINDOW_H}h")
    if raw["severity"] not in SEVERITIES:
        raise RulesError(f"{where}.severity: {raw['severity']!r} is not page or ticket")
    threshold = _number(raw["threshold"], f"{where}.threshold", 0, 1000)
    return BurnRate(str(raw["name"]), long, short, threshold, raw["severity"])


def _down(raw: Any, where: str, base: JourneyDown) -> JourneyDown:
    if not isinstance(raw, Mapping) or set(raw) - _DOWN_FIELDS:
        raise RulesError(f"{where}: expected {{min_locations: 2, for: 5m, rule: average}}")
    found = base
    if "min_locations" in raw:
        count = raw["min_locations"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise RulesError(f"{where}.min_locations: {count!r} must be a whole number >= 1")
        found = dataclasses.replace(found, min_locations=count)
    if "for" in raw:
        found = dataclasses.replace(found, window=_window(raw["for"], f"{where}.for"))
    if "rule" in raw:
        if raw["rule"] not in spec.DOWN_RULES:
            raise RulesError(f"{where}.rule: {raw['rule']!r} is not one of "
                             f"{', '.join(spec.DOWN_RULES)}")  # fmt: skip
        found = dataclasses.replace(found, rule=raw["rule"])
    return found


def _journey_down(raw: Any, where: str) -> tuple[JourneyDown, tuple[tuple[str, JourneyDown], ...]]:
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected {{min_locations, for, journeys: {{NAME: ...}}}}")
    default = _down({k: v for k, v in raw.items() if k != "journeys"}, where,
                    spec.SHIPPED.journey_down)  # fmt: skip
    journeys = raw.get("journeys") or {}
    if not isinstance(journeys, Mapping):
        raise RulesError(f"{where}.journeys: expected journey name -> {{min_locations, for}}")
    return default, tuple(
        (str(name), _down(value, f"{where}.journeys.{name}", default))
        for name, value in sorted(journeys.items())
    )


def _candidate(raw: Any, where: str) -> Candidate:
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: expected a mapping with {', '.join(sorted(_FIELDS))}")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"use {', '.join(sorted(_FIELDS))}")  # fmt: skip
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise RulesError(f"{where}: give it a name (text, e.g. name: faster_page)")
    name = name.strip()
    where = f"{where} ({name})"
    rules = spec.SHIPPED
    if "burn_rates" in raw:
        items = raw["burn_rates"]
        if not isinstance(items, list) or not items:
            raise RulesError(f"{where}.burn_rates: give a list of at least one burn rate")
        rules = dataclasses.replace(rules, burn_rates=tuple(
            _burn_rate(item, f"{where}.burn_rates[{i}]") for i, item in enumerate(items)
        ))  # fmt: skip
    if "error_budget" in raw:
        budget = raw["error_budget"]
        if not isinstance(budget, Mapping):
            raise RulesError(f"{where}.error_budget: expected {{critical: 90, warning: 75}}")
        critical = _number(budget.get("critical"), f"{where}.error_budget.critical", 0, 100)
        warning = _number(budget.get("warning", critical), f"{where}.error_budget.warning", 0,
                          critical)  # fmt: skip
        rules = dataclasses.replace(rules, error_budget_critical=critical,
                                    error_budget_warning=warning)  # fmt: skip
    if "probe_errors" in raw:
        probe = raw["probe_errors"]
        if not isinstance(probe, Mapping):
            raise RulesError(f"{where}.probe_errors: expected {{window, critical, warning}}")
        critical = _number(probe.get("critical"), f"{where}.probe_errors.critical", 0, 1)
        rules = dataclasses.replace(rules, probe_errors=ProbeErrorRate(
            _window(probe.get("window"), f"{where}.probe_errors.window"), critical,
            _number(probe.get("warning", critical), f"{where}.probe_errors.warning", 0, critical),
        ))  # fmt: skip
    if "journey_down" in raw:
        default, per_journey = _journey_down(raw["journey_down"], f"{where}.journey_down")
        rules = dataclasses.replace(rules, journey_down=default,
                                    journey_down_by_journey=per_journey)  # fmt: skip
    target = None
    if "slo_target" in raw:
        target = _number(raw["slo_target"], f"{where}.slo_target", 0.5, 0.99999)
    return Candidate(name, rules, target)


def load_candidates(path: Path) -> list[Candidate]:
    """The candidates of `path`, in file order; RulesError (exit 2) on any mistake."""
    try:
        data = load_yaml(decode_utf8(read_input(path, limit=MAX_RULES_BYTES))).data
    except InputFileError as exc:
        raise RulesError(f"cannot read the rules file: {exc}") from None
    except YamlError as exc:
        raise RulesError(f"{path}: not valid YAML ({exc})") from None
    items = [data] if isinstance(data, Mapping) else data
    if not isinstance(items, list) or not items:
        raise RulesError(f"{path}: expected a list of candidate rule sets, each with a name")
    found = [_candidate(item, f"{path}: candidate {i + 1}") for i, item in enumerate(items)]
    names = [c.name for c in found]
    duplicate = next((n for n in names if names.count(n) > 1 or n == SHIPPED_NAME), None)
    if duplicate:
        raise RulesError(f"{path}: candidate name {duplicate!r} is used twice (or is reserved)")
    return found


SHIPPED_NAME = "shipped"


def shipped() -> Candidate:
    """What `slo export` ships now (read at call time, like the export does)."""
    return Candidate(SHIPPED_NAME, spec.SHIPPED)
