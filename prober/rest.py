"""A REST collection of the platform, declared once: what every pack otherwise rewrites to list
(every page), read, create and delete its resources, keep a fixture in it and sweep it.

    WORKFLOWS = RestCollection(
        "/api/workflows", items="workflows", created="created_at", time_format="iso",
        next_page="next", search="name_prefix",
    )
    SWEEP = WORKFLOWS.sweep(prefix="prober-", max_age="1h")          # a kit Sweep
    fixture = await WORKFLOWS.fixture(ctx, "prober-fixture", {"nodes": NODES},
                                      current=lambda wf: wf["nodes"] == NODES)

Every answer is checked with ctx.expect_status and ctx.read_json, so a wrong status or a
missing field is judged like any other answer of the platform (docs/verdicts.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prober.kit import Leftover, Sweep
from prober.observe import dig

if TYPE_CHECKING:
    from prober.context import StepContext

# Reads and creates take any 2xx and judge the body (read_json): a 204 or an empty 200 where a
# body was promised is the service's server_error on both channels, not a wrong status.
SUCCESS = tuple(range(200, 300))

Item = dict[str, Any]
# How a collection's `created` field is written: seconds or milliseconds since the epoch, ISO
# 8601, or any strptime format (read as UTC unless it has %z).
EPOCH, EPOCH_MS, ISO = "epoch", "epoch_ms", "iso"


@dataclass(frozen=True)
class RestCollection:
    """`path` lists (GET) and creates (POST; or `create_path`); `item` (with `{path}` and
    `{id}`) reads (GET), replaces (PUT) and deletes (DELETE) one. The list answer holds the
    items at the dotted field `items` ("" when the body is the list itself); `next_page`, if
    given, is the field holding the next page: a URL or path (followed), or a cursor or number
    (sent as `page_param`), up to `max_pages`. `select` keeps the items that are the
    collection's resources (e.g. only tabs); `created` is the field holding when one was
    created, written in `time_format`, or a function of the item returning epoch seconds.
    `search`, if the platform has one, is the query parameter that narrows the list to a
    name."""

    path: str
    items: str = "items"
    id: str = "id"
    name: str = "name"
    created: str | Callable[[Item], float] = "created_at"
    time_format: str = EPOCH
    next_page: str | None = None
    page_param: str = "page"
    max_pages: int = 50
    search: str | None = None
    item: str = "{path}/{id}"
    create_path: str | None = None  # where POST creates one, when not `path`
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    select: Callable[[Item], bool] = lambda _: True

    def url(self, item_id: str) -> str:
        return self.item.format(path=self.path, id=item_id)

    async def list(self, ctx: StepContext, name: str | None = None) -> builtins.list[Item]:
        """Every selected item, page after page (narrowed to `name` when the platform can)."""
        params = dict(self.params)
        if name is not None and self.search is not None:
            params[self.search] = name
        found: builtins.list[Item] = []
        url: str = self.path
        for _ in range(self.max_pages):
            answer = await ctx.api.get(url, params=params, headers=dict(self.headers))
            ctx.expect_status(answer, *SUCCESS)
            body = await ctx.read_json(answer, *([self.items] if self.items else []))
            listed = dig(body, self.items) if self.items else body
            if not isinstance(listed, builtins.list):
                ctx.fail(f"GET {self.path} answered no list at {self.items!r}", answer=answer)
            found += [i for i in listed if isinstance(i, dict) and self.select(i)]
            following = dig(body, self.next_page) if self.next_page else None
            if following in (None, "", False):
                break
            if isinstance(following, str) and following.startswith(("/", "http")):
                url, params = following, {}
            else:
                params[self.page_param] = str(following)
        if name is not None:
            found = [i for i in found if str(i.get(self.name)) == name]
        return found

    async def read(
        self,
        ctx: StepContext,
        item_id: str,
        *fields: str,
        types: Mapping[str, type | tuple[type, ...]] | None = None,
    ) -> Item:
        """GET one item. Any 2xx is taken, and its body judged: an empty or non-JSON body (a
        204 to a read) is the service's server_error, as when a page reads it."""
        answer = await ctx.api.get(self.url(item_id), headers=dict(self.headers))
        ctx.expect_status(answer, *SUCCESS)
        item: Item = await ctx.read_json(answer, *fields, types=types or {})
        return item

    async def create(self, ctx: StepContext, body: Mapping[str, Any]) -> str:
        """POST `body`; the new item's id."""
        where = self.create_path or self.path
        answer = await ctx.api.post(where, json=dict(body), headers=dict(self.headers))
        ctx.expect_status(answer, *SUCCESS)
        return str((await ctx.read_json(answer, self.id))[self.id])

    async def replace(self, ctx: StepContext, item_id: str, body: Mapping[str, Any]) -> None:
        answer = await ctx.api.put(self.url(item_id), json=dict(body), headers=dict(self.headers))
        ctx.expect_status(answer, 200, 201, 204)

    async def delete(self, ctx: StepContext, item_id: str) -> None:
        """DELETE it; already gone is fine."""
        answer = await ctx.api.delete(self.url(item_id), headers=dict(self.headers))
        ctx.expect_status(answer, 200, 202, 204, 404)

    def created_at(self, item: Item) -> float:
        """When `item` was created (epoch seconds); 0 when it does not say (swept as old)."""
        if callable(self.created):
            return float(self.created(item))
        return parse_time(dig(item, self.created), self.time_format)

    def sweep(
        self,
        *,
        prefix: str = "prober-",
        max_age: float | str = "1h",
        keep: Callable[[StepContext], Iterable[str]] | None = None,
    ) -> Sweep:
        """A Sweep of this collection's `prefix` items older than `max_age`, never one whose
        name `keep(ctx)` gives (the fixtures, which share the prefix)."""

        async def leftovers(ctx: StepContext) -> builtins.list[Leftover]:
            kept = set(keep(ctx)) if keep is not None else set()
            return [
                Leftover(str(i.get(self.id)), str(i.get(self.name)), self.created_at(i))
                for i in await self.list(ctx)
                if str(i.get(self.name)) not in kept
            ]

        async def remove(ctx: StepContext, leftover: Leftover) -> None:
            await self.delete(ctx, leftover.id)

        return Sweep(list=leftovers, delete=remove, prefix=prefix, max_age=max_age)

    async def fixture(
        self,
        ctx: StepContext,
        name: str,
        body: Mapping[str, Any],
        *,
        current: Callable[[Item], bool],
        repair: Callable[[Item], Mapping[str, Any]] | None = None,
        fields: tuple[str, ...] = (),
        types: Mapping[str, type | tuple[type, ...]] | None = None,
    ) -> Item:
        """The item named `name` (the oldest, if several): created from `body` when missing,
        replaced (PUT `repair(found)`, default `body`) when `current(found)` says its content
        drifted - reported with the run (StepContext.fixture). Returns it as read back, with
        `fields` present and `types` checked (ctx.read_json)."""

        async def find() -> Item | None:
            found = sorted(await self.list(ctx, name), key=self.created_at)
            return (
                await self.read(ctx, str(found[0][self.id]), *fields, types=types)
                if found
                else None
            )

        async def create() -> Item:
            made = await self.create(ctx, {self.name: name, **body})
            # Another prober process may have created one too: the oldest wins, the rest go.
            oldest = str(sorted(await self.list(ctx, name), key=self.created_at)[0][self.id])
            if oldest != made:
                await self.delete(ctx, made)
            return await self.read(ctx, oldest, *fields, types=types)

        async def replace(found: Item) -> Item:
            item_id = str(found[self.id])
            wanted = repair(found) if repair is not None else body
            await self.replace(ctx, item_id, {self.name: name, **wanted})
            return await self.read(ctx, item_id, *fields, types=types)

        return await ctx.fixture(name, find=find, create=create, current=current, repair=replace)


def parse_time(value: Any, time_format: str) -> float:
    """Epoch seconds of a timestamp written in `time_format` (see RestCollection); 0 when it
    is missing or does not parse (a leftover of unknown age counts as old)."""
    if value is None or value == "":
        return 0.0
    try:
        if time_format == EPOCH:
            return float(value)
        if time_format == EPOCH_MS:
            return float(value) / 1000
        text = str(value)
        if time_format == ISO:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            when = datetime.strptime(text, time_format)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    except (TypeError, ValueError, OverflowError):
        return 0.0
