"""`prober slo export | lint | status`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from prober.catalog import Catalog
from prober.config import LoadedConfig
from prober.slo import datadog_json, openslo, spec, terraform
from prober.slo.lint import lint
from prober.slo.status import SHOWN_WINDOWS, JourneyStatus, compute
from prober.store import ResultStore

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
    stdout: IO[str] | None = None,
) -> int:
    """SloError (exit 2) before anything is written when a journey cannot be exported."""
    stdout = stdout or sys.stdout
    journeys = catalog.select([])
    built = spec.build(
        journeys,
        env or loaded.config.env,
        locations or [loaded.config.location],
        notify_page=notify_page,
        notify_ticket=notify_ticket,
        prober_team=prober_team,
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
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    print(
        f"wrote {len(files)} file(s) to {out_dir}: {len(built.slos)} SLOs, "
        f"{len(built.monitors)} monitors for {len(journeys)} journeys in env {built.env}",
        file=stdout,
    )
    return 0


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
    now: float | None = None,
    stdout: IO[str] | None = None,
) -> int:
    stdout = stdout or sys.stdout
    now = time.time() if now is None else now
    store = ResultStore(loaded.resolve(loaded.config.store.path))
    try:
        runs = store.runs(env=env or loaded.config.env, since=now - window_s)
    finally:
        store.close()
    statuses = compute(runs, catalog.journeys, now=now, window=window, window_s=window_s)
    if as_json:
        for item in statuses:
            stdout.write(json.dumps(item.to_json(), sort_keys=True) + "\n")
        return 0
    _table(statuses, window, stdout)
    return 0


def _table(statuses: list[JourneyStatus], window: str, stdout: IO[str]) -> None:
    table = Table(title=f"CUJ SLOs over {window} (scheduled runs, prober faults excluded)")
    for column in ("journey", "target", "slo", "runs", "SLI", "first attempt", "objective",
                   "budget left", *(f"burn {w}" for w in SHOWN_WINDOWS), "firing"):  # fmt: skip
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
                _percent(slo.budget_left, 1),
                *(_rate(slo.burn[w]) for w in SHOWN_WINDOWS),
                ", ".join(slo.firing) or "-",
            )
    if not statuses:
        print(f"no scheduled runs in the last {window}", file=stdout)
        return
    Console(file=stdout, width=220).print(table)
