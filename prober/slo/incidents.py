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

from prober.input_file import InputFileError, read_input
from prober.slo.spec import SloError
from prober.values import parse_time
from prober.yaml_source import YamlError, decode_utf8, load_yaml

FIELDS = ("start", "end", "journey", "service", "label")
# An incident log is tens or hundreds of rows; a bigger file is not one (and scoring it would
# take minutes): bounded by size before it is read, and by rows after.
MAX_INCIDENTS_BYTES = 4 * 1024 * 1024
MAX_INCIDENTS = 10_000


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


def _csv_rows(path: Path, text: str) -> list[Any]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None) or []
        unknown = set(header) - set(FIELDS)
        if unknown:
            shown = ", ".join(repr(c) for c in sorted(unknown))
            raise IncidentError(f"{path}: unknown column(s) {shown[:300]}; the columns are "
                                f"{', '.join(FIELDS)} (a CSV file with a header line)")  # fmt: skip
        twice = sorted({c for c in header if header.count(c) > 1})
        if twice:
            raise IncidentError(f"{path}: column(s) {', '.join(twice)} given twice; keep one")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(cells) != len(header):
                raise IncidentError(f"{path}: line {reader.line_num}: {len(cells)} cell(s) for "
                                    f"{len(header)} column(s) ({', '.join(header)}); a comma "
                                    "in a label needs quotes")  # fmt: skip
            rows.append(dict(zip(header, cells, strict=True)))
            if len(rows) > MAX_INCIDENTS:
                break
        return rows
    except csv.Error as exc:
        raise IncidentError(f"{path}: not valid CSV ({exc}); check the quotes") from None


def _rows(path: Path, text: str) -> list[Any]:
    if path.suffix.lower() == ".csv":
        return _csv_rows(path, text)
    try:
        data = load_yaml(text).data
    except YamlError as exc:
        raise IncidentError(f"{path}: not valid YAML ({exc})") from None
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
    if end == start:
        raise IncidentError(f"{where}: end is start (an incident of no length); give its end")
    for field in ("journey", "service", "label"):
        if row.get(field) is not None and not isinstance(row.get(field), str | int | float):
            raise IncidentError(f"{where}: {field} is a {type(row[field]).__name__}; write text")
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
    if path.suffix.lower() not in (".csv", ".yaml", ".yml"):
        raise IncidentError(f"{path}: give a .csv, .yaml or .yml file")
    try:
        text = decode_utf8(read_input(path, limit=MAX_INCIDENTS_BYTES))
    except InputFileError as exc:
        raise IncidentError(f"cannot read the incidents file: {exc}") from None
    except YamlError as exc:
        raise IncidentError(f"{path}: {exc}") from None
    rows = _rows(path, text)
    if not rows:  # scoring nothing would look like a report
        raise IncidentError(f"{path}: no incidents in it; add at least one row (start, end, "
                            "journey or service, label), or leave out --incidents")  # fmt: skip
    if len(rows) > MAX_INCIDENTS:
        raise IncidentError(f"{path}: more than {MAX_INCIDENTS} incidents; an incident log is "
                            "far shorter: check the file, or split the period")  # fmt: skip
    return sorted((_incident(path, i + 1, row, known) for i, row in enumerate(rows)),
                  key=lambda inc: (inc.start, inc.end))  # fmt: skip
