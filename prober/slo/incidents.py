"""The incidents a backtest scores alerts against: a CSV or YAML file, one incident a row.

    start,end,journey,service,label
    2026-03-02T10:00:00Z,2026-03-02T10:30:00Z,,orchestration-engine,optimizer down

or in YAML a list of mappings with the same keys (or `{incidents: [...]}`). `start` and `end`
are ISO 8601 (no offset: UTC) or epoch seconds; each incident names a `journey` or a `service`
(then it concerns the journeys that service owns; `cuj-prober` is the prober itself, matched by
the prober's own monitors); `label` is free text that groups incidents in the report.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prober.slo.spec import SloError
from prober.values import parse_time

FIELDS = ("start", "end", "journey", "service", "label")


class IncidentError(SloError):
    """The incidents file cannot be read; the message names the file, the row and the field."""


@dataclass(frozen=True, slots=True)
class Incident:
    start: float
    end: float
    journey: str | None
    service: str | None
    label: str

    def concerns(self, journey: str | None, service: str) -> bool:
        """Whether an alert of `journey` (None: a prober-wide alert) owned by `service` is about
        this incident."""
        if self.journey is not None and journey is not None and self.journey == journey:
            return True
        return self.service is not None and self.service == service


def _rows(path: Path, text: str) -> list[Any]:
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        unknown = set(reader.fieldnames or ()) - set(FIELDS)
        if unknown:
            raise IncidentError(f"{path}: unknown column(s) {', '.join(sorted(unknown))}; "
                                f"the columns are {', '.join(FIELDS)}")  # fmt: skip
        return list(reader)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise IncidentError(f"{path}: give a .csv, .yaml or .yml file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IncidentError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, Mapping):
        data = data.get("incidents")
    if data is None:
        return []
    if not isinstance(data, list):
        raise IncidentError(f"{path}: expected a list of incidents (start, end, journey or "
                            "service, label)")  # fmt: skip
    return data


def _incident(path: Path, number: int, row: Any, known: _Known | None) -> Incident:
    where = f"{path}: incident {number}"
    if not isinstance(row, Mapping):
        raise IncidentError(f"{where}: expected a mapping with {', '.join(FIELDS)}")
    unknown = set(row) - set(FIELDS)
    if unknown:
        raise IncidentError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    times = []
    for field in ("start", "end"):
        value = row.get(field)
        if value in (None, ""):
            raise IncidentError(f"{where}: {field} is missing; give ISO 8601 or epoch seconds")
        try:
            times.append(parse_time(value))
        except ValueError as exc:
            raise IncidentError(f"{where}: {field}: {exc}") from None
    start, end = times
    if end < start:
        raise IncidentError(f"{where}: end is before start; swap them")
    journey = str(row.get("journey") or "").strip() or None
    service = str(row.get("service") or "").strip() or None
    if journey is None and service is None:
        raise IncidentError(f"{where}: name the journey or the service it concerns")
    if known is not None:
        # An unknown name would be scored as an incident no alert could catch: a false negative.
        for field, name, names in (("journey", journey, known[0]), ("service", service, known[1])):
            if name is not None and name not in names:
                raise IncidentError(f"{where}: {field}: no {field} {name!r} is configured; "
                                    f"the known ones are {', '.join(sorted(names))}")  # fmt: skip
    return Incident(start, end, journey, service, str(row.get("label") or "").strip())


_Known = tuple[Collection[str], Collection[str]]


def load_incidents(
    path: Path,
    *,
    journeys: Collection[str] | None = None,
    services: Collection[str] | None = None,
) -> list[Incident]:
    """IncidentError (exit 2) naming the file, the incident and the field on any mistake; with
    `journeys` and `services`, also on a journey or service that is not among them."""
    known = None if journeys is None or services is None else (journeys, services)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IncidentError(f"{path}: cannot read the incidents file ({exc.strerror})") from None
    rows = _rows(path, text)
    if not rows:  # scoring nothing would look like a report
        raise IncidentError(f"{path}: no incidents in it; add at least one row (start, end, "
                            "journey or service, label), or leave out --incidents")  # fmt: skip
    return sorted((_incident(path, i + 1, row, known) for i, row in enumerate(rows)),
                  key=lambda inc: (inc.start, inc.end))  # fmt: skip
