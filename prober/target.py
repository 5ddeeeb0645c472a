"""A target: where journeys go, how they authenticate, and which service owns which URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

AuthKind = Literal["none", "login", "bearer", "basic"]
CredentialPlace = Literal["header", "query", "cookie"]
# The credential name a journey lists to use the target's login session (`auth.kind: login`).
SESSION_CREDENTIAL = "session"


class Secret:
    """A credential. It never prints; call reveal() at the one place it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """How the `api` client authenticates.

    `login`: POST {username_field, password_field} as JSON (or a form) to `login_path`, read the
    token at `token_field` (dotted path) and send it as a bearer token; the token is kept for
    the process and reused by every run (logged in again on a 401 or when it expires).
    `bearer`: a fixed token. `basic`: HTTP basic with the target's username and password.
    """

    kind: AuthKind = "none"
    login_path: str = "/api/auth/login"
    username_field: str = "username"
    password_field: str = "password"
    token_field: str = "token"
    extra_fields: tuple[tuple[str, str], ...] = ()
    token: Secret | None = None
    format: Literal["json", "form"] = "json"  # how the login body is sent
    # Signing the browser in with the API's session: localStorage items (key -> value, `{token}`
    # replaced by the API token) and/or a cookie holding the token, on the target's origin.
    browser_local_storage: tuple[tuple[str, str], ...] = ()
    browser_cookie: str | None = None
    # Whether the cookies the login set are copied into the browser context too.
    browser_session_cookies: bool = False

    @property
    def browser_seeded(self) -> bool:
        """Whether browser journeys start signed in with the API's session."""
        seeds = self.browser_local_storage or self.browser_cookie or self.browser_session_cookies
        return self.kind == "login" and bool(seeds)


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential of the target that is not the login: an API key sent as the header, query
    parameter or cookie `key`, as `prefix + value`, on requests to the target's origins only."""

    name: str
    place: CredentialPlace
    key: str
    value: Secret
    prefix: str = ""


def glob_regex(pattern: str) -> re.Pattern[str]:
    # `*` stays within one path segment, `**` crosses segments.
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts
    )
    return re.compile(f"^{body}/?$")


@dataclass(frozen=True, slots=True)
class ServiceMap:
    """Path globs -> the service that owns them; the most literal matching pattern wins."""

    rules: tuple[tuple[str, str], ...] = ()
    _compiled: tuple[tuple[re.Pattern[str], int, str], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        compiled = tuple(
            (glob_regex(pattern), len(pattern.replace("*", "")), service)
            for pattern, service in self.rules
        )
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def from_mapping(cls, services: dict[str, list[str]]) -> ServiceMap:
        return cls(tuple((p, svc) for svc, patterns in services.items() for p in patterns))

    def service_for(self, path: str) -> str | None:
        best: tuple[int, str] | None = None
        for regex, weight, service in self._compiled:
            if regex.match(path) and (best is None or weight > best[0]):
                best = (weight, service)
        return None if best is None else best[1]


def origin_of(url: str) -> str:
    """`scheme://host:port`; a WebSocket (ws, wss) belongs to the http(s) origin it shares."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base_url: str
    username: str | None = None
    password: Secret | None = None
    auth: AuthSpec = AuthSpec()
    credentials: tuple[Credential, ...] = ()
    services: ServiceMap = ServiceMap()
    # Other origins of the same platform that should also get trace headers (e.g. an API host).
    extra_origins: tuple[str, ...] = ()
    # The browser's documents of the target's origins carry trace headers too: one round trip
    # to Python per navigation, which the page's timings count (prober/drivers/page_trace.py).
    trace_documents: bool = False
    # Where the platform names the service that answered or failed.
    service_header: str = "x-service"
    error_service_field: str = "error.service"
    error_upstream_field: str = "error.upstream"
    request_timeout_s: float = 10.0
    verify_tls: bool = True
    # Free-form parameters for journeys (fixture names, sweep age...), from the config.
    settings: Mapping[str, str] = field(default_factory=dict)

    def setting(self, key: str, default: str) -> str:
        return str(self.settings.get(key, default))

    # The origins of base_url and extra_origins, computed once: owns() asks for every request.
    origins: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        urls = (self.base_url, *self.extra_origins)
        object.__setattr__(self, "origins", frozenset(origin_of(u) for u in urls))

    def owns(self, url: str) -> bool:
        """Whether `url` is the target's (and so gets trace headers and is used as evidence)."""
        try:
            return origin_of(url) in self.origins
        except ValueError:
            return False

    def service_for_url(self, url: str) -> str | None:
        return self.services.service_for(urlsplit(url).path or "/") if self.owns(url) else None

    def secrets(self) -> tuple[str, ...]:
        """Credential values that must never appear in anything the prober writes."""
        held = (self.password, self.auth.token, *(c.value for c in self.credentials))
        values = [s.reveal() for s in held if s is not None]
        return tuple(v for v in values if v)

    def credential(self, name: str) -> Credential | None:
        return next((c for c in self.credentials if c.name == name), None)
