"""Reading the DogStatsD wire format: what `prober dogstatsd-listen` prints and tests check.

    metric         <name>:<value>|<type>[|@<rate>][|#<tag>,...][|c:<container>]
    service check  _sc|<name>|<status>[|d:<ts>][|h:<host>][|#<tags>][|m:<message>]
    event          _e{<title len>,<text len>}:<title>|<text>[|<field>...][|#<tags>]

One datagram may carry several lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_EVENT = re.compile(r"^_e\{(\d+),(\d+)\}:")
TYPES = {"c": "count", "g": "gauge", "d": "distribution", "h": "histogram", "ms": "timing",
         "s": "set"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Point:
    kind: str  # count | gauge | distribution | ... | service_check | event
    name: str
    value: float | str
    tags: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    def tag_map(self) -> dict[str, list[str]]:
        mapped: dict[str, list[str]] = {}
        for item in self.tags:
            key, _, value = item.partition(":")
            mapped.setdefault(key, []).append(value)
        return mapped

    def tag(self, key: str) -> str:
        """The one value of `key`; an error when it is absent or repeated."""
        values = self.tag_map().get(key, [])
        if len(values) != 1:
            raise KeyError(f"{self.name}: tag {key!r} has {len(values)} values: {values}")
        return values[0]

    def render(self) -> str:
        tags = " ".join(self.tags)
        extra = " ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.kind:<12} {self.name} = {self.value}  {tags}  {extra}".rstrip()


class WireError(ValueError):
    """A datagram line that is not DogStatsD."""


def decode(datagram: bytes | str) -> list[Point]:
    text = datagram.decode("utf-8", "replace") if isinstance(datagram, bytes) else datagram
    return [decode_line(line) for line in text.split("\n") if line.strip()]


def decode_line(line: str) -> Point:
    if line.startswith("_sc|"):
        return _service_check(line)
    match = _EVENT.match(line)
    if match:
        return _event(line, match)
    name, sep, rest = line.partition(":")
    parts = rest.split("|")
    if not sep or len(parts) < 2 or parts[1] not in TYPES:
        raise WireError(f"not a DogStatsD line: {line!r}")
    tags: tuple[str, ...] = ()
    fields = {}
    for part in parts[2:]:
        if part.startswith("#"):
            tags = tuple(t for t in part[1:].split(",") if t)
        elif part.startswith("@"):
            fields["rate"] = part[1:]
        elif part:
            fields[part[:1]] = part[2:]
    value: float | str = parts[0] if parts[1] == "s" else float(parts[0])
    return Point(TYPES[parts[1]], name, value, tags, fields)


def _service_check(line: str) -> Point:
    parts = line.split("|")
    if len(parts) < 3:
        raise WireError(f"not a service check: {line!r}")
    tags: tuple[str, ...] = ()
    fields = {}
    for part in parts[3:]:
        if part.startswith("#"):
            tags = tuple(t for t in part[1:].split(",") if t)
        elif part[1:2] == ":":
            fields[part[:1]] = part[2:]
    return Point("service_check", parts[1], int(parts[2]), tags, fields)


def _event(line: str, match: re.Match[str]) -> Point:
    title_len, text_len = int(match.group(1)), int(match.group(2))
    body = line[match.end() :]
    title = body[:title_len]
    text = body[title_len + 1 : title_len + 1 + text_len].replace("\\n", "\n")
    tags: tuple[str, ...] = ()
    fields = {"text": text}
    for part in body[title_len + 1 + text_len :].split("|"):
        if part.startswith("#"):
            tags = tuple(t for t in part[1:].split(",") if t)
        elif part[1:2] == ":":
            fields[part[:1]] = part[2:]
    return Point("event", title, 1, tags, fields)
