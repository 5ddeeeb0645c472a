"""`prober.yaml` (docs/configuration.md): one typed settings object, validated as a whole.

    config = load_config(Path("prober.yaml"), os.environ)   # raises ConfigError

Loading never stops at the first mistake: `ConfigError.problems` lists every one, each with the
line and the dotted path in the file (or the PROBER_ variable that set it) and what to do.
Values come from the file, then `${VAR}` / `${VAR:-default}` / `${file:PATH}` references, then
`PROBER_A__B` variables (only those whose first key names a top-level field). Credentials
(`password`, `auth.token`, each `credentials.NAME.value`) may only come from the environment or
a file: a literal one, or a `${VAR:-default}` whose VAR is unset (the default is a literal
written in the file), is an error. This module is the only one that reads the process
environment for configuration.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal, NoReturn

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from prober.input_file import InputFileError, read_input
from prober.interpolation import Interpolated, apply_overrides, interpolate
from prober.maintenance import Maintenance, Window, WindowError, build_window, overlap
from prober.target import (
    SESSION_CREDENTIAL,
    AuthSpec,
    Credential,
    CredentialPlace,
    Secret,
    ServiceMap,
    Target,
)
from prober.usage_error import UsageError
from prober.values import (
    DAY_S,
    DEFAULT_CLEANUP_TIMEOUT_S,
    CountRule,
    DurationRule,
    NumberRule,
    check_credential,
    check_http_url,
    check_path,
    check_tag,
)
from prober.yaml_source import YamlError, decode_utf8, load_yaml

DEFAULT_CONFIG = Path("prober.yaml")
SECRET_FIELDS = ("password", "token", "value")
MAX_CONFIG_BYTES = 1024 * 1024


HOUR_S = 3600.0
# Durations, each kind with its bounds (prober/values.py; docs/configuration.md lists them).
Duration = Annotated[float, BeforeValidator(DurationRule())]  # 0 .. 366d
# A wait on the target or the browser: more than nothing, at most an hour.
Timeout = Annotated[float, BeforeValidator(DurationRule(0.001, HOUR_S))]
# How often something recurs: at least a second (0 would mean "continuously"), at most a day.
Interval = Annotated[float, BeforeValidator(DurationRule(1.0, DAY_S))]
# A cleanup budget or a grace period: 0 (none) up to an hour.
Grace = Annotated[float, BeforeValidator(DurationRule(0.0, HOUR_S))]
# A sweep lists and deletes resources on the target: not more often than once a minute.
SweepInterval = Annotated[float, BeforeValidator(DurationRule(60.0, DAY_S))]
# How long something is kept: at least an hour (less would drop the data being looked at).
Retention = Annotated[float, BeforeValidator(DurationRule(HOUR_S, 366 * DAY_S))]
# A name that becomes a metric tag: used as written or refused (never rewritten).
TagValue = Annotated[str, BeforeValidator(check_tag)]
# A TCP port to listen on (0: any free one).
Port = Annotated[int, BeforeValidator(CountRule(0, 65535))]
# A password, token or credential value: never empty, never with a line break.
SecretValue = Annotated[SecretStr, BeforeValidator(check_credential)]
ConfigPath = Annotated[Path, BeforeValidator(check_path)]
# HTTP header names are tokens (RFC 9110): no space, no colon.
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Characters a path glob may not hold: only `*` and `**` are special, so a regex or a shell
# class ([0-9], ?, (a|b)) would be matched literally and never match.
_GLOB_SPECIAL = re.compile(r"[\[\]()|?+^${}\\\s]")
_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")


@dataclass(frozen=True, slots=True)
class _Shorthand:
    """`store: .prober/results.db` is short for `store: {path: .prober/results.db}`."""

    key: str

    def __call__(self, value: Any) -> Any:
        return {self.key: value} if isinstance(value, str | Path) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrowserSessionConfig(_Model):
    """How browser journeys start signed in with the API's session (`{token}` is replaced)."""

    local_storage: dict[str, str] = Field(default_factory=dict)
    cookie: str | None = None
    # The cookies the login set (a cookie session) are copied into the browser context too.
    session_cookies: bool = True


