"""`prober slo lint DIR`: the SLO export's naming and tagging conventions, checked on Terraform.

    SLO       cuj_slo_[service]_[journey][_latency]_[env]   tags env service team slo_type journey
    monitor   [service]_[metric]_[what it does]_[env]       tags env service team monitor_type
              (an `slo alert` monitor also journey and slo_type)

Every `datadog_service_level_objective` and `datadog_monitor` under DIR is checked. Resources in
a local module are checked once per call, with the call's arguments in place of `var.*`, so a
module is judged by the names it really produces. A name or tag list that stays computed (a
function, a remote module's output) cannot be checked and is reported as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from prober.input_file import InputFileError, read_input
from prober.usage_error import UsageError

SLO = "datadog_service_level_objective"
MONITOR = "datadog_monitor"
SLO_TAGS = ("env", "service", "team", "slo_type", "journey")
MONITOR_TAGS = ("env", "service", "team", "monitor_type")
SLO_MONITOR_TAGS = ("journey", "slo_type")
_VAR = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)\}")


class LintError(UsageError):
    """DIR cannot be read as Terraform."""


@dataclass(frozen=True, slots=True)
class Violation:
    file: str
    address: str
    rule: str  # name | tags | computed
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.address}: {self.message}"


@dataclass
class _Dir:
    resources: list[tuple[Path, str, str, dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[Path, str, Path, dict[str, Any]]] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)


def _clean(value: Any) -> Any:
    """python-hcl2 keeps quotes and block markers; give plain Python values back."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    return value


# A Terraform file of SLOs and monitors is KiB; a bigger one is not what to lint (and the HCL
# parser would take minutes on it).
MAX_TF_BYTES = 4 * 1024 * 1024


def _read(root: Path) -> dict[Path, _Dir]:
    dirs: dict[Path, _Dir] = {}
    files = sorted(p for p in root.rglob("*.tf") if not p.is_dir())
    if not files:
        raise LintError(f"{root}: no .tf files here; pass the folder of your Terraform")
    for path in files:
        if ".terraform" in path.parts:
            continue
        try:
            text = read_input(path, limit=MAX_TF_BYTES).decode("utf-8")
        except InputFileError as exc:
            raise LintError(str(exc)) from None
        except UnicodeDecodeError:
            raise LintError(f"{path}: not UTF-8; save the file as UTF-8") from None
        try:
            tree = _clean(hcl2.loads(text))
        except Exception as exc:
            raise LintError(f"{path}: not valid HCL: {str(exc).splitlines()[0]}") from None
        folder = dirs.setdefault(path.parent.resolve(), _Dir())
        for block in tree.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    folder.resources.append((path, kind, name, body))
        for block in tree.get("module", []):
            for name, body in block.items():
                source = str(body.get("source", ""))
                if source.startswith(("./", "../")):
                    target = (path.parent / source).resolve()
                    folder.calls.append((path, name, target, body))
        for block in tree.get("variable", []):
            for name, body in block.items():
                if "default" in body:
                    folder.defaults[name] = body["default"]
    return dirs


def _substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{var\.([A-Za-z0-9_-]+)\}", value)
    if whole and whole.group(1) in variables:
        return variables[whole.group(1)]
    return _VAR.sub(
        lambda match: str(variables.get(match.group(1), match.group(0))),
        value,
    )


def _contexts(dirs: dict[Path, _Dir]) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(folder, address prefix, variables) for each way a folder's resources are created."""
    called = {target for d in dirs.values() for _, _, target, _ in d.calls}
    pending = [(folder, "", dict(d.defaults)) for folder, d in dirs.items() if folder not in called]
    seen = 0
    while pending and seen < 1000:  # a module calling itself must not loop forever
        seen += 1
        folder, prefix, variables = pending.pop(0)
        yield folder, prefix, variables
        for _, name, target, args in dirs[folder].calls:
            if target not in dirs:
                continue
            passed = {k: _substitute(v, variables) for k, v in args.items() if k != "source"}
            pending.append((target, f"{prefix}module.{name}.", {**dirs[target].defaults, **passed}))


def _tags(value: Any) -> dict[str, list[str]] | None:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return None
    tags: dict[str, list[str]] = {}
    for item in value:
        key, _, val = item.partition(":")
        tags.setdefault(key, []).append(val)
    return tags


def _computed(value: Any) -> bool:
    return "${" in str(value)


def _check(path: Path, address: str, kind: str, body: dict[str, Any]) -> list[Violation]:
    def violation(rule: str, message: str) -> Violation:
        return Violation(str(path), address, rule, message)

    name = body.get("name")
    tags = _tags(body.get("tags"))
    if not isinstance(name, str) or _computed(name):
        return [violation("computed", f"name {name!r} is computed; cannot check the convention")]
    if tags is None or _computed(body.get("tags")):
        return [violation("computed", "tags are computed or not a list of strings; cannot check")]
    found: list[Violation] = []
    slo_alert = kind == MONITOR and body.get("type") == "slo alert"
    required = SLO_TAGS if kind == SLO else MONITOR_TAGS + (SLO_MONITOR_TAGS if slo_alert else ())
    missing = [key for key in required if len(tags.get(key, [])) != 1]
    if missing:
        found.append(violation("tags", f"needs exactly one tag of: {', '.join(missing)}"))

    def one(key: str) -> str | None:
        values = tags.get(key, [])
        return values[0] if len(values) == 1 else None

    env, service = one("env"), one("service")
    if kind == SLO:
        journey, slo_type = one("journey"), one("slo_type")
        if None in (env, service, journey, slo_type):
            if not name.startswith("cuj_slo_"):
                found.append(violation("name", f"{name!r} must start with cuj_slo_"))
        else:
            middle = f"{journey}_latency" if slo_type == "latency" else journey
            expected = f"cuj_slo_{service}_{middle}_{env}"
            if name != expected:
                found.append(
                    violation(
                        "name",
                        f"{name!r} should be {expected!r} "
                        "(cuj_slo_[service]_[journey][_latency]_[env])",
                    )
                )
        return found
    if env is None or service is None:
        return found
    middle = name.removeprefix(f"{service}_").removesuffix(f"_{env}")
    ok = (
        name.startswith(f"{service}_")
        and name.endswith(f"_{env}")
        and len(middle) < len(name) - len(service) - 1
        and "_" in middle.strip("_")
    )
    if not ok:
        found.append(
            violation(
                "name",
                f"{name!r} does not follow [service]_[metric]_[what it does]_[env] "
                f"(service {service}, env {env})",
            )
        )
    return found


def lint(root: Path) -> list[Violation]:
    if not root.is_dir():
        raise LintError(f"{root}: not a folder")
    dirs = _read(root)
    violations: list[Violation] = []
    for folder, prefix, variables in _contexts(dirs):
        for path, kind, name, body in dirs[folder].resources:
            if kind not in (SLO, MONITOR):
                continue
            resolved = {key: _substitute(body.get(key), variables) for key in ("name", "tags")}
            resolved["type"] = body.get("type")
            shown = root / path.resolve().relative_to(root.resolve())
            violations += _check(shown, f"{prefix}{kind}.{name}", kind, resolved)
    return sorted(set(violations), key=lambda v: (v.file, v.address, v.rule))
