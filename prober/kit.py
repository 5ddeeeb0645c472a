"""Declarations a pack makes beside its journeys: the leftover sweep and its typed settings.

    SWEEP = Sweep(list=list_flows, delete=delete_flow, prefix="prober-", max_age="1h")
    SETTINGS = PackSettings(
        fixture_name=Setting(str, "prober-fixture", "the flow the canvas journey opens"),
        run_max_wait=Setting(Duration, "10s", "how long a run may take before it is stuck",
                             patience=True),
    )
    journey = Journey(..., sweep=SWEEP, settings=SETTINGS, waits=("run_max_wait",))

    settings = ctx.settings(SETTINGS)      # typed values from the target's `settings:` table
    settings.run_max_wait                  # 10.0 (seconds)

A `patience=True` Duration is how long a customer waits for a state (a run to finish) before
calling it broken; a journey names the ones it waits with in `waits=`. `validate` refuses one
that is not shorter than such a journey's timeout (less `patience_headroom_s`): the step
deadline would always come first, and a stuck state would be reported as a timeout of the step
instead of the assertion on the service that kept answering it.

Declarations do no I/O; a mistake raises JourneyDefinitionError at import.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prober.errors import JourneyDefinitionError
from prober.values import parse_duration

if TYPE_CHECKING:
    from prober.context import StepContext

T = TypeVar("T")
# What a journey's timeout must leave beside a patience setting - the steps before the wait (a
# sign-in, a page load) and the wait's own reporting margin: a quarter of it, at least 1 s.
PATIENCE_HEADROOM_FRACTION = 0.25
PATIENCE_HEADROOM_MIN_S = 1.0


def patience_headroom_s(timeout_s: float) -> float:
    return max(PATIENCE_HEADROOM_MIN_S, timeout_s * PATIENCE_HEADROOM_FRACTION)


class Duration(float):
    """A setting type: written `20s`, `500ms`, `2m`; read as seconds."""


@dataclass(frozen=True, slots=True)
class Leftover:
    """A resource a killed run may have left behind, as a sweep's lister reports it."""

    id: str
    name: str
    created_at: float  # wall clock, seconds since the epoch


@dataclass(frozen=True)
class Sweep:
    """Removing the `prefix` resources older than `max_age` that killed runs left behind.

    `list(ctx)` returns the candidates (it may return every resource: the sweep keeps those whose
    name starts with `prefix` and that are older than `max_age`, never one in `keep`);
    `delete(ctx, leftover)` removes one (already gone must not raise: use
    ctx.expect_status(answer, 200, 204, 404)). The runner runs the sweep as a setup step before
    the journey's steps, and `prober serve` also runs it every `serve.sweep_interval`.
    """

    list: Callable[[StepContext], Awaitable[builtins.list[Leftover]]]
    delete: Callable[[StepContext, Leftover], Awaitable[None]]
    prefix: str = "prober-"
    max_age: float | str = "1h"
    keep: tuple[str, ...] = ()  # names never swept (fixtures share the prefix)
    max_age_s: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.prefix:
            raise JourneyDefinitionError("Sweep: prefix must not be empty (it would sweep all)")
        try:
            object.__setattr__(self, "max_age_s", parse_duration(self.max_age))
        except ValueError as exc:
            raise JourneyDefinitionError(f"Sweep: max_age: {exc}") from None

    def stale(
        self, found: builtins.list[Leftover], now: float, max_age_s: float | None = None
    ) -> builtins.list[Leftover]:
        limit = self.max_age_s if max_age_s is None else max_age_s
        return [
            item
            for item in found
            if item.name.startswith(self.prefix)
            and item.name not in self.keep
            and now - item.created_at > limit
        ]


