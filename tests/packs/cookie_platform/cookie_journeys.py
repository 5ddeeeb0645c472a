"""A pack for the cookie platform (tests/cookie_platform.py), written from its docs: its login
sets a cookie, its API takes a key header. No session or credential code: the target's config
declares both, and each journey names the credentials it uses."""

from __future__ import annotations

from typing import Any

from prober import Journey, StepContext, expect
from prober.rest import RestCollection

ITEMS = RestCollection(
    "/api/items", items="data", name="title", created="created",
    time_format="%d/%m/%Y %H:%M:%S", next_page="next",
)  # fmt: skip
FIXTURE = "prober-fixture-item"
COMMON: dict[str, Any] = {
    "cuj": "cookie_platform",
    "team": "platform",
    "timeout": "10s",
    "retries": 0,
}

items = Journey(
    "cookie_items_api", service="cookie-api", channel="api", credentials=("api_key",),
    sweep=ITEMS.sweep(keep=lambda ctx: [FIXTURE]), **COMMON,
)  # fmt: skip


@items.setup("the fixture item")
async def fixture(ctx: StepContext) -> None:
    body = {"colour": "blue"}
    await ITEMS.fixture(ctx, FIXTURE, body, current=lambda i: i.get("colour") == "blue")


@items.step("create an item and find it in the list")
async def create_and_find(ctx: StepContext) -> None:
    name = ctx.run.resource_name()
    item_id = await ITEMS.create(ctx, {"title": name})
    ctx.cleanup(lambda: ITEMS.delete(ctx, item_id), f"delete {name}")
    if not await ITEMS.list(ctx, name):
        ctx.fail(f"{name} is not in the list after it was created")


profile = Journey("cookie_profile_api", service="cookie-api", channel="api", **COMMON)


@profile.step("read my profile")
async def read_profile(ctx: StepContext) -> None:
    answer = await ctx.api.get("/api/me")
    ctx.expect_status(answer, 200)
    await ctx.read_json(answer, "name")


home = Journey("cookie_home_browser", service="cookie-web", channel="browser", **COMMON)


@home.step("open the home page signed in")
async def open_home(ctx: StepContext) -> None:
    await ctx.page.goto(ctx.target.base_url + "/")
    greeting = ctx.page.get_by_test_id("greeting")
    shown = expect(greeting)
    await ctx.wait(
        "the greeting", lambda ms: shown.to_have_text("Hello prober", timeout=ms), cap_s=5
    )
