"""`prober list` and `prober validate`: what the config would run, and whether it can."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from prober.catalog import Catalog
from prober.config import LoadedConfig
from prober.journey import Channel

COLUMNS = ("journey", "service", "channel", "interval", "timeout", "retries", "latency",
           "slo_target", "enabled", "targets")  # fmt: skip


def rows(catalog: Catalog) -> list[dict[str, Any]]:
    listed = []
    for name, journey in sorted(catalog.journeys.items()):
        targets = catalog.only_targets.get(name) or tuple(sorted(catalog.targets))
        listed.append(
            {
                "journey": name,
                "service": journey.service,
                "channel": str(journey.channel),
                "interval": f"{journey.interval_s:g}s",
                "timeout": f"{journey.timeout_s:g}s",
                "retries": journey.retries,
                "latency": f"{journey.latency_threshold_s:g}s",
                "slo_target": journey.slo_target,
                "enabled": name not in catalog.disabled,
                "targets": list(targets),
            }
        )
    return listed


def list_journeys(catalog: Catalog, *, as_json: bool, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    listed = rows(catalog)
    if as_json:
        for row in listed:
            out.write(json.dumps(row) + "\n")
        return 0
    table = Table(title=f"{len(listed)} journeys", box=None, padding=(0, 2))
    for column in COLUMNS:
        table.add_column(column)
    for row in listed:
        table.add_row(*[", ".join(v) if isinstance(v, list) else str(v) for v in row.values()])
    Console(file=out, width=200).print(table)
    return 0


def validate_summary(loaded: LoadedConfig, catalog: Catalog) -> str:
    browser = sum(j.channel is Channel.BROWSER for j in catalog.journeys.values())
    return (
        f"{loaded.source}: ok - {len(catalog.journeys)} journeys ({browser} browser, "
        f"{len(catalog.journeys) - browser} api, {len(catalog.disabled)} disabled), "
        f"{len(catalog.targets)} target(s), env {loaded.config.env}, "
        f"location {loaded.config.location}"
    )