_TYPES: dict[type, str] = {str: "text", int: "a whole number", float: "a number", bool: "true or "
                           "false", Duration: "a duration like 20s"}  # fmt: skip


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One typed pack setting: its type (str, int, float, bool or Duration), default and doc;
    `patience` marks a Duration that is a customer's patience for a wait (see above).

    `secret=True` (a str) marks a credential the pack sends itself: `validate` refuses it
    written in the config file (it must come from `${VAR}` or `${file:PATH}`), and its value
    is redacted from everything the prober writes, like a password. It has no default."""

    type: type[T]
    default: Any
    doc: str
    patience: bool = False
    secret: bool = False

    def __post_init__(self) -> None:
        if self.secret and (self.type is not str or self.default not in (None, "")):
            raise JourneyDefinitionError(
                "Setting: a secret is a str without a default (Setting(str, None, doc, "
                "secret=True)): a default would be a literal secret in the pack"
            )
        if self.secret:
            return
        if self.type not in _TYPES:
            raise JourneyDefinitionError(
                f"Setting: type {self.type!r} is not one of str, int, float, bool, Duration"
            )
        if self.patience and self.type is not Duration:
            raise JourneyDefinitionError("Setting: only a Duration can be a patience")
        self.parse(self.default)  # a bad default is the pack's mistake, caught at import

    def parse(self, raw: Any) -> Any:
        """The typed value of `raw` (from YAML, or a string from the environment)."""
        kind = self.type
        if self.secret and raw is None:
            return None  # not configured: the pack checks before sending it
        try:
            if kind is Duration:
                return Duration(parse_duration(raw))
            if kind is bool:
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in ("true", "yes", "1", "on"):
                    return True
                if text in ("false", "no", "0", "off"):
                    return False
                raise ValueError
            if kind is int and isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return kind(raw)  # type: ignore[call-arg]
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not {_TYPES[kind]}") from None


class PackSettings:
    """A pack's settings by name. `validate` checks a target's `settings:` table against them;
    `values` gives the typed values, defaults filled in."""

    def __init__(self, **settings: Setting[Any]) -> None:
        self.settings = dict(settings)

    def secrets(self, given: Mapping[str, Any]) -> tuple[str, ...]:
        """The values in `given` of the settings declared secret: what the redactor masks."""
        return tuple(
            str(given[name])
            for name, setting in self.settings.items()
            if setting.secret and given.get(name) not in (None, "")
        )

    def problems(self, given: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(name, what is wrong) for each value that does not parse; unknown names are judged
        against every pack of the config together (catalog)."""
        found = []
        for name, raw in given.items():
            setting = self.settings.get(name)
            if setting is None:
                continue
            try:
                setting.parse(raw)
            except ValueError as exc:
                found.append((name, f"{exc}; {setting.doc}"))
        return found

    def patience_problems(
        self, names: tuple[str, ...], given: Mapping[str, Any], timeout_s: float
    ) -> list[tuple[str, str]]:
        """(name, why) for each patience setting in `names` (its value in `given`, else its
        default) that a journey with `timeout_s` can never reach before its step deadline:
        `patience_headroom_s` must be left for the steps before the wait and reporting."""
        found = []
        for name in names:
            setting = self.settings.get(name)
            if setting is None or not setting.patience:
                continue
            try:
                value = float(setting.parse(given.get(name, setting.default)))
            except ValueError:
                continue  # reported by problems()
            headroom = patience_headroom_s(timeout_s)
            if value + headroom > timeout_s:
                most = max(timeout_s - headroom, 0.0)
                found.append(
                    (
                        name,
                        f"{value:g}s of patience cannot run out before the journey's "
                        f"{timeout_s:g}s timeout (less {headroom:g}s for the steps before the "
                        "wait): a state that never comes would be reported as the "
                        f"step's timeout instead of an assertion. Set it to at most {most:g}s, "
                        "or raise the journey's timeout",
                    )
                )
        return found

    def values(self, given: Mapping[str, Any]) -> Any:
        """A read-only object with one typed attribute per setting."""
        return _Values(
            {
                name: setting.parse(given.get(name, setting.default))
                for name, setting in self.settings.items()
            }
        )


class _Values:
    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values))
            raise AttributeError(f"no pack setting {name!r}; declared: {known}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("pack settings are read-only")

    def __repr__(self) -> str:
        return f"PackSettings({self._values!r})"