class CredentialConfig(_Model):
    """A credential other than the login: an API key in a header, a query parameter or a
    cookie, sent as `prefix + value` to the target's origins only (docs/configuration.md)."""

    header: str | None = None
    query: str | None = None
    cookie: str | None = None
    value: SecretValue
    prefix: str = ""

    @model_validator(mode="after")
    def _one_place(self) -> CredentialConfig:
        places = [p for p in ("header", "query", "cookie") if getattr(self, p)]
        if len(places) != 1:
            raise ValueError(
                "give exactly one of header:, query: or cookie: (where the value is sent)"
            )
        return self

    def credential(self, name: str) -> Credential:
        place: CredentialPlace = "header" if self.header else "query" if self.query else "cookie"
        key = self.header or self.query or self.cookie or ""
        return Credential(name, place, key, Secret(self.value.get_secret_value()), self.prefix)


class AuthConfig(_Model):
    kind: Literal["none", "login", "bearer", "basic"] = "none"
    login_path: str = "/api/auth/login"
    username_field: str = "username"
    password_field: str = "password"
    token_field: str = "token"
    token: SecretValue | None = None
    extra_fields: dict[str, str] = Field(default_factory=dict)
    format: Literal["json", "form"] = "json"
    browser: BrowserSessionConfig | None = None


