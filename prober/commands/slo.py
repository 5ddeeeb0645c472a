"""`prober slo export | lint | status | backtest | gate`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from prober import metrics as m
from prober.catalog import Catalog
from prober.config import LoadedConfig
from prober.paths import write_atomically
from prober.reports import github
from prober.slo import datadog_json, openslo, spec, terraform
from prober.slo import gate as gates
from prober.slo.backtest import CandidateReport
from prober.slo.backtest import backtest as run_backtest
from prober.slo.candidates import load_candidates, shipped
from prober.slo.evaluate import EVALUATION_INTERVAL_S
from prober.slo.incidents import load_incidents
from prober.slo.lint import lint
from prober.slo.status import SHOWN_WINDOWS, JourneyStatus, compute
from prober.store import ResultStore, StoredRun
from prober.values import MAX_DURATION_S, format_duration, parse_duration

FORMATS = ("terraform", "datadog-json", "openslo")


def render(export: spec.Export, fmt: str) -> dict[str, str]:
    if fmt == "terraform":
        return terraform.render(export)
    if fmt == "datadog-json":
        return {"datadog.json": datadog_json.dumps(export)}
    return {"openslo.yaml": openslo.render(export)}


def export(
    loaded: LoadedConfig,
    catalog: Catalog,
    *,
    fmt: str,
    env: str | None,
    out_dir: Path | None,
    locations: list[str],
    notify_page: str,
    notify_ticket: str,
    prober_team: str = "sre",
    rules_path: Path | None = None,
    stdout: IO[str] | None = None,
) -> int:
    """SloError (exit 2) before anything is written when a journey cannot be exported."""
    stdout = stdout or sys.stdout
    journeys = catalog.select([])
    rules = None
    if rules_path is not None:
        chosen = load_candidates(rules_path)
        if len(chosen) != 1 or chosen[0].slo_target is not None:
            raise spec.SloError(f"{rules_path}: slo export takes one rule set without "
                                "slo_target (set targets on the journeys)")  # fmt: skip
        rules = chosen[0].rules
    built = spec.build(
        journeys,
        env or loaded.config.env,
        locations or loaded.config.slo.locations or [loaded.config.location],
        notify_page=notify_page,
        notify_ticket=notify_ticket,
        prober_team=prober_team,
        rules=rules,
        maintenance=loaded.config.maintenance_windows(),
        quorum=quorum(loaded),
    )
    files = render(built, fmt)
    if out_dir is None:
        if len(files) > 1:
            raise spec.SloError(f"--format {fmt} writes {len(files)} files: give --out DIR")
        stdout.write(next(iter(files.values())))
        return 0
    for relative, text in sorted(files.items()):
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    print(
        f"wrote {len(files)} file(s) to {out_dir}: {len(built.slos)} SLOs, "
        f"{len(built.monitors)} monitors for {len(journeys)} journeys in env {built.env}",
        file=stdout,
    )
    return 0


def audit_command(
    loaded: LoadedConfig,
    catalog: Catalog,
    root: Path,
    *,
    env: str | None,
    locations: list[str],
    stdout: IO[str] | None = None,
) -> int:
    """0 in sync, 1 something missing, orphaned, drifted or against the conventions; LintError
    (exit 2) when DIR is not readable Terraform."""
    from prober.exit_codes import EXIT_FAILED, EXIT_OK
    from prober.slo.audit import audit, summary

    stdout = stdout or sys.stdout
    built = spec.build(catalog.select([]), env or loaded.config.env,
                       locations or [loaded.config.location],
                       maintenance=loaded.config.maintenance_windows())  # fmt: skip
    findings = audit(root, built)
    for finding in findings:
        print(finding, file=stdout)
    print(summary(findings, root), file=stdout)
    return EXIT_FAILED if findings else EXIT_OK


def lint_command(root: Path, stdout: IO[str] | None = None) -> int:
    stdout = stdout or sys.stdout
    violations = lint(root)
    for violation in violations:
        print(violation, file=stdout)
    count = len(violations)
    print(f"{count} violation{'s' if count != 1 else ''} in {root}", file=stdout)
    return 1 if violations else 0


def _percent(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def status(
    loaded: LoadedConfig,
    catalog: Catalog,
    *,
    window: str,
    window_s: float,
    env: str | None,
    as_json: bool,
    min_runs: int = gates.MIN_RUNS,
    now: float | None = None,
    stdout: IO[str] | None = None,
) -> int:
    """Exit 0; a journey with fewer than `min_runs` scheduled runs shows 'too few runs' where
    its budget left would be, and no policy action (the gate cannot decide on it either)."""
    stdout = stdout or sys.stdout
    now = time.time() if now is None else now
    runs = _stored(loaded, env=env or loaded.config.env, since=now - window_s)
    runs = spec.uncorrected(runs, loaded.config.maintenance_windows())
    statuses = compute(runs, catalog.journeys, now=now, window=window, window_s=window_s,
                       min_runs=min_runs, quorum=quorum(loaded))  # fmt: skip
    if as_json:
        for item in statuses:
            stdout.write(json.dumps(item.to_json(), sort_keys=True) + "\n")
        return 0
    _table(statuses, window, stdout)
    return 0


def _table(statuses: list[JourneyStatus], window: str, stdout: IO[str]) -> None:
    table = Table(title=f"CUJ SLOs over {window} (scheduled runs, prober faults excluded)")
    for column in ("journey", "target", "slo", "runs", "SLI", "first attempt", "objective",
                   "budget left", *(f"burn {w}" for w in SHOWN_WINDOWS), "firing",
                   "policy"):  # fmt: skip
        table.add_column(column)
    for item in statuses:
        for slo_type, slo in item.slos.items():
            table.add_row(
                item.journey,
                item.target,
                slo_type,
                str(slo.sli.total),
                _percent(slo.sli.ratio),
                _percent(item.first_attempt.ratio) if slo_type == spec.AVAILABILITY else "",
                f"{item.slo_target * 100:g}%",
                f"too few runs ({slo.sli.total})"
                if item.too_few_runs
                else _percent(slo.budget_left, 1),
                *(_rate(slo.burn[w]) for w in SHOWN_WINDOWS),
                ", ".join(slo.firing) or "-",
                "; ".join(slo.policy) or "-",
            )
    if not statuses:
        print(f"no scheduled runs in the last {window}", file=stdout)
        return
    Console(file=stdout, width=220).print(table)
    for item in statuses:
        if item.blame:
            print(f"{item.journey} on {item.target}: {item.blame}", file=stdout)
        if item.too_few_runs:
            print(f"{item.journey} on {item.target}: {item.too_few_runs}", file=stdout)


# --- backtest ---------------------------------------------------------------------------------


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}m"


def _offset(report: CandidateReport, moment: float | None, scaled: bool) -> str:
    if moment is None:
        return "still firing"
    if scaled:
        return f"T+{(moment - report.start) / 60:.0f}m"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M")


def backtest(
    loaded: LoadedConfig,
    catalog: Catalog,
    *,
    patterns: list[str],
    env: str | None,
    start: float | None,
    end: float | None,
    last_s: float,
    incidents_path: Path | None,
    rules_path: Path | None,
    time_scale: float,
    grace_s: float,
    as_json: bool,
    now: float | None = None,
    stdout: IO[str] | None = None,
) -> int:
    """Exit 0 with the report; SloError (exit 2) for a bad incidents or rules file."""
    stdout = stdout or sys.stdout
    end = (time.time() if now is None else now) if end is None else end
    start = end - last_s if start is None else start
    if end <= start:
        raise spec.SloError(f"the period is empty: --from {start:.0f} is not before --to {end:.0f}")
    incidents = None
    if incidents_path is not None:
        services = {j.service for j in catalog.journeys.values()} | {spec.PROBER_SERVICE}
        incidents = load_incidents(incidents_path, journeys=catalog.journeys, services=services)
    candidates = [shipped(), *([] if rules_path is None else load_candidates(rules_path))]
    env = env or loaded.config.env
    journeys = catalog.select(patterns)
    lookback = parse_duration(spec.TIMEFRAME) / time_scale  # the budget's window, compressed
    runs = _stored(loaded, env=env, trigger=m.SCHEDULE_TRIGGER, since=start - lookback)
    runs = [r for r in runs if r.finished_at <= end]
    start = _clamped_start(start, end, runs, time_scale)
    reports = run_backtest(journeys, runs, env=env, start=start, end=end, candidates=candidates,
                           incidents=incidents, time_scale=time_scale, grace_s=grace_s,
                           maintenance=loaded.config.maintenance_windows(),
                           quorum=quorum(loaded))  # fmt: skip
    if as_json:
        for report in reports:
            stdout.write(json.dumps(report.to_json(), sort_keys=True) + "\n")
        return 0
    for report in reports:
        _backtest_tables(report, time_scale != 1, stdout)
    return 0


def _clamped_start(start: float, end: float, runs: list[StoredRun], time_scale: float) -> float:
    """The period's start moved up to the first stored run (minute-aligned): before it there is
    nothing to replay, and the replay costs one evaluation a minute of the stretched period, so
    `--last 99999999d` costs what the store holds. SloError when even that is over a year."""
    first = min((r.started_at for r in runs), default=end)
    if first > start:
        start = max(start, first - first % EVALUATION_INTERVAL_S - EVALUATION_INTERVAL_S)
    if (end - start) * time_scale > MAX_DURATION_S:
        raise spec.SloError(
            f"the period with runs, {format_duration(end - start)} stretched by --time-scale "
            f"{time_scale:g}, is over {format_duration(MAX_DURATION_S)} of replay; shorten "
            "--last or --from/--to, or lower --time-scale"
        )
    return start


def _backtest_tables(report: CandidateReport, scaled: bool, stdout: IO[str]) -> None:
    console = Console(file=stdout, width=200)
    rates = ", ".join(f"{b.name} {b.threshold:g}x {b.long_window}/{b.short_window} "
                      f"({b.severity})" for b in report.rules.burn_rates)  # fmt: skip
    target = "" if report.slo_target is None else f", every target {report.slo_target:g}"
    alerts = Table(title=f"Rules {report.name!r}: {rates}{target} - alerts that would have fired")
    for column in ("fired", "recovered", "severity", "monitor", "group"):
        alerts.add_column(column)
    for alert in report.alerts:
        alerts.add_row(_offset(report, alert.fired_at, scaled),
                       _offset(report, alert.recovered_at, scaled), alert.severity,
                       alert.monitor, alert.group)  # fmt: skip
    if report.alerts:
        console.print(alerts)
    else:
        print(f"Rules {report.name!r} ({rates}{target}): no alert would have fired", file=stdout)
    if report.incidents is None or report.overall is None:
        return
    scores = Table(title="Incidents")
    for column in ("start", "end", "concerns", "label", "detected", "time to detect",
                   "recovery after end"):  # fmt: skip
        scores.add_column(column)
    for s in report.incidents:
        inc = s.incident
        scores.add_row(
            _offset(report, inc.start, scaled), _offset(report, inc.end, scaled),
            inc.journey or inc.service or "", inc.label, "yes" if s.detected else "NO",
            _minutes(s.time_to_detect_s),
            "still firing" if s.still_firing else _minutes(s.recovery_after_end_s),
        )  # fmt: skip
    console.print(scores)
    summary = Table(title=f"Rules {report.name!r} against {len(report.incidents)} incident(s)")
    for column in ("journey", "incidents", "alignment", "false neg.", "alerts", "false pos.",
                   "MTTD", "p95 TTD", "recovery after end", "pages", "tickets"):  # fmt: skip
        summary.add_column(column)
    for row in [*report.rows, report.overall]:
        summary.add_row(
            row.row, str(row.incidents), _percent(row.alignment, 0), str(row.false_negatives),
            str(row.alerts), str(row.false_positive_alerts), _minutes(row.mean_time_to_detect_s),
            _minutes(row.p95_time_to_detect_s), _minutes(row.mean_recovery_after_end_s),
            str(row.pages), str(row.tickets),
        )  # fmt: skip
    console.print(summary)


# --- gate -------------------------------------------------------------------------------------


def gate(
    loaded: LoadedConfig,
    catalog: Catalog,
    *,
    patterns: list[str],
    service: str | None,
    env: str | None,
    source: str,
    override: str | None,
    datadog_url: str | None = None,
    timeout_s: float = 10.0,
    min_runs: int = gates.MIN_RUNS,
    environ: Mapping[str, str] | None = None,
    now: float | None = None,
    stdout: IO[str] | None = None,
) -> int:
    """0 go, 1 stop, 2 cannot decide (see prober/slo/gate.py); override makes it 0, loudly."""
    stdout = stdout or sys.stdout
    environ = os.environ if environ is None else environ
    now = time.time() if now is None else now
    stored_env = env or loaded.config.env  # as the store keeps it; Datadog names use the tag
    env = m.tag_value(stored_env)
    journeys = [j for j in catalog.select(patterns) if service is None or j.service == service]
    scope = f"service {service}" if service else "all services"
    verdicts: list[gates.Verdict] = []
    problem = None
    if not journeys:
        problem = f"no enabled journey of {scope} matches: nothing to decide on"
    else:
        try:
            budgets = _budgets(loaded, source=source, env=env, stored_env=stored_env, now=now,
                               environ=environ, url=datadog_url, timeout_s=timeout_s,
                               min_runs=min_runs)  # fmt: skip
            verdicts = gates.judge(journeys, budgets)
        except gates.BudgetUnavailable as exc:
            problem = str(exc)
    code = gates.CANNOT_DECIDE if problem else gates.decision(verdicts)
    lines = _gate_block(verdicts, code, scope=scope, env=env, source=source, problem=problem)
    if override and code != gates.GO:
        lines.append(f"OVERRIDDEN: deploying anyway, reason given: {override}")
    print("\n".join(lines), file=stdout)
    if github.enabled(environ) and code != gates.GO:
        level = "warning" if override else "error"
        title = f"SLO gate: {gates.WORDS[code]} for {scope} in {env}"
        print(github.workflow_command(level, title, "\n".join(lines[1:])), file=stdout)
    return gates.GO if override else code


def _budgets(
    loaded: LoadedConfig, *, source: str, env: str, stored_env: str, now: float,
    environ: Mapping[str, str], url: str | None, timeout_s: float, min_runs: int,
) -> gates.Budgets:  # fmt: skip
    if source == "datadog":
        from prober.slo.datadog_api import DatadogBudgets

        return DatadogBudgets(env, environ=environ, url=url, timeout_s=timeout_s,
                              now=lambda: now)  # fmt: skip
    since = now - parse_duration(spec.TIMEFRAME)
    runs = spec.uncorrected(_stored(loaded, env=stored_env, since=since),
                            loaded.config.maintenance_windows())  # fmt: skip
    return gates.StoreBudgets(runs, now=now, env=stored_env, min_runs=min_runs,
                              quorum=quorum(loaded))  # fmt: skip


def _stored(
    loaded: LoadedConfig, *, env: str, since: float, trigger: str | None = None
) -> list[StoredRun]:
    """The stored runs of this store and the other locations' (`slo.stores`); none when there
    is no store yet (reading creates no file)."""
    found: list[StoredRun] = []
    for configured in [loaded.config.store.path, *loaded.config.slo.stores]:
        path = loaded.resolve(configured)
        if not path.exists():
            continue
        store = ResultStore(path)
        try:
            found += store.runs(env=env, since=since, trigger=trigger)
        finally:
            store.close()
    return sorted(found, key=lambda r: r.finished_at)


def quorum(loaded: LoadedConfig) -> spec.Quorum | None:
    """The config's quorum SLI (`slo.locations`, `slo.quorum`); None with one location."""
    n = loaded.config.slo.min_locations
    return None if n is None else spec.Quorum(n, tuple(loaded.config.slo.locations))


def _gate_block(
    verdicts: list[gates.Verdict], code: int, *, scope: str, env: str, source: str,
    problem: str | None,
) -> list[str]:  # fmt: skip
    head = f"SLO gate {gates.WORDS[code]} for {scope} in env {env} (budgets from {source})"
    lines = [head]
    if problem:
        lines.append(f"  cannot decide: {problem}")
    for v in verdicts:
        if v.problem:
            lines.append(f"  {v.journey} {v.slo_type}: cannot decide: {v.problem}")
            continue
        actions = "; ".join(rule.describe(v.service) for rule in v.rules) or "no policy action"
        mark = "STOP" if v.blocks else "ok"
        lines.append(f"  [{mark}] {v.journey} {v.slo_type}: {_percent(v.budget_left, 1)} of the "
                     f"30-day budget left -> {actions} (owner {v.owner})")  # fmt: skip
    if code == gates.CANNOT_DECIDE:
        lines.append("  Not a go: fix the data source, or pass --override REASON to deploy.")
    elif code == gates.STOP:
        lines.append("  The policy freezes this deploy; --override REASON deploys a fix anyway.")
    return lines
