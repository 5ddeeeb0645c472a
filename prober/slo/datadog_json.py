"""The export as Datadog API request bodies, built through the official `datadog-api-client`
models (v1 `ServiceLevelObjectiveRequest` and `Monitor`), so a field Datadog does not know
fails here, not at apply time.

SLO monitors and SLO corrections (`POST /api/v1/slo/correction`) need the SLO's id, which exists
only once Datadog created the SLO: their query (a correction's `slo_id`) carries
`{{slo_id:<slo name>}}`; replace it with the id returned by `POST /api/v1/slo`. A composite
monitor's query names its parts as `{{monitor_id:<monitor name>}}`: create the other monitors
first (they come before it in `monitors`) and replace each with the id `POST /api/v1/monitor`
returned.
"""

from __future__ import annotations

import json
from typing import Any

from datadog_api_client.v1.model.formula_and_function_metric_data_source import (
    FormulaAndFunctionMetricDataSource,
)
from datadog_api_client.v1.model.formula_and_function_metric_query_definition import (
    FormulaAndFunctionMetricQueryDefinition,
)
from datadog_api_client.v1.model.monitor import Monitor as ApiMonitor
from datadog_api_client.v1.model.monitor_options import MonitorOptions
from datadog_api_client.v1.model.monitor_thresholds import MonitorThresholds
from datadog_api_client.v1.model.monitor_type import MonitorType
from datadog_api_client.v1.model.on_missing_data_option import OnMissingDataOption
from datadog_api_client.v1.model.service_level_objective_query import (
    ServiceLevelObjectiveQuery,
)
from datadog_api_client.v1.model.service_level_objective_request import (
    ServiceLevelObjectiveRequest,
)
from datadog_api_client.v1.model.slo_correction_category import SLOCorrectionCategory
from datadog_api_client.v1.model.slo_correction_create_data import SLOCorrectionCreateData
from datadog_api_client.v1.model.slo_correction_create_request import (
    SLOCorrectionCreateRequest,
)
from datadog_api_client.v1.model.slo_correction_create_request_attributes import (
    SLOCorrectionCreateRequestAttributes,
)
from datadog_api_client.v1.model.slo_correction_type import SLOCorrectionType
from datadog_api_client.v1.model.slo_formula import SLOFormula
from datadog_api_client.v1.model.slo_threshold import SLOThreshold
from datadog_api_client.v1.model.slo_time_slice_comparator import SLOTimeSliceComparator
from datadog_api_client.v1.model.slo_time_slice_condition import SLOTimeSliceCondition
from datadog_api_client.v1.model.slo_time_slice_interval import SLOTimeSliceInterval
from datadog_api_client.v1.model.slo_time_slice_query import SLOTimeSliceQuery
from datadog_api_client.v1.model.slo_time_slice_spec import SLOTimeSliceSpec
from datadog_api_client.v1.model.slo_timeframe import SLOTimeframe
from datadog_api_client.v1.model.slo_type import SLOType

from prober.slo import dashboards
from prober.slo.spec import (
    CORRECTION_CATEGORY,
    HEARTBEAT_NO_DATA_MINUTES,
    MONITOR_REF,
    ON_MISSING_DATA,
    PRIORITY,
    SHORT_TIMEFRAME,
    SLICE_FORMULA,
    SLICE_GOOD_WHEN,
    SLICE_QUERY_NAME,
    SLO_ID,
    TIMEFRAME,
    Correction,
    Export,
    Monitor,
    Slo,
)


def sli_specification(slo: Slo) -> SLOTimeSliceSpec:
    """A quorum SLI's time-slice condition: good while count_nonzero(failing by location) < N."""
    query = FormulaAndFunctionMetricQueryDefinition(
        data_source=FormulaAndFunctionMetricDataSource.METRICS,
        name=SLICE_QUERY_NAME,
        query=slo.slice_query,
    )
    return SLOTimeSliceSpec(
        time_slice=SLOTimeSliceCondition(
            comparator=SLOTimeSliceComparator(SLICE_GOOD_WHEN),
            threshold=float(slo.quorum),
            query_interval_seconds=SLOTimeSliceInterval(slo.slice_s),
            query=SLOTimeSliceQuery(formulas=[SLOFormula(formula=SLICE_FORMULA)], queries=[query]),
        )
    )


