"""Values from the environment in a config tree: `${VAR}`, `${VAR:-default}`, `PROBER_` overrides.

Both work on the raw tree read from YAML, before any validation, and report what they could not
do as (path, message) problems instead of stopping at the first one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

ENV_PREFIX = "PROBER_"
# PROBER_ variables that are not config fields: where the config file is.
NOT_OVERRIDES = frozenset({"PROBER_CONFIG"})
# ${VAR}, ${VAR:-default}; `$${` is a literal `${`.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BROKEN = re.compile(r"(?<!\$)\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")

Path = tuple[str | int, ...]


@dataclass
class Interpolated:
    """The tree with references replaced, where each value came from, and what went wrong."""

    tree: Any
    from_environment: set[Path] = field(default_factory=set)
    overridden: dict[Path, str] = field(default_factory=dict)  # path -> PROBER_ variable
    problems: list[tuple[Path, str]] = field(default_factory=list)


def interpolate(tree: Any, environ: Mapping[str, str]) -> Interpolated:
    """Replace `${VAR}` references in every string of `tree` (a new tree is returned)."""
    out = Interpolated(tree=None)
    out.tree = _walk(tree, (), environ, out)
    return out


def _walk(node: Any, path: Path, environ: Mapping[str, str], out: Interpolated) -> Any:
    if isinstance(node, dict):
        return {key: _walk(value, (*path, str(key)), environ, out) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(value, (*path, i), environ, out) for i, value in enumerate(node)]
    if not isinstance(node, str):
        return node
    if _BROKEN.search(node):
        out.problems.append(
            (path, f"{node!r} has a malformed reference; write ${{VAR}} or ${{VAR:-default}}")
        )
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        out.from_environment.add(path)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        out.problems.append(
            (
                path,
                f"${{{name}}} is not set in the environment; export {name}, "
                f"or give a default: ${{{name}:-value}}",
            )
        )
        return ""

    return _REFERENCE.sub(replace, node)


def apply_overrides(out: Interpolated, environ: Mapping[str, str]) -> None:
    """Apply `PROBER_A__B__C=value` as tree["a"]["b"]["c"] = value (environment beats file).

    Keys match existing ones case-insensitively and with `_` standing for `-`, so
    PROBER_TARGETS__MY_SITE__BASE_URL reaches a target named `my-site`. A value starting with
    `[` or `{` is read as YAML (a list or mapping); anything else stays a string and is
    converted by validation like the file's own values.
    """
    if not isinstance(out.tree, dict):
        return
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or variable in NOT_OVERRIDES:
            continue
        keys = variable[len(ENV_PREFIX) :].lower().split("__")
        if not all(keys):
            out.problems.append(((), f"{variable}: empty key between '__'; check the name"))
            continue
        raw = environ[variable]
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                out.problems.append(((), f"{variable}: not valid YAML: {exc}"))
                continue
        node = out.tree
        path: list[str | int] = []
        for wanted in keys[:-1]:
            key = _existing_key(node, wanted)
            path.append(key)
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        last = _existing_key(node, keys[-1])
        path.append(last)
        node[last] = value
        out.overridden[tuple(path)] = variable
        out.from_environment.add(tuple(path))


def _existing_key(node: dict[str, Any], key: str) -> str:
    for existing in node:
        if str(existing).lower().replace("-", "_") == key:
            return str(existing)
    return key
