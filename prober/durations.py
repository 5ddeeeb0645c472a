"""Durations as users write them: `30`, `30s`, `500ms`, `2m`, `1h`, `1d`."""

from __future__ import annotations

import re

# How long one attempt's cleanups may take together (serve.cleanup_timeout's default): a hung
# target must not keep the run, and the worst case of a journey counts it once per attempt.
DEFAULT_CLEANUP_TIMEOUT_S = 10.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: float | int | str) -> float:
    """Seconds; ValueError with the accepted forms when `value` is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30, '30s', '500ms', '2m'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30, '30s', '500ms', '2m'")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return seconds
