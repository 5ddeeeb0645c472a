"""`prober slo audit DIR`: an existing Terraform tree against what `slo export` would write for
the configured journeys and env.

Both sides are read the same way (the export is rendered to a temporary folder): every
`datadog_service_level_objective`, `datadog_monitor`, `datadog_slo_correction` and
`datadog_dashboard_json`, with local module calls expanded as `slo lint` does. Resources are
matched by name (SLOs, monitors), description (corrections) or address (dashboards); one left
over on both sides at the same address is the same resource renamed.

    missing     the export has it, DIR does not
    orphaned    a CUJ resource in DIR the export does not write (its journey is gone, or it
                was never generated): SLOs and monitors tagged env:<env> with a journey tag,
                or of the prober's service, `cuj_slo_*` SLOs, cuj-prober corrections,
                `cuj_*` dashboards
    drifted     name, query, type, thresholds, target, priority or tags differ (each shown)
    violation   the naming and tagging conventions (`slo lint`)

Messages and descriptions are not compared: teams may word their own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prober import metrics as m
from prober.slo import spec, terraform
from prober.slo.lint import MONITOR, SLO, _contexts, _read, _substitute, lint

CORRECTION = "datadog_slo_correction"
DASHBOARD = "datadog_dashboard_json"
KINDS = (SLO, MONITOR, CORRECTION, DASHBOARD)
_COMPARED = {
    SLO: ("type", "query", "thresholds", "tags"),
    MONITOR: ("type", "query", "monitor_thresholds", "priority", "tags"),
    CORRECTION: ("slo_id", "start", "end", "duration", "rrule", "timezone"),
    DASHBOARD: (),
}


@dataclass(frozen=True, slots=True)
class Resource:
    file: str
    address: str  # module.x.datadog_monitor.y
    kind: str
    body: dict[str, Any]  # with the module call's arguments in place of var.*

    @property
    def key(self) -> str:
        if self.kind in (SLO, MONITOR):
            return f"{self.kind} {self.body.get('name')}"
        if self.kind == CORRECTION:
            return f"{self.kind} {self.body.get('description')}"
        return self.address

    @property
    def tags(self) -> dict[str, str]:
        tags = self.body.get("tags")
        items = tags if isinstance(tags, list) else []
        return dict(str(t).partition(":")[::2] for t in items)

    def label(self) -> str:
        name = self.body.get("name")
        return f"{self.file}: {self.address}" + (f" ({name})" if name else "")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # missing | orphaned | drifted | violation
    text: str

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.text}"


def _resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, variables) for v in value]
    return _substitute(value, variables)


def _normal(value: Any) -> Any:
    """Numbers as floats (HCL `99.5`, `"99.5"` and `1e2` alike), tag lists as sets."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def resources(root: Path) -> list[Resource]:
    """Every audited resource under `root`; LintError when it is not readable Terraform."""
    dirs = _read(root)
    found = []
    for folder, prefix, variables in _contexts(dirs):
        for path, kind, name, body in dirs[folder].resources:
            if kind not in KINDS:
                continue
            shown = str(root / path.resolve().relative_to(root.resolve()))
            found.append(Resource(shown, f"{prefix}{kind}.{name}", kind,
                                  _resolve(body, variables)))  # fmt: skip
    return found


def _fields(resource: Resource) -> dict[str, Any]:
    body = resource.body
    fields = {name: _normal(body.get(name)) for name in _COMPARED[resource.kind]}
    if "tags" in fields and isinstance(body.get("tags"), list):
        fields["tags"] = sorted(str(t) for t in body["tags"])
    return fields


def _in_scope(resource: Resource, env: str) -> bool:
    if resource.kind == CORRECTION:
        return str(resource.body.get("description", "")).startswith("cuj-prober ")
    if resource.kind == DASHBOARD:
        last = resource.address.rsplit(".", 1)[-1]
        return last.startswith("cuj_") or last == "overview"
    tags = resource.tags
    name = str(resource.body.get("name", ""))
    if resource.kind == SLO and name.startswith("cuj_slo_") and name.endswith(f"_{env}"):
        return True
    return tags.get(m.ENV) == env and (
        m.JOURNEY in tags or tags.get(m.SERVICE) == spec.PROBER_SERVICE
    )


def _diff(field: str, have: Any, want: Any) -> str:
    if field == "tags":
        extra = sorted(set(have or []) - set(want or []))
        lacking = sorted(set(want or []) - set(have or []))
        return (f"tags: {'+' + ', +'.join(extra) if extra else ''}"
                f"{'; ' if extra and lacking else ''}"
                f"{'-' + ', -'.join(lacking) if lacking else ''}"
                " (+ in DIR only, - expected)")  # fmt: skip
    return f"{field}: {have!r} -> expected {want!r}"


def audit(root: Path, export: spec.Export) -> list[Finding]:
    """Every missing, orphaned, drifted resource and convention violation, in that order."""
    have = [r for r in resources(root) if _in_scope(r, export.env)]
    with tempfile.TemporaryDirectory(prefix="prober-audit-") as folder:
        for relative, text in terraform.render(export).items():
            path = Path(folder) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        want = resources(Path(folder))
    journeys = {slo.journey for slo in export.slos}
    by_key = {r.key: r for r in have}
    pairs: list[tuple[Resource, Resource]] = []
    missing: list[Resource] = []
    for expected in want:
        found = by_key.pop(expected.key, None)
        if found is None:
            missing.append(expected)
        else:
            pairs.append((found, expected))
    left = {r.address: r for r in by_key.values()}
    still_missing = []
    for expected in missing:  # renamed: the same address, another name
        found = left.pop(expected.address, None)
        if found is not None and found.kind == expected.kind:
            pairs.append((found, expected))
        else:
            still_missing.append(expected)
    findings = [Finding("missing", f"{r.address} ({r.body.get('name') or r.key})")
                for r in still_missing]  # fmt: skip
    for orphan in left.values():
        journey = orphan.tags.get(m.JOURNEY)
        why = (f"journey {journey} is not configured" if journey and journey not in journeys
               else "the export does not write it")  # fmt: skip
        findings.append(Finding("orphaned", f"{orphan.label()}: {why}"))
    for found, expected in pairs:
        diffs = []
        if found.kind in (SLO, MONITOR) and found.body.get("name") != expected.body.get("name"):
            diffs.append(_diff("name", found.body.get("name"), expected.body.get("name")))
        mine, theirs = _fields(found), _fields(expected)
        diffs += [_diff(f, mine[f], theirs[f]) for f in mine if mine[f] != theirs[f]]
        if diffs:
            findings.append(Finding("drifted", f"{found.label()}: " + "; ".join(diffs)))
    findings += [Finding("violation", str(v)) for v in lint(root)]
    return findings


def summary(findings: list[Finding], root: Path) -> str:
    counts = {kind: sum(f.kind == kind for f in findings)
              for kind in ("missing", "orphaned", "drifted", "violation")}  # fmt: skip
    return (f"{counts['missing']} missing, {counts['orphaned']} orphaned, {counts['drifted']} "
            f"drifted, {counts['violation']} convention violation(s) in {root}")  # fmt: skip
