"""A login's session as the platform keeps it: the token in the login's body, the cookies it
set, or both - and until when it may be reused.

    session = Session.from_login(token, cookies, expires_in_s=3600, now=time.time())
    session.secrets()          # every value the redactor must mask

Sessions are plain values: the LoginGate keeps them for the process, SessionFiles for the
processes of one host, the http driver signs requests with them and the browser context is
seeded from them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# A session the login gives no lifetime for is reused until a 401 says otherwise.
SESSION_REUSE_S = 12 * 3600.0
# Renew this long before the session's announced expiry, so no run starts with a dying one.
EXPIRY_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class Session:
    """What a login left. `cookies` are (name, value) pairs the login set for the target."""

    token: str | None
    cookies: tuple[tuple[str, str], ...]
    expires_at: float  # wall clock after which it is not reused

    @classmethod
    def from_login(
        cls,
        token: str | None,
        cookies: tuple[tuple[str, str], ...],
        *,
        expires_in_s: float | None,
        now: float,
    ) -> Session:
        life = SESSION_REUSE_S if expires_in_s is None else expires_in_s * (1 - EXPIRY_MARGIN)
        return cls(token, cookies, now + max(life, 0.0))

    def good(self, now: float) -> bool:
        return now < self.expires_at

    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self.token, *(value for _, value in self.cookies)) if v)

    def to_json(self) -> str:
        return json.dumps(
            {"token": self.token, "cookies": [list(c) for c in self.cookies],
             "expires_at": self.expires_at}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Session | None:
        """The session in `text`, or None when it is not one (a damaged or foreign file): a
        token and cookies that could not go into a request's headers are not a session."""
        try:
            data: Any = json.loads(text)
            token = data["token"]
            cookies = tuple((n, v) for n, v in data["cookies"])
            expires_at = float(data["expires_at"])
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        if token is not None and not (isinstance(token, str) and _HEADER_VALUE.fullmatch(token)):
            return None
        for name, value in cookies:
            if not (isinstance(name, str) and _COOKIE_NAME.fullmatch(name)):
                return None
            if not (isinstance(value, str) and _COOKIE_VALUE.fullmatch(value)):
                return None
        if not token and not cookies:
            return None
        return cls(token, cookies, expires_at)


# What a request header can carry (printable ASCII, no line breaks): a bearer token; a cookie's
# name (no separator, `=` or space) and value (no `;`, which would start another cookie).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]+")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
