"""Values from outside the file in a config tree: `${VAR}`, `${VAR:-default}`, `${file:PATH}`,
and `PROBER_` overrides.

Both work on the raw tree read from YAML, before any validation, and report what they could not
do as (path, message) problems instead of stopping at the first one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from prober.input_file import InputFileError, read_input
from prober.yaml_source import YamlError, decode_utf8, load_yaml

log = logging.getLogger(__name__)

ENV_PREFIX = "PROBER_"
# ${VAR}, ${VAR:-default}, ${file:PATH}; `$${` is a literal `${`.
# A default may not hold a reference (`${A:-${B}}` is not nested: it would leave `${B}` as text).
_DEFAULT = r"(?:[^}$]|\$(?!\{))*"
_REFERENCE = re.compile(
    r"\$\$\{|\$\{file:([^}]+)\}|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(" + _DEFAULT + r"))?\}"
)
_BROKEN = re.compile(
    r"(?<!\$)\$\{(?!file:[^}]+\})(?![A-Za-z_][A-Za-z0-9_]*(?::-" + _DEFAULT + r")?\})"
)

Path = tuple[str | int, ...]
# A `${file:PATH}` holds a secret or a setting, a line: a bigger file is the wrong one.
MAX_FILE_REFERENCE_BYTES = 64 * 1024


@dataclass
class Interpolated:
    """The tree with references replaced, where each value came from, and what went wrong."""

    tree: Any
    # Values that came from the environment or a file, not from the config file's own text.
    from_environment: set[Path] = field(default_factory=set)
    # Values that used a `${VAR:-default}` default written in the file: path -> VAR.
    defaulted: dict[Path, str] = field(default_factory=dict)
    overridden: dict[Path, str] = field(default_factory=dict)  # path -> PROBER_ variable
    problems: list[tuple[Path, str]] = field(default_factory=list)
    # Problems of a PROBER_ variable itself (its name or its value), reported against it.
    variable_problems: list[tuple[str, str]] = field(default_factory=list)


def interpolate(
    tree: Any,
    environ: Mapping[str, str],
    base: FsPath | None = None,
    credentials: Collection[str] = (),
) -> Interpolated:
    """Replace references in every string of `tree` (a new tree is returned).

    `${file:PATH}` is the file's text less one trailing newline (how secrets are mounted);
    a relative PATH is read from `base`, the config file's folder. For keys named in
    `credentials`, an unset variable's message does not suggest a default.
    """
    out = Interpolated(tree=None)
    out.tree = _Walk(environ, base or FsPath("."), frozenset(credentials), out).node(tree, ())
    return out


@dataclass(frozen=True)
class _Walk:
    environ: Mapping[str, str]
    base: FsPath
    credentials: frozenset[str]
    out: Interpolated

    def node(self, node: Any, path: Path) -> Any:
        if isinstance(node, dict):
            return {key: self.node(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [self.node(value, (*path, i)) for i, value in enumerate(node)]
        if isinstance(node, str):
            return self.text(node, path)
        return node

    def text(self, node: str, path: Path) -> str:
        if _BROKEN.search(node):
            self.out.problems.append(
                (
                    path,
                    f"{node!r} has a malformed reference; write ${{VAR}}, ${{VAR:-default}} or "
                    "${file:PATH}",
                )
            )
            return node
        return _REFERENCE.sub(lambda match: self.reference(match, path), node)

    def reference(self, match: re.Match[str], path: Path) -> str:
        if match.group(0) == "$${":
            return "${"
        self.out.from_environment.add(path)
        if match.group(1) is not None:
            return self.file(match.group(1), path)
        name, default = match.group(2), match.group(3)
        if name in self.environ:
            return self.environ[name]
        if default is not None:
            self.out.defaulted[path] = name
            return default
        fallback = (
            "or read it from a file: ${file:PATH}"
            if path and path[-1] in self.credentials
            else f"or give a default: ${{{name}:-value}}"
        )
        self.out.problems.append(
            (path, f"${{{name}}} is not set in the environment; export {name}, {fallback}")
        )
        return ""

    def file(self, raw: str, path: Path) -> str:
        source = FsPath(raw.strip())
        if not source.is_absolute():
            source = self.base / source
        try:
            text = decode_utf8(read_input(source, limit=MAX_FILE_REFERENCE_BYTES))
        except InputFileError as exc:
            self.out.problems.append((path, f"${{file:{raw}}}: {exc}"))
            return ""
        except YamlError as exc:  # not UTF-8, or a NUL byte
            self.out.problems.append((path, f"${{file:{raw}}}: {source}: {exc}"))
            return ""
        # One line ending, as `echo x > file` or a Windows editor leaves it, is not the value.
        return text.removesuffix("\n").removesuffix("\r")


def apply_overrides(
    out: Interpolated,
    environ: Mapping[str, str],
    *,
    fields: Collection[str],
    shorthands: Mapping[str, str] | None = None,
    closed: Mapping[str, str] | None = None,
) -> None:
    """Apply `PROBER_A__B__C=value` as tree["a"]["b"]["c"] = value (environment beats file).

    Only a variable whose first key names a top-level field (`fields`) is an override: others
    are not ours (Kubernetes injects PROBER_PORT, PROBER_SERVICE_HOST... for a Service named
    `prober`, and PROBER_CONFIG says where the file is) and are ignored. Below the first key,
    a wrong name is left for validation to report, naming the variable.

    Keys match existing ones case-insensitively and with `_` standing for `-`, so
    PROBER_TARGETS__MY_SITE__BASE_URL reaches a target named `my-site`. A value starting with
    `[` or `{` is read as YAML (a list or mapping); anything else stays a string and is
    converted by validation like the file's own values.

    `shorthands` maps a top-level field that may be written as one string to the key that
    string stands for (`store: x.db` is `store: {path: x.db}`): an override below it keeps the
    string, and an override of the field itself with a string sets only that key.

    `closed` maps a top-level field whose entries the file names (`targets`) to what one entry
    is called ("target"): a variable may change an entry the file defines, never create one,
    so a typo in PROBER_TARGETS__PORD__BASE_URL is an error listing the known entries instead
    of a new target being probed.
    """
    if not isinstance(out.tree, dict):
        return
    shorthands = shorthands or {}
    closed = closed or {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        keys = variable[len(ENV_PREFIX) :].lower().split("__")
        if keys[0] == "" and len(keys) > 1:  # PROBER___ENV: one underscore too many
            out.variable_problems.append((variable, (
                "starts with an empty key (three underscores after PROBER); write PROBER_ and "
                "the field, `__` between levels, e.g. PROBER_SERVE__PORT"
            )))  # fmt: skip
            continue
        if keys[0] not in fields:
            log.debug("ignoring %s: %r is not a config field", variable, keys[0])
            continue
        if not all(keys):
            out.variable_problems.append((variable, "empty key between '__'; check the name"))
            continue
        entry = closed.get(keys[0])
        if entry is not None and len(keys) > 1:
            known = out.tree.get(keys[0])
            names = sorted(map(str, known)) if isinstance(known, dict) else []
            if not any(n.lower().replace("-", "_") == keys[1] for n in names):
                listed = f"the {entry}s it defines: {', '.join(names)}" if names else (
                    f"it defines no {entry}s")  # fmt: skip
                out.variable_problems.append((variable, (
                    f"names {entry} {keys[1]!r}, which the config file does not define "
                    f"({listed}); fix the name (`__` between levels, `_` for `-`) or add the "
                    f"{entry} to the file"
                )))  # fmt: skip
                continue
        raw = environ[variable]
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = load_yaml(raw).data
            except YamlError as exc:
                out.variable_problems.append((variable, f"{exc}; fix the variable's value"))
                continue
        short = shorthands.get(keys[0])
        if short is not None and len(keys) == 1 and isinstance(value, str):
            keys = [keys[0], short]
        _set(out, variable, keys, value, shorthands)


def _set(
    out: Interpolated,
    variable: str,
    keys: list[str],
    value: Any,
    shorthands: Mapping[str, str],
) -> None:
    node: dict[str, Any] = out.tree
    path: list[str | int] = []
    for depth, wanted in enumerate(keys[:-1]):
        key = _existing_key(node, wanted)
        path.append(key)
        child = node.get(key)
        short = shorthands.get(key) if depth == 0 else None
        if short is not None and isinstance(child, str):
            child = {short: child}  # keep the shorthand's value beside the override
            node[key] = child
        elif child is None:
            child = {}
            node[key] = child
        elif not isinstance(child, dict):
            dotted = ".".join(map(str, path))
            out.problems.append(
                (
                    tuple(path),
                    f"{variable} sets a field inside {dotted}, which the file gives as a single "
                    "value, not a mapping; write it as a mapping in the file",
                )
            )
            return
        node = child
    last = _existing_key(node, keys[-1])
    path.append(last)
    node[last] = value
    out.overridden[tuple(path)] = variable
    out.from_environment.add(tuple(path))
    out.defaulted.pop(tuple(path), None)


def _existing_key(node: dict[str, Any], key: str) -> str:
    for existing in node:
        if str(existing).lower().replace("-", "_") == key:
            return str(existing)
    return key