class TargetConfig(_Model):
    base_url: str
    username: str | None = None
    password: SecretValue | None = None
    auth: AuthConfig = AuthConfig()
    credentials: dict[str, CredentialConfig] = Field(default_factory=dict)
    services: dict[str, list[str]] = Field(default_factory=dict)
    extra_origins: list[str] = Field(default_factory=list)
    trace_documents: bool = False
    service_header: str = "x-service"
    error_service_field: str = "error.service"
    error_upstream_field: str = "error.upstream"
    request_timeout: Timeout = 10.0
    verify_tls: bool = True
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("extra_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for url in value:
            check_http_url(url, origin=True)
        return value

    @field_validator("service_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name; write e.g. x-service")
        return value

    @field_validator("credentials")
    @classmethod
    def _credential_names(cls, value: dict[str, CredentialConfig]) -> dict[str, CredentialConfig]:
        if SESSION_CREDENTIAL in value:
            raise ValueError(
                f"{SESSION_CREDENTIAL!r} names the login session (auth:); call this credential "
                "something else"
            )
        return value

    @field_validator("services")
    @classmethod
    def _routes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        owner: dict[str, str] = {}
        for service, patterns in value.items():
            try:
                check_tag(service)
            except ValueError as exc:
                raise ValueError(f"service {exc}") from None
            if not patterns:
                raise ValueError(f"{service}: no path globs; add one (e.g. '/api/{service}/**') "
                                 "or remove the service")  # fmt: skip
            for pattern in patterns:
                if not pattern.startswith("/"):
                    raise ValueError(f"{service}: path glob {pattern!r} must start with '/'")
                if _GLOB_SPECIAL.search(pattern) or "***" in pattern:
                    raise ValueError(
                        f"{service}: path glob {pattern!r} has a character a glob does not "
                        "match (only * within a segment and ** across segments are special; "
                        "no [], ?, (|), spaces or queries): write one glob per path"
                    )
                if pattern in owner and owner[pattern] != service:
                    raise ValueError(f"path glob {pattern!r} is given to both {owner[pattern]} "
                                     f"and {service}; give it to one")  # fmt: skip
                owner[pattern] = service
        return value


class JourneyOverride(_Model):
    """Per-journey changes to its declaration, by journey name."""

    enabled: bool = True
    interval: Interval | None = None
    timeout: Timeout | None = None
    retries: Annotated[int, BeforeValidator(CountRule(0, 5))] | None = None
    latency_threshold: Timeout | None = None
    # Only these targets (default: all); empty would run the journey nowhere without a word.
    targets: list[str] | None = Field(default=None, min_length=1)

    def changes(self) -> dict[str, Any]:
        fields = ("interval", "timeout", "retries", "latency_threshold")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


class DatadogConfig(_Model):
    statsd_url: str | None = None  # DD_DOGSTATSD_URL / DD_AGENT_HOST in the environment win
    # The Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com...): trace ids come with
    # a link to their APM trace (prober/trace_links.py). Unset: DD_SITE, else no links.
    site: str | None = Field(default=None, pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


class BrowserConfig(_Model):
    executable_path: str | None = None
    headless: bool = True
    # Browser journeys at once (serve).
    max_concurrent: Annotated[int, BeforeValidator(CountRule(1, 32))] = 2
    launch_timeout: Timeout = 30.0


class StoreConfig(_Model):
    path: ConfigPath = Path(".prober/results.db")
    retention: Retention = 35 * DAY_S  # longer than the 30-day SLO window


class ArtifactsConfig(_Model):
    path: ConfigPath = Path(".prober/artifacts")
    keep_runs: Annotated[int, BeforeValidator(CountRule(1, 10000))] = 20
    max_age: Retention = 7 * DAY_S
    on_success: bool = False


class ServeConfig(_Model):
    """`prober serve`: the health endpoint and its scheduling policies."""

    host: str = "127.0.0.1"
    port: Port = 8080
    # A random delay of up to this fraction of the interval before each run (APScheduler's
    # jitter only delays), so probes from many replicas do not hit the target in lockstep.
    jitter: Annotated[float, BeforeValidator(NumberRule(0.0, 0.9))] = 0.1
    misfire_grace: Interval = 30.0
    shutdown_grace: Grace = 60.0
    heartbeat_interval: Interval = 15.0
    cleanup_timeout: Grace = DEFAULT_CLEANUP_TIMEOUT_S
    # How often the store drops runs past `store.retention` and artifacts past their limits
    # (both are also pruned at start).
    prune_interval: Interval = 3600.0
    # How often each declared Sweep also runs on its own (besides before each run).
    sweep_interval: SweepInterval = 900.0

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError(f"{value!r} is not a host name or address; write e.g. 127.0.0.1 "
                             "or 0.0.0.0")  # fmt: skip
        return value


class SloConfig(_Model):
    """Where the journeys are probed from, and the quorum their availability SLI needs.

    With two or more `locations` a period counts against a journey's availability only when its
    runs failed from at least `quorum` of them in it (docs/operations.md): one location's own
    network cannot spend the service's budget. `stores` are the other locations' result stores
    (copies or mounts), read with this one by `slo status`, `slo gate` and `slo backtest`."""

    locations: list[TagValue] = Field(default_factory=list)
    quorum: Annotated[int, BeforeValidator(CountRule(1, 100))] | None = None
    stores: list[ConfigPath] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> SloConfig:
        twice = sorted({x for x in self.locations if self.locations.count(x) > 1})
        if twice:
            raise ValueError(f"locations: {', '.join(twice)} listed twice; list each once")
        if self.quorum is not None and len(self.locations) < 2:
            raise ValueError("quorum needs two or more locations; list them in slo.locations "
                             "(e.g. [us-east1, eu-west1, local])")  # fmt: skip
        if self.quorum is not None and self.quorum > len(self.locations):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.locations)} "
                             f"locations listed; write 1 to {len(self.locations)}")  # fmt: skip
        return self

    @property
    def min_locations(self) -> int | None:
        """N: failing from this many locations makes a period bad (None: one location, the
        run-based SLI). Default 2: one location alone is that location's problem."""
        if len(self.locations) < 2:
            return None
        return self.quorum if self.quorum is not None else 2


class MaintenanceWindowConfig(_Model):
    """One maintenance window (prober/maintenance.py has the rules; docs/configuration.md)."""

    name: str
    start: str
    end: str | None = None
    timezone: str = "UTC"
    rrule: str | None = None
    cron: str | None = None
    duration: Annotated[float, BeforeValidator(DurationRule(60.0, 366 * DAY_S))] | None = None
    journeys: list[str] = Field(default_factory=list)  # globs; empty: every journey
    targets: list[str] = Field(default_factory=list)  # empty: every target
    description: str = ""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads 2025-03-01T22:00:00 as a datetime; keep the text the window parses.
        return value.isoformat() if hasattr(value, "isoformat") else value

    def window(self) -> Window:
        """WindowError when malformed (the model validator reports it at load)."""
        return build_window(
            name=self.name, start=self.start, end=self.end, timezone=self.timezone,
            rrule_text=self.rrule, cron=self.cron, duration_s=self.duration,
            journeys=self.journeys, targets=self.targets, description=self.description,
        )  # fmt: skip

    @model_validator(mode="after")
    def _valid(self) -> MaintenanceWindowConfig:
        try:
            self.window()
        except WindowError as exc:
            raise ValueError(f"window {self.name!r}: {exc}") from None
        return self


