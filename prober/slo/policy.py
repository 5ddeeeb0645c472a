"""Error-budget policy as code: what happens, and who decides, as a journey spends its budget.

A journey declares it with `budget_policy=` (a `BudgetPolicy`, or the same as a mapping so packs
need no import); a journey that declares none gets `DEFAULT_RULES`, owned by its team:

    budget_policy={
        "owner": "orchestration",
        "rules": [
            {"budget_left_at_most": 0.25, "action": "warn"},
            {"budget_left_at_most": 0.0, "action": "freeze_deploys"},
            {"burn_rate_above": 6, "window": "24h", "action": "require_postmortem"},
        ],
    }

`budget_left_at_most` is the fraction of the 30-day error budget left (0 = exhausted, below 0 =
overspent); `burn_rate_above` the burn rate over `window` (6x over 24 h spends 20% of a 30-day
budget in one day). Only `freeze_deploys` stops `prober slo gate`; the other actions are printed.
Pure data and arithmetic: no I/O, no journey import (journey.py imports this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prober.values import parse_duration


class Action(StrEnum):
    WARN = "warn"
    FREEZE_DEPLOYS = "freeze_deploys"
    REQUIRE_POSTMORTEM = "require_postmortem"


BLOCKING = frozenset({Action.FREEZE_DEPLOYS})  # the actions that make the gate say stop


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """Exactly one of `budget_left_at_most` / `burn_rate_above` is set."""

    action: Action
    budget_left_at_most: float | None = None
    burn_rate_above: float | None = None
    window: str | None = None  # with burn_rate_above

    def triggered(self, budget_left: float | None, burn: Mapping[str, float | None]) -> bool:
        if self.budget_left_at_most is not None:
            return budget_left is not None and budget_left <= self.budget_left_at_most
        assert self.burn_rate_above is not None and self.window is not None
        rate = burn.get(self.window)
        return rate is not None and rate > self.burn_rate_above

    def describe(self, service: str) -> str:
        what = {
            Action.WARN: "warn the owner",
            Action.FREEZE_DEPLOYS: f"freeze deploys of {service}",
            Action.REQUIRE_POSTMORTEM: "require a post-mortem",
        }[self.action]
        if self.budget_left_at_most is not None:
            if self.budget_left_at_most <= 0:
                return f"budget exhausted: {what}"
            return f"{self.budget_left_at_most * 100:g}% of the budget left or less: {what}"
        return f"burn rate above {self.burn_rate_above:g}x over {self.window}: {what}"


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    owner: str | None  # None: the journey's team
    rules: tuple[PolicyRule, ...]

    def windows(self) -> list[str]:
        """The burn-rate windows the rules read."""
        return sorted({r.window for r in self.rules if r.window is not None})

    def describe(self, owner: str, service: str) -> str:
        return f"Error-budget policy (owner {self.owner or owner}): " + "; ".join(
            rule.describe(service) for rule in self.rules
        )


DEFAULT_RULES = (
    PolicyRule(Action.WARN, budget_left_at_most=0.25),
    PolicyRule(Action.FREEZE_DEPLOYS, budget_left_at_most=0.0),
    PolicyRule(Action.REQUIRE_POSTMORTEM, burn_rate_above=6.0, window="24h"),
)
DEFAULT_POLICY = BudgetPolicy(owner=None, rules=DEFAULT_RULES)
_RULE_FIELDS = {"action", "budget_left_at_most", "burn_rate_above", "window"}


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field}: {value!r} is not a number")
    return float(value)


def _rule(raw: Any, index: int) -> PolicyRule:
    where = f"rules[{index}]"
    if isinstance(raw, PolicyRule):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: {raw!r} is not a mapping")
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                         f"use {', '.join(sorted(_RULE_FIELDS))}")  # fmt: skip
    try:
        action = Action(str(raw.get("action")))
    except ValueError:
        raise ValueError(
            f"{where}.action: {raw.get('action')!r} is not one of "
            f"{', '.join(a.value for a in Action)}"
        ) from None
    left, burn = raw.get("budget_left_at_most"), raw.get("burn_rate_above")
    if (left is None) == (burn is None):
        raise ValueError(f"{where}: give exactly one of budget_left_at_most, burn_rate_above")
    if left is not None:
        value = _number(left, f"{where}.budget_left_at_most")
        if not -10 <= value < 1:
            raise ValueError(f"{where}.budget_left_at_most: {value:g} must be a fraction < 1, "
                             "e.g. 0.25 for 25% left, 0 for exhausted")  # fmt: skip
        if raw.get("window") is not None:
            raise ValueError(f"{where}.window: applies to burn_rate_above only")
        return PolicyRule(action, budget_left_at_most=value)
    rate = _number(burn, f"{where}.burn_rate_above")
    if rate <= 0:
        raise ValueError(f"{where}.burn_rate_above: {rate:g} must be more than 0")
    window = raw.get("window")
    if not isinstance(window, str):
        raise ValueError(f"{where}.window: burn_rate_above needs a window, e.g. '24h'")
    seconds = parse_duration(window)  # ValueError names the accepted forms
    if not 0 < seconds <= 30 * 86400:
        raise ValueError(f"{where}.window: {window!r} must be more than 0 and at most 30d")
    return PolicyRule(action, burn_rate_above=rate, window=window)


def parse_policy(raw: BudgetPolicy | Mapping[str, Any]) -> BudgetPolicy:
    """A BudgetPolicy from its mapping form; ValueError naming the field and the fix."""
    if isinstance(raw, BudgetPolicy):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError(f"{raw!r} is not a mapping with owner and rules")
    unknown = set(raw) - {"owner", "rules"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; use owner, rules")
    owner = raw.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        raise ValueError(f"owner: {owner!r} must be a team or person name")
    rules: Sequence[Any] = raw.get("rules") or ()
    if isinstance(rules, str | bytes) or not isinstance(rules, Sequence) or not rules:
        raise ValueError("rules: give a list of at least one rule")
    return BudgetPolicy(owner, tuple(_rule(r, i) for i, r in enumerate(rules)))


def triggered(
    policy: BudgetPolicy, budget_left: float | None, burn: Mapping[str, float | None]
) -> list[PolicyRule]:
    """The rules whose condition holds, in declaration order."""
    return [rule for rule in policy.rules if rule.triggered(budget_left, burn)]
