"""Keeping secrets out of everything the prober writes: logs, results, artifacts.

Four nets: headers by name (authorization, cookie, ...); fields by name (password, token, ...)
in JSON and in URL query strings and form bodies (`password=...`); the password in a URL's
user-info (`https://user:secret@host`); and the known secret values themselves - anywhere when
they are long enough to be unambiguous, and whatever their length as a whole JSON string or a
whole query/form value (`pw=abc123`), plain or percent-encoded (a short password like "prober"
also occurs in ordinary text, so it is not replaced there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
_SENSITIVE_FIELDS = r"password|passwd|secret|token|access_token|refresh_token|api_key|apikey"
_FIELD = re.compile(rf'("(?:{_SENSITIVE_FIELDS})"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
_HEADER_ENTRY = re.compile(
    r'("name"\s*:\s*"(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)"\s*,'
    r'\s*"value"\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)
_QUERY_FIELD = re.compile(
    rf"((?:^|[?&;#\s\"'])(?:{_SENSITIVE_FIELDS})=)[^&;\s\"'#\\]*", re.IGNORECASE
)
_USERINFO = re.compile(r"(://[^/\s:@\"']+:)[^@/\s\"']+(@)")
MIN_FREE_TEXT_SECRET = 8


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)
            if secret.lower().startswith(("bearer ", "basic ")):
                self._secrets.add(secret.split(" ", 1)[1])

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            k: MASK if k.lower() in SENSITIVE_HEADERS else self.text(v) for k, v in headers.items()
        }

    def text(self, text: str) -> str:
        text = _FIELD.sub(rf'\1"{MASK}"', text)
        text = _HEADER_ENTRY.sub(rf'\1"{MASK}"', text)
        text = _QUERY_FIELD.sub(rf"\1{MASK}", text)
        text = _USERINFO.sub(rf"\1{MASK}\2", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                if len(secret) >= MIN_FREE_TEXT_SECRET:
                    text = text.replace(form, MASK)
                    continue
                text = text.replace(f'"{form}"', f'"{MASK}"')
                # A whole query or form value: `...=secret` up to the next separator.
                text = re.sub(rf"(=){re.escape(form)}(?=$|[&;#\s\"'\\])", rf"\1{MASK}", text)
        return text

    def holds_secret(self, text: str) -> bool:
        """Whether `text` carries a known secret value (a long one anywhere, a short one as a
        whole JSON string or query/form value), plain or percent-encoded. Field names alone
        (`"token": ...`) are not secrets: this asks about the values the prober knows."""
        for secret in self._secrets:
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                if len(secret) >= MIN_FREE_TEXT_SECRET:
                    if form in text:
                        return True
                elif (
                    text == form
                    or f'"{form}"' in text
                    or re.search(rf"(?:^|=){re.escape(form)}(?=$|[&;#\s\"'\\])", text)
                ):
                    return True
        return False

    def data(self, raw: bytes) -> bytes:
        """The same for bytes of unknown encoding (trace resources, network bodies)."""
        try:
            return self.text(raw.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            for secret in self._secrets:
                if len(secret) >= MIN_FREE_TEXT_SECRET:
                    raw = raw.replace(secret.encode("utf-8"), MASK.encode())
            return raw
