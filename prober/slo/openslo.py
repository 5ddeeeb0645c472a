"""The export as OpenSLO v1 YAML: per journey and SLO type an `SLO` with a ratio indicator on
the Datadog queries, and the burn-rate alerts as `AlertCondition`s of one `AlertPolicy`. The
journey's error-budget policy rides along as an annotation of each SLO.

Not here: the error-budget, heartbeat, probe_error-rate, journey-down and location-local
monitors (a composite of two metric monitors). OpenSLO's only alert condition kind is a burn
rate; those monitors exist in the Terraform and datadog-json formats.

A quorum SLI (several locations) is a `Timeslices` SLO: a `thresholdMetric` indicator (the
number of locations the journey failed from, `count_nonzero` of the failed runs by location)
with an objective `op: lt`, `value: N` per `timeSliceWindow`, under the same burn-rate
policy (its budget burns in bad slices). OpenSLO cannot say how a slice without data counts
(Datadog counts it as good).
"""

from __future__ import annotations

from typing import Any

import yaml

from prober.slo.spec import SLICE_FORMULA, SLICE_QUERY_NAME, TIMEFRAME, Export, Rules, Slo


def _dns(name: str) -> str:
    """OpenSLO names are DNS labels: lower case, digits and '-'."""
    return name.replace("_", "-").replace(".", "-")


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Datadog", "spec": {"query": query}}}


def _conditions(rules: Rules) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "openslo/v1",
            "kind": "AlertCondition",
            "metadata": {"name": f"cuj-{rate.name}-burn"},
            "spec": {
                "description": f"{rate.threshold:g}x burn over {rate.long_window} and "
                f"{rate.short_window} ({rate.severity})",
                "severity": rate.severity,
                "condition": {
                    "kind": "burnrate",
                    "op": "gte",
                    "threshold": rate.threshold,
                    "lookbackWindow": rate.long_window,
                    "alertAfter": rate.short_window,
                },
            },
        }
        for rate in rules.burn_rates
    ]


def _sli(slo: Slo) -> dict[str, Any]:
    if slo.time_slice:
        return {"thresholdMetric": _source(SLICE_FORMULA.replace(SLICE_QUERY_NAME,
                                                                  slo.slice_query))}  # fmt: skip
    return {
        "ratioMetric": {
            "counter": True,
            "good": _source(slo.numerator),
            "total": _source(slo.denominator),
        }
    }


def _objective(slo: Slo) -> dict[str, Any]:
    objective: dict[str, Any] = {"displayName": slo.slo_type,
                                 "target": round(slo.target / 100, 5)}  # fmt: skip
    if slo.time_slice:
        objective = {"displayName": slo.slo_type, "op": "lt", "value": slo.quorum,
                     "timeSliceTarget": round(slo.target / 100, 5),
                     "timeSliceWindow": f"{slo.slice_s // 60}m"}  # fmt: skip
    return objective


def _slo(slo: Slo) -> dict[str, Any]:
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {
            "name": _dns(slo.name),
            "displayName": slo.name,
            "labels": {tag.split(":")[0]: [tag.split(":", 1)[1]] for tag in slo.tags},
            "annotations": {"cuj-prober/budget-policy": slo.policy},
        },
        "spec": {
            "description": slo.description,
            "service": slo.service,
            "indicator": {
                "metadata": {"name": _dns(f"{slo.name}-sli")},
                "spec": _sli(slo),
            },
            "timeWindow": [{"duration": TIMEFRAME, "isRolling": True}],
            "budgetingMethod": "Timeslices" if slo.time_slice else "Occurrences",
            "objectives": [_objective(slo)],
            "alertPolicies": ["cuj-burn-rate"],
        },
    }


def render(export: Export) -> str:
    policy = {
        "apiVersion": "openslo/v1",
        "kind": "AlertPolicy",
        "metadata": {"name": "cuj-burn-rate"},
        "spec": {
            "description": "Multi-window burn-rate alerts of every CUJ SLO",
            "alertWhenBreaching": True,
            "alertWhenResolved": True,
            "conditions": [
                {"conditionRef": c["metadata"]["name"]} for c in _conditions(export.rules)
            ],
        },
    }
    documents = [*_conditions(export.rules), policy, *(_slo(slo) for slo in export.slos)]
    return yaml.safe_dump_all(documents, sort_keys=False, width=100)
