"""Properties of the value parsers and the config loader on generated input: they return a
value within the documented bounds or raise their documented error (ValueError, ConfigError),
never anything else, and never take long."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prober.config import ConfigError, load_config
from prober.values import (
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_DURATION_S,
    parse_count,
    parse_duration,
    parse_number,
    parse_time,
)
from prober.yaml_source import YamlError, decode_utf8, load_yaml

FAST = settings(max_examples=150, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.from_regex(r"\s*-?\d{0,45}(\.\d{0,12})?\s*(ms|s|m|h|d|w)?\s*", fullmatch=True),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "1e400",
            "2026-03-02T10:00:00Z",
            "0001-01-01",
            "9999-12-31T23:59:59",
            "2026-02-30",
            "+5",
            "٣",
        ]
    ),
)


@FAST
@given(ANY_VALUE, st.floats(0, 3600), st.floats(3600, MAX_DURATION_S))
def test_a_duration_is_in_its_bounds_or_a_value_error(value: Any, low: float, high: float) -> None:
    try:
        seconds = parse_duration(value, minimum=low, maximum=high)
    except ValueError as exc:
        assert "write" in str(exc) and len(str(exc)) < 200
    else:
        assert math.isfinite(seconds) and low <= seconds <= high


@FAST
@given(ANY_VALUE)
def test_a_time_is_between_1970_and_2100_or_a_value_error(value: Any) -> None:
    try:
        moment = parse_time(value)
    except ValueError as exc:
        assert "write" in str(exc) or "give a time" in str(exc)
    else:
        assert math.isfinite(moment) and EARLIEST_TIME <= moment <= LATEST_TIME


@FAST
@given(ANY_VALUE)
def test_a_window_flag_parses_like_every_duration(value: Any) -> None:
    """--window/--last: a minute to a year; the same parser and policy."""
    try:
        seconds = parse_duration(value, minimum=60.0)
    except ValueError:
        return
    assert 60.0 <= seconds <= MAX_DURATION_S


@FAST
@given(ANY_VALUE)
def test_numbers_and_counts_are_bounded(value: Any) -> None:
    try:
        number = parse_number(value, minimum=1.0, maximum=10_000.0)
    except ValueError:
        pass
    else:
        assert 1.0 <= number <= 10_000.0
    try:
        count = parse_count(value, minimum=0, maximum=65535)
    except ValueError:
        pass
    else:
        assert isinstance(count, int) and 0 <= count <= 65535


LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=20)
)
KEYS = st.sampled_from(["env", "location", "journeys", "targets", "sandbox", "base_url",
                        "serve", "sweep_interval", "port", "store", "retention", "maintenance",
                        "rrule", "start", "duration", "overrides", "interval", "x"])  # fmt: skip
TREE = st.recursive(
    LEAF,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


LOADER_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=60, deadline=10_000, suppress_health_check=LOADER_HEALTH)
@given(TREE)
def test_the_loader_takes_any_yaml_tree(tmp_path: Path, tree: Any) -> None:
    path = tmp_path / "prober.yaml"
    path.write_text(yaml.safe_dump(tree))
    try:
        load_config(path, {"SANDBOX_PASSWORD": "x"})
    except ConfigError as exc:
        assert exc.problems and all(str(p.where) for p in exc.problems)


@settings(max_examples=100, deadline=10_000)
@given(st.binary(max_size=200))
def test_the_yaml_reader_takes_any_bytes(data: bytes) -> None:
    try:
        load_yaml(decode_utf8(data))
    except YamlError as exc:
        assert exc.problems


NON_ASCII_DIGIT = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@FAST
@given(before=st.from_regex(r"[0-9]{0,3}", fullmatch=True), digit=NON_ASCII_DIGIT,
       after=st.sampled_from(["", "0", "s", "ms", ".5", "d"]))  # fmt: skip
def test_a_digit_that_is_not_ascii_is_never_read_as_one(
    before: str, digit: str, after: str
) -> None:
    """int() and float() read Arabic-Indic, Devanagari or full-width digits; the parsers do not
    (a value is never rewritten into one the user did not type)."""
    text = before + digit + after
    for parse in (
        parse_duration,
        lambda v: parse_count(v, minimum=0, maximum=10**18),
        lambda v: parse_number(v, minimum=-1e18, maximum=1e18),
        parse_time,
    ):
        try:
            parse(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was accepted")