class Config(_Model):
    env: TagValue = "dev"
    location: TagValue = "local"
    journeys: list[str] = Field(min_length=1)  # packs to load
    overrides: dict[str, JourneyOverride] = Field(default_factory=dict)
    targets: dict[TagValue, TargetConfig] = Field(min_length=1)
    datadog: DatadogConfig = DatadogConfig()
    browser: BrowserConfig = BrowserConfig()
    store: Annotated[StoreConfig, BeforeValidator(_Shorthand("path"))] = StoreConfig()
    artifacts: Annotated[ArtifactsConfig, BeforeValidator(_Shorthand("path"))] = ArtifactsConfig()
    serve: ServeConfig = ServeConfig()
    maintenance: list[MaintenanceWindowConfig] = Field(default_factory=list)
    slo: SloConfig = SloConfig()

    @field_validator("slo")
    @classmethod
    def _location_listed(cls, value: SloConfig, info: ValidationInfo) -> SloConfig:
        location = info.data.get("location")
        if value.locations and location is not None and location not in value.locations:
            raise ValueError(
                f"location {location!r} is not in slo.locations "
                f"({', '.join(value.locations)}); add it there or fix `location`"
            )
        return value

    @field_validator("maintenance")
    @classmethod
    def _no_overlaps(
        cls, value: list[MaintenanceWindowConfig], info: ValidationInfo
    ) -> list[MaintenanceWindowConfig]:
        known = info.data.get("targets") or {}
        for window in value:
            unknown = sorted(set(window.targets) - set(known))
            if known and unknown:
                raise ValueError(
                    f"window {window.name!r} names unknown target(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )
        names = [w.name for w in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"window name(s) {', '.join(twice)} used twice; names must differ")
        windows = [w.window() for w in value]
        for i, first in enumerate(windows):
            for second in windows[i + 1 :]:
                both = overlap(first, second)
                if both is not None:
                    at = datetime.fromtimestamp(both[0], first.tz).strftime("%Y-%m-%d %H:%M %Z")
                    raise ValueError(
                        f"windows {first.name!r} and {second.name!r} overlap (both cover a "
                        f"journey at {at}); merge them into one or narrow journeys/targets"
                    )
        return value

    def maintenance_windows(self) -> Maintenance:
        return Maintenance(tuple(w.window() for w in self.maintenance))


def shorthands() -> dict[str, str]:
    """Top-level fields that may be written as one string -> the key that string stands for."""
    found = {}
    for name, info in Config.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, BeforeValidator) and isinstance(meta.func, _Shorthand):
                found[name] = meta.func.key
    return found


