"""The journeys a config asks for: packs loaded, overrides applied, selected by name and shard.

    catalog = build_catalog(loaded)                 # ConfigError listing every problem
    plan = catalog.plan(["workflow_run_*"], target=None, shard=Shard(0, 2))

A plan is a list of (journey, target) pairs. Names are matched exactly or as globs; a name that
matches nothing is an error that lists the known journeys. A journey whose worst case
(`worst_case_s`) is longer than its interval is a configuration error.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prober.config import ConfigError, LoadedConfig, Problem
from prober.errors import JourneyDefinitionError
from prober.journey import Journey
from prober.kit import PackSettings
from prober.loader import load_packs
from prober.metrics import SWEEP_MAX_AGE_SETTING
from prober.sinks.dogstatsd import DogStatsdConfigError, resolve_destination
from prober.target import SESSION_CREDENTIAL, Target
from prober.usage_error import UsageError

_SHARD = re.compile(r"^([0-9]{1,4})/([0-9]{1,4})$", re.ASCII)
MAX_SHARDS = 1000  # replicas of one prober: more would each probe almost nothing


class SelectionError(UsageError, ValueError):
    """The command line asked for journeys or targets that do not exist."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (0-based, like a StatefulSet pod ordinal)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not I/N; write e.g. 0/3 (shard 0 of 3)")
        index, count = int(match.group(1)), int(match.group(2))
        if not 1 <= count <= MAX_SHARDS or not 0 <= index < count:
            raise ValueError(f"{text!r}: I must be in 0..N-1 and N from 1 to {MAX_SHARDS}")
        return cls(index, count)

    def owns(self, journey: str) -> bool:
        """Stable across processes and restarts (not Python's salted hash())."""
        digest = hashlib.sha256(journey.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


@dataclass(frozen=True, slots=True)
class Catalog:
    journeys: dict[str, Journey]  # every loaded journey, overrides applied
    disabled: frozenset[str]
    targets: dict[str, Target]
    only_targets: dict[str, tuple[str, ...]]  # journey -> the targets an override limits it to

    def select(self, patterns: Sequence[str]) -> list[Journey]:
        """Enabled journeys matching any pattern (all enabled ones for no pattern).

        A disabled journey named exactly still runs: asking for it by name is deliberate.
        """
        if not patterns:
            return [j for name, j in sorted(self.journeys.items()) if name not in self.disabled]
        chosen: dict[str, Journey] = {}
        unknown = []
        for pattern in patterns:
            if pattern in self.journeys:
                chosen[pattern] = self.journeys[pattern]
                continue
            matched = [
                name
                for name in sorted(self.journeys)
                if fnmatch.fnmatchcase(name, pattern) and name not in self.disabled
            ]
            if not matched:
                unknown.append(pattern)
            chosen.update((name, self.journeys[name]) for name in matched)
        if unknown:
            raise SelectionError(
                f"no journey matches {', '.join(map(repr, unknown))}; known journeys: "
                f"{', '.join(sorted(self.journeys))}"
            )
        return sorted(chosen.values(), key=lambda j: j.name)

    def plan(
        self,
        patterns: Sequence[str] = (),
        *,
        target: str | None = None,
        shard: Shard | None = None,
    ) -> list[tuple[Journey, Target]]:
        if target is not None and target not in self.targets:
            raise SelectionError(
                f"no target {target!r}; configured targets: {', '.join(sorted(self.targets))}"
            )
        pairs = []
        for journey in self.select(patterns):
            if shard is not None and not shard.owns(journey.name):
                continue
            allowed = self.only_targets.get(journey.name)
            for name, tgt in sorted(self.targets.items()):
                if (target is None or name == target) and (allowed is None or name in allowed):
                    pairs.append((journey, tgt))
        return pairs


def worst_case_s(journey: Journey, cleanup_timeout_s: float) -> float:
    """The longest one scheduled run may take: every attempt (1 + retries) runs to its timeout
    and then spends the whole `serve.cleanup_timeout` on its cleanups.

    A journey whose worst case exceeds its interval skips runs exactly when the target is
    down (the scheduler never stacks runs), which is when its measurements matter most.
    """
    return (journey.retries + 1) * (journey.timeout_s + cleanup_timeout_s)


def _schedule_problem(loaded: LoadedConfig, journey: Journey) -> Problem | None:
    cleanup_s = loaded.config.serve.cleanup_timeout
    worst = worst_case_s(journey, cleanup_s)
    if worst <= journey.interval_s + 1e-9:  # 2 x (0.7 + 0.3) is not quite 2.0 in floats
        return None
    override = loaded.config.overrides.get(journey.name)
    where = journey.source
    if override is not None and override.changes():
        where = f"{journey.source} (overridden at {loaded.where('overrides', journey.name)})"
    attempts = journey.retries + 1
    return Problem(
        where,
        f"journey {journey.name!r}: its worst case, {attempts} attempt(s) x "
        f"({journey.timeout_s:g}s timeout + {cleanup_s:g}s serve.cleanup_timeout) = "
        f"{worst:g}s, is longer than its {journey.interval_s:g}s interval: during an outage "
        f"the runs that come due meanwhile would be skipped. Make the interval at least "
        f"{worst:g}s, or lower the timeout or retries (the Journey declaration, or "
        f"overrides.{journey.name} in {loaded.source}), or serve.cleanup_timeout",
    )


def build_catalog(loaded: LoadedConfig) -> Catalog:
    """Load the packs and apply overrides; every problem (packs, overrides, sinks) at once."""
    config = loaded.config
    report = load_packs(config.journeys, base=loaded.base)
    problems = [Problem(str(p.source), p.message) for p in report.problems]
    journeys = report.by_name()
    only: dict[str, tuple[str, ...]] = {}
    for name, override in config.overrides.items():
        if name not in journeys:
            if report.problems:
                continue  # most likely the journey whose module failed to load
            problems.append(
                Problem(
                    loaded.where("overrides", name),
                    f"no journey is named {name!r}; known: {', '.join(sorted(journeys))}",
                )
            )
            continue
        for target in override.targets or ():
            if target not in config.targets:
                problems.append(
                    Problem(
                        loaded.where("overrides", name, "targets"),
                        f"no target {target!r}; configured: {', '.join(sorted(config.targets))}",
                    )
                )
        if override.targets is not None:
            only[name] = tuple(override.targets)
        changes = override.changes()
        if changes:
            try:
                journeys[name] = journeys[name].replace(**changes)
            except JourneyDefinitionError as exc:
                why = str(exc).split(": ", 1)[-1]
                problems.append(Problem(loaded.where("overrides", name), why))
    disabled = frozenset(n for n, o in config.overrides.items() if not o.enabled)
    for name, journey in sorted(journeys.items()):
        problem = None if name in disabled else _schedule_problem(loaded, journey)
        if problem is not None:
            problems.append(problem)
    problems += _settings_problems(loaded, list(journeys.values()))
    problems += _credential_problems(loaded, list(journeys.values()))
    problems += _path_problems(loaded)
    try:
        resolve_destination(config.datadog.statsd_url, loaded.environ)
    except DogStatsdConfigError as exc:
        where = loaded.where("datadog", "statsd_url")
        problems.append(Problem(where if exc.variable is None else f"{exc.variable} "
                                "(environment)", str(exc)))  # fmt: skip
    if problems:
        raise ConfigError(loaded.source, problems)
    return Catalog(journeys, disabled, loaded.targets(), only)


def _path_problems(loaded: LoadedConfig) -> list[Problem]:
    """The store files and the artifacts folder as they are on disk now: a store that is a
    folder (or a FIFO, a device) and an artifacts folder that is a file would fail every run's
    save; said here, with the field, before anything runs."""
    config = loaded.config
    problems = []
    stores: list[tuple[tuple[str | int, ...], Path]] = [(("store", "path"), config.store.path)]
    stores += [(("slo", "stores", i), path) for i, path in enumerate(config.slo.stores)]
    for where, path in stores:
        real = loaded.resolve(path)
        if real.is_dir():
            why = (f"{real} is a folder; name the SQLite file of the results in it, e.g. "
                   f"{real / 'results.db'}")  # fmt: skip
        elif real.exists() and not real.is_file():
            why = f"{real} is not a regular file (a FIFO or a device?); name a file"
        elif real.parent.exists() and not real.parent.is_dir():
            why = f"{real.parent} is a file, not a folder; put the store in a folder"
        else:
            continue
        problems.append(Problem(loaded.where(*where), why))
    folder = loaded.resolve(config.artifacts.path)
    if folder.exists() and not folder.is_dir():
        problems.append(Problem(loaded.where("artifacts", "path"), (
            f"{folder} is a file, not a folder; artifacts.path names the folder screenshots, "
            "traces and logs are written to, e.g. .prober/artifacts"
        )))  # fmt: skip
    return problems


def _credential_problems(loaded: LoadedConfig, journeys: list[Journey]) -> list[Problem]:
    """Each journey's `credentials=` against every target's `credentials:`: a name no target
    declares would send nothing, and the run would blame the platform for the 401."""
    problems = []
    for journey in sorted(journeys, key=lambda j: j.name):
        for target, cfg in sorted(loaded.config.targets.items()):
            known = sorted({SESSION_CREDENTIAL, *cfg.credentials})
            for name in journey.credentials or ():
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"declared: {known}"
                    problems.append(Problem(
                        f"{journey.source}", f"journey {journey.name!r}: credentials: {name!r} "
                        f"is not a credential of target {target!r} ({hint})",
                    ))  # fmt: skip
    return problems


def _patience_problems(loaded: LoadedConfig, journeys: list[Journey]) -> list[Problem]:
    """Each journey's patience settings against its timeout, for every target it probes."""
    problems = []
    for journey in sorted(journeys, key=lambda j: j.name):
        if journey.settings is None or not journey.waits:
            continue
        for target, cfg in sorted(loaded.config.targets.items()):
            found = journey.settings.patience_problems(
                journey.waits, cfg.settings, journey.timeout_s
            )
            for name, why in found:
                where = (
                    loaded.where("targets", target, "settings", name)
                    if name in cfg.settings
                    else f"{journey.source} (the default of {name})"
                )
                problems.append(Problem(where, f"journey {journey.name!r}: {name}: {why}"))
    return problems


def _settings_problems(loaded: LoadedConfig, journeys: list[Journey]) -> list[Problem]:
    """Each target's `settings:` against the packs' declared PackSettings: values that do not
    parse, and - once any pack declares its settings - names no pack declares."""
    declared: dict[str, PackSettings] = {}
    for journey in journeys:
        if journey.settings is not None:
            for name in journey.settings.settings:
                declared.setdefault(name, journey.settings)
    if not declared:
        return []
    known = sorted({*declared, SWEEP_MAX_AGE_SETTING})
    problems = _patience_problems(loaded, journeys)
    for target, cfg in loaded.config.targets.items():
        for name, raw in cfg.settings.items():
            where = loaded.where("targets", target, "settings", name)
            pack = declared.get(name)
            if pack is None and name != SWEEP_MAX_AGE_SETTING:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(known)}"
                problems.append(Problem(where, f"no pack declares this setting; {hint}"))
                continue
            if pack is not None:
                problems += [Problem(where, why) for _, why in pack.problems({name: raw})]
                secret = pack.settings[name].secret
                if secret and loaded.literal("targets", target, "settings", name):
                    variable = f"{target}_{name}".upper().replace("-", "_")
                    problems.append(
                        Problem(
                            where,
                            "a secret setting written in the config file; secrets come from "
                            f"the environment or a file: write ${{{variable}}} and export it, "
                            "or ${file:/run/secrets/NAME}",
                        )
                    )
    return problems
