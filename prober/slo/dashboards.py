"""Dashboards as code: one Datadog dashboard per CUJ and an overview, built through the
`datadog-api-client` v1 models (so a field Datadog does not know fails here).

A CUJ's board, per journey: a note (what, runbook, owner), the SLOs' status and error budget,
the burn rate over an hour, runs by status and error_type, failures by failed_service and
failed_step (the blame the prober computes: who to call), step durations per step and
location, runs skipped (and why), and the heartbeat of the locations. Template variables env,
location and target filter every query. Queries use `prober.metrics` names only; a test checks
every metric and tag a widget names against what the DogStatsD sink emits.

SLO widgets need the SLO's id: `slo_id(slo)` gives what each format puts there (a Terraform
template variable, or the API's `{{slo_id:NAME}}` placeholder).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.dashboard_layout_type import DashboardLayoutType
from datadog_api_client.v1.model.dashboard_template_variable import DashboardTemplateVariable
from datadog_api_client.v1.model.note_widget_definition import NoteWidgetDefinition
from datadog_api_client.v1.model.note_widget_definition_type import NoteWidgetDefinitionType
from datadog_api_client.v1.model.slo_widget_definition import SLOWidgetDefinition
from datadog_api_client.v1.model.slo_widget_definition_type import SLOWidgetDefinitionType
from datadog_api_client.v1.model.timeseries_widget_definition import (
    TimeseriesWidgetDefinition,
)
from datadog_api_client.v1.model.timeseries_widget_definition_type import (
    TimeseriesWidgetDefinitionType,
)
from datadog_api_client.v1.model.timeseries_widget_request import TimeseriesWidgetRequest
from datadog_api_client.v1.model.toplist_widget_definition import ToplistWidgetDefinition
from datadog_api_client.v1.model.toplist_widget_definition_type import (
    ToplistWidgetDefinitionType,
)
from datadog_api_client.v1.model.toplist_widget_request import ToplistWidgetRequest
from datadog_api_client.v1.model.widget import Widget
from datadog_api_client.v1.model.widget_display_type import WidgetDisplayType
from datadog_api_client.v1.model.widget_time_windows import WidgetTimeWindows
from datadog_api_client.v1.model.widget_view_mode import WidgetViewMode

from prober import metrics as m
from prober.slo.spec import AVAILABILITY, SHORT_TIMEFRAME, TIMEFRAME, Export, Slo

TEMPLATE_VARIABLES = (m.ENV, m.LOCATION, m.TARGET)  # each filters the tag of the same name
FILTERS = ",".join(f"${name}" for name in TEMPLATE_VARIABLES)
OVERVIEW = "overview"
SloId = Callable[[Slo], str]


def _scope(*tags: str, filters: str = FILTERS) -> str:
    return "{" + ",".join([*tags, filters]) + "}"


def _count(metric: str, *tags: str, by: tuple[str, ...] = ()) -> str:
    grouped = f" by {{{','.join(by)}}}" if by else ""
    return f"sum:{metric}{_scope(*tags)}{grouped}.as_count()"


def _note(text: str) -> Widget:
    return Widget(definition=NoteWidgetDefinition(
        content=text, type=NoteWidgetDefinitionType.NOTE, background_color="white",
        font_size="14", show_tick=False,
    ))  # fmt: skip


def _timeseries(title: str, query: str, display: str = "bars") -> Widget:
    return Widget(definition=TimeseriesWidgetDefinition(
        title=title, type=TimeseriesWidgetDefinitionType.TIMESERIES,
        requests=[TimeseriesWidgetRequest(q=query, display_type=WidgetDisplayType(display))],
    ))  # fmt: skip


def _toplist(title: str, query: str) -> Widget:
    return Widget(definition=ToplistWidgetDefinition(
        title=title, type=ToplistWidgetDefinitionType.TOPLIST,
        requests=[ToplistWidgetRequest(q=query)],
    ))  # fmt: skip


def _slo(slo: Slo, slo_id: SloId) -> Widget:
    return Widget(definition=SLOWidgetDefinition(
        title=f"{slo.journey} {slo.slo_type}: target {slo.target:g}%",
        type=SLOWidgetDefinitionType.SLO, view_type="detail",
        slo_id=slo_id(slo), show_error_budget=True, view_mode=WidgetViewMode.OVERALL,
        time_windows=[WidgetTimeWindows(TIMEFRAME), WidgetTimeWindows(SHORT_TIMEFRAME)],
    ))  # fmt: skip


def _burn(slo: Slo) -> Widget:
    """Hourly burn rate: the error rate over the allowed one (1 = on budget)."""
    good = slo.numerator.replace(".as_count()", ".as_count().rollup(sum, 3600)")
    total = slo.denominator.replace(".as_count()", ".as_count().rollup(sum, 3600)")
    allowed = round(1 - slo.target / 100, 6)
    return _timeseries(f"{slo.journey} {slo.slo_type}: burn rate per hour (1 = on budget)",
                       f"(1 - {good} / {total}) / {allowed:g}", "line")  # fmt: skip


def _journey_widgets(export: Export, journey: str, slo_id: SloId) -> list[Widget]:
    slos = [s for s in export.slos if s.journey == journey]
    first = slos[0]
    mine = m.tag(m.JOURNEY, journey)
    scheduled = f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}"
    failed = f"{m.STATUS}:{m.FAILURE}"
    note = (
        f"## {journey}\n{first.description}\n\nOwner: team {first.team}, service "
        f"{first.service}. Failures carry `failed_service` (who to call) and `failed_step`."
    )
    return [
        _note(note),
        *(_slo(s, slo_id) for s in slos),
        *(_burn(s) for s in slos),
        _timeseries(f"{journey}: scheduled runs by status and error_type",
                    _count(m.RUNS, mine, scheduled, by=(m.STATUS, m.ERROR_TYPE))),
        _toplist(f"{journey}: failures by failed_service and failed_step (who to call)",
                 _count(m.RUNS, mine, failed, by=(m.FAILED_SERVICE, m.FAILED_STEP))),
        _timeseries(f"{journey}: p95 step duration by step and location (s)",
                    f"p95:{m.STEP_DURATION}{_scope(mine)} by {{{m.STEP},{m.LOCATION}}}", "line"),
        _timeseries(f"{journey}: runs skipped by reason",
                    _count(m.SKIPPED, mine, by=(m.REASON,))),
    ]  # fmt: skip


def _prober_widgets() -> list[Widget]:
    return [
        _timeseries("prober heartbeat by location (no points: nothing probes there)",
                    f"sum:{m.HEARTBEAT}{_scope(filters='$env,$location')} by {{{m.LOCATION}}}",
                    "line"),  # the heartbeat carries no target
        _timeseries("runs skipped by journey and reason (overlap, misfire, shutdown, "
                    "maintenance)", _count(m.SKIPPED, by=(m.JOURNEY, m.REASON))),
    ]  # fmt: skip


def _template_variables(env: str) -> list[DashboardTemplateVariable]:
    return [
        DashboardTemplateVariable(name=name, prefix=name, default=env if name == m.ENV else "*")
        for name in TEMPLATE_VARIABLES
    ]


def _board(title: str, description: str, env: str, widgets: list[Widget]) -> Dashboard:
    return Dashboard(
        title=title,
        description=description,
        layout_type=DashboardLayoutType.ORDERED,
        template_variables=_template_variables(env),
        widgets=widgets,
        tags=[],
    )


def dashboards(export: Export, slo_id: SloId) -> dict[str, Dashboard]:
    """Key ("cuj_<cuj>" or "overview") -> dashboard."""
    cujs: dict[str, list[str]] = {}
    for slo in export.slos:
        if slo.journey not in cujs.setdefault(slo.cuj, []):
            cujs[slo.cuj].append(slo.journey)
    generated = "Generated by `prober slo export`: edit the journeys, not this dashboard."
    boards = {}
    for cuj, journeys in sorted(cujs.items()):
        widgets = [w for j in journeys for w in _journey_widgets(export, j, slo_id)]
        boards[f"cuj_{cuj}"] = _board(
            f"CUJ {cuj} ({export.env})",
            f"Critical User Journey {cuj}: {', '.join(journeys)}. {generated}",
            export.env,
            [*widgets, *_prober_widgets()],
        )
    overview = [
        _note(f"## CUJ overview ({export.env})\nEvery Critical User Journey the prober measures: "
              "availability SLOs, runs, and who failed. One dashboard per CUJ has the detail."),
        *(_slo(s, slo_id) for s in export.slos if s.slo_type == AVAILABILITY),
        _timeseries("scheduled runs by journey and status",
                    _count(m.RUNS, f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}", by=(m.JOURNEY, m.STATUS))),
        _toplist("failures by journey and failed_service (who to call)",
                 _count(m.RUNS, f"{m.STATUS}:{m.FAILURE}", by=(m.JOURNEY, m.FAILED_SERVICE))),
        *_prober_widgets(),
    ]  # fmt: skip
    if export.slos:
        boards[OVERVIEW] = _board(f"CUJ overview ({export.env})", generated, export.env, overview)
    return boards


def as_json(board: Dashboard) -> str:
    return json.dumps(board.to_dict(), indent=2, sort_keys=True) + "\n"


def queries(body: Any) -> list[str]:
    """Every query string (`q`) in a dashboard body, for checks against the metric contract."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "q" and isinstance(value, str):
                found.append(value)
            else:
                found += queries(value)
    elif isinstance(body, list):
        for item in body:
            found += queries(item)
    return found