def slo_request(slo: Slo) -> ServiceLevelObjectiveRequest:
    sli: dict[str, Any] = (
        {"type": SLOType.TIME_SLICE, "sli_specification": sli_specification(slo)}
        if slo.time_slice
        else {
            "type": SLOType.METRIC,
            "query": ServiceLevelObjectiveQuery(
                numerator=slo.numerator, denominator=slo.denominator
            ),
        }
    )
    return ServiceLevelObjectiveRequest(
        name=slo.name,
        description=slo.description,
        **sli,
        thresholds=[
            SLOThreshold(timeframe=SLOTimeframe(TIMEFRAME), target=slo.target, warning=slo.warning),
            SLOThreshold(timeframe=SLOTimeframe(SHORT_TIMEFRAME), target=slo.target),
        ],
        tags=slo.tags,
    )


def slo_id_placeholder(slo: Slo) -> str:
    return f"{{{{slo_id:{slo.name}}}}}"


def monitor_id_placeholder(name: str) -> str:
    return f"{{{{monitor_id:{name}}}}}"


def monitor_request(monitor: Monitor) -> ApiMonitor:
    query = monitor.query
    if monitor.slo is not None:
        query = query.replace(SLO_ID, slo_id_placeholder(monitor.slo))
    if monitor.composite_of is not None:  # its parts decide; a composite has no thresholds
        return ApiMonitor(
            name=monitor.name,
            type=MonitorType(monitor.datadog_type),
            query=MONITOR_REF.sub(lambda found: monitor_id_placeholder(found[1]), query),
            message=monitor.message,
            tags=monitor.tags,
            priority=PRIORITY[monitor.severity],
            options=MonitorOptions(include_tags=False),
        )
    levels: dict[str, Any] = {
        "warning": monitor.warning,
        "critical_recovery": monitor.critical_recovery,
    }
    thresholds = MonitorThresholds(
        critical=monitor.critical, **{k: v for k, v in levels.items() if v is not None}
    )
    options = MonitorOptions(thresholds=thresholds, include_tags=False)
    if monitor.down is not None:
        options = MonitorOptions(
            thresholds=thresholds,
            include_tags=False,
            require_full_window=False,
            on_missing_data=OnMissingDataOption(ON_MISSING_DATA),
        )
    if monitor.monitor_type == "no_data":
        options = MonitorOptions(
            thresholds=thresholds,
            notify_no_data=True,
            no_data_timeframe=HEARTBEAT_NO_DATA_MINUTES,
            include_tags=False,
        )
    return ApiMonitor(
        name=monitor.name,
        type=MonitorType(monitor.datadog_type),
        query=query,
        message=monitor.message,
        tags=monitor.tags,
        priority=PRIORITY[monitor.severity],
        options=options,
    )


def correction_request(correction: Correction) -> SLOCorrectionCreateRequest:
    optional: dict[str, Any] = {
        "end": correction.end,
        "duration": correction.duration,
        "rrule": correction.window.rrule,
    }
    attributes = SLOCorrectionCreateRequestAttributes(
        slo_id=slo_id_placeholder(correction.slo),
        category=SLOCorrectionCategory(CORRECTION_CATEGORY),
        description=correction.description,
        start=correction.start,
        timezone=correction.window.tz.key,
        **{key: value for key, value in optional.items() if value is not None},
    )
    return SLOCorrectionCreateRequest(
        data=SLOCorrectionCreateData(attributes=attributes, type=SLOCorrectionType.CORRECTION)
    )


def render(export: Export) -> dict[str, Any]:
    body = {
        "slos": [slo_request(slo).to_dict() for slo in export.slos],
        "monitors": [monitor_request(mon).to_dict() for mon in export.monitors],
    }
    boards = dashboards.dashboards(export, slo_id_placeholder)
    if boards:  # POST /api/v1/dashboard, SLO ids as in the monitors
        body["dashboards"] = [board.to_dict() for _, board in sorted(boards.items())]
    if export.corrections:
        body["corrections"] = [correction_request(c).to_dict() for c in export.corrections]
    return body


def dumps(export: Export) -> str:
    return json.dumps(render(export), indent=2, sort_keys=True) + "\n"
