"""Careless and hostile input, one row each: prober.yaml (every section, the file itself),
PROBER_ and DD_ variables, value flags and maintenance rules.

Every row runs `prober.cli.main(argv)` in-process and must: exit 2; print a message naming the
field, flag, variable or file and saying what to do; print no traceback; write nothing (the
folder it runs in is unchanged); and finish within ROW_DEADLINE_S (a hang fails the row).
A few rows run as a child process, where the encoding or the real environment matters.
"""

from __future__ import annotations

import copy
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from prober.cli import main
from tests.prober_cli import ROOT, prober

ROW_DEADLINE_S = 15.0  # a hang detector, far above any row's time on a loaded machine
BASE: dict[str, Any] = {
    "env": "prod",
    "location": "eu-west-1",
    "journeys": [str(ROOT / "journeys" / "workflows")],
    "targets": {
        "sandbox": {
            "base_url": "http://127.0.0.1:9",
            "username": "prober",
            "password": "${SANDBOX_PASSWORD}",
            "auth": {"kind": "login"},
            "services": {"workflow-service": ["/api/workflows"]},
            "settings": {"run_max_wait": "20s"},
        }
    },
    "datadog": {"statsd_url": "udp://127.0.0.1:9"},
    "store": ".prober/results.db",
    "artifacts": ".prober/artifacts",
}
DELETE = object()
WINDOW = {"name": "nightly", "start": "2026-01-06T23:30", "duration": "1h"}


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    names: str  # the field, flag, variable or file the message must name
    fix: str  # the part of the message that says what to do
    patch: dict[str, Any] = field(default_factory=dict)  # dotted path -> value (or DELETE)
    raw: bytes | None = None  # the whole prober.yaml instead of BASE + patch
    env: dict[str, str] = field(default_factory=dict)


def _config(case: Case) -> bytes:
    if case.raw is not None:
        return case.raw
    tree = copy.deepcopy(BASE)
    for dotted, value in case.patch.items():
        *parents, last = dotted.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return yaml.safe_dump(tree, sort_keys=False).encode()


def cfg(id: str, names: str, fix: str, *, command: tuple[str, ...] = ("validate",),
        raw: str | bytes | None = None, **patch: Any) -> Case:  # fmt: skip
    """A prober.yaml row: BASE with `patch` (dotted paths as keyword names with __ for .)."""
    data = raw.encode() if isinstance(raw, str) else raw
    dotted = {key.replace("__", "."): value for key, value in patch.items()}
    return Case(id, [*command, "-c", "prober.yaml"], names, fix, dotted, data)


def window(id: str, fix: str, names: str = "maintenance.0", **fields: Any) -> Case:
    merged = {k: v for k, v in {**WINDOW, **fields}.items() if v is not DELETE}
    return cfg(id, names, fix, maintenance=[merged])


def env(id: str, variable: str, value: str, fix: str, command: str = "validate") -> Case:
    return Case(id, [command, "-c", "prober.yaml"], variable, fix, env={variable: value})


def flag(id: str, argv: list[str], names: str, fix: str) -> Case:
    return Case(id, argv, names, fix)