@dataclass(frozen=True, slots=True)
class Problem:
    where: str  # "prober.yaml:12 targets.sandbox.base_url", or "PROBER_X (environment)"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(UsageError):
    """Every problem found in a config, each naming where it is and what to do."""

    def __init__(self, source: Path, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def report(self, out: IO[str]) -> None:
        """`prober.yaml: 2 problems:` and one indented line per problem."""
        count = len(self.problems)
        print(f"{self.source}: {count} problem{'s' if count != 1 else ''}:", file=out)
        for problem in self.problems:
            print(f"  {problem}", file=out)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A valid config, the file it came from (packs resolve against its folder)."""

    config: Config
    source: Path
    environ: Mapping[str, str]
    # Where a dotted path was set: "prober.yaml:12 overrides.x" or "PROBER_X (environment) x".
    locate: Callable[[Sequence[str | int]], str] | None = None
    # Paths whose value came from the environment or a file (not written in the config file),
    # less those only a `${VAR:-default}` default filled: where a secret may come from.
    secret_sources: frozenset[tuple[str | int, ...]] = frozenset()

    def literal(self, *path: str | int) -> bool:
        """Whether the value at `path` is written in the file (so it cannot be a secret)."""
        return tuple(path) not in self.secret_sources

    @property
    def base(self) -> Path:
        return self.source.parent

    def where(self, *path: str | int) -> str:
        if self.locate is not None:
            return self.locate(path)
        return f"{self.source} {'.'.join(map(str, path))}".rstrip()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base / path

    @property
    def datadog_site(self) -> str | None:
        """`datadog.site`, else DD_SITE, else None (no trace links)."""
        return self.config.datadog.site or self.environ.get("DD_SITE") or None

    def targets(self) -> dict[str, Target]:
        return {name: build_target(name, t) for name, t in self.config.targets.items()}


def build_target(name: str, cfg: TargetConfig) -> Target:
    auth = cfg.auth
    return Target(
        name=name,
        base_url=cfg.base_url.rstrip("/"),
        username=cfg.username,
        password=None if cfg.password is None else Secret(cfg.password.get_secret_value()),
        auth=AuthSpec(
            kind=auth.kind,
            login_path=auth.login_path,
            username_field=auth.username_field,
            password_field=auth.password_field,
            token_field=auth.token_field,
            extra_fields=tuple(auth.extra_fields.items()),
            token=None if auth.token is None else Secret(auth.token.get_secret_value()),
            format=auth.format,
            browser_local_storage=tuple(
                (auth.browser.local_storage if auth.browser else {}).items()
            ),
            browser_cookie=auth.browser.cookie if auth.browser else None,
            browser_session_cookies=auth.browser.session_cookies if auth.browser else False,
        ),
        credentials=tuple(c.credential(name) for name, c in cfg.credentials.items()),
        services=ServiceMap.from_mapping(cfg.services),
        extra_origins=tuple(cfg.extra_origins),
        trace_documents=cfg.trace_documents,
        service_header=cfg.service_header,
        error_service_field=cfg.error_service_field,
        error_upstream_field=cfg.error_upstream_field,
        request_timeout_s=cfg.request_timeout,
        verify_tls=cfg.verify_tls,
        settings={key: str(value) for key, value in cfg.settings.items()},
    )


def config_path(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """-c PATH, else PROBER_CONFIG, else ./prober.yaml."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    # An empty PROBER_CONFIG (a template that left it blank) counts as unset.
    return Path(environ.get("PROBER_CONFIG") or str(DEFAULT_CONFIG))


def load_config(source: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    environ = dict(os.environ if environ is None else environ)
    try:
        data_bytes = read_input(source, limit=MAX_CONFIG_BYTES)
    except InputFileError as exc:
        why = exc.why.split(";")[0]
        fix = "pass -c PATH or set PROBER_CONFIG"
        if why.startswith("larger than"):
            fix = "a config is a few KiB: check the path"
        elif "regular file" in why:
            fix = "pass -c PATH of a file"
        raise ConfigError(source, [Problem(str(source), f"{why}; {fix}")]) from None
    try:
        document = load_yaml(decode_utf8(data_bytes))
    except YamlError as exc:
        _raise(source, [Problem(str(source) if p.line is None else f"{source}:{p.line}",
                                p.message) for p in exc.problems])  # fmt: skip
    raw = document.data
    lines = _line_map(document.root)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _raise(source, [Problem(str(source), "must be a mapping of settings (key: value)")])
    data = interpolate(raw, environ, base=source.parent, credentials=SECRET_FIELDS)
    apply_overrides(data, environ, fields=Config.model_fields, shorthands=shorthands(),
                    closed={"targets": "target"})  # fmt: skip
    locate = _Locator(source, lines, data)
    problems = [Problem(f"{variable} (environment)", message)
                for variable, message in data.variable_problems]  # fmt: skip
    problems += [Problem(locate(path), message) for path, message in data.problems]
    for path in _secret_paths(data.tree):
        if path not in data.from_environment:
            problems.append(
                Problem(
                    locate(path),
                    f"a literal {path[-1]} in the config file; credentials come from the "
                    f"environment or a file: write ${{{_suggest_variable(path)}}} and export it, "
                    "or ${file:/run/secrets/NAME}",
                )
            )
        elif path in data.defaulted:
            variable = data.defaulted[path]
            problems.append(
                Problem(
                    locate(path),
                    f"{variable} is not set, and the default written after ':-' would be a "
                    f"literal {path[-1]} in the config file; export {variable} (and drop the "
                    f"default: ${{{variable}}}), or use ${{file:/run/secrets/NAME}}",
                )
            )
    config: Config | None = None
    try:
        config = Config.model_validate(data.tree)
    except ValidationError as exc:
        # A value whose reference already failed (an unset variable, an unreadable file) is
        # reported once, for that: its empty stand-in is not a second problem.
        failed = {path for path, _ in data.problems}
        problems += [Problem(locate(e["loc"]), _explain(e, data.tree)) for e in exc.errors()
                     if tuple(e["loc"]) not in failed]  # fmt: skip
    if problems or config is None:
        _raise(source, problems)
    sources = frozenset(data.from_environment - set(data.defaulted))
    return LoadedConfig(config, source, environ, locate, sources)


def _raise(source: Path, problems: list[Problem]) -> NoReturn:
    raise ConfigError(source, problems)


def _secret_paths(tree: Any) -> list[tuple[str | int, ...]]:
    paths: list[tuple[str | int, ...]] = []
    targets = tree.get("targets") if isinstance(tree, dict) else None
    if not isinstance(targets, dict):
        return paths
    for name, target in targets.items():
        if not isinstance(target, dict):
            continue
        if isinstance(target.get("password"), str):
            paths.append(("targets", str(name), "password"))
        auth = target.get("auth")
        if isinstance(auth, dict) and isinstance(auth.get("token"), str):
            paths.append(("targets", str(name), "auth", "token"))
        credentials = target.get("credentials")
        for key, credential in (credentials if isinstance(credentials, dict) else {}).items():
            if isinstance(credential, dict) and isinstance(credential.get("value"), str):
                paths.append(("targets", str(name), "credentials", str(key), "value"))
    return paths


def _suggest_variable(path: tuple[str | int, ...]) -> str:
    return "_".join(str(p) for p in path[1:]).upper().replace("-", "_")


_HINTS = {
    "missing": "add it",
    "extra_forbidden": "remove it",
    "too_short": "add at least one",
}


def _explain(error: Any, tree: Any) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        known = _known_fields(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        guess = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
        return f"unknown field; {guess}"
    if kind == "missing":
        return f"required; {_HINTS[kind]}"
    hint = _HINTS.get(kind)
    value = _value_at(tree, loc)
    hidden = value is _ABSENT or loc[-1] in SECRET_FIELDS or kind == "value_error"
    shown = "" if hidden else f" (got {value!r})"
    return f"{message}{shown}" + (f"; {hint}" if hint else "")


_ABSENT = object()


def _value_at(tree: Any, loc: tuple[Any, ...]) -> Any:
    node = tree
    for key in loc:
        found = (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and key < len(node)
        )
        if not found:
            return _ABSENT
        node = node[key]
    return node


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for key in loc:
        field = model.model_fields.get(key) if hasattr(model, "model_fields") else None
        if field is None:
            continue  # a user-named entry (targets.NAME): `model` is already its value's model
        model = _model_of(field.annotation)
        if model is None:
            return []
    return sorted(model.model_fields) if hasattr(model, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _line_map(root: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Dotted path -> 1-based line of its value, from the YAML node tree."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, str(key.value)))
                # The key's line, not its value's: a problem is reported where the field is.
                lines[(*path, str(key.value))] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


class _Locator:
    def __init__(
        self, source: Path, lines: dict[tuple[str | int, ...], int], data: Interpolated
    ) -> None:
        self._source = source
        self._lines = lines
        self._data = data

    def __call__(self, loc: Any) -> str:
        path = tuple(loc)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        for depth in range(len(path), 0, -1):
            variable = self._data.overridden.get(path[:depth])
            if variable is not None:
                return f"{variable} (environment) {dotted}"
        if path not in self._lines:  # e.g. overrides.NAME made by PROBER_OVERRIDES__NAME__X
            below = sorted(v for p, v in self._data.overridden.items() if p[: len(path)] == path)
            if below:
                return f"{', '.join(below)} (environment) {dotted}"
        for depth in range(len(path), -1, -1):
            line = self._lines.get(path[:depth])
            if line is not None:
                return f"{self._source}:{line} {dotted}"
        return f"{self._source} {dotted}"
