"""`prober new pack NAME`: a working skeleton of a journey pack to start from.

Writes `<dir>/NAME/` with a config (`prober.yaml`: a target, its route map, its auth, the
browser session), the pack's helper module (`_platform.py`: services, typed settings, the
leftover sweep) and two journeys - one over the API, one in the browser - written for the
reference platform (`prober sandbox`), so the skeleton validates and runs green before the
first edit. Each TODO marks a line to change for your own platform. Nothing is overwritten:
an existing folder is an error and nothing is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from prober.usage_error import UsageError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class NewPackError(UsageError, ValueError):
    """The pack cannot be written (bad name, folder exists); nothing was written."""


def new_pack(name: str, directory: Path) -> list[Path]:
    """Write the skeleton; returns the files written."""
    if not _NAME.match(name):
        raise NewPackError(
            f"{name!r} is not a pack name: use lower case letters, digits and _ (e.g. my_platform)"
        )
    folder = directory / name
    if folder.exists():
        raise NewPackError(f"{folder} already exists; pick another name or remove it")
    files = {
        "__init__.py": _INIT,
        "_platform.py": _PLATFORM,
        f"{name}_api.py": _API,
        f"{name}_browser.py": _BROWSER,
        "prober.yaml": _CONFIG,
    }
    staging = directory / f".{name}.new"
    staging.mkdir(parents=True)
    try:
        for file, template in files.items():
            text = template.replace("NAME_PASSWORD", f"{name.upper()}_PASSWORD")
            (staging / file).write_text(text.replace("NAME", name), encoding="utf-8")
        staging.rename(folder)  # all files appear at once, or none
    except OSError:
        for leftover in staging.glob("*"):
            leftover.unlink()
        staging.rmdir()
        raise
    return [folder / file for file in files]


_INIT = '''"""Critical User Journeys of NAME (a pack written from `prober new pack NAME`).

`_platform.py` holds what the journeys share about the platform; each other module declares
journeys with the public `prober` API. docs/writing-a-pack.md explains every part.
"""
'''

_PLATFORM = '''"""What the NAME journeys know about their platform: services, settings, leftovers.

The skeleton targets the reference platform (`prober sandbox`); each TODO marks what to change.
"""

from __future__ import annotations

from prober import Duration, Leftover, PackSettings, Setting, StepContext, Sweep

# TODO: the services of your platform, as named in prober.yaml's route map.
API_SERVICE = "workflow-service"
FRONTEND = "frontend-monolith"
RESOURCES = "/api/workflows"  # TODO: where your platform lists and creates the resource

SETTINGS = PackSettings(
    page_wait=Setting(Duration, "15s", "how long a customer waits for a page to be ready"),
)


async def _leftovers(ctx: StepContext) -> list[Leftover]:
    """Resources killed runs may have left: everything named `prober-` (the sweep keeps the
    stale ones)."""
    answer = await ctx.api.get(RESOURCES, params={"name_prefix": "prober-"})
    answer.raise_for_status()
    listed = await ctx.read_json(answer, "workflows")  # TODO: your list's field
    return [
        Leftover(str(item["id"]), str(item["name"]), float(item["created_at"]))
        for item in listed["workflows"]
    ]


async def delete(ctx: StepContext, resource_id: str) -> None:
    """Delete one resource; already gone is fine (cleanups and sweeps may race)."""
    ctx.expect_status(await ctx.api.delete(f"{RESOURCES}/{resource_id}"), 200, 204, 404)


async def _delete_leftover(ctx: StepContext, leftover: Leftover) -> None:
    await delete(ctx, leftover.id)


SWEEP = Sweep(list=_leftovers, delete=_delete_leftover, prefix="prober-", max_age="1h")
'''

_API = '''"""CUJ: a customer creates, reads and deletes a resource through the API."""

from prober import Journey, StepContext

from ._platform import API_SERVICE, RESOURCES, SETTINGS, SWEEP, delete

crud = Journey(
    "NAME_crud_api",
    cuj="NAME_crud",
    service=API_SERVICE,
    team="my-team",  # TODO: the team that owns this journey's SLO
    channel="api",
    interval="60s",
    timeout="20s",
    retries=1,
    latency_threshold="5s",
    slo_target=0.995,
    description="Create a resource, read it back, delete it, see it gone.",
    sweep=SWEEP,
    settings=SETTINGS,
)


@crud.step("create")
async def create(ctx: StepContext) -> None:
    answer = await ctx.api.post(RESOURCES, json={"name": ctx.run.resource_name(), "nodes": []})
    answer.raise_for_status()
    ctx.vars["id"] = (await ctx.read_json(answer, "id"))["id"]
    ctx.cleanup(lambda: delete(ctx, ctx.vars["id"]), "delete the resource")


@crud.step("read back")
async def read_back(ctx: StepContext) -> None:
    answer = await ctx.api.get(f"{RESOURCES}/{ctx.vars['id']}")
    answer.raise_for_status()
    stored = await ctx.read_json(answer, "name")
    if stored["name"] != ctx.run.resource_name():
        ctx.fail(f"the resource came back named {stored['name']!r}", service=API_SERVICE)


@crud.step("delete")
async def remove(ctx: StepContext) -> None:
    (await ctx.api.delete(f"{RESOURCES}/{ctx.vars['id']}")).raise_for_status()
    ctx.expect_status(await ctx.api.get(f"{RESOURCES}/{ctx.vars['id']}"), 404)
'''

_BROWSER = '''"""CUJ: a signed-in customer opens the platform's main page and sees it ready."""

from prober import Journey, StepContext, expect

from ._platform import FRONTEND, SETTINGS

home = Journey(
    "NAME_home_browser",
    cuj="NAME_home",
    service=FRONTEND,
    team="my-team",  # TODO: the team that owns this journey's SLO
    channel="browser",
    interval="60s",
    timeout="20s",
    retries=1,
    latency_threshold="8s",
    slo_target=0.995,
    description="Open the main page signed in (the API's session) and see it ready.",
    settings=SETTINGS,
)


@home.step("open the main page")
async def open_home(ctx: StepContext) -> None:
    page = ctx.page
    await page.goto(f"{ctx.target.base_url}/")
    ready = page.get_by_test_id("list-status")  # TODO: what says "ready" on your page
    await ctx.wait(
        "the main page to be ready",
        lambda ms: expect(ready).to_have_text("ready", timeout=ms),
        cap_s=float(ctx.settings(SETTINGS).page_wait),
    )
'''

_CONFIG = """# The NAME pack's configuration: `prober validate -c NAME/prober.yaml`, then
# `prober run -c NAME/prober.yaml`. docs/configuration.md describes every field.
env: dev
location: local
journeys: [.]                               # this folder is the pack
targets:
  NAME:
    base_url: http://127.0.0.1:8000         # TODO: your platform (prober sandbox listens here)
    username: prober
    password: ${NAME_PASSWORD}              # TODO: export NAME_PASSWORD, or ${file:/run/secrets/x}
    auth:
      kind: login                           # POST the credentials, send the token as a bearer
      login_path: /api/auth/login
      token_field: token
      browser:                              # browser journeys start signed in with that token
        local_storage: {sandbox-token: "{token}"}
    services:                               # which service owns which URL: blame by route
      workflow-service: ["/api/workflows", "/api/workflows/**", "/api/auth/*"]
      frontend-monolith: ["/", "/login", "/workflows/*", "/static/**"]
    settings:
      page_wait: 15s
store: .prober/results.db
artifacts: .prober/artifacts
"""