TAG_FIX = "write lower case letters, digits"
WINDOW_FIX = "write a duration from"
BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}" if i else '"x"'] * 9) + "]\n"
    for i in range(8)
)
CASES = [
    # --- top level: tags, packs, targets
    cfg("env-space", "env", TAG_FIX, env="Prod Env!"),
    cfg("env-number", "env", "write a tag value", env=42),
    cfg("env-too-long", "env", "at most 200", env="a" * 201),
    cfg("location-upper", "location", TAG_FIX, location="EU West"),
    cfg("location-empty", "location", TAG_FIX, location=""),
    cfg("target-name", "targets", TAG_FIX, targets={"My Site": BASE["targets"]["sandbox"]}),
    cfg("journeys-empty", "journeys", "add at least one", journeys=[]),
    cfg("journeys-missing", "journeys", "add it", journeys=DELETE),
    cfg("targets-empty", "targets", "add at least one", targets={}),
    cfg("unknown-top", "servce", "did you mean 'serve'", servce={"port": 1}),
    # --- targets.NAME
    cfg(
        "base-url-ftp",
        "targets.sandbox.base_url",
        "write e.g. https://",
        targets__sandbox__base_url="ftp://x",
    ),
    cfg(
        "timeout-inf",
        "targets.sandbox.request_timeout",
        "from 1ms to 1h",
        targets__sandbox__request_timeout=float("inf"),
    ),
    cfg(
        "timeout-nan",
        "targets.sandbox.request_timeout",
        "write e.g. 30",
        targets__sandbox__request_timeout=float("nan"),
    ),
    cfg(
        "timeout-negative",
        "targets.sandbox.request_timeout",
        "from 1ms to 1h",
        targets__sandbox__request_timeout=-1,
    ),
    cfg(
        "timeout-zero",
        "targets.sandbox.request_timeout",
        "from 1ms to 1h",
        targets__sandbox__request_timeout="0s",
    ),
    cfg(
        "timeout-20-digit-days",
        "targets.sandbox.request_timeout",
        "from 1ms to 1h",
        targets__sandbox__request_timeout="99999999999999999999d",
    ),
    cfg(
        "timeout-huge-int",
        "targets.sandbox.request_timeout",
        "from 1ms to 1h",
        targets__sandbox__request_timeout=10**400,
    ),
    cfg(
        "timeout-word",
        "targets.sandbox.request_timeout",
        "write e.g. 30",
        targets__sandbox__request_timeout="soon",
    ),
    cfg(
        "timeout-bool",
        "targets.sandbox.request_timeout",
        "write e.g. 30",
        targets__sandbox__request_timeout=True,
    ),
    cfg(
        "verify-tls-word",
        "targets.sandbox.verify_tls",
        "should be a valid boolean",
        targets__sandbox__verify_tls="maybe",
    ),
    cfg(
        "auth-kind",
        "targets.sandbox.auth.kind",
        "should be 'none', 'login'",
        targets__sandbox__auth__kind="oauth",
    ),
    cfg(
        "service-name",
        "targets.sandbox.services",
        TAG_FIX,
        targets__sandbox__services={"Workflow Service": ["/x"]},
    ),
    cfg(
        "service-glob",
        "targets.sandbox.services",
        "must start with '/'",
        targets__sandbox__services={"workflow-service": ["api/x"]},
    ),
    cfg(
        "target-typo",
        "targets.sandbox.base_ur",
        "did you mean 'base_url'",
        targets__sandbox__base_ur="http://x",
    ),
    cfg(
        "literal-password",
        "targets.sandbox.password",
        "credentials come from the environment",
        targets__sandbox__password="hunter2",
    ),
    cfg(
        "extra-origin",
        "targets.sandbox.extra_origins",
        "write e.g. https://",
        targets__sandbox__extra_origins=["nope"],
    ),
    # --- overrides
    cfg(
        "override-interval-zero",
        "overrides.workflow_run_api.interval",
        "from 1s to 1d",
        overrides={"workflow_run_api": {"interval": 0}},
    ),
    cfg(
        "override-interval-inf",
        "overrides.workflow_run_api.interval",
        "from 1s to 1d",
        overrides={"workflow_run_api": {"interval": float("inf")}},
    ),
    cfg(
        "override-interval-negative",
        "overrides.workflow_run_api.interval",
        "write e.g. 30",
        overrides={"workflow_run_api": {"interval": "-5s"}},
    ),
    cfg(
        "override-timeout-zero",
        "overrides.workflow_run_api.timeout",
        "from 1ms to 1h",
        overrides={"workflow_run_api": {"timeout": 0}},
    ),
    cfg(
        "override-retries-9",
        "overrides.workflow_run_api.retries",
        "from 0 to 5",
        overrides={"workflow_run_api": {"retries": 9}},
    ),
    cfg(
        "override-retries-negative",
        "overrides.workflow_run_api.retries",
        "from 0 to 5",
        overrides={"workflow_run_api": {"retries": -1}},
    ),
    cfg(
        "override-latency-nan",
        "overrides.workflow_run_api.latency_threshold",
        "write e.g. 30",
        overrides={"workflow_run_api": {"latency_threshold": float("nan")}},
    ),
    cfg(
        "override-typo",
        "overrides.workflow_run_api.intervall",
        "did you mean 'interval'",
        overrides={"workflow_run_api": {"intervall": "1m"}},
    ),
    # --- datadog, browser, store, artifacts
    cfg("statsd-scheme", "datadog.statsd_url", "udp://host:port", datadog__statsd_url="tcp://x"),
    cfg(
        "statsd-port",
        "datadog.statsd_url",
        "write udp://host:8125",
        datadog__statsd_url="udp://x:99999",
    ),
    cfg(
        "datadog-typo",
        "datadog.stats_url",
        "did you mean 'statsd_url'",
        datadog={"stats_url": "udp://x"},
    ),
    cfg(
        "max-concurrent-zero",
        "browser.max_concurrent",
        "from 1 to 32",
        browser={"max_concurrent": 0},
    ),
    cfg(
        "max-concurrent-huge",
        "browser.max_concurrent",
        "from 1 to 32",
        browser={"max_concurrent": 1000},
    ),
    cfg(
        "launch-timeout-inf",
        "browser.launch_timeout",
        "from 1ms to 1h",
        browser={"launch_timeout": float("inf")},
    ),
    cfg(
        "headless-word",
        "browser.headless",
        "should be a valid boolean",
        browser={"headless": "perhaps"},
    ),
    cfg("retention-zero", "store.retention", "from 1h to 366d", store={"retention": 0}),
    cfg("retention-huge", "store.retention", "from 1h to 366d", store={"retention": "99999999d"}),
    cfg("retention-nan", "store.retention", "write e.g. 30", store={"retention": float("nan")}),
    cfg(
        "keep-runs-zero",
        "artifacts.keep_runs",
        "from 1 to 10000",
        artifacts={"keep_runs": 0},
    ),
    cfg(
        "keep-runs-huge",
        "artifacts.keep_runs",
        "from 1 to 10000",
        artifacts={"keep_runs": 10**9},
    ),
    cfg("max-age-negative", "artifacts.max_age", "from 1h to 366d", artifacts={"max_age": -1}),
    # The paths as they are on disk (the working folder holds prober.yaml only).
    cfg("store-a-folder", "store.path", "is a folder; name the SQLite file", store="."),
    cfg("store-in-a-file", "store.path", "is a file, not a folder", store="prober.yaml/r.db"),
    cfg("store-a-device", "store.path", "not a regular file", store="/dev/null"),
    cfg("artifacts-a-file", "artifacts.path", "is a file, not a folder", artifacts="prober.yaml"),
    cfg("other-store-a-folder", "slo.stores.0", "is a folder", slo={"stores": ["."]}),
    # --- serve
    cfg("sweep-interval-zero", "serve.sweep_interval", "from 1m to 1d", serve__sweep_interval=0),
    cfg("sweep-interval-1s", "serve.sweep_interval", "from 1m to 1d", serve__sweep_interval="1s"),
    cfg("heartbeat-zero", "serve.heartbeat_interval", "from 1s to 1d", serve__heartbeat_interval=0),
    cfg("prune-inf", "serve.prune_interval", "from 1s to 1d", serve__prune_interval=float("inf")),
    cfg("misfire-zero", "serve.misfire_grace", "from 1s to 1d", serve__misfire_grace=0),
    cfg("shutdown-2d", "serve.shutdown_grace", "from 0s to 1h", serve__shutdown_grace="2d"),
    cfg(
        "cleanup-nan", "serve.cleanup_timeout", "write e.g. 30", serve__cleanup_timeout=float("nan")
    ),
    cfg("jitter-over-1", "serve.jitter", "from 0 to 0.9", serve__jitter=1.5),
    cfg("jitter-nan", "serve.jitter", "from 0 to 0.9", serve__jitter=float("nan")),
    cfg("port-huge", "serve.port", "from 0 to 65535", serve__port=70000),
    cfg("port-negative", "serve.port", "from 0 to 65535", serve__port=-1),
    # --- the same mistakes found by other commands than validate
    cfg(
        "export-inf-interval",
        "overrides.workflow_run_api.interval",
        "from 1s to 1d",
        command=("slo", "export", "--format", "datadog-json"),
        overrides={"workflow_run_api": {"interval": float("inf")}},
    ),
    cfg(
        "status-sweep-zero",
        "serve.sweep_interval",
        "from 1m to 1d",
        command=("slo", "status"),
        serve__sweep_interval=0,
    ),
    cfg(
        "run-20-digit-days",
        "serve.prune_interval",
        "from 1s to 1d",
        command=("run",),
        serve__prune_interval="99999999999999999999d",
    ),
    cfg("serve-bad-env", "env", TAG_FIX, command=("serve",), env="Prod Env!"),
    # --- maintenance
    window("rrule-interval-0", "1..999", rrule="FREQ=DAILY;INTERVAL=0"),
    window("rrule-interval-word", "1..999", rrule="FREQ=DAILY;INTERVAL=abc"),
    window("rrule-interval-huge", "1..999", rrule="FREQ=DAILY;INTERVAL=99999999999"),
    window("rrule-count-0", "1..10000", rrule="FREQ=DAILY;COUNT=0"),
    window("rrule-until-before-start", "check UNTIL", rrule="FREQ=DAILY;UNTIL=20200101"),
    window("rrule-until-far", "from 1970 to 2099", rrule="FREQ=DAILY;UNTIL=99991231"),
    window("rrule-until-form", "write YYYYMMDD", rrule="FREQ=DAILY;UNTIL=tomorrow"),
    window(
        "rrule-never-feb-31",
        "fix the days or the months",
        rrule="FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2",
    ),
    window(
        "rrule-never-weekday",
        "check UNTIL, COUNT and the BY parts",
        rrule="FREQ=DAILY;INTERVAL=7;BYDAY=MO",
    ),
    window("rrule-secondly", "DAILY, WEEKLY, MONTHLY, YEARLY", rrule="FREQ=SECONDLY"),
    window("rrule-minutely", "DAILY, WEEKLY, MONTHLY, YEARLY", rrule="FREQ=MINUTELY"),
    window("rrule-hourly", "DAILY, WEEKLY, MONTHLY, YEARLY", rrule="FREQ=HOURLY"),
    window("rrule-byhour", "the time of day comes from `start`", rrule="FREQ=DAILY;BYHOUR=3"),
    window("rrule-freq-twice", "keep one", rrule="FREQ=DAILY;FREQ=WEEKLY"),
    window("rrule-byday-word", "write MO, TU", rrule="FREQ=WEEKLY;BYDAY=MONDAY"),
    window("rrule-not-key-value", "is not KEY=VALUE", rrule="FREQ"),
    window("cron-never", "never fires", cron="0 2 31 2 *"),
    window("cron-steps", "single numbers", cron="*/5 * * * *"),
    window("duration-zero", "from 1m to 366d", rrule="FREQ=DAILY", duration=0),
    window("duration-inf", "from 1m to 366d", rrule="FREQ=DAILY", duration=float("inf")),
    window("duration-over-gap", "shorten it", rrule="FREQ=DAILY", duration="2d"),
    window(
        "start-not-a-date",
        "write e.g. 2025-03-01T22:00",
        start="2025-13-45T00:00",
        rrule="FREQ=DAILY",
    ),
    window("start-year-1", "from 1970 to 2099", start="0001-01-01T00:00", rrule="FREQ=DAILY"),
    window(
        "timezone", "write e.g. UTC or Europe/Berlin", timezone="Mars/Olympus", rrule="FREQ=DAILY"
    ),
    window("name", "must be lower case", name="Bad Name", rrule="FREQ=DAILY"),
    window("end-before-start", "is not after start", duration=DELETE, end="2026-01-01T00:00"),
    window(
        "unknown-target",
        "known: sandbox",
        names="maintenance",
        rrule="FREQ=DAILY",
        targets=["nope"],
    ),
    cfg(
        "window-name-twice",
        "maintenance",
        "names must differ",
        maintenance=[
            {**WINDOW, "rrule": "FREQ=DAILY", "journeys": ["a*"]},
            {**WINDOW, "rrule": "FREQ=DAILY", "journeys": ["b*"]},
        ],
    ),
    # --- the file itself
    cfg(
        "duplicate-top-key",
        "targets",
        "given twice",
        raw=yaml.safe_dump(BASE) + "targets: {other: {base_url: 'http://x'}}\n",
    ),
    cfg(
        "duplicate-target",
        "targets.sandbox",
        "given twice",
        raw="journeys: [x]\ntargets:\n  sandbox: {base_url: 'http://a'}\n"
        "  sandbox: {base_url: 'http://b'}\n",
    ),
    cfg(
        "duplicate-nested",
        "serve.port",
        "given twice",
        raw="journeys: [x]\ntargets: {a: {base_url: 'http://a'}}\nserve:\n  port: 1\n  port: 2\n",
    ),
    cfg("duplicate-flow", "a", "given twice", raw="{a: 1, a: 2}\n"),
    cfg("alias-bomb", "prober.yaml", "fewer nested aliases", raw=BOMB),
    cfg("alias-recursive", "prober.yaml", "write the value out", raw="a: &x [*x]\n"),
    cfg("utf16", "prober.yaml", "save the file as UTF-8", raw="env: prod\n".encode("utf-16")),
    cfg("utf32", "prober.yaml", "save the file as UTF-8", raw="env: prod\n".encode("utf-32")),
    cfg(
        "stray-byte", "prober.yaml:2", "save the file as UTF-8", raw=b"env: prod\nlocation: \xe9u\n"
    ),
    cfg("nul-byte", "prober.yaml", "save the file as UTF-8", raw="env: prod\n".encode("utf-16-le")),
    cfg("not-a-mapping", "prober.yaml", "must be a mapping", raw="- a\n- b\n"),
    cfg("bad-syntax", "prober.yaml:2", "not valid YAML", raw="env: prod\n  x: [\n"),
    cfg("too-deep", "prober.yaml", "flatten the structure", raw="a: " + "[" * 3000 + "]" * 3000),
    cfg("no-such-date", "prober.yaml:1", "is not a real date", raw="start: 2025-02-30T10:00:00\n"),
    cfg("empty-file", "journeys", "add it", raw=""),
    flag("config-missing", ["validate", "-c", "nope.yaml"], "nope.yaml", "pass -c PATH"),
    flag("config-a-folder", ["validate", "-c", "."], ".", "pass -c PATH of a file"),
    # --- PROBER_ and DD_ variables
    env("env-unknown-target", "PROBER_TARGETS__X__BASE_URL", "http://x", "defines: sandbox"),
    env(
        "env-unknown-target-run",
        "PROBER_TARGETS__PROD__BASE_URL",
        "http://x",
        "fix the name",
        command="run",
    ),
    env("env-unknown-field", "PROBER_TARGETS__SANDBOX__BASE_URLL", "x", "did you mean"),
    env("env-sweep-zero", "PROBER_SERVE__SWEEP_INTERVAL", "0", "from 1m to 1d"),
    env("env-port-word", "PROBER_SERVE__PORT", "abc", "not a whole number"),
    env("env-env-tag", "PROBER_ENV", "Prod Env!", TAG_FIX),
    env("env-bad-yaml", "PROBER_JOURNEYS", "[a, a", "fix the variable's value"),
    env("env-duplicate-yaml", "PROBER_OVERRIDES", "{a: {}, a: {}}", "given twice"),
    env(
        "env-alias-bomb",
        "PROBER_JOURNEYS",
        "[" + BOMB.replace("\n", ", ").replace(": ", ": ") + "]",
        "fix the variable's value",
    ),
    env("env-empty-key", "PROBER_SERVE____PORT", "1", "empty key"),
    env("env-retention-inf", "PROBER_STORE__RETENTION", ".inf", "write e.g. 30"),
    env("env-nested-in-scalar", "PROBER_ENV__X", "1", "write it as a mapping"),
    env("dd-url", "DD_DOGSTATSD_URL", "tcp://x", "udp://host:port"),
    env("dd-port-huge", "DD_DOGSTATSD_PORT", "99999", "from 1 to 65535"),
    env("dd-port-word", "DD_DOGSTATSD_PORT", "abc", "write e.g. 1"),
    env("dd-host-space", "DD_AGENT_HOST", "a b", "write e.g. 10.0.0.5"),
    # --- value flags
    flag("run-env", ["run", "--env", "Prod Env!"], "--env", "e.g. 'prod_env'"),
    flag("smoke-env-empty", ["smoke", "--env", ""], "--env", TAG_FIX),
    flag("serve-env-long", ["serve", "--env", "a" * 300], "--env", "at most 200"),
    flag("run-every-zero", ["run", "--every", "0"], "--every", "from 1s to 1d"),
    flag("run-every-nan", ["run", "--every", "nan"], "--every", "write e.g. 30"),
    flag("run-every-2d", ["run", "--every", "2d"], "--every", "from 1s to 1d"),
    flag("run-repeat-zero", ["run", "--repeat", "0"], "--repeat", "from 1 to 100000"),
    flag("run-repeat-huge", ["run", "--repeat", "1" + "0" * 20], "--repeat", "whole number"),
    flag("run-retries", ["run", "--retries", "9"], "--retries", "0..5"),
    flag("serve-shard", ["serve", "--shard", "5/3"], "--shard", "0"),
    flag(
        "export-location",
        ["slo", "export", "--format", "openslo", "--location", "EU West"],
        "--location",
        TAG_FIX,
    ),
    flag(
        "export-env",
        ["slo", "export", "--format", "openslo", "--env", "Prod!"],
        "--env",
        "e.g. 'prod'",
    ),
    flag("audit-location", ["slo", "audit", ".", "--location", "X Y"], "--location", TAG_FIX),
    flag("status-env", ["slo", "status", "--env", "PROD"], "--env", "e.g. 'prod'"),
    flag("status-window-zero", ["slo", "status", "--window", "0s"], "--window", WINDOW_FIX),
    flag(
        "status-window-huge",
        ["slo", "status", "--window", "99999999d"],
        "--window",
        "from 1m to 366d",
    ),
    flag("status-window-nan", ["slo", "status", "--window", "nan"], "--window", "write e.g. 30"),
    flag(
        "backtest-last-huge",
        ["slo", "backtest", "--last", "99999999d"],
        "--last",
        "from 1m to 366d",
    ),
    flag("backtest-last-inf", ["slo", "backtest", "--last", "inf"], "--last", "write e.g. 30"),
    flag(
        "backtest-scale-inf",
        ["slo", "backtest", "--time-scale", "inf"],
        "--time-scale",
        "from 1 to 10000",
    ),
    flag(
        "backtest-scale-nan",
        ["slo", "backtest", "--time-scale", "nan"],
        "--time-scale",
        "from 1 to 10000",
    ),
    flag(
        "backtest-scale-half",
        ["slo", "backtest", "--time-scale", "0.5"],
        "--time-scale",
        "from 1 to 10000",
    ),
    flag(
        "backtest-scale-word",
        ["slo", "backtest", "--time-scale", "fast"],
        "--time-scale",
        "write a decimal",
    ),
    flag("backtest-from-nan", ["slo", "backtest", "--from", "nan"], "--from", "write ISO 8601"),
    flag("backtest-from-inf", ["slo", "backtest", "--from", "1e400"], "--from", "1970 to 2100"),
    flag("backtest-to-20-digits", ["slo", "backtest", "--to", "9" * 20], "--to", "1970 to 2100"),
    flag(
        "backtest-from-word", ["slo", "backtest", "--from", "yesterday"], "--from", "write ISO 8601"
    ),
    flag(
        "backtest-from-month-13",
        ["slo", "backtest", "--from", "2026-13-01"],
        "--from",
        "write ISO 8601",
    ),
    flag("backtest-from-negative", ["slo", "backtest", "--from", "-5"], "--from", "1970 to 2100"),
    flag("backtest-grace-negative", ["slo", "backtest", "--grace=-1m"], "--grace", "write e.g. 30"),
    flag("backtest-env", ["slo", "backtest", "--env", "Prod Env"], "--env", TAG_FIX),
    flag("gate-timeout-long", ["slo", "gate", "--timeout", "1h"], "--timeout", "from 1ms to 5m"),
    flag("gate-timeout-zero", ["slo", "gate", "--timeout", "0"], "--timeout", "from 1ms to 5m"),
    flag("gate-env", ["slo", "gate", "--env", "Prod Env"], "--env", TAG_FIX),
    flag(
        "sandbox-upstream-nan",
        ["sandbox", "--upstream-timeout", "nan"],
        "--upstream-timeout",
        "write e.g. 30",
    ),
    flag(
        "sandbox-upstream-inf",
        ["sandbox", "--upstream-timeout", "inf"],
        "--upstream-timeout",
        "write e.g. 30",
    ),
    flag("sandbox-port", ["sandbox", "--port", "70000"], "--port", "0-65535"),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder with a clean environment (no PROBER_/DD_ of the caller's)."""
    import os

    for name in list(os.environ):
        if name.startswith(("PROBER_", "DD_", "GITHUB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SANDBOX_PASSWORD", "x")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


class _Hung(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hung(f"still running after {ROW_DEADLINE_S}s")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_the_battery_is_large_and_distinct() -> None:
    assert len(CASES) >= 90
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_the_fix(
    case: Case, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "prober.yaml").write_bytes(_config(case))
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    before = _files(folder)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, ROW_DEADLINE_S)
    code: int | str | None
    try:
        code = main(case.argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    said = out + err
    assert code == 2, said
    assert "Traceback" not in said
    assert case.names in said, said
    assert case.fix in said, said
    assert len(said) < 5000, said[:500]  # one short message, not pages
    assert _files(folder) == before, "something was written"


SUBPROCESS_CASES = [
    ("utf16", "env: prod\n".encode("utf-16"), {}, "save the file as UTF-8"),
    ("stray-byte", b"env: prod\nlocation: \xff\n", {}, "save the file as UTF-8"),
    ("real-env-unknown-target", yaml.safe_dump(BASE).encode(),
     {"PROBER_TARGETS__X__BASE_URL": "http://x"}, "PROBER_TARGETS__X__BASE_URL (environment)"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "extra", "fix"), [c[1:] for c in SUBPROCESS_CASES],
                         ids=[c[0] for c in SUBPROCESS_CASES])  # fmt: skip
def test_bad_input_as_a_child_process(
    data: bytes, extra: dict[str, str], fix: str, tmp_path: Path
) -> None:
    (tmp_path / "prober.yaml").write_bytes(data)
    environ = {"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "x", **extra}
    if sys.platform.startswith("linux"):
        environ["LANG"] = "C.UTF-8"
    done = prober("validate", "-c", str(tmp_path / "prober.yaml"), env=environ, timeout=60)
    assert done.returncode == 2, done.stderr
    assert fix in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prober.yaml"]
